package event

import (
	"context"
	"errors"
	"net"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/twoway/websocket/conn"
)

// TestWakeWithoutTick checks that a loop waiting in Go's poller does at
// once what other goroutines ask of it, rather than at its next tick,
// which the test puts an hour away: a write from outside any callback
// reaches the peer, and Shutdown closes the connections and stops the
// loops. It also checks that the loops do not spin while the connections
// are idle, and that no goroutine is left.
func TestWakeWithoutTick(t *testing.T) {
	testHookTick = time.Hour
	defer func() { testHookTick = 0 }()
	before := runtime.NumGoroutine()

	const conns = 4
	opened := make(chan *Conn, conns)
	srv := &Server{OnOpen: func(c *Conn, _ *http.Request) { opened <- c }}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	clients := make([]*conn.Conn, conns)
	servers := make([]*Conn, conns)
	for i := range clients {
		c, _, err := conn.Dial(ctx, "ws://"+ln.Addr().String()+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		clients[i] = c
		servers[i] = <-opened
	}
	// Once OnOpen's worker is done, a write is left to the loop to send.
	for _, sc := range servers {
		for {
			sc.mu.Lock()
			idle := !sc.scheduled
			sc.mu.Unlock()
			if idle {
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
	for round := range 3 {
		time.Sleep(20 * time.Millisecond) // idle, so that the loops park
		for i, sc := range servers {
			want := []byte{byte(round), byte(i)}
			if err := sc.Write(ctx, conn.Binary, want); err != nil {
				t.Fatal(err)
			}
			_, got, err := clients[i].Read(ctx)
			if err != nil {
				t.Fatalf("round %d, connection %d: %v", round, i, err)
			}
			if string(got) != string(want) {
				t.Fatalf("round %d, connection %d: got %v, want %v", round, i, got, want)
			}
		}
	}

	// Shutdown sends each client a Close, which it answers as it reads.
	for _, c := range clients {
		go func() {
			for {
				if _, _, err := c.Read(ctx); err != nil {
					return
				}
			}
		}()
	}
	shut := make(chan error, 1)
	start := time.Now()
	go func() { shut <- srv.Shutdown(ctx) }()
	select {
	case err := <-shut:
		if err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Shutdown did not return: the loops were not woken")
	}
	t.Logf("Shutdown took %v", time.Since(start))
	if err := <-served; !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve returned %v, want ErrServerClosed", err)
	}

	// Each connection cost a few rounds of the loop (accept, request,
	// writes, close); a loop that spun would have made thousands.
	polls := 0
	for _, lp := range srv.engine.loops {
		polls += lp.polls
	}
	if limit := 50 * conns; polls > limit {
		t.Errorf("the loops polled epoll %d times, want at most %d", polls, limit)
	}
	t.Logf("%d polls", polls)

	CheckGoroutines(t, before)
}
