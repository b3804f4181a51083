package conn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/twoway/websocket/frame"
)

// This file holds the closing handshake (RFC 6455 §7): Close from the
// application, the answer to the peer's Close, and failing the connection
// on a protocol error.

var (
	errWriterClosed  = errors.New("websocket: write to a closed message writer")
	errCloseTimedOut = errors.New("websocket: peer did not complete the closing handshake in time")
	errCloseLost     = fmt.Errorf("websocket: connection lost during the closing handshake: %w", io.ErrUnexpectedEOF)
)

// Close runs the closing handshake (RFC 6455 §7.1.2): it sends a Close
// frame with code and reason, waits for the peer's Close (bounded by the
// close timeout), then closes the TCP connection. A code of 0 sends a Close
// frame without a code. Close returns nil when the handshake completed.
// Nothing more is written after Close.
//
// Messages the peer sends before its Close reach the application only if
// a goroutine is reading: Close then lets that reader see them, and the
// peer's Close, which it returns as a *CloseError. Without a reader, Close
// reads and discards them itself.
//
// Close waits for a write in progress; if the peer has stopped reading,
// that wait lasts until the close timeout. CloseNow does not wait.
func (c *Conn) Close(code CloseCode, reason string) error {
	if code != 0 && code != frame.CloseNoStatus && !code.ValidOnWire() {
		return fmt.Errorf("websocket: close code %d may not be sent", uint16(code))
	}
	if len(reason) > frame.MaxControlPayload-2 {
		return fmt.Errorf("websocket: close reason is %d bytes, more than 123", len(reason))
	}
	if c.isClosed() {
		if c.peerClosed.Load() {
			return nil // the peer's closing handshake completed
		}
		return c.closedError()
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.closeTimeout)
	defer cancel()
	// errCloseSent: another Close, or the answer to the peer's Close, went
	// first; wait for the handshake all the same.
	if err := c.sendClose(ctx, code, reason); err != nil && err != errCloseSent {
		c.closeTCP(err)
		return err
	}
	// Wait for the peer's Close: read it ourselves unless a reader is
	// active, in which case that reader sees it and closes the connection.
	timedOut := false
	if c.rsem.acquire(ctx, c.done) == nil {
		// A context of an earlier read must not cut this wait short.
		c.rwatch.unwatch()
		timedOut = errors.Is(c.awaitPeerClose(ctx), os.ErrDeadlineExceeded)
		c.closeTCP(ErrClosed) // before a reader could parse a half-drained stream
		c.rsem.release()
	}
	c.closeTCP(ErrClosed)
	if c.peerClosed.Load() {
		return nil
	}
	if timedOut || ctx.Err() != nil {
		return errCloseTimedOut
	}
	return errCloseLost
}

// errCloseSent reports that our Close frame had already been sent.
var errCloseSent = errors.New("websocket: close already sent")

// sendClose writes our Close frame once; later calls return errCloseSent.
func (c *Conn) sendClose(ctx context.Context, code CloseCode, reason string) error {
	if err := c.lock(ctx, &c.wsem); err != nil {
		return err
	}
	defer c.wsem.release()
	if c.closeSent && c.writeErr == nil {
		return errCloseSent
	}
	var buf [frame.MaxControlPayload]byte
	err := c.writeFrame(ctx, true, 0, frame.OpClose, frame.AppendClosePayload(buf[:0], code, reason), false)
	c.closeSent = true
	return err
}

// receivedClose handles the peer's Close frame, read by the reader.
func (c *Conn) receivedClose(payload []byte) error {
	code, reason, err := frame.ParseClosePayload(payload)
	if err != nil {
		return c.fail(err)
	}
	c.peerClosed.Store(true)
	ce := &CloseError{Code: code, Reason: reason}
	c.rd.err = ce

	ctx, cancel := context.WithTimeout(c.readContext(), c.cfg.closeTimeout)
	defer cancel()
	// RFC 6455 §5.5.1: echo the status code; a Close without one is
	// answered with 1000.
	echo := code
	if echo == frame.CloseNoStatus {
		echo = frame.CloseNormal
	}
	c.sendClose(ctx, echo, "")
	c.finishClose(ctx)
	return ce
}

// finishClose closes TCP once both Close frames have been exchanged. The
// server closes first (RFC 6455 §7.1.1); the client gives the server time
// to do so, reading until EOF.
func (c *Conn) finishClose(ctx context.Context) {
	if c.client {
		c.drain(ctx, false)
	}
	c.closeTCP(ErrClosed)
}

// fail fails the connection on a protocol error (RFC 6455 §7.1.7): it sends
// a Close frame with the error's code and closes the connection. Nothing
// more is parsed: the stream may be out of step (a frame half read) and
// the RFC forbids processing further data. To keep our Close frame from
// being lost to a TCP reset, the write side is shut first and what still
// arrives is discarded until the peer closes, or briefly. It returns err,
// which reads return from then on.
func (c *Conn) fail(err error) error {
	r := &c.rd
	if r.err != nil {
		return r.err
	}
	r.err = err
	code := frame.CloseProtocolError
	reason := ""
	var pe *frame.ProtocolError
	if errors.As(err, &pe) {
		code, reason = pe.Code, pe.Reason
	}
	ctx, cancel := context.WithTimeout(c.readContext(), min(c.cfg.closeTimeout, failLinger))
	defer cancel()
	if c.sendClose(ctx, code, reason) == nil {
		if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
		r.remaining = 0
		c.drain(ctx, false)
	}
	c.closeTCP(err)
	return err
}

// readContext is the context of the read in progress: the closing work a
// read does is bounded by it too.
func (c *Conn) readContext() context.Context {
	if c.rd.ctx != nil {
		return c.rd.ctx
	}
	return context.Background()
}

// failLinger bounds how long a failed connection waits for the peer to
// close after our Close frame.
const failLinger = 2 * time.Second

// awaitPeerClose reads and discards frames until the peer's Close frame,
// and for a client until the server closes TCP, or until ctx expires. It
// returns the read error that ended the wait early, if any. The caller
// holds the read lock.
func (c *Conn) awaitPeerClose(ctx context.Context) error {
	if !c.peerClosed.Load() {
		if err := c.drain(ctx, true); err != nil {
			return err
		}
		c.peerClosed.Store(true)
	}
	c.finishClose(ctx)
	return nil
}

// drain discards incoming bytes until a Close frame (when untilClose) or
// EOF, an error, or ctx's deadline. It returns nil when it saw the Close,
// else the error that ended it.
func (c *Conn) drain(ctx context.Context, untilClose bool) error {
	if c.isClosed() {
		return c.closedError()
	}
	if d, ok := ctx.Deadline(); ok {
		c.nc.SetReadDeadline(d)
	} else {
		c.nc.SetReadDeadline(time.Now().Add(c.cfg.closeTimeout))
	}
	r := &c.rd
	for {
		// Skip what is left of the frame being read.
		for r.remaining > 0 {
			if r.pos == r.end {
				if err := c.readMore(1); err != nil {
					return err
				}
			}
			k := min(int64(r.end-r.pos), r.remaining)
			r.pos += int(k)
			r.remaining -= k
		}
		if !untilClose {
			if r.pos == r.end {
				if err := c.readMore(1); err != nil {
					return err
				}
			}
			r.pos = r.end
			continue
		}
		h, err := c.readHeader()
		if err != nil {
			return err
		}
		if h.Opcode == frame.OpClose && h.Length <= frame.MaxControlPayload {
			if err := c.fill(int(h.Length)); err != nil {
				return err
			}
			r.pos += int(h.Length)
			return nil
		}
		r.remaining = h.Length
	}
}
