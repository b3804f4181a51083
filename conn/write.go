package conn

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/twoway/websocket/frame"
	"github.com/twoway/websocket/internal/utf8check"
	"github.com/twoway/websocket/mask"
)

// maskChunkSize is the buffer a client masks large payloads through; the
// caller's slice is never modified.
const maskChunkSize = 64 << 10

// flushDelay bounds how long a held write waits when the reader, against
// expectation, does not come back to read (see hold in writeFrame).
const flushDelay = 200 * time.Microsecond

// writeFrame writes one frame. The caller holds wsem.
//
// With hold set, a frame that fits the output buffer may stay there instead
// of being written: Write holds when the reader already has the next
// message buffered, so an echo loop answering a burst of pipelined
// messages writes all the answers in one system call. Held bytes go out
// with the next write that does not hold, when the reader is about to wait
// for input, or after flushDelay, whichever comes first.
//
// A context that has ended before the frame is begun leaves the
// connection open; one that ends while it is written closes it, since the
// peer would read the rest of the stream out of step.
func (c *Conn) writeFrame(ctx context.Context, fin bool, rsv byte, op frame.Opcode, payload []byte, hold bool) error {
	if c.isClosed() || (op != frame.OpClose && c.sent.Load() != nil) {
		// RFC 6455 §5.5.1: nothing follows our Close frame, which
		// sendClose sends once.
		return c.closedError()
	}
	if err := c.watch(ctx, &c.wwatch, true); err != nil {
		return &prefixedError{"websocket: ", err}
	}
	if err := c.writeFrameRaw(fin, rsv, op, payload, hold); err != nil {
		err = c.lost(ctx, err)
		c.wwatch.Load().unwatch()
		return err
	}
	return nil
}

func (c *Conn) writeFrameRaw(fin bool, rsv byte, op frame.Opcode, payload []byte, hold bool) error {
	h := frame.Header{Fin: fin, RSV: rsv, Opcode: op, Length: int64(len(payload))}
	if c.client {
		// RFC 6455 §5.3: a fresh, unpredictable key for every frame.
		rand.Read(c.maskKey[:])
		h.Masked, h.Key = true, c.maskKey
	}
	if c.out == nil {
		c.out = getBuffer(c.cfg.writeBufferSize)
	}
	out := *c.out
	need := frame.MaxHeaderSize + len(payload)
	if c.outN > 0 && need > len(out)-c.outN {
		if err := c.flushOut(); err != nil {
			return err
		}
		c.out = getBuffer(c.cfg.writeBufferSize)
		out = *c.out
	}
	b := frame.AppendHeader(out[c.outN:c.outN], h)
	hl := len(b)
	if need <= len(out)-c.outN {
		b = append(b, payload...)
		if h.Masked {
			mask.Apply(b[hl:], h.Key, 0)
		}
		c.outN += len(b)
		if hold {
			c.armFlush()
			return nil
		}
		return c.flushOut()
	}
	c.outN += hl
	return c.writeLarge(h, payload)
}

// writeLarge sends a frame whose payload is larger than the output buffer,
// which holds its header already. It is apart from writeFrameRaw so that
// the common path of small frames keeps a small stack frame: the stack of
// an idle connection's goroutine is sized by the deepest call it made.
func (c *Conn) writeLarge(h frame.Header, payload []byte) error {
	if !h.Masked {
		// One writev for what is pending, the header and the payload.
		if c.large == nil {
			c.large = new(largeWrite)
		}
		lw := c.large
		lw.iov[0], lw.iov[1] = (*c.out)[:c.outN], payload
		lw.vec = lw.iov[:]
		_, err := lw.vec.WriteTo(c.nc)
		lw.iov[0], lw.iov[1] = nil, nil
		c.releaseOut()
		return err
	}
	if err := c.flushOut(); err != nil {
		return err
	}
	chunkp := getBuffer(maskChunkSize)
	defer putBuffer(chunkp)
	pos := 0
	for rest := payload; len(rest) > 0; {
		k := copy(*chunkp, rest)
		pos = mask.Apply((*chunkp)[:k], h.Key, pos)
		if _, err := c.nc.Write((*chunkp)[:k]); err != nil {
			return err
		}
		rest = rest[k:]
	}
	return nil
}

// largeWrite is the scratch space of writeLarge, kept so that its writev
// allocates nothing.
type largeWrite struct {
	iov [2][]byte
	vec net.Buffers
}

// flushOut writes the output buffer and returns it to the pool. The caller
// holds wsem.
func (c *Conn) flushOut() error {
	var err error
	if c.outN > 0 {
		_, err = c.nc.Write((*c.out)[:c.outN])
	}
	c.releaseOut()
	return err
}

func (c *Conn) releaseOut() {
	putBuffer(c.out)
	c.out, c.outN = nil, 0
	c.held.Store(false)
}

// armFlush notes that bytes are held and makes sure they go out in time.
func (c *Conn) armFlush() {
	if c.flushTimer == nil {
		// Made before held is set, and armed only once it is: a timer
		// that fired before held was set would find nothing to flush,
		// and nothing would arm it again. flushHeld reads the field only
		// after it has seen held, so the atomic orders the two.
		c.flushTimer = time.AfterFunc(time.Hour, c.flushHeld)
	}
	if !c.held.Swap(true) {
		c.flushTimer.Reset(flushDelay)
	}
}

// flushHeld writes held bytes, unless a writer is busy: that writer sends
// them along with its own frame.
func (c *Conn) flushHeld() {
	if !c.held.Load() {
		return
	}
	if !c.wsem.tryAcquire() {
		// The writer may be one that holds too, or may give up on its
		// context: try again shortly rather than trust it to flush.
		c.flushTimer.Reset(flushDelay)
		return
	}
	if c.held.Load() && !c.isClosed() {
		// The held bytes belong to a Write that has returned: its context
		// must not interrupt them.
		c.wwatch.Load().unwatch()
		if err := c.flushOut(); err != nil {
			c.lost(context.Background(), err)
		}
	}
	c.wsem.release()
}

// writeControl writes a control frame (RFC 6455 §5.5). It may go out
// between the frames of a streamed message.
func (c *Conn) writeControl(ctx context.Context, op frame.Opcode, payload []byte) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if err := c.lock(ctx, &c.wsem); err != nil {
		return err
	}
	defer c.wsem.release()
	return c.writeFrame(ctx, true, 0, op, payload, false)
}

// errMessageType is returned for a message type other than Text or Binary.
var errMessageType = errors.New("websocket: message type must be Text or Binary")

// Write writes p as one message of type typ. It is safe to call from many
// goroutines at once; messages go out whole, one after another. Text must
// be valid UTF-8: otherwise Write returns ErrInvalidUTF8 and sends nothing.
func (c *Conn) Write(ctx context.Context, typ MessageType, p []byte) error {
	if typ != Text && typ != Binary {
		return errMessageType
	}
	if typ == Text && !utf8.Valid(p) {
		return ErrInvalidUTF8
	}
	if err := c.lock(ctx, &c.msem); err != nil {
		return err
	}
	var err error
	if c.compress != nil && len(p) >= c.compress.threshold {
		err = c.writeCompressed(ctx, typ, p)
	} else if err = c.lock(ctx, &c.wsem); err == nil {
		// No defers here: they would deepen the stack of every write.
		err = c.writeFrame(ctx, true, 0, frame.Opcode(typ), p, c.readAhead.Load())
		c.wsem.release()
	}
	c.msem.release()
	return err
}

// writeCompressed writes p as one compressed message. The caller holds msem.
func (c *Conn) writeCompressed(ctx context.Context, typ MessageType, p []byte) error {
	if err := c.unusable(); err != nil {
		return err // and the compressor may hold the error that ended it
	}
	mw := c.messageWriter()
	mw.begin(ctx, typ)
	mw.text = false // Write has checked the whole message already
	if _, err := mw.Write(p); err != nil {
		mw.end()
		return err
	}
	return mw.finish()
}

// Writer returns a writer for one message of type typ, sent in frames of up
// to the write buffer size as it is written, so that a message of any size
// passes with bounded memory. The message ends with Close. Other messages
// wait until then; control frames do not.
//
// Text is checked as it is written: a Write of bytes that cannot continue
// valid UTF-8 returns ErrInvalidUTF8 and takes none of them, and the writer
// stays usable. A Close that would end the text inside a character returns
// ErrInvalidUTF8 too; the message is then dropped if none of it has gone
// out, and otherwise the connection is closed, since the message cannot
// be finished.
//
// Once Close has returned, or the connection has sent its Close frame, the
// writer's calls fail: a writer kept after its message cannot reach a
// later one.
func (c *Conn) Writer(ctx context.Context, typ MessageType) (io.WriteCloser, error) {
	mw, err := c.startMessage(ctx, typ)
	if err != nil {
		return nil, err
	}
	return &writerHandle{mw: mw, seq: mw.seq.Load()}, nil
}

// startMessage takes msem and starts a message of type typ on the
// connection's message writer.
func (c *Conn) startMessage(ctx context.Context, typ MessageType) (*messageWriter, error) {
	if typ != Text && typ != Binary {
		return nil, errMessageType
	}
	if err := c.lock(ctx, &c.msem); err != nil {
		return nil, err
	}
	if err := c.unusable(); err != nil {
		c.msem.release()
		return nil, err
	}
	mw := c.messageWriter()
	mw.begin(ctx, typ)
	return mw, nil
}

// A writerHandle is what Writer returns: one message's hold on the
// connection's message writer, which every message shares. Once that
// message has ended, the handle fails, so that a writer kept after its
// Close cannot write into, or close, a later message.
type writerHandle struct {
	mw  *messageWriter
	seq uint64 // the message's; mw.seq moves on when it ends
}

// current returns the message writer if the handle's message is still
// being written.
func (h *writerHandle) current() (*messageWriter, error) {
	if h.mw.seq.Load() != h.seq {
		return nil, errWriterClosed
	}
	return h.mw, nil
}

func (h *writerHandle) Write(p []byte) (int, error) {
	mw, err := h.current()
	if err != nil {
		return 0, err
	}
	return mw.Write(p)
}

func (h *writerHandle) ReadFrom(r io.Reader) (int64, error) {
	mw, err := h.current()
	if err != nil {
		return 0, err
	}
	return mw.ReadFrom(r)
}

func (h *writerHandle) Close() error {
	mw, err := h.current()
	if err != nil {
		return err
	}
	return mw.Close()
}

// messageWriter returns the connection's message writer, making it on
// first use. The caller holds msem.
func (c *Conn) messageWriter() *messageWriter {
	if c.mw == nil {
		c.mw = &messageWriter{c: c}
	}
	return c.mw
}

// messageWriter is the io.WriteCloser that Writer returns, and the path of
// compressed messages. It holds msem from begin to Close.
type messageWriter struct {
	c       *Conn
	ctx     context.Context
	seq     atomic.Uint64 // counts ended messages, for writerHandle
	active  bool
	deflate bool // the message is compressed
	text    bool // checked as it is written (see Writer)
	utf8    utf8check.Validator
	sink    frameSink
}

func (w *messageWriter) begin(ctx context.Context, typ MessageType) {
	w.ctx, w.active = ctx, true
	w.text = typ == Text
	w.utf8.Reset()
	w.sink = frameSink{c: w.c, ctx: ctx, op: frame.Opcode(typ)}
	w.deflate = w.c.compress != nil
	if w.deflate {
		w.sink.rsv = frame.RSV1
		w.c.compress.deflate.Begin(&w.sink)
	}
}

// Write writes message bytes; full frames go out as the buffer fills.
func (w *messageWriter) Write(p []byte) (int, error) {
	if !w.active {
		return 0, errWriterClosed
	}
	if err := w.c.unusable(); err != nil {
		// Bytes that would only be buffered could never go out: say so
		// now, not at the next flush.
		return 0, err
	}
	if w.text {
		before := w.utf8
		if w.utf8.Feed(p) >= 0 {
			w.utf8 = before
			return 0, ErrInvalidUTF8
		}
	}
	if w.deflate {
		return w.c.compress.deflate.Write(p)
	}
	return w.sink.Write(p)
}

// ReadFrom implements io.ReaderFrom: it reads r to EOF straight into the
// frame buffer, so io.Copy needs no buffer of its own.
func (w *messageWriter) ReadFrom(r io.Reader) (int64, error) {
	if !w.active {
		return 0, errWriterClosed
	}
	bufp := getBuffer(w.c.cfg.writeBufferSize)
	defer putBuffer(bufp)
	var total int64
	for {
		n, err := r.Read(*bufp)
		if n > 0 {
			if _, werr := w.Write((*bufp)[:n]); werr != nil {
				return total, werr
			}
			total += int64(n)
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// Close sends the final frame of the message.
func (w *messageWriter) Close() error {
	if !w.active {
		return errWriterClosed
	}
	defer w.c.msem.release()
	return w.finish()
}

// finish ends the message; the caller releases msem.
func (w *messageWriter) finish() error {
	defer w.end()
	if w.sink.failed != nil {
		return w.sink.failed // a Close frame, say, cut the message short
	}
	if w.text && !w.utf8.Complete() {
		w.discard(ErrInvalidUTF8)
		return ErrInvalidUTF8
	}
	if w.deflate {
		if err := w.c.compress.deflate.Finish(); err != nil {
			return err
		}
	}
	return w.sink.flush(true)
}

// discard gives up the message for cause: it is dropped if none of it has
// gone out, and otherwise the connection is closed, since the message can
// be neither finished nor taken back. The caller ends the writer.
func (w *messageWriter) discard(cause error) {
	if w.sink.op == frame.OpContinuation {
		if w.c.unusable() == nil { // else the connection is ending anyway
			w.c.abort(cause)
		}
	} else if w.deflate {
		// The compressor's window may hold bytes the peer will never see:
		// start the next message afresh, which the peer accepts (RFC 7692
		// §7.2.1 allows, never requires, taking over the window).
		w.c.compress.deflate.Release()
	}
}

func (w *messageWriter) end() {
	w.active = false
	w.seq.Add(1)
	w.ctx = nil
	if w.c.compress != nil && (w.c.isClosed() || w.sink.failed != nil) {
		// A failed message leaves the compressor holding bytes the peer
		// never saw: the next message starts afresh (see discard).
		w.c.compress.deflate.Release()
	}
	w.sink.release()
}

// frameSink buffers the payload of a message and writes it as frames.
type frameSink struct {
	c      *Conn
	ctx    context.Context
	op     frame.Opcode // of the next frame: the message type, then continuation
	rsv    byte         // of the next frame: RSV1 on the first frame of a compressed message
	bufp   *[]byte
	n      int
	failed error
}

func (s *frameSink) Write(p []byte) (int, error) {
	if s.failed != nil {
		return 0, s.failed
	}
	if s.n == 0 && len(p) >= s.c.cfg.writeBufferSize {
		// Nothing to join it with: send p as a frame of its own rather
		// than copying it through the buffer.
		if err := s.flushFrame(false, p); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	written := 0
	for len(p) > 0 {
		if s.bufp == nil {
			s.bufp = getBuffer(s.c.cfg.writeBufferSize)
		}
		buf := *s.bufp
		if s.n == len(buf) {
			if err := s.flush(false); err != nil {
				return written, err
			}
		}
		k := copy(buf[s.n:], p)
		s.n += k
		written += k
		p = p[k:]
	}
	return written, nil
}

// flush writes the buffered bytes as a frame.
func (s *frameSink) flush(fin bool) error {
	var payload []byte
	if s.bufp != nil {
		payload = (*s.bufp)[:s.n]
	}
	return s.flushFrame(fin, payload)
}

// flushFrame writes payload as the next frame of the message.
func (s *frameSink) flushFrame(fin bool, payload []byte) error {
	if s.failed != nil {
		return s.failed
	}
	c := s.c
	err := c.lock(s.ctx, &c.wsem)
	if err == nil {
		// A message's last frame may wait for the answers to messages the
		// reader has buffered, as Write's does (see writeFrame).
		err = c.writeFrame(s.ctx, fin, s.rsv, s.op, payload, fin && c.readAhead.Load())
		c.wsem.release()
	}
	if err != nil {
		s.failed = err
		if s.op == frame.OpContinuation && !errors.Is(err, ErrClosed) {
			// The context ended before this frame began, but part of
			// the message is out: no later message could be framed
			// correctly. (After a Close frame, or once the connection
			// has ended, no message follows.) A compressor that took
			// in bytes of a message none of which went out is
			// released when the message ends (see end).
			cause := context.Cause(s.ctx)
			if cause == nil {
				cause = err
			}
			s.failed = c.abort(cause)
		}
		return s.failed
	}
	s.n = 0
	s.op, s.rsv = frame.OpContinuation, 0
	return nil
}

func (s *frameSink) release() {
	putBuffer(s.bufp)
	s.bufp = nil
	s.n = 0
}
