package hub

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twoway/websocket/conn"
	"github.com/twoway/websocket/event"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// serve runs a chat-like server on h: a client names itself and its room
// in the query, and everything it sends is published to the room.
func serve(t *testing.T, h *Hub) string {
	t.Helper()
	var handlers sync.WaitGroup
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := conn.Accept(w, r, nil)
		if err != nil {
			return
		}
		handlers.Add(1)
		defer handlers.Done()
		defer c.CloseNow()
		cl, err := h.Add(c, r.URL.Query().Get("name"))
		if err != nil {
			return
		}
		defer cl.Remove()
		room := r.URL.Query().Get("room")
		if err := cl.Join(room); err != nil {
			t.Errorf("Join: %v", err)
			return
		}
		ctx := context.Background()
		for {
			typ, msg, err := c.Read(ctx)
			if err != nil {
				return
			}
			pm, err := conn.NewPreparedMessage(typ, msg)
			if err == nil {
				err = h.Publish(ctx, room, pm)
			}
			if err != nil {
				t.Errorf("Publish: %v", err)
			}
		}
	}))
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		handlers.Wait()
		h.Close()
	})
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

func join(t *testing.T, url, name, room string) *conn.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := conn.Dial(ctx, url+"/?name="+name+"&room="+room, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

// waitMembers waits until h lists want in room.
func waitMembers(t *testing.T, h *Hub, room string, want ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := h.Members(room)
		if cmp.Equal(want, got) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("members of %q (-want +got):\n%s", room, cmp.Diff(want, got))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// readN reads n messages from c and returns them.
func readN(t *testing.T, c *conn.Conn, n int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got []string
	for range n {
		_, msg, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("after %d messages: %v", len(got), err)
		}
		got = append(got, string(msg))
	}
	return got
}

func TestRooms(t *testing.T) {
	h := New(nil)
	url := serve(t, h)
	ann, bob := join(t, url, "ann", "a"), join(t, url, "bob", "a")
	cat := join(t, url, "cat", "b")
	waitMembers(t, h, "a", "ann", "bob")
	waitMembers(t, h, "b", "cat")
	ctx := context.Background()
	var want []string
	for i := range 100 {
		msg := fmt.Sprintf("ann %d", i)
		want = append(want, msg)
		if err := ann.Write(ctx, conn.Text, []byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	cat.Write(ctx, conn.Text, []byte("only b"))
	for name, c := range map[string]*conn.Conn{"ann": ann, "bob": bob} {
		if diff := cmp.Diff(want, readN(t, c, 100)); diff != "" {
			t.Errorf("%s got (-want +got):\n%s", name, diff)
		}
	}
	if got := readN(t, cat, 1); got[0] != "only b" {
		t.Errorf("cat got %q", got)
	}
	bob.Close(conn.CloseNormal, "")
	waitMembers(t, h, "a", "ann")
}

// TestSlowMember checks that a member that stops reading is disconnected
// with SlowCode once it is too far behind (a full queue for conn, over
// MaxPending bytes unsent for the event server), while the publisher and
// the other members go on undelayed.
func TestSlowMember(t *testing.T) {
	for _, tc := range []struct {
		name  string
		serve func(t *testing.T, h *Hub) string
		// abnormal allows the connection to be cut instead: conn's Close
		// frame may not get past the queue in time.
		abnormal bool
	}{
		{"conn", serve, true},
		{"event", func(t *testing.T, h *Hub) string {
			return serveEvent(t, h, &event.Server{MaxPending: 256 << 10})
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := New(&Options{QueueLen: 4, SlowReason: "too slow"})
			url := tc.serve(t, h)
			fast, slow := join(t, url, "fast", "r"), join(t, url, "slow", "r")
			waitMembers(t, h, "r", "fast", "slow")
			big, _ := conn.NewPreparedMessage(conn.Binary, make([]byte, 256<<10))
			ctx := context.Background()
			// The slow member never reads: its socket buffers fill, then
			// what the hub or the server keeps for it.
			sent := 0
			for ; sent < 400 && len(h.Members("r")) == 2; sent++ {
				start := time.Now()
				if err := h.Publish(ctx, "r", big); err != nil {
					t.Fatal(err)
				}
				if d := time.Since(start); d > time.Second {
					t.Fatalf("Publish took %v: a slow member held it up", d)
				}
				// The fast member keeps up.
				if _, _, err := fast.Read(ctx); err != nil {
					t.Fatal(err)
				}
			}
			waitMembers(t, h, "r", "fast")
			// The slow member reads what was queued before its Close frame.
			var rerr error
			for rerr == nil {
				_, _, rerr = slow.Read(ctx)
			}
			var ce *conn.CloseError
			switch {
			case !errors.As(rerr, &ce):
				t.Errorf("slow member's connection ended with %v, want a *conn.CloseError", rerr)
			case ce.Code == conn.ClosePolicyViolation && ce.Reason == "too slow":
			case ce.Code == conn.CloseAbnormal && tc.abnormal:
			default:
				t.Errorf("slow member's connection ended with %v, want 1008 too slow", rerr)
			}
			t.Logf("slow member dropped after %d messages; it saw %v", sent, rerr)
		})
	}
}

// cuttable wraps a broker so that a hub can be cut off from it, as by a
// crash: it then neither publishes nor leaves a trace.
type cuttable struct {
	Broker
	mu  sync.Mutex
	cut bool
}

func (c *cuttable) Publish(ctx context.Context, topic string, data []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cut {
		return nil
	}
	return c.Broker.Publish(ctx, topic, data)
}

// TestAcrossHubs links two hubs through a broker: messages reach members
// of both, in order, and presence converges, also after one hub vanishes.
func TestAcrossHubs(t *testing.T) {
	b := NewLocalBroker()
	cutB := &cuttable{Broker: b}
	const interval = 20 * time.Millisecond
	ha := New(&Options{Broker: b, PresenceInterval: interval})
	hb := New(&Options{Broker: cutB, PresenceInterval: interval})
	urlA, urlB := serve(t, ha), serve(t, hb)
	ann, bob := join(t, urlA, "ann", "r"), join(t, urlB, "bob", "r")
	waitMembers(t, ha, "r", "ann", "bob")
	waitMembers(t, hb, "r", "ann", "bob")

	ctx := context.Background()
	var want []string
	for i := range 50 {
		msg := fmt.Sprintf("ann %d", i)
		want = append(want, msg)
		ann.Write(ctx, conn.Text, []byte(msg))
	}
	for name, c := range map[string]*conn.Conn{"ann": ann, "bob": bob} {
		if diff := cmp.Diff(want, readN(t, c, 50)); diff != "" {
			t.Errorf("%s got (-want +got):\n%s", name, diff)
		}
	}
	bob.Write(ctx, conn.Text, []byte("from b"))
	if got := readN(t, ann, 1); got[0] != "from b" {
		t.Errorf("ann got %q", got)
	}

	// A member leaves: the other hub hears of it at once.
	carl := join(t, urlB, "carl", "r")
	waitMembers(t, ha, "r", "ann", "bob", "carl")
	carl.Close(conn.CloseNormal, "")
	waitMembers(t, ha, "r", "ann", "bob")

	// Hub b goes silent: its members expire after three intervals.
	cutB.mu.Lock()
	cutB.cut = true
	cutB.mu.Unlock()
	waitMembers(t, ha, "r", "ann")
}

// TestBatchOrder publishes a burst faster than the members' writers drain
// it, so that each writer hands many queued messages to one WritePrepared
// call, and checks that every member receives them all in order: sizes
// that fit the connection's output buffer, and larger ones that are
// gathered straight from the prepared messages, are mixed in each batch.
func TestBatchOrder(t *testing.T) {
	const burst = 600
	h := New(&Options{QueueLen: burst + 10})
	url := serve(t, h)
	members := []*conn.Conn{join(t, url, "ann", "r"), join(t, url, "bob", "r"), join(t, url, "cat", "r")}
	waitMembers(t, h, "r", "ann", "bob", "cat")
	ctx := context.Background()
	var want []string
	for i := range burst {
		msg := fmt.Sprintf("%04d ", i) + strings.Repeat("x", []int{10, 1000, 6000, 300}[i%4])
		want = append(want, msg)
		pm, err := conn.NewPreparedMessage(conn.Text, []byte(msg))
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Publish(ctx, "r", pm); err != nil {
			t.Fatal(err)
		}
	}
	// Nobody has read yet: the sockets fill, and the queues behind them.
	for i, c := range members {
		got := readN(t, c, burst)
		if !cmp.Equal(want, got) {
			for j := range got {
				if got[j] != want[j] {
					t.Fatalf("member %d, message %d: %.5q, want %.5q", i, j, got[j], want[j])
				}
			}
		}
	}
}
