package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/twoway/websocket/conn"
	"github.com/twoway/websocket/handshake"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(t.Output(), nil))
	}
	return slog.New(slog.DiscardHandler)
}

// startRoom serves a room on loopback and returns it with the ws:// URL of
// its endpoint.
func startRoom(t testing.TB, cfg config) (*room, string) {
	t.Helper()
	rm := newRoom(cfg, testLogger(t))
	hs := httptest.NewServer(rm)
	t.Cleanup(func() {
		hs.Close()
		rm.Shutdown(context.Background())
	})
	return rm, "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws"
}

func join(t testing.TB, endpoint, name string, opts *conn.DialOptions) *conn.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := conn.Dial(ctx, endpoint+"?name="+url.QueryEscape(name), opts)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

// next reads the next event, failing the test when none comes.
func next(t testing.TB, c *conn.Conn) event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	typ, msg, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	var ev event
	if typ != conn.Text || json.Unmarshal(msg, &ev) != nil {
		t.Fatalf("got %v message %.100q, want a JSON event", typ, msg)
	}
	return ev
}

func expect(t testing.TB, c *conn.Conn, want ...event) {
	t.Helper()
	for _, w := range want {
		if diff := cmp.Diff(w, next(t, c)); diff != "" {
			t.Fatalf("event (-want +got):\n%s", diff)
		}
	}
}

func send(t testing.TB, c *conn.Conn, text string) {
	t.Helper()
	if err := c.Write(context.Background(), conn.Text, []byte(text)); err != nil {
		t.Fatalf("Write: %v", err)
	}
}

func TestChat(t *testing.T) {
	_, endpoint := startRoom(t, config{})
	ann := join(t, endpoint, "ann", nil)
	expect(t, ann, event{Type: "welcome", Name: "ann", Members: []string{"ann"}})
	bob := join(t, endpoint, "  bob\x00 ", nil)
	expect(t, bob, event{Type: "welcome", Name: "bob", Members: []string{"ann", "bob"}})
	expect(t, ann, event{Type: "join", Name: "bob"})
	ann2 := join(t, endpoint, "ann", nil)
	expect(t, ann2, event{Type: "welcome", Name: "ann-2", Members: []string{"ann", "ann-2", "bob"}})
	expect(t, ann, event{Type: "join", Name: "ann-2"})
	expect(t, bob, event{Type: "join", Name: "ann-2"})
	guest := join(t, endpoint, "", nil)
	expect(t, guest, event{Type: "welcome", Name: "guest-1", Members: []string{"ann", "ann-2", "bob", "guest-1"}})
	for _, c := range []*conn.Conn{ann, bob, ann2} {
		expect(t, c, event{Type: "join", Name: "guest-1"})
	}

	send(t, ann, "   ") // blank lines are dropped
	send(t, ann, " hello <everyone> ")
	for _, c := range []*conn.Conn{ann, bob, ann2, guest} {
		expect(t, c, event{Type: "message", Name: "ann", Text: "hello <everyone>"})
	}
	send(t, bob, "hi ann")
	for _, c := range []*conn.Conn{ann, bob, ann2, guest} {
		expect(t, c, event{Type: "message", Name: "bob", Text: "hi ann"})
	}

	if err := ann2.Close(conn.CloseNormal, ""); err != nil {
		t.Errorf("Close: %v", err)
	}
	for _, c := range []*conn.Conn{ann, bob, guest} {
		expect(t, c, event{Type: "leave", Name: "ann-2"})
	}

	// Chat is text: a binary message ends the connection with 1003.
	if err := guest.Write(context.Background(), conn.Binary, []byte{1}); err != nil {
		t.Fatal(err)
	}
	_, _, err := guest.Read(context.Background())
	if code := conn.CloseStatus(err); code != conn.CloseUnsupportedData {
		t.Errorf("after a binary message: Read error %v, want close %d", err, conn.CloseUnsupportedData)
	}
	for _, c := range []*conn.Conn{ann, bob} {
		expect(t, c, event{Type: "leave", Name: "guest-1"})
	}
}

// TestSlowMember checks that a member that does not read is dropped once
// its queue overflows, while the others keep receiving every message.
func TestSlowMember(t *testing.T) {
	_, endpoint := startRoom(t, config{
		QueueLen:  8,
		ReadLimit: 1 << 20,
		// The slow member's socket buffers are full, so its Close frame
		// cannot be written: do not wait long for it.
		CloseTimeout: 100 * time.Millisecond,
	})
	ann := join(t, endpoint, "ann", nil)
	expect(t, ann, event{Type: "welcome", Name: "ann", Members: []string{"ann"}})
	bob := join(t, endpoint, "bob", nil)
	expect(t, ann, event{Type: "join", Name: "bob"})
	expect(t, bob, event{Type: "welcome", Name: "bob", Members: []string{"ann", "bob"}})
	slow := join(t, endpoint, "slow", nil)
	for _, c := range []*conn.Conn{ann, bob} {
		expect(t, c, event{Type: "join", Name: "slow"})
	}

	filler := strings.Repeat("x", 32<<10)
	fast := map[string]*conn.Conn{"ann": ann, "bob": bob}
	sawLeave := map[string]bool{}
	sent := 0
	for ; len(sawLeave) < len(fast); sent++ {
		if sent == 10000 {
			t.Fatalf("sent %d messages of %d bytes, and the slow member is still in the room", sent, len(filler))
		}
		text := fmt.Sprintf("%d %s", sent, filler)
		send(t, ann, text)
		for name, c := range fast {
			for {
				ev := next(t, c)
				if ev.Type == "leave" && ev.Name == "slow" && !sawLeave[name] {
					sawLeave[name] = true
					continue
				}
				if ev.Type != "message" || ev.Text != text {
					t.Fatalf("%s: after %d messages, got %v %.20q, want message %.20q", name, sent, ev.Type, ev.Text, text)
				}
				break
			}
		}
	}
	t.Logf("the slow member was dropped after %d messages of %d bytes", sent, len(filler))

	// The room goes on without it.
	send(t, bob, "still here")
	for _, c := range fast {
		expect(t, c, event{Type: "message", Name: "bob", Text: "still here"})
	}

	// The slow member gets what was written before it was dropped, then
	// the end of the connection: a Close frame with 1008 if the server
	// could still send one, an abrupt end otherwise.
	var err error
	got := 0
	for err == nil {
		_, _, err = slow.Read(context.Background())
		got++
	}
	if got > sent+2 { // welcome, join... and at most the messages sent
		t.Errorf("slow member read %d messages, more than were sent before it was dropped", got)
	}
	if code := conn.CloseStatus(err); code != 0 && code != conn.ClosePolicyViolation {
		t.Errorf("slow member: closed with %d, want %d or an abrupt end", code, conn.ClosePolicyViolation)
	}
	if !errors.Is(err, conn.ErrClosed) {
		t.Logf("slow member's connection ended with %v", err)
	}
}

func TestShutdown(t *testing.T) {
	rm, endpoint := startRoom(t, config{})
	ann := join(t, endpoint, "ann", nil)
	expect(t, ann, event{Type: "welcome", Name: "ann", Members: []string{"ann"}})
	bob := join(t, endpoint, "bob", nil)
	expect(t, bob, event{Type: "welcome", Name: "bob", Members: []string{"ann", "bob"}})
	expect(t, ann, event{Type: "join", Name: "bob"})

	shut := make(chan error, 1)
	go func() { shut <- rm.Shutdown(context.Background()) }()
	for _, c := range []*conn.Conn{ann, bob} {
		_, _, err := c.Read(context.Background())
		if code := conn.CloseStatus(err); code != conn.CloseGoingAway {
			t.Errorf("Read: %v, want close %d", err, conn.CloseGoingAway)
		}
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	late, _, err := conn.Dial(context.Background(), endpoint, nil)
	var re *handshake.ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("joining after shutdown: %v, want a 503 response", err)
	}
	if late != nil {
		late.CloseNow()
	}
}

// FuzzUniqueName checks that any name asked for becomes a short,
// printable, valid UTF-8 name that is not yet taken.
func FuzzUniqueName(f *testing.F) {
	for _, s := range []string{"", "ann", "  bob  ", "a\x00b", "\xff\xfe", strings.Repeat("é", 40), "guest-1", "ann-2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, asked string) {
		rm := newRoom(config{}, slog.New(slog.DiscardHandler))
		rm.members["ann"] = &member{}
		rm.members["guest-1"] = &member{}
		name := rm.uniqueNameLocked(asked)
		if name == "" || !utf8.ValidString(name) || utf8.RuneCountInString(name) > 24+len("-99") {
			t.Fatalf("uniqueName(%q) = %q", asked, name)
		}
		if strings.IndexFunc(name, unicode.IsControl) >= 0 {
			t.Fatalf("uniqueName(%q) = %q has control characters", asked, name)
		}
		if rm.members[name] != nil {
			t.Fatalf("uniqueName(%q) = %q, which is taken", asked, name)
		}
	})
}
