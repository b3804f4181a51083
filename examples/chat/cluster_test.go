package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/twoway/websocket/conn"
	"github.com/twoway/websocket/examples/internal/servertest"
)

// clusterPresence is the presence interval of the chat processes these
// tests run: a killed process's members vanish from the others' lists
// three intervals after its last announcement.
const clusterPresence = 500 * time.Millisecond

// startNATS runs a NATS server in the test process, on a loopback port
// of its choosing, until the test ends.
func startNATS(t testing.TB) *natsserver.Server {
	t.Helper()
	s, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		t.Fatal("NATS server not ready")
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

// startChats runs n chat processes linked through the NATS server ns.
func startChats(t testing.TB, exe string, ns *natsserver.Server, n int) []*servertest.Process {
	t.Helper()
	ps := make([]*servertest.Process, n)
	for i := range ps {
		ps[i] = servertest.Start(t, exe, "-addr", "127.0.0.1:0", "-nats", ns.ClientURL(),
			"-presence-interval", clusterPresence.String())
	}
	return ps
}

// failover is what a load balancer would be in front of chat processes:
// an HTTP reverse proxy, WebSocket upgrades included, that sends each
// request to the first of its backends that takes a connection.
func failover(backends ...string) http.Handler {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	return &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(&url.URL{Scheme: "http", Host: "backend"})
			r.Out.Host = r.In.Host // for the chat's Origin check
		},
		Transport: &http.Transport{
			// A fresh connection per request, so that every request
			// finds the backends that are up now.
			DisableKeepAlives: true,
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				var errs []error
				for _, b := range backends {
					c, err := dialer.DialContext(ctx, network, b)
					if err == nil {
						return c, nil
					}
					errs = append(errs, err)
				}
				return nil, errors.Join(errs...)
			},
		},
	}
}

// member is a chat client that reads all it is sent from a goroutine of
// its own, and keeps what it has read.
type member struct {
	name string
	c    *conn.Conn

	mu      sync.Mutex
	members []string            // the latest presence list
	got     map[string][]string // message texts by sender
	err     error               // what ended the reads
	ended   chan struct{}
	changed chan struct{} // a token when something was read
}

func connectMember(t testing.TB, endpoint, name string) *member {
	t.Helper()
	m := &member{
		name:    name,
		c:       join(t, endpoint, name, "", nil),
		got:     make(map[string][]string),
		ended:   make(chan struct{}),
		changed: make(chan struct{}, 1),
	}
	go m.read(t)
	t.Cleanup(func() {
		m.c.CloseNow()
		<-m.ended
	})
	return m
}

func (m *member) read(t testing.TB) {
	defer close(m.ended)
	for {
		var ev event
		err := m.c.ReadJSON(context.Background(), &ev)
		m.mu.Lock()
		switch {
		case err != nil:
			m.err = err
		case ev.Type == "presence":
			m.members = ev.Members
		case ev.Type == "message":
			m.got[ev.Name] = append(m.got[ev.Name], ev.Text)
		default:
			t.Errorf("%s: unexpected event %+v", m.name, ev)
		}
		m.mu.Unlock()
		select {
		case m.changed <- struct{}{}:
		default:
		}
		if err != nil {
			return
		}
	}
}

// waitFor waits up to d for cond, called with m.mu held, to hold.
func (m *member) waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		m.mu.Lock()
		ok := cond()
		m.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-m.changed:
		case <-deadline.C:
			return false
		}
	}
}

// converge waits until every member's presence list is want, and fails
// the test with their lists when that takes longer than d.
func converge(t testing.TB, ms []*member, want []string, d time.Duration) {
	t.Helper()
	start := time.Now()
	for _, m := range ms {
		if !m.waitFor(d-time.Since(start), func() bool { return cmp.Equal(want, m.members) }) {
			m.mu.Lock()
			got := m.members
			m.mu.Unlock()
			t.Fatalf("%s: presence (-want +got) after %v:\n%s", m.name, d, cmp.Diff(want, got))
		}
	}
	t.Logf("presence converged in %v", time.Since(start).Round(time.Millisecond))
}

// exchange has every member send n messages of round r, all at once,
// and checks that every member gets every one of them, in order per
// sender. Each member sends a message once it has got its previous one
// back, as a person typing would: the chat drops a member that falls a
// queue's length behind, which a burst of every member's n messages at
// once could make it.
func exchange(t testing.TB, ms []*member, r, n int, d time.Duration) {
	t.Helper()
	start := time.Now()
	text := func(sender string, i int) string { return fmt.Sprintf("r%d %s %d", r, sender, i) }
	var senders sync.WaitGroup
	for _, m := range ms {
		senders.Go(func() {
			for i := range n {
				if err := m.c.WriteJSON(context.Background(), said{Text: text(m.name, i)}); err != nil {
					t.Errorf("%s: WriteJSON: %v", m.name, err)
					return
				}
				echoed := m.waitFor(d-time.Since(start), func() bool {
					mine := m.got[m.name]
					return len(mine) > 0 && mine[len(mine)-1] == text(m.name, i) || m.err != nil
				})
				if !echoed || m.err != nil {
					return // the checks below say what is missing
				}
			}
		})
	}
	senders.Wait()
	for _, m := range ms {
		want := make(map[string][]string)
		for _, s := range ms {
			for i := range n {
				want[s.name] = append(want[s.name], text(s.name, i))
			}
		}
		// Messages of this round, by sender.
		round := func() map[string][]string {
			got := make(map[string][]string)
			for s, texts := range m.got {
				for _, x := range texts {
					var k int
					if fmt.Sscanf(x, "r%d ", &k); k == r {
						got[s] = append(got[s], x)
					}
				}
			}
			return got
		}
		total := len(ms) * n
		m.waitFor(d-time.Since(start), func() bool {
			c := 0
			for _, texts := range round() {
				c += len(texts)
			}
			return c >= total || m.err != nil
		})
		m.mu.Lock()
		got := round()
		m.mu.Unlock()
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("%s: round %d messages by sender (-want +got):\n%s", m.name, r, diff)
		}
	}
	t.Logf("round %d: %d messages to each of %d members in %v", r, len(ms)*n, len(ms), time.Since(start).Round(time.Millisecond))
}

// TestAcrossProcesses runs three chat processes on one NATS server, with
// two members on each: every member gets every message, in order per
// sender, and sees everyone. Then one process is killed; its members
// reconnect to the others, presence converges again, and so does the
// chat.
func TestAcrossProcesses(t *testing.T) {
	exe := servertest.Build(t, ".")
	ns := startNATS(t)
	ps := startChats(t, exe, ns, 3)
	endpoint := func(p *servertest.Process) string { return "ws://" + p.Addr + "/ws" }

	const perProcess, messages = 2, 50
	var ms []*member
	var names []string
	for i := range perProcess * len(ps) {
		name := fmt.Sprintf("m%d", i)
		ms = append(ms, connectMember(t, endpoint(ps[i%len(ps)]), name))
		names = append(names, name)
	}
	slices.Sort(names)
	converge(t, ms, names, 30*time.Second)
	exchange(t, ms, 1, messages, time.Minute)

	// A crash: no closing handshake, no goodbye to the other processes.
	killed := ps[len(ps)-1]
	killed.Signal(syscall.SIGKILL)
	killed.Wait(10 * time.Second)
	for i, m := range ms {
		if i%len(ps) != len(ps)-1 {
			continue
		}
		select {
		case <-m.ended:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: connection still open 10 s after its process was killed", m.name)
		}
		if code := conn.CloseStatus(m.err); code != 0 {
			t.Errorf("%s: the killed process closed with %d: %v", m.name, code, m.err)
		}
		// Back, as a browser would come back through a load balancer,
		// on another process, under the same name.
		ms[i] = connectMember(t, endpoint(ps[i%(len(ps)-1)]), m.name)
	}
	// The killed process's members are listed twice until the others
	// forget it, three presence intervals after its last announcement.
	converge(t, ms, names, 3*clusterPresence+30*time.Second)
	exchange(t, ms, 2, messages, time.Minute)
}
