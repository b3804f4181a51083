package hub

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twoway/websocket/conn"
	"github.com/twoway/websocket/event"
)

// serveEvent runs serve's chat-like server on h with the event-driven
// server, configured by srv, and returns its URL.
func serveEvent(t *testing.T, h *Hub, srv *event.Server) string {
	t.Helper()
	var clients sync.Map // *event.Conn to *Client
	srv.OnOpen = func(c *event.Conn, r *http.Request) {
		cl, err := h.AddEvent(c, r.URL.Query().Get("name"))
		if err != nil {
			c.CloseNow()
			return
		}
		clients.Store(c, cl)
		if err := cl.Join(r.URL.Query().Get("room")); err != nil {
			t.Errorf("Join: %v", err)
		}
	}
	srv.OnMessage = func(c *event.Conn, typ conn.MessageType, data []byte) {
		v, ok := clients.Load(c)
		if !ok {
			return
		}
		cl := v.(*Client)
		pm, err := conn.NewPreparedMessage(typ, data)
		for room := range cl.joined() {
			if err == nil {
				err = h.Publish(context.Background(), room, pm)
			}
		}
		if err != nil {
			t.Errorf("Publish: %v", err)
		}
	}
	srv.OnClose = func(c *event.Conn, err error) {
		if v, ok := clients.LoadAndDelete(c); ok {
			v.(*Client).Remove()
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, event.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
		h.Close()
	})
	return "ws://" + ln.Addr().String()
}

// joined returns the rooms the client is in.
func (cl *Client) joined() map[string]struct{} {
	cl.hub.mu.RLock()
	defer cl.hub.mu.RUnlock()
	rooms := make(map[string]struct{}, len(cl.rooms))
	for r := range cl.rooms {
		rooms[r] = struct{}{}
	}
	return rooms
}

// TestEventMembers puts connections of the event-driven server and of
// conn in the same rooms: each gets every message of its room, in order,
// and only those, and leaves its rooms when it closes.
func TestEventMembers(t *testing.T) {
	h := New(nil)
	evURL := serveEvent(t, h, &event.Server{})
	url := serve(t, h)
	ann, bob := join(t, evURL, "ann", "a"), join(t, url, "bob", "a")
	cat, dan := join(t, evURL, "cat", "b"), join(t, evURL, "dan", "a")
	waitMembers(t, h, "a", "ann", "bob", "dan")
	waitMembers(t, h, "b", "cat")
	ctx := context.Background()
	members := map[string]*conn.Conn{"ann": ann, "bob": bob, "dan": dan}
	var want []string
	got := make(map[string][]string)
	for i := range 100 {
		from, name := ann, "ann"
		if i%2 == 1 {
			from, name = bob, "bob"
		}
		msg := fmt.Sprintf("%s %d", name, i)
		want = append(want, msg)
		if err := from.Write(ctx, conn.Text, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		// Messages of two publishers have no order between them until
		// both have been delivered: each is, before the next is sent.
		for name, c := range members {
			got[name] = append(got[name], readN(t, c, 1)...)
		}
	}
	for name := range members {
		if diff := cmp.Diff(want, got[name]); diff != "" {
			t.Errorf("%s got (-want +got):\n%s", name, diff)
		}
	}
	// One publisher's burst arrives in its order.
	want = want[:0]
	for i := range 200 {
		msg := fmt.Sprintf("burst %d", i)
		want = append(want, msg)
		if err := dan.Write(ctx, conn.Text, []byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	for name, c := range members {
		if diff := cmp.Diff(want, readN(t, c, len(want))); diff != "" {
			t.Errorf("%s got (-want +got):\n%s", name, diff)
		}
	}
	cat.Write(ctx, conn.Text, []byte("only b"))
	if got := readN(t, cat, 1); got[0] != "only b" {
		t.Errorf("cat got %q", got)
	}
	ann.Close(conn.CloseNormal, "")
	waitMembers(t, h, "a", "bob", "dan")
}

// TestEventPublishWhileClosing publishes from several goroutines while
// members close their connections, others are removed, and the server
// shuts down under them: nothing may deadlock or panic, every client
// ends, and no goroutine is left (TestMain checks).
func TestEventPublishWhileClosing(t *testing.T) {
	h := New(nil)
	srv := &event.Server{MaxPending: 64 << 10}
	url := serveEvent(t, h, srv)
	const members = 16
	var conns []*conn.Conn
	var names []string
	for i := range members {
		name := fmt.Sprintf("m%02d", i)
		conns = append(conns, join(t, url, name, "r"))
		names = append(names, name)
	}
	waitMembers(t, h, "r", names...)
	// Members read until their connection ends.
	var readers sync.WaitGroup
	for _, c := range conns {
		readers.Go(func() {
			for {
				if _, _, err := c.Read(context.Background()); err != nil {
					return
				}
			}
		})
	}
	pm, _ := conn.NewPreparedMessage(conn.Text, []byte("tick"))
	var publishers sync.WaitGroup
	for range 4 {
		publishers.Go(func() {
			for range 500 {
				if err := h.Publish(context.Background(), "r", pm); err != nil {
					t.Errorf("Publish: %v", err)
					return
				}
			}
		})
	}
	// Meanwhile: a quarter close, a quarter are cut, and the server
	// shuts down with the rest.
	for i, c := range conns[:members/2] {
		if i%2 == 0 {
			c.Close(conn.CloseNormal, "")
		} else {
			c.CloseNow()
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	publishers.Wait()
	readers.Wait()
	waitMembers(t, h, "r")
}
