package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/twoway/websocket/conn"
	"github.com/twoway/websocket/handshake"
	"github.com/twoway/websocket/hub"
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

// startServer serves a chat server on loopback and returns it with the
// ws:// URL of its endpoint.
func startServer(t testing.TB, cfg config) (*server, string) {
	t.Helper()
	s := newServer(cfg, testLogger(t))
	hs := httptest.NewServer(s)
	t.Cleanup(func() {
		hs.Close()
		s.Shutdown(context.Background())
	})
	return s, "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws"
}

// join connects to the chat as name, in room, and reads its welcome.
func join(t testing.TB, endpoint, name, room string, opts *conn.DialOptions) *conn.Conn {
	t.Helper()
	c := dial(t, endpoint, name, room, opts)
	ev := next(t, c)
	if ev.Type != "welcome" {
		t.Fatalf("first event %+v, want a welcome", ev)
	}
	return c
}

func dial(t testing.TB, endpoint, name, room string, opts *conn.DialOptions) *conn.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	q := url.Values{"name": {name}}
	if room != "" {
		q.Set("room", room)
	}
	c, _, err := conn.Dial(ctx, endpoint+"?"+q.Encode(), opts)
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
	var ev event
	if err := c.ReadJSON(ctx, &ev); err != nil {
		t.Fatalf("ReadJSON: %v", err)
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

// awaitMembers reads events until a presence event lists want, and
// returns the messages read meanwhile.
func awaitMembers(t testing.TB, c *conn.Conn, want ...string) []event {
	t.Helper()
	var msgs []event
	for {
		ev := next(t, c)
		switch ev.Type {
		case "presence":
			if cmp.Equal(want, ev.Members) {
				return msgs
			}
		case "message":
			msgs = append(msgs, ev)
		default:
			t.Fatalf("got %+v, want presence or message events", ev)
		}
	}
}

func send(t testing.TB, c *conn.Conn, text string) {
	t.Helper()
	if err := c.WriteJSON(context.Background(), said{Text: text}); err != nil {
		t.Fatalf("WriteJSON: %v", err)
	}
}

func presence(members, joined, left []string) event {
	return event{Type: "presence", Members: members, Joined: joined, Left: left}
}

func list(names ...string) []string { return names }

func TestChat(t *testing.T) {
	_, endpoint := startServer(t, config{})
	ann := dial(t, endpoint, "ann", "", nil)
	expect(t, ann,
		event{Type: "welcome", Name: "ann", Room: "lobby"},
		presence(list("ann"), list("ann"), nil))
	bob := dial(t, endpoint, "  bob\x00 ", "lobby", nil)
	expect(t, bob,
		event{Type: "welcome", Name: "bob", Room: "lobby"},
		presence(list("ann", "bob"), list("bob"), nil))
	expect(t, ann, presence(list("ann", "bob"), list("bob"), nil))
	ann2 := dial(t, endpoint, "ann", "", nil)
	expect(t, ann2, event{Type: "welcome", Name: "ann-2", Room: "lobby"})
	for _, c := range []*conn.Conn{ann, bob, ann2} {
		expect(t, c, presence(list("ann", "ann-2", "bob"), list("ann-2"), nil))
	}
	guest := dial(t, endpoint, "", "", nil)
	expect(t, guest, event{Type: "welcome", Name: "guest-1", Room: "lobby"})
	for _, c := range []*conn.Conn{ann, bob, ann2, guest} {
		expect(t, c, presence(list("ann", "ann-2", "bob", "guest-1"), list("guest-1"), nil))
	}
	// Another room has names and messages of its own.
	other := dial(t, endpoint, "ann", " \tcellar ", nil)
	expect(t, other,
		event{Type: "welcome", Name: "ann", Room: "cellar"},
		presence(list("ann"), list("ann"), nil))

	send(t, ann, "   ") // blank lines are dropped
	send(t, ann, " hello <everyone>\n ")
	send(t, other, "anyone?")
	for _, c := range []*conn.Conn{ann, bob, ann2, guest} {
		expect(t, c, event{Type: "message", Name: "ann", Text: "hello <everyone>"})
	}
	expect(t, other, event{Type: "message", Name: "ann", Text: "anyone?"})
	send(t, bob, "hi ann")
	for _, c := range []*conn.Conn{ann, bob, ann2, guest} {
		expect(t, c, event{Type: "message", Name: "bob", Text: "hi ann"})
	}

	if err := ann2.Close(conn.CloseNormal, ""); err != nil {
		t.Errorf("Close: %v", err)
	}
	for _, c := range []*conn.Conn{ann, bob, guest} {
		expect(t, c, presence(list("ann", "bob", "guest-1"), nil, list("ann-2")))
	}

	// Chat messages are JSON objects: anything else ends the connection
	// with 1003.
	for _, bad := range []string{`hello`, `"hello"`, `{"text": 1}`, `{"text":"a"} {}`} {
		c := join(t, endpoint, "bad", "", nil)
		for _, o := range []*conn.Conn{ann, bob, guest} {
			expect(t, o, presence(list("ann", "bad", "bob", "guest-1"), list("bad"), nil))
		}
		if err := c.Write(context.Background(), conn.Text, []byte(bad)); err != nil {
			t.Fatal(err)
		}
		err := awaitEnd(c)
		if code := conn.CloseStatus(err); code != conn.CloseUnsupportedData {
			t.Errorf("after %q: Read error %v, want close %d", bad, err, conn.CloseUnsupportedData)
		}
		for _, o := range []*conn.Conn{ann, bob, guest} {
			expect(t, o, presence(list("ann", "bob", "guest-1"), nil, list("bad")))
		}
	}
}

// awaitEnd reads until the connection ends and returns the error.
func awaitEnd(c *conn.Conn) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		if _, _, err := c.Read(ctx); err != nil {
			return err
		}
	}
}

// TestAcrossHubs links two servers as two processes would be, through a
// broker, and checks that their members see each other's messages and
// presence.
func TestAcrossHubs(t *testing.T) {
	b := hub.NewLocalBroker()
	// Hubs announce changes at once, and a hub new to a room asks the
	// others: the views converge without the periodic announcements,
	// whose interval is longer than the test so that no member expires
	// (and makes a presence event among the messages below) while a
	// loaded machine starves the hub that announces it.
	cfg := config{Broker: b, PresenceInterval: time.Minute}
	_, endA := startServer(t, cfg)
	_, endB := startServer(t, cfg)

	ann := join(t, endA, "ann", "", nil)
	awaitMembers(t, ann, "ann")
	bob := join(t, endB, "bob", "", nil)
	awaitMembers(t, bob, "ann", "bob")
	awaitMembers(t, ann, "ann", "bob")
	// A second ann on the other process keeps the name: names are
	// unique per process.
	ann2 := join(t, endB, "ann", "", nil)
	for _, c := range []*conn.Conn{ann, bob, ann2} {
		awaitMembers(t, c, "ann", "ann", "bob")
	}

	for i := range 3 {
		send(t, ann, fmt.Sprint("from A ", i))
		send(t, bob, fmt.Sprint("from B ", i))
	}
	for _, c := range []*conn.Conn{ann, bob, ann2} {
		got := map[string][]string{}
		for range 6 {
			ev := next(t, c)
			if ev.Type != "message" {
				t.Fatalf("got %+v, want a message", ev)
			}
			got[ev.Name] = append(got[ev.Name], ev.Text)
		}
		want := map[string][]string{
			"ann": {"from A 0", "from A 1", "from A 2"},
			"bob": {"from B 0", "from B 1", "from B 2"},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("messages by sender (-want +got):\n%s", diff)
		}
	}

	bob.Close(conn.CloseNormal, "")
	ann2.Close(conn.CloseNormal, "")
	awaitMembers(t, ann, "ann")
}

// TestPresenceCoalesced checks that members who join at once make one
// presence event, not one each: each event lists the whole room.
func TestPresenceCoalesced(t *testing.T) {
	s, endpoint := startServer(t, config{PresenceEvery: time.Hour}) // refreshed by hand
	// The welcome goes out before the hub has the member: wait for the
	// hub to list n members.
	deadline := time.Now().Add(10 * time.Second)
	await := func(n int) {
		t.Helper()
		for len(s.hub.Members("lobby")) != n {
			if time.Now().After(deadline) {
				t.Fatalf("members after 10 s: %q, want %d", s.hub.Members("lobby"), n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	ann := join(t, endpoint, "ann", "", nil)
	await(1)
	s.refreshRooms()
	expect(t, ann, presence(list("ann"), list("ann"), nil))

	const n = 50
	want := list("ann")
	var others []*conn.Conn
	for i := range n {
		name := fmt.Sprintf("m%02d", i)
		others = append(others, join(t, endpoint, name, "", nil))
		want = append(want, name)
	}
	await(n + 1)
	s.refreshRooms()
	s.refreshRooms() // nothing new: no event
	ev := presence(want, want[1:], nil)
	expect(t, ann, ev)
	for _, c := range others {
		expect(t, c, ev)
	}

	// One leaves and another of the same name comes: the list does not
	// change, but the newcomer must get it.
	others[0].Close(conn.CloseNormal, "")
	s.mu.Lock()
	rm := s.rooms["lobby"]
	s.mu.Unlock()
	for taken := true; taken; {
		if time.Now().After(deadline) {
			t.Fatal("m00 still taken after 10 s")
		}
		time.Sleep(time.Millisecond)
		rm.mu.Lock()
		taken = rm.names["m00"] > 0
		rm.mu.Unlock()
	}
	back := join(t, endpoint, "m00", "", nil)
	await(n + 1)
	s.refreshRooms()
	expect(t, back, presence(want, nil, nil))
	send(t, ann, "after")
	for _, c := range append([]*conn.Conn{ann, back}, others[1:]...) {
		expect(t, c, event{Type: "message", Name: "ann", Text: "after"})
	}
}

// TestSlowMember checks that a member that does not read is dropped once
// its queue overflows, while the others keep receiving every message.
func TestSlowMember(t *testing.T) {
	_, endpoint := startServer(t, config{
		QueueLen:  8,
		ReadLimit: 1 << 20,
		// The slow member's socket buffers are full, so its Close frame
		// cannot be written: do not wait long for it.
		CloseTimeout: 100 * time.Millisecond,
	})
	ann := join(t, endpoint, "ann", "", nil)
	bob := join(t, endpoint, "bob", "", nil)
	slow := join(t, endpoint, "slow", "", nil)
	for _, c := range []*conn.Conn{ann, bob} {
		awaitMembers(t, c, "ann", "bob", "slow")
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
				if ev.Type == "presence" && cmp.Equal(ev.Left, list("slow")) && !sawLeave[name] {
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
	if got > sent+4 { // presence events, and at most the messages sent
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
	s, endpoint := startServer(t, config{})
	ann := join(t, endpoint, "ann", "", nil)
	bob := join(t, endpoint, "bob", "", nil)
	awaitMembers(t, ann, "ann", "bob")

	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	for _, c := range []*conn.Conn{ann, bob} {
		err := awaitEnd(c)
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

// TestCompression checks that the server takes up a browser's offer of
// compression without context takeover either way, as a server with many
// clients should (see newServer), and compresses a large event.
func TestCompression(t *testing.T) {
	_, endpoint := startServer(t, config{})
	ctx := context.Background()
	// What browsers offer.
	opts := &conn.DialOptions{Compression: &conn.CompressionOptions{}}
	c, resp, err := conn.Dial(ctx, endpoint+"?name=ann", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	expect(t, c, event{Type: "welcome", Name: "ann", Room: "lobby"})
	ext := resp.Header.Get("Sec-WebSocket-Extensions")
	for _, want := range []string{"permessage-deflate", "server_no_context_takeover", "client_no_context_takeover"} {
		if !strings.Contains(ext, want) {
			t.Errorf("Sec-WebSocket-Extensions: %q lacks %s", ext, want)
		}
	}
	if !c.Compressed() {
		t.Error("Compressed() = false")
	}
	text := strings.Repeat("compressible ", 200)
	awaitMembers(t, c, "ann")
	send(t, c, text)
	expect(t, c, event{Type: "message", Name: "ann", Text: strings.TrimSpace(text)})
}

func TestDiff(t *testing.T) {
	tests := []struct {
		before, now  []string
		joined, left []string
	}{
		{nil, nil, nil, nil},
		{nil, list("a"), list("a"), nil},
		{list("a"), nil, nil, list("a")},
		{list("a", "b"), list("a", "b"), nil, nil},
		{list("a", "c"), list("b", "c", "d"), list("b", "d"), list("a")},
		{list("a", "a", "b"), list("a", "b", "b"), list("b"), list("a")},
		{list("a"), list("a", "a"), list("a"), nil},
	}
	for _, tt := range tests {
		joined, left := diff(tt.before, tt.now)
		if diff := cmp.Diff([2][]string{tt.joined, tt.left}, [2][]string{joined, left}); diff != "" {
			t.Errorf("diff(%q, %q): [joined, left] (-want +got):\n%s", tt.before, tt.now, diff)
		}
	}
}

// FuzzReserve checks that any name asked for becomes a short, printable,
// valid UTF-8 name that is not yet taken.
func FuzzReserve(f *testing.F) {
	for _, s := range []string{"", "ann", "  bob  ", "a\x00b", "\xff\xfe", strings.Repeat("é", 40), "guest-1", "ann-2", "x" + strings.Repeat(" ", 30) + "y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, asked string) {
		rm := &room{names: map[string]int{"ann": 1, "guest-1": 1}}
		var guests atomic.Int64
		name := rm.reserve(asked, &guests)
		if name == "" || !utf8.ValidString(name) || utf8.RuneCountInString(name) > 24+len("-99") {
			t.Fatalf("reserve(%q) = %q", asked, name)
		}
		if strings.IndexFunc(name, unicode.IsControl) >= 0 || strings.TrimSpace(name) != name {
			t.Fatalf("reserve(%q) = %q has control characters or spaces at an end", asked, name)
		}
		if rm.names[name] != 1 {
			t.Fatalf("reserve(%q) = %q, which was taken", asked, name)
		}
		rm.release(name)
		if rm.names[name] != 0 {
			t.Fatalf("release(%q) left it taken", name)
		}
	})
}
