package conn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// NetConn returns a net.Conn that carries a byte stream over c's messages:
// each Write sends one message of type typ, and Read returns the bytes of
// incoming messages one after another, whatever their boundaries. Read
// returns io.EOF once the peer closes with CloseNormal or CloseGoingAway.
// Close runs the closing handshake with CloseNormal.
//
// ctx bounds every call. Deadlines work as net.Conn documents, for calls
// in progress too. A read deadline that passes while Read waits for the
// next message leaves the connection usable, as on a TCP connection; one
// that passes in the middle of a message or a frame being written closes
// the WebSocket, since a frame may be half read or written. Either way the
// call returns an error that matches os.ErrDeadlineExceeded.
func NetConn(ctx context.Context, c *Conn, typ MessageType) net.Conn {
	nc := &netConn{c: c, typ: typ, ctx: ctx}
	nc.read.nc, nc.write.nc = nc, nc
	return nc
}

type netConn struct {
	c   *Conn
	typ MessageType
	ctx context.Context

	rmu sync.Mutex
	mr  *messageReader // the message being read

	read, write deadline
}

// deadline is one direction's deadline and the call in progress that it
// bounds.
type deadline struct {
	nc     *netConn
	mu     sync.Mutex
	t      time.Time
	cancel context.CancelCauseFunc // of the call in progress
	timer  *time.Timer
}

// start returns the context of a call, canceled when the deadline passes.
func (d *deadline) start() (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(d.nc.ctx)
	d.mu.Lock()
	d.cancel = cancel
	d.arm()
	d.mu.Unlock()
	return ctx, func() {
		d.mu.Lock()
		d.stopTimer()
		d.cancel = nil
		d.mu.Unlock()
		cancel(nil)
	}
}

// arm makes the call in progress end when the deadline passes. d.mu is held.
func (d *deadline) arm() {
	d.stopTimer()
	if d.cancel == nil || d.t.IsZero() {
		return
	}
	cancel := d.cancel
	if wait := time.Until(d.t); wait > 0 {
		d.timer = time.AfterFunc(wait, func() { cancel(os.ErrDeadlineExceeded) })
		return
	}
	cancel(os.ErrDeadlineExceeded)
}

func (d *deadline) stopTimer() {
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
}

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	d.t = t
	d.arm()
	d.mu.Unlock()
}

func (nc *netConn) Read(p []byte) (int, error) {
	nc.rmu.Lock()
	defer nc.rmu.Unlock()
	ctx, done := nc.read.start()
	defer done()
	for {
		if nc.mr == nil {
			_, r, err := nc.c.Reader(ctx)
			if err != nil {
				return 0, nc.mapError(ctx, err)
			}
			nc.mr = r.(*messageReader)
		}
		nc.c.mrCtx = ctx // this call's context, not the one Reader saw
		n, err := nc.mr.Read(p)
		if err == io.EOF {
			nc.mr = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		if err != nil {
			nc.mr = nil
		}
		return n, nc.mapError(ctx, err)
	}
}

func (nc *netConn) Write(p []byte) (int, error) {
	ctx, done := nc.write.start()
	defer done()
	if err := nc.c.Write(ctx, nc.typ, p); err != nil {
		return 0, nc.mapError(ctx, err)
	}
	return len(p), nil
}

func (nc *netConn) mapError(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	var ce *CloseError
	if errors.As(err, &ce) && ce.Remote && ce.Normal() {
		return io.EOF
	}
	if errors.Is(context.Cause(ctx), os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %w", os.ErrDeadlineExceeded, err)
	}
	return err
}

func (nc *netConn) Close() error         { return nc.c.Close(CloseNormal, "") }
func (nc *netConn) LocalAddr() net.Addr  { return nc.c.LocalAddr() }
func (nc *netConn) RemoteAddr() net.Addr { return nc.c.RemoteAddr() }

func (nc *netConn) SetDeadline(t time.Time) error {
	nc.read.set(t)
	nc.write.set(t)
	return nil
}

func (nc *netConn) SetReadDeadline(t time.Time) error  { nc.read.set(t); return nil }
func (nc *netConn) SetWriteDeadline(t time.Time) error { nc.write.set(t); return nil }
