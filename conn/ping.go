package conn

import (
	"context"
	"encoding/binary"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twoway/websocket/frame"
)

// pinger matches pongs to pings and runs the optional keepalive.
type pinger struct {
	mu      sync.Mutex
	seq     uint64
	waiting map[uint64]chan struct{}

	// hooks, set before the connection is used
	onPing, onPong func(payload []byte)

	// keepalive state, touched only by the timer's function
	timer    *time.Timer
	awaiting bool
	answered atomic.Bool
}

// Ping sends a Ping frame and waits for the matching Pong (RFC 6455 §5.5.2).
// The pong is seen by whichever goroutine is reading, so Ping needs a
// concurrent reader to return. When ctx ends first, Ping returns an error
// wrapping ctx's and the connection stays open: the ping has gone out
// whole, and a late pong is ignored.
func (c *Conn) Ping(ctx context.Context) error {
	p := c.pinger()
	ch := make(chan struct{})
	p.mu.Lock()
	p.seq++
	id := p.seq
	if p.waiting == nil {
		p.waiting = make(map[uint64]chan struct{})
	}
	p.waiting[id] = ch
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.waiting, id)
		p.mu.Unlock()
	}()

	var payload [8]byte
	binary.BigEndian.PutUint64(payload[:], id)
	if err := c.writeControl(ctx, frame.OpPing, payload[:]); err != nil {
		return err
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return &prefixedError{"websocket: no pong: ", ctx.Err()}
	case <-c.done():
		return c.closedError()
	}
}

// pinger returns the connection's pinger, making it on first use.
func (c *Conn) pinger() *pinger {
	if p := c.ping.Load(); p != nil {
		return p
	}
	c.ping.CompareAndSwap(nil, &pinger{})
	return c.ping.Load()
}

// pong records a Pong from the peer.
func (p *pinger) pong(payload []byte) {
	p.answered.Store(true)
	if p.onPong != nil {
		p.onPong(payload)
	}
	if len(payload) != 8 {
		return
	}
	id := binary.BigEndian.Uint64(payload)
	p.mu.Lock()
	if ch, ok := p.waiting[id]; ok {
		close(ch)
		delete(p.waiting, id)
	}
	p.mu.Unlock()
}

// startKeepalive pings the peer every pingInterval and ends the
// connection when a ping is not answered within pingTimeout. It uses a
// timer, not a goroutine, so an idle connection costs nothing more.
func (p *pinger) startKeepalive(c *Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.timer = time.AfterFunc(c.cfg.pingInterval, func() { p.tick(c) })
}

func (p *pinger) tick(c *Conn) {
	if c.isClosed() || c.sent.Load() != nil || c.peer.Load() != nil {
		return // the closing handshake has its own bounds
	}
	p.mu.Lock()
	timer := p.timer // set by startKeepalive, perhaps after this tick began
	p.mu.Unlock()
	if p.awaiting {
		if !p.answered.Load() && c.rsem.tryAcquire() {
			// Nobody is reading, so the pong may be waiting unread.
			c.pollControl()
			c.rsem.release()
		}
		if c.isClosed() || c.sent.Load() != nil || c.peer.Load() != nil {
			return // the poll found the connection ending
		}
		if !p.answered.Load() {
			c.keepaliveFailed()
			return
		}
		p.awaiting = false
		timer.Reset(max(c.cfg.pingInterval-c.cfg.pingTimeout, time.Millisecond))
		return
	}
	p.answered.Store(false)
	p.awaiting = true
	ctx, cancel := context.WithTimeoutCause(context.Background(), c.cfg.pingTimeout, ErrKeepaliveTimeout)
	err := c.writeControl(ctx, frame.OpPing, []byte("keepalive"))
	cancel()
	switch {
	case errors.Is(err, ErrClosed):
		return // closing: the closing handshake has its own bounds
	case err != nil:
		// A writer held the connection for all of pingTimeout: the peer
		// has stopped reading.
		c.keepaliveFailed()
		return
	}
	timer.Reset(c.cfg.pingTimeout)
}

// keepaliveFailed ends a connection whose peer did not answer a keepalive
// ping: it tries briefly to send a Close frame, which a peer that is alive
// but slow will understand, and closes the connection without waiting
// for an answer that is not coming.
func (c *Conn) keepaliveFailed() {
	ce := &CloseError{Code: CloseGoingAway, Reason: "keepalive timeout", Err: ErrKeepaliveTimeout}
	ctx, cancel := context.WithTimeout(context.Background(), min(c.cfg.pingTimeout, failLinger))
	err := c.sendClose(ctx, ce)
	cancel()
	switch {
	case err == errCloseSent:
		return // a closing handshake began meanwhile, with its own bounds
	case err == nil:
		if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite() // the Close frame, then FIN
		}
	}
	c.closeTCP(ce)
}

func (p *pinger) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.timer != nil {
		p.timer.Stop()
	}
}
