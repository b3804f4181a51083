package natsbroker_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/twoway/websocket/conn"
	"github.com/twoway/websocket/hub"
	"github.com/twoway/websocket/natsbroker"
)

// Presence intervals. interval is short, so that expiry is quick to
// see, yet long enough for a loaded machine to keep up. longInterval
// keeps expiry beyond converge's deadline, so that the views converge
// only by what hubs announce when members come and go. slack is what a
// test allows beyond a deadline in intervals for the hubs' own delays,
// delivery through NATS and their timers (converge's figure leaves out
// those of the goroutine that polls): with both cores busy under -race,
// up to 270 ms was seen in 200 runs, polling included.
const (
	interval     = 250 * time.Millisecond
	longInterval = time.Minute
	slack        = 500 * time.Millisecond
)

// process is what one process of a service would hold: a NATS
// connection, a broker on it, a hub, and a WebSocket server whose clients
// each join the room named in their URL and publish what they send.
type process struct {
	nc     *nats.Conn
	hub    *hub.Hub
	url    string
	joined chan error // a client's Join has returned
}

func startProcess(t *testing.T, s *server.Server, presence time.Duration, natsOpts ...nats.Option) *process {
	t.Helper()
	p := &process{nc: connect(t, s, natsOpts...), joined: make(chan error, 16)}
	b := natsbroker.New(p.nc, nil)
	// The queue holds more than any test sends, so that no member
	// falls behind however the loaded machine schedules its writer.
	p.hub = hub.New(&hub.Options{Broker: b, PresenceInterval: presence, QueueLen: 1024})
	var handlers sync.WaitGroup
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := conn.Accept(w, r, nil)
		if err != nil {
			return
		}
		handlers.Add(1)
		defer handlers.Done()
		defer c.CloseNow()
		member, err := p.hub.Add(c, r.URL.Query().Get("name"))
		if err != nil {
			return
		}
		defer member.Remove()
		room := r.URL.Query().Get("room")
		err = member.Join(room)
		p.joined <- err
		if err != nil {
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
				err = p.hub.Publish(ctx, room, pm)
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
		p.hub.Close()
		b.Close()
	})
	p.url = "ws" + strings.TrimPrefix(srv.URL, "http")
	return p
}

// dial connects a WebSocket client named name to p's room, and returns
// once it has joined: when the broker has its subscriptions.
func (p *process) dial(t *testing.T, name, room string) *conn.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := conn.Dial(ctx, p.url+"/?name="+name+"&room="+room, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	select {
	case err := <-p.joined:
		if err != nil {
			t.Fatalf("Join(%q): %v", room, err)
		}
	case <-ctx.Done():
		t.Fatalf("%s never joined", name)
	}
	return c
}

// converge waits until every process lists want as the room's members,
// and returns how long after its start a process was last seen listing
// something else (0 if none was): the views surely took that long to
// converge. Unlike the time until the poll that finds them converged,
// this cannot grow because a loaded machine let the polling goroutine
// sleep past the moment they did.
func converge(t *testing.T, room string, want []string, ps ...*process) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(10 * time.Second)
	var unsettled time.Duration
	for i, p := range ps {
		for {
			asked := time.Now() // Members looks at its clock after this
			got := p.hub.Members(room)
			if cmp.Equal(want, got) {
				break
			}
			unsettled = max(unsettled, asked.Sub(start))
			if time.Now().After(deadline) {
				t.Fatalf("process %d's members of %q (-want +got):\n%s", i, room, cmp.Diff(want, got))
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	return unsettled
}

// read reads n messages from c.
func read(t *testing.T, c *conn.Conn, n int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := make([]string, 0, n)
	for range n {
		_, msg, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("after %d of %d messages: %v", len(got), n, err)
		}
		got = append(got, string(msg))
	}
	return got
}

// bySender splits messages of the form "sender i" by sender.
func bySender(msgs []string) map[string][]string {
	m := make(map[string][]string)
	for _, msg := range msgs {
		sender, _, _ := strings.Cut(msg, " ")
		m[sender] = append(m[sender], msg)
	}
	return m
}

// TestHubs links three processes' hubs through one NATS server: all
// members of a room get every message, in each sender's order, wherever
// sender and member are connected, and every hub lists every member.
func TestHubs(t *testing.T) {
	s := startServer(t)
	ps := []*process{
		startProcess(t, s, longInterval), startProcess(t, s, longInterval), startProcess(t, s, longInterval),
	}
	names := []string{"ann", "bob", "cat", "dan"}
	clients := []*conn.Conn{
		ps[0].dial(t, "ann", "r"), ps[1].dial(t, "bob", "r"),
		ps[2].dial(t, "cat", "r"), ps[2].dial(t, "dan", "r"),
	}
	other := ps[1].dial(t, "eve", "elsewhere")
	converge(t, "r", names, ps...)
	converge(t, "elsewhere", []string{"eve"}, ps[1])

	// Every member sends at once.
	const n = 100
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Go(func() {
			for j := range n {
				if err := c.Write(context.Background(), conn.Text, fmt.Appendf(nil, "%s %d", names[i], j)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	want := make(map[string][]string)
	for _, name := range names {
		for j := range n {
			want[name] = append(want[name], fmt.Sprintf("%s %d", name, j))
		}
	}
	for i, c := range clients {
		if diff := cmp.Diff(want, bySender(read(t, c, n*len(names)))); diff != "" {
			t.Errorf("%s got (-want +got):\n%s", names[i], diff)
		}
	}
	wg.Wait()

	// Nothing leaked into the other room: eve's own message is the
	// first she gets.
	other.Write(context.Background(), conn.Text, []byte("eve alone"))
	if got := read(t, other, 1); got[0] != "eve alone" {
		t.Errorf("eve got %q", got)
	}

	// A member leaves, then a hub's last member: the other hubs hear
	// of it at once, long before expiry would tell them.
	clients[3].Close(conn.CloseNormal, "")
	converge(t, "r", names[:3], ps...)
	clients[2].Close(conn.CloseNormal, "")
	converge(t, "r", names[:2], ps[0], ps[1])
}

// TestHubCrash cuts a process's NATS connection as its crash would:
// the other hubs forget its members within three presence intervals and
// go on among themselves, and it, cut off, forgets theirs.
func TestHubCrash(t *testing.T) {
	s := startServer(t)
	cut := new(cutter)
	a, b := startProcess(t, s, interval), startProcess(t, s, interval)
	c := startProcess(t, s, interval, nats.SetCustomDialer(cut), nats.NoReconnect())
	ann, bob := a.dial(t, "ann", "r"), b.dial(t, "bob", "r")
	c.dial(t, "cat", "r")
	converge(t, "r", []string{"ann", "bob", "cat"}, a, b, c)

	cut.cut(true)
	// Expiry comes three intervals after the last announcement, which
	// came before the cut.
	if d := converge(t, "r", []string{"ann", "bob"}, a, b); d > 3*interval+slack {
		t.Errorf("crashed hub's members expired after %v; want within 3 intervals (%v)", d, 3*interval)
	} else {
		t.Logf("crashed hub's members expired after %v (interval %v)", d, interval)
	}
	converge(t, "r", []string{"cat"}, c)

	ctx := context.Background()
	ann.Write(ctx, conn.Text, []byte("ann after the crash"))
	if got := read(t, bob, 1); got[0] != "ann after the crash" {
		t.Errorf("bob got %q", got)
	}
}

// TestHubReconnect cuts a process off from NATS for longer than three
// presence intervals, then lets it reconnect: the others forget its
// members and it theirs, all is known again within an interval of its
// return, a message its member sent meanwhile arrives after all, and
// messages flow both ways again.
func TestHubReconnect(t *testing.T) {
	s := startServer(t)
	cut := new(cutter)
	disconnected, reconnected := make(chan struct{}, 1), make(chan struct{}, 1)
	signal := func(ch chan struct{}) {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	a := startProcess(t, s, interval)
	b := startProcess(t, s, interval, nats.SetCustomDialer(cut),
		nats.ReconnectWait(10*time.Millisecond), nats.ReconnectJitter(0, 0), nats.MaxReconnects(-1),
		nats.DisconnectErrHandler(func(*nats.Conn, error) { signal(disconnected) }),
		nats.ReconnectHandler(func(*nats.Conn) { signal(reconnected) }))
	ann, bob := a.dial(t, "ann", "r"), b.dial(t, "bob", "r")
	converge(t, "r", []string{"ann", "bob"}, a, b)

	cut.cut(true)
	converge(t, "r", []string{"ann"}, a)
	converge(t, "r", []string{"bob"}, b)
	// Once nats.go knows, it buffers what b publishes.
	select {
	case <-disconnected:
	case <-time.After(10 * time.Second):
		t.Fatal("no disconnection")
	}
	ctx := context.Background()
	bob.Write(ctx, conn.Text, []byte("bob while cut off"))
	if got := read(t, bob, 1); got[0] != "bob while cut off" {
		t.Errorf("bob got %q", got)
	}

	cut.cut(false)
	select {
	case <-reconnected:
	case <-time.After(10 * time.Second):
		t.Fatal("no reconnection")
	}
	// Each hub hears the other's next periodic announcement, within an
	// interval.
	if d := converge(t, "r", []string{"ann", "bob"}, a, b); d > interval+slack {
		t.Errorf("presence took %v to heal after reconnecting; want within an interval (%v)", d, interval)
	} else {
		t.Logf("presence healed %v after reconnecting (interval %v)", d, interval)
	}
	// nats.go kept what b published while cut off, and sent it on
	// reconnecting.
	if got := read(t, ann, 1); got[0] != "bob while cut off" {
		t.Errorf("ann got %q", got)
	}
	for _, from := range []*conn.Conn{ann, bob} {
		from.Write(ctx, conn.Text, []byte("again"))
		for name, to := range map[string]*conn.Conn{"ann": ann, "bob": bob} {
			if got := read(t, to, 1); got[0] != "again" {
				t.Errorf("%s got %q", name, got)
			}
		}
	}
}
