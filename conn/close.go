package conn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
	"unicode/utf8"

	"github.com/twoway/websocket/frame"
)

// This file holds the closing handshake (RFC 6455 §7): Close from the
// application, the answer to the peer's Close, and failing the connection
// on a protocol error.

var (
	errWriterClosed = errors.New("websocket: write to a closed message writer")
	errCloseSent    = errors.New("websocket: close already sent")
)

// Close runs the closing handshake (RFC 6455 §7.1.2): it sends a Close
// frame with code and reason, waits for the peer's Close (bounded by the
// close timeout), then closes the TCP connection. A code of 0 sends a Close
// frame without a code. Close returns nil when the handshake completed,
// and otherwise a *CloseError that says how the connection ended; so does
// every later Close or CloseNow. An invalid code, or a reason that is too
// long or not UTF-8, is refused before anything is sent.
//
// The Close frame may go out between the frames of a message that another
// goroutine is streaming (RFC 6455 §5.4); that message is then never
// finished, and its writer, like every later write, fails with an error
// matching ErrClosed, while the TCP connection stays up until the
// handshake ends.
//
// Messages the peer sends before its Close reach the application only if
// a goroutine is reading: Close then lets that reader see them, and the
// peer's Close, which ends its read with the *CloseError. Without a reader,
// Close reads and discards them itself.
//
// Close waits for a frame being written; if the peer has stopped reading,
// that wait lasts until the close timeout.
func (c *Conn) Close(code CloseCode, reason string) error {
	if code != 0 && code != frame.CloseNoStatus && !code.ValidOnWire() {
		return fmt.Errorf("websocket: close code %d may not be sent", uint16(code))
	}
	if len(reason) > frame.MaxControlPayload-2 {
		return fmt.Errorf("websocket: close reason is %d bytes, more than 123", len(reason))
	}
	if !utf8.ValidString(reason) {
		return ErrInvalidUTF8
	}
	if code == 0 || code == frame.CloseNoStatus {
		code, reason = frame.CloseNoStatus, "" // a frame without a code has no reason
	}
	if c.isClosed() {
		return c.closeResult()
	}
	ctx, cancel := context.WithTimeoutCause(context.Background(), c.cfg.closeTimeout, ErrCloseTimeout)
	defer cancel()
	// errCloseSent: another Close, or the answer to the peer's Close, went
	// first; wait for the handshake all the same.
	if err := c.sendClose(ctx, &CloseError{Code: code, Reason: reason}); err != nil && err != errCloseSent {
		// Nothing was sent: a writer held the connection until the close
		// timeout, or it has ended.
		c.closeTCP(&CloseError{Code: CloseAbnormal, Err: ErrCloseTimeout})
		return c.closeResult()
	}
	// Wait for the peer's Close: read it ourselves unless a reader is
	// active, in which case that reader sees it and closes the connection.
	if c.rsem.acquire(ctx, c.done) == nil {
		// A context of an earlier read must not cut this wait short.
		c.rwatch.Load().unwatch()
		c.awaitPeerClose(ctx)
		c.rsem.release()
	}
	if !c.isClosed() {
		// The reader did not finish the handshake in time.
		c.closeTCP(c.sentWith(ErrCloseTimeout))
	}
	return c.closeResult()
}

// sentWith is the ending of a closing handshake that we began and that
// failed for cause.
func (c *Conn) sentWith(cause error) *CloseError {
	s := c.sent.Load()
	if s != nil && (cause == nil || s.Err != nil) {
		return s // as it was decided when sent
	}
	ce := &CloseError{Code: CloseAbnormal, Err: cause}
	if s != nil {
		ce.Code, ce.Reason = s.Code, s.Reason
	}
	return ce
}

// sendClose writes our Close frame, with ce's code and reason, once;
// later calls return errCloseSent. ce is how the connection will end if
// the handshake completes, or, when its Err is set, however it goes.
func (c *Conn) sendClose(ctx context.Context, ce *CloseError) error {
	if err := c.lock(ctx, &c.wsem); err != nil {
		return err
	}
	defer c.wsem.release()
	if c.isClosed() {
		return c.closedError()
	}
	if c.sent.Load() != nil {
		return errCloseSent
	}
	// Recorded before the frame goes out, so that a reader that sees the
	// peer's answer knows which Close came first.
	c.sent.Store(ce)
	var buf [frame.MaxControlPayload]byte
	err := c.writeFrame(ctx, true, 0, frame.OpClose, frame.AppendClosePayload(buf[:0], ce.Code, ce.Reason), false)
	if err == nil {
		c.closeSent.Store(true)
	} else if !c.isClosed() {
		c.sent.Store(nil) // ctx ended before the frame began: none was sent
	}
	return err
}

// receivedClose handles the peer's Close frame, read by the reader.
func (c *Conn) receivedClose(payload []byte) error {
	code, reason, err := frame.ParseClosePayload(payload)
	if err != nil {
		return c.fail(err)
	}
	// The ending is that of whichever Close came first.
	ce := c.sent.Load()
	if ce == nil {
		ce = &CloseError{Code: code, Reason: reason, Remote: true}
	}
	c.peer.Store(ce)
	c.rd.err = ce

	ctx, cancel := context.WithTimeout(c.readContext(), c.cfg.closeTimeout)
	defer cancel()
	// RFC 6455 §5.5.1: echo the status code; a Close without one is
	// answered with 1000.
	echo := code
	if echo == frame.CloseNoStatus {
		echo = frame.CloseNormal
	}
	if err := c.sendClose(ctx, &CloseError{Code: echo}); err != nil && err != errCloseSent && !c.isClosed() {
		// A writer held the connection until the close timeout: the
		// answer never went out.
		ce = &CloseError{Code: code, Reason: reason, Remote: true, Err: ErrCloseTimeout}
		c.peer.Store(ce)
		c.rd.err = ce
	}
	c.finishClose(ctx, ce)
	return ce
}

// finishClose closes TCP once both Close frames have been exchanged. The
// server closes first (RFC 6455 §7.1.1); the client gives the server time
// to do so, reading until EOF, unless CloseNow has asked it not to wait.
func (c *Conn) finishClose(ctx context.Context, ce *CloseError) {
	if c.client && !c.abandoned.Load() {
		c.drain(ctx, false)
	}
	c.closeTCP(ce)
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
	ce := &CloseError{Code: code, Reason: reason, Err: err}
	if c.sendClose(ctx, ce) == nil {
		if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
		r.remaining = 0
		c.drain(ctx, false)
	}
	c.closeTCP(ce)
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
// and for a client until the server closes TCP, or until ctx expires, and
// closes the connection. The caller holds the read lock and has sent our
// Close.
func (c *Conn) awaitPeerClose(ctx context.Context) {
	if c.isClosed() {
		return
	}
	if c.peer.Load() == nil {
		if err := c.drain(ctx, true); err != nil {
			cause := error(ErrCloseTimeout)
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				cause = &prefixedError{"websocket: connection lost during the closing handshake: ", err}
			}
			c.closeTCP(c.sentWith(cause))
			return
		}
		c.peer.Store(c.sentWith(nil))
	}
	c.finishClose(ctx, c.peer.Load())
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
