package conn

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"
)

// A Tracker keeps a server's open connections so that it can close them
// all when it shuts down: net/http's Server.Shutdown does not know the
// connections it has handed over to WebSocket. Connections accepted with
// AcceptOptions.Tracker set are tracked from the handshake until they end.
// Once Shutdown has begun, Accept refuses handshakes with 503 Service
// Unavailable, and AcceptConn, which has answered the handshake when it
// would learn it, closes the new connection with CloseGoingAway.
// The zero value is ready to use; a Tracker must not be copied after use.
type Tracker struct {
	mu       sync.Mutex
	conns    map[*Conn]struct{}
	shutdown bool
}

// ErrShuttingDown is returned by Accept and AcceptConn once their
// Tracker's Shutdown has begun; the client is answered 503 Service
// Unavailable.
var ErrShuttingDown = errors.New("websocket: server shutting down")

// refuse answers a handshake that comes during shutdown.
func (t *Tracker) refuse(w http.ResponseWriter) error {
	if t == nil || !t.isShuttingDown() {
		return nil
	}
	if w != nil {
		w.Header().Set("Connection", "close")
		http.Error(w, "server shutting down", http.StatusServiceUnavailable)
	}
	return ErrShuttingDown
}

func (t *Tracker) isShuttingDown() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.shutdown
}

// track adds c, unless shutdown has begun, in which case it closes c with
// CloseGoingAway and returns ErrShuttingDown.
func (t *Tracker) track(c *Conn) error {
	t.mu.Lock()
	if t.shutdown {
		t.mu.Unlock()
		c.Close(CloseGoingAway, "server shutting down")
		return ErrShuttingDown
	}
	if t.conns == nil {
		t.conns = make(map[*Conn]struct{})
	}
	t.conns[c] = struct{}{}
	c.tracker = t
	t.mu.Unlock()
	return nil
}

// untrack forgets c, which has ended.
func (t *Tracker) untrack(c *Conn) {
	t.mu.Lock()
	delete(t.conns, c)
	t.mu.Unlock()
}

// Len returns the number of open connections tracked.
func (t *Tracker) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.conns)
}

// Shutdown refuses new connections with 503, closes every tracked
// connection with CloseGoingAway, all at once, and waits for their
// closing handshakes, each bounded by its close timeout. When ctx ends
// first, it cuts the connections still closing, without waiting for their
// handshakes, and returns an error wrapping ctx's. Their endings have
// context.Cause(ctx) as the cause.
func (t *Tracker) Shutdown(ctx context.Context) error {
	t.mu.Lock()
	t.shutdown = true
	conns := make([]*Conn, 0, len(t.conns))
	for c := range t.conns {
		conns = append(conns, c)
	}
	t.mu.Unlock()

	done := make(chan struct{})
	go func() {
		var closers sync.WaitGroup
		for _, c := range conns {
			closers.Go(func() { c.Close(CloseGoingAway, "server shutting down") })
		}
		closers.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	cut := 0
	for _, c := range conns {
		if !c.isClosed() {
			cut++
			c.closeTCP(&CloseError{Code: CloseAbnormal, Err: context.Cause(ctx)})
		}
	}
	<-done
	return &prefixedError{"websocket: shutdown cut " + strconv.Itoa(cut) + " connections short: ", ctx.Err()}
}
