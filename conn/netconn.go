package conn

import (
	"context"
	"errors"
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
// ctx bounds every call. A deadline that passes during a call closes the
// WebSocket, since a frame may be half read or written; the call returns an
// error that matches os.ErrDeadlineExceeded.
func NetConn(ctx context.Context, c *Conn, typ MessageType) net.Conn {
	return &netConn{c: c, typ: typ, ctx: ctx}
}

type netConn struct {
	c   *Conn
	typ MessageType
	ctx context.Context

	rmu sync.Mutex
	r   io.Reader // the message being read

	dmu           sync.Mutex
	readDeadline  time.Time
	writeDeadline time.Time
}

func (nc *netConn) context(deadline time.Time) (context.Context, context.CancelFunc) {
	if deadline.IsZero() {
		return nc.ctx, func() {}
	}
	return context.WithDeadline(nc.ctx, deadline)
}

func (nc *netConn) Read(p []byte) (int, error) {
	nc.rmu.Lock()
	defer nc.rmu.Unlock()
	nc.dmu.Lock()
	ctx, cancel := nc.context(nc.readDeadline)
	nc.dmu.Unlock()
	defer cancel()
	for {
		if nc.r == nil {
			_, r, err := nc.c.Reader(ctx)
			if err != nil {
				return 0, nc.mapError(err)
			}
			nc.r = r
		}
		n, err := nc.r.Read(p)
		if err == io.EOF {
			nc.r = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, nc.mapError(err)
	}
}

func (nc *netConn) Write(p []byte) (int, error) {
	nc.dmu.Lock()
	ctx, cancel := nc.context(nc.writeDeadline)
	nc.dmu.Unlock()
	defer cancel()
	if err := nc.c.Write(ctx, nc.typ, p); err != nil {
		return 0, nc.mapError(err)
	}
	return len(p), nil
}

func (nc *netConn) mapError(err error) error {
	if err == nil {
		return nil
	}
	switch CloseStatus(err) {
	case CloseNormal, CloseGoingAway:
		return io.EOF
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return errors.Join(os.ErrDeadlineExceeded, err)
	}
	return err
}

func (nc *netConn) Close() error         { return nc.c.Close(CloseNormal, "") }
func (nc *netConn) LocalAddr() net.Addr  { return nc.c.LocalAddr() }
func (nc *netConn) RemoteAddr() net.Addr { return nc.c.RemoteAddr() }

func (nc *netConn) SetDeadline(t time.Time) error {
	nc.dmu.Lock()
	nc.readDeadline, nc.writeDeadline = t, t
	nc.dmu.Unlock()
	return nil
}

func (nc *netConn) SetReadDeadline(t time.Time) error {
	nc.dmu.Lock()
	nc.readDeadline = t
	nc.dmu.Unlock()
	return nil
}

func (nc *netConn) SetWriteDeadline(t time.Time) error {
	nc.dmu.Lock()
	nc.writeDeadline = t
	nc.dmu.Unlock()
	return nil
}
