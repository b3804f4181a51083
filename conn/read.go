package conn

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"time"

	"github.com/twoway/websocket/frame"
	"github.com/twoway/websocket/internal/pmdeflate"
	"github.com/twoway/websocket/internal/utf8check"
	"github.com/twoway/websocket/mask"
)

// idleReadSize is how much a connection with nothing buffered reads at
// once while it waits for the next message (see readIdle): enough for a
// small message in one read, while a Conn stays within 768 bytes, one of the
// allocator's size classes (see TestConnSize).
const idleReadSize = 256

// reader is the receiving half of a connection: the read buffer and the
// frame state machine of RFC 6455 §5. Every frame read goes through
// nextDataFrame, which handles control frames inline, validates headers
// and fragmentation, and positions the reader on the payload of the next
// data frame.
type reader struct {
	ctx context.Context // of the read in progress

	buf      []byte  // *bufp, idleBuf, or nil when nothing is buffered
	bufp     *[]byte // pooled buffer, or nil
	pos, end int     // unread bytes are buf[pos:end]
	size     int     // size of the pooled buffer
	pending  error   // an error readIdle's read returned with its bytes
	err      error   // sticky: once reading failed, every read returns it

	rules frame.Rules
	typ   MessageType // of the message being read

	// The small fields are together, so that they share words.
	seq       frame.Sequencer
	lastSmall bool // the last network read drained the socket, and was small

	// The data frame being read.
	key    [4]byte
	masked bool
	final  bool // the frame ends its message

	// The message being read.
	inMessage  bool
	text       bool
	compressed bool
	utf8       utf8check.Validator

	maskPos   int
	remaining int64 // payload bytes of the frame not yet read
	wire      int64 // payload bytes of the message on the wire so far
	delivered int64 // bytes handed to the caller so far

	// idleBuf receives the first bytes of a message while the connection
	// waits for it (see readIdle).
	idleBuf [idleReadSize]byte
}

func (r *reader) init(client bool, buffered []byte, size int) {
	r.size = size
	r.rules.Role = frame.RoleServer
	if client {
		r.rules.Role = frame.RoleClient
	}
	if len(buffered) > 0 {
		r.take(max(size, len(buffered)))
		r.end = copy(r.buf, buffered)
	}
}

// take gets a pooled buffer of at least n bytes to read into.
func (r *reader) take(n int) {
	r.bufp = getBuffer(n)
	r.buf = *r.bufp
}

// release lets go of the buffer, pooled or idleBuf, if it is empty.
func (r *reader) release() {
	if r.pos == r.end {
		if r.bufp != nil {
			putBuffer(r.bufp)
		}
		r.bufp, r.buf = nil, nil
		r.pos, r.end = 0, 0
	}
}

// frameBuffered reports whether a whole frame is buffered, so that the
// next read will not wait for the network.
func (r *reader) frameBuffered() bool {
	avail := r.end - r.pos
	if avail < 2 {
		return false
	}
	h, n, err := frame.ParseHeader(r.buf[r.pos:r.end])
	return err == nil && int64(avail-n) >= h.Length
}

// readMore does one network read, first making room so that at least n
// bytes can be buffered.
func (c *Conn) readMore(n int) error {
	r := &c.rd
	if err := r.pending; err != nil {
		r.pending = nil
		return err
	}
	// This read may wait for the peer: send what writes held back first.
	c.readAhead.Store(false)
	if c.held.Load() {
		c.flushHeld()
	}
	avail := r.end - r.pos
	if avail == 0 && r.lastSmall {
		// The last read drained the socket and was small, so this one
		// will probably wait, and for little: wait without holding a
		// pooled buffer.
		r.release()
	}
	if r.buf == nil {
		// Wait in idleBuf between messages, and within one after a small
		// read. Otherwise the buffer was let go only because a call
		// ended, such as a Read of the reader Reader returns (see
		// endRead), while the peer sends fast: reads of idleBuf's size
		// would cost more system calls and hide whole frames from
		// readAhead.
		if n <= idleReadSize && (r.lastSmall || !r.inMessage) {
			c.readIdle()
			if r.buf == nil { // no bytes, so an error
				err := r.pending
				r.pending = nil
				return err
			}
			return nil
		}
		r.take(max(r.size, n))
		r.pos, r.end = 0, 0
	} else if r.bufp == nil {
		// idleBuf holds the start of a frame: go on in a pooled buffer,
		// which idleBuf's bytes are copied to.
		rest := r.buf[r.pos:r.end]
		r.take(max(r.size, n))
		r.pos, r.end = 0, copy(r.buf, rest)
	} else if avail == 0 {
		r.pos, r.end = 0, 0
	} else if r.pos+n > len(r.buf) || r.end == len(r.buf) {
		copy(r.buf, r.buf[r.pos:r.end])
		r.pos, r.end = 0, avail
	}
	for {
		m, err := c.nc.Read(r.buf[r.end:])
		r.lastSmall = m <= idleReadSize && r.end+m < len(r.buf)
		r.end += m
		if m > 0 {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// errAwait tells ReadInto and Reader that a control frame arrived between
// messages and nothing else is buffered: they wait for the next message
// again with waitIdle.
var errAwait = errors.New("websocket: await the next message")

// waitIdle waits for the next message when the reader is idle, and
// buffers what has arrived of it, after sending any writes held back.
// ReadInto and Reader call it first, near the top of the goroutine's
// stack: an idle connection spends its life in this wait, and a
// goroutine's stack keeps the size its deepest call needed, so waiting
// here rather than deep in the frame parser keeps a plain server goroutine
// within the 2 KiB stack it started with (see TestIdleServerStack). It
// reads once: the parser validates what has come before it waits for
// more, so that invalid UTF-8 fails fast. An error is kept for the parser
// to return after the bytes that came with it.
func (c *Conn) waitIdle() {
	r := &c.rd
	if !r.idle() {
		if r.pos == r.end {
			r.release()
		}
		if !r.idle() {
			return
		}
	}
	c.readAhead.Store(false)
	if c.held.Load() {
		c.flushHeld()
	}
	c.readIdle()
}

// idle reports whether the reader is between messages with nothing
// buffered, so that its next read waits for the peer.
func (r *reader) idle() bool {
	return r.buf == nil && r.err == nil && r.pending == nil && !r.inMessage
}

// readIdle waits for data on a connection with nothing buffered and
// buffers what arrives in the reader's small idleBuf: a connection waiting
// for its next message, or for a peer that sends a message slowly, holds
// no pooled buffer, and a message that fits in idleBuf never takes one
// (readMore moves to a pooled buffer when a frame needs more). An error
// is kept in r.pending.
//
// idleBuf costs heap in every Conn; an array on the stack would not, but a
// goroutine that waits with it so deep outgrows its 2 KiB stack, which
// costs more.
func (c *Conn) readIdle() {
	r := &c.rd
	for {
		m, err := c.nc.Read(r.idleBuf[:])
		if m > 0 {
			r.buf, r.pos, r.end = r.idleBuf[:], 0, m
			r.lastSmall = m < len(r.idleBuf)
		}
		if m > 0 || err != nil {
			r.pending = err
			return
		}
	}
}

// fill makes at least n bytes available in buf[pos:end].
func (c *Conn) fill(n int) error {
	for c.rd.end-c.rd.pos < n {
		if err := c.readMore(n); err != nil {
			return err
		}
	}
	return nil
}

// readHeader reads the next frame header, without validating it.
func (c *Conn) readHeader() (frame.Header, error) {
	r := &c.rd
	if err := c.fill(2); err != nil {
		return frame.Header{}, err
	}
	size := frame.HeaderSize(r.buf[r.pos+1])
	if err := c.fill(size); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return frame.Header{}, err
	}
	h, n, err := frame.ParseHeader(r.buf[r.pos:r.end])
	if err != nil {
		return frame.Header{}, err
	}
	r.pos += n
	return h, nil
}

// nextDataFrame reads frames until the header of the next data frame,
// answering control frames on the way (RFC 6455 §5.4: they may come between
// the fragments of a message).
func (c *Conn) nextDataFrame() error {
	r := &c.rd
	for {
		h, err := c.readHeader()
		if err != nil {
			return c.readFailed(err, !r.inMessage)
		}
		if err := r.rules.Check(h); err != nil {
			r.remaining = h.Length // for the closing handshake to skip
			return c.fail(err)
		}
		if h.Opcode.IsControl() {
			if err := c.readControl(h); err != nil {
				return err
			}
			if !r.inMessage && r.pos == r.end {
				// Between messages, with nothing buffered: wait for the
				// next one from the top of the stack (see waitIdle).
				return errAwait
			}
			continue
		}
		r.remaining = h.Length
		op, final, err := r.seq.Next(h)
		if err != nil {
			return c.fail(err)
		}
		if h.Opcode == frame.OpContinuation {
			if h.RSV != 0 {
				// RFC 7692 §6.1: RSV1 belongs on the first frame only.
				return c.fail(errRSVContinuation)
			}
		} else {
			r.inMessage = true
			r.typ = MessageType(op)
			r.text = op == frame.OpText
			r.compressed = h.RSV&frame.RSV1 != 0
			r.wire, r.delivered = 0, 0
			r.utf8.Reset()
			if r.compressed {
				c.compress.inflate.Begin(payloadReader{c})
			}
		}
		r.wire += h.Length
		if !r.compressed && c.cfg.readLimit >= 0 && r.wire > c.cfg.readLimit {
			return c.fail(errTooBig)
		}
		r.final = final
		r.masked = h.Masked
		r.key = h.Key
		r.maskPos = 0
		return nil
	}
}

var (
	errRSVContinuation = &frame.ProtocolError{Code: frame.CloseProtocolError, Reason: "RSV1 set on a continuation frame"}
	errRSVControl      = &frame.ProtocolError{Code: frame.CloseProtocolError, Reason: "RSV bit set on a control frame"}
	errTooBig          = &frame.ProtocolError{Code: frame.CloseMessageTooBig, Reason: "message exceeds the read limit"}
	errBadDeflate      = &frame.ProtocolError{Code: frame.CloseInvalidPayload, Reason: "invalid compressed data"}
)

// readControl reads the payload of a control frame and acts on it.
func (c *Conn) readControl(h frame.Header) error {
	r := &c.rd
	if h.RSV != 0 {
		r.remaining = h.Length
		return c.fail(errRSVControl)
	}
	n := int(h.Length) // at most 125, checked by Rules
	if err := c.fill(n); err != nil {
		return c.readFailed(err, false)
	}
	// The payload is handled where it lies in the read buffer: nothing
	// below reads from the network before it is done with p.
	p := r.buf[r.pos : r.pos+n]
	r.pos += n
	if h.Masked {
		mask.Apply(p, h.Key, 0)
	}
	switch h.Opcode {
	case frame.OpPing:
		if pg := c.ping.Load(); pg != nil && pg.onPing != nil {
			pg.onPing(p)
		}
		// RFC 6455 §5.5.2: answer with the same application data. No
		// answer goes out after our Close frame.
		err := c.writeControl(r.ctx, frame.OpPong, p)
		if err != nil && !errors.Is(err, ErrClosed) {
			// The read's context ended while a writer held the
			// connection.
			r.err = c.abort(context.Cause(r.ctx))
			return r.err
		}
	case frame.OpPong:
		if pg := c.ping.Load(); pg != nil {
			pg.pong(p)
		}
	case frame.OpClose:
		return c.receivedClose(p)
	}
	return nil
}

// pollWait bounds pollControl's read: data that has arrived is read at
// once, and the call must not wait for more.
const pollWait = time.Millisecond

// pollControl handles the control frames that have arrived while nobody
// reads, without waiting for more, so that the keepalive sees a pong with
// no reader running. Control frames at the head of the stream are handled
// as a reader would; it stops at the first data frame, which stays
// buffered for the application's next read, and only looks for a pong in
// what is buffered behind it. The caller holds the read lock.
func (c *Conn) pollControl() {
	r := &c.rd
	if r.err != nil || c.isClosed() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.pingTimeout)
	defer cancel()
	r.ctx = ctx // bounds the answer to a ping, and to a Close
	defer func() { r.ctx = nil; r.release() }()
	if r.buf == nil || r.end < len(r.buf) || r.pos > 0 { // room to read into
		c.nc.SetReadDeadline(time.Now().Add(pollWait))
		err := c.readMore(1)
		c.nc.SetReadDeadline(time.Time{})
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			if r.pos == r.end {
				c.lost(ctx, err) // the peer is gone, not slow
				return
			}
			r.pending = err // for the reader, after what is buffered
		}
	}
	for r.remaining == 0 && r.frameBuffered() && !c.isClosed() {
		h, n, _ := frame.ParseHeader(r.buf[r.pos:r.end])
		if !h.Opcode.IsControl() {
			break
		}
		r.pos += n
		if err := r.rules.Check(h); err != nil {
			r.remaining = h.Length
			c.fail(err)
			return
		}
		if c.readControl(h) != nil {
			return
		}
	}
	// Frames behind data must wait for the reader, but a pong among them
	// shows that the peer answered.
	pg := c.ping.Load()
	if pg == nil || r.remaining > int64(r.end-r.pos) {
		return
	}
	// Lengths are the peer's, unchecked: compare, never add, lest they
	// overflow.
	for at := r.pos + int(r.remaining); at < r.end; {
		h, n, err := frame.ParseHeader(r.buf[at:r.end])
		if err != nil {
			return
		}
		if h.Opcode == frame.OpPong {
			pg.answered.Store(true)
			return
		}
		if h.Length > int64(r.end-at-n) {
			return
		}
		at += n + int(h.Length)
	}
}

// readPayload reads payload bytes of the current message as they arrive on
// the wire (compressed, if the message is), crossing frame boundaries. It
// returns io.EOF at the end of the message.
func (c *Conn) readPayload(p []byte) (int, error) {
	r := &c.rd
	if r.err != nil {
		return 0, r.err
	}
	for r.remaining == 0 {
		if r.final {
			return 0, io.EOF
		}
		if err := c.nextDataFrame(); err != nil {
			return 0, err
		}
	}
	if len(p) == 0 {
		return 0, nil
	}
	n := len(p)
	if int64(n) > r.remaining {
		n = int(r.remaining)
	}
	if r.pos == r.end && n >= r.size && r.pending == nil {
		// A large read goes straight into p, as bufio does.
		c.readAhead.Store(false)
		if c.held.Load() {
			c.flushHeld()
		}
		m, err := c.nc.Read(p[:n])
		r.lastSmall = false
		if m == 0 {
			if err == nil {
				return 0, nil
			}
			return 0, c.readFailed(err, false)
		}
		n = m
	} else {
		if r.pos == r.end {
			if err := c.readMore(1); err != nil {
				return 0, c.readFailed(err, false)
			}
		}
		n = copy(p[:n], r.buf[r.pos:r.end])
		r.pos += n
	}
	if r.masked {
		r.maskPos = mask.Apply(p[:n], r.key, r.maskPos)
	}
	r.remaining -= int64(n)
	return n, nil
}

// payloadReader adapts readPayload for the decompressor.
type payloadReader struct{ c *Conn }

var _ pmdeflate.FrameSource = payloadReader{}

func (pr payloadReader) Read(p []byte) (int, error) { return pr.c.readPayload(p) }

// Rest returns how many payload bytes of the message are left if they are
// all in the current frame, and -1 otherwise: the decompressor then reads
// a small message whole and inflates it in one go (pmdeflate.FrameSource).
func (pr payloadReader) Rest() int {
	r := &pr.c.rd
	if r.err != nil || !r.final || r.remaining > 1<<30 {
		return -1
	}
	return int(r.remaining)
}

// readData reads bytes of the current message as the application sees
// them: decompressed, checked against the read limit and, for text, checked
// to be UTF-8 as soon as each byte arrives (fail fast, RFC 6455 §8.1).
func (c *Conn) readData(p []byte) (int, error) {
	r := &c.rd
	if r.err != nil {
		return 0, r.err
	}
	if !r.inMessage {
		return 0, io.EOF
	}
	var n int
	var err error
	if r.compressed {
		n, err = c.compress.inflate.Read(p)
		if err != nil && err != io.EOF {
			if r.err != nil {
				return 0, r.err // from the wire, not from inflating
			}
			return 0, c.fail(errBadDeflate)
		}
		r.delivered += int64(n)
		if c.cfg.readLimit >= 0 && r.delivered > c.cfg.readLimit {
			return 0, c.fail(errTooBig)
		}
	} else {
		n, err = c.readPayload(p)
		r.delivered += int64(n)
		if err == nil && r.remaining == 0 && r.final {
			// The message ends with these bytes: say so now, which spares
			// the caller a call, and a Reader's caller a lock, to learn it.
			err = io.EOF
		}
	}
	if r.text && n > 0 && r.utf8.Feed(p[:n]) >= 0 {
		return 0, c.fail(frame.ErrInvalidUTF8)
	}
	if err == io.EOF {
		if r.text && !r.utf8.Complete() {
			return 0, c.fail(frame.ErrInvalidUTF8)
		}
		r.inMessage = false
	}
	return n, err
}

// beginMessage discards what is left of the current message and reads up
// to the first data frame of the next one.
func (c *Conn) beginMessage() error {
	r := &c.rd
	if r.err != nil {
		return r.err
	}
	if r.inMessage {
		if err := c.discardMessage(); err != nil {
			return err
		}
	}
	return c.nextDataFrame()
}

// discardMessage reads what is left of the current message, still checking
// it, and drops it. It is kept out of beginMessage so that its buffer is
// not on the stack of every read that waits for the network.
func (c *Conn) discardMessage() error {
	bufp := getBuffer(c.cfg.readBufferSize)
	defer putBuffer(bufp)
	for c.rd.inMessage {
		if _, err := c.readData(*bufp); err != nil && err != io.EOF {
			return err
		}
	}
	return nil
}

// startRead takes the read lock and binds ctx to the network reads. After
// the connection has ended, or CloseNow, it fails: what is still buffered
// is never delivered.
func (c *Conn) startRead(ctx context.Context) error {
	if c.abandoned.Load() {
		// The closing handshake may hold the read lock until it ends.
		return c.closedError()
	}
	if err := c.lock(ctx, &c.rsem); err != nil {
		return err
	}
	if c.isClosed() || c.abandoned.Load() {
		return c.endRead(errClosing)
	}
	if err := c.watch(ctx, &c.rwatch, false); err != nil {
		c.rsem.release()
		return &prefixedError{"websocket: ", err}
	}
	c.rd.ctx = ctx
	return nil
}

// endRead undoes startRead and settles the error a read returns: once the
// connection has ended, how it ended.
func (c *Conn) endRead(err error) error {
	c.rd.ctx = nil
	c.rd.release()
	if c.isClosed() {
		c.rwatch.Load().unwatch()
		if c.compress != nil {
			c.compress.inflate.Release()
		}
		if err != nil && err != io.EOF {
			err = c.closedError()
		}
	}
	c.rsem.release()
	return err
}

// Read reads the next whole message into a new slice.
func (c *Conn) Read(ctx context.Context) (MessageType, []byte, error) {
	return c.ReadInto(ctx, nil)
}

// ReadInto reads the next whole message into buf[:0], growing it when it is
// too small, and returns the message. Passing the returned slice back in on
// the next call reuses its memory, so that steady-state reads allocate
// nothing. The message is discarded, and the connection fails with
// CloseMessageTooBig, when it exceeds the read limit.
func (c *Conn) ReadInto(ctx context.Context, buf []byte) (MessageType, []byte, error) {
	if err := c.startRead(ctx); err != nil {
		return 0, buf[:0], err
	}
	var typ MessageType
	var err error
	for {
		c.waitIdle()
		typ, buf, err = c.readWhole(buf[:0])
		if err != errAwait {
			break
		}
	}
	if err == nil {
		c.readAhead.Store(c.rd.frameBuffered())
	}
	err = c.endRead(err)
	if err != nil {
		return 0, buf[:0], err
	}
	return typ, buf, nil
}

func (c *Conn) readWhole(buf []byte) (MessageType, []byte, error) {
	if err := c.beginMessage(); err != nil {
		return 0, buf, err
	}
	r := &c.rd
	typ := r.typ
	for {
		if len(buf) == cap(buf) && !r.compressed && r.remaining == 0 {
			// Full, at the end of a frame: learn whether the message has
			// ended, or what its next frame brings, before growing. A
			// message that fills the buffer exactly must not cost a
			// second, larger one.
			if _, err := c.readData(buf[len(buf):]); err == io.EOF {
				return typ, buf, nil
			} else if err != nil {
				return 0, buf, err
			}
		}
		if len(buf) == cap(buf) {
			// Grow by what the frame declares, but never by more than
			// what has arrived so far (or 64 KiB): a header alone must not
			// make us allocate what it claims.
			want := len(buf) + int(min(r.remaining, int64(max(len(buf), 64<<10))))
			switch {
			case r.compressed && len(buf) == 0:
				// A message inflates to some multiple of its payload:
				// eight times the frame's is room for most (JSON chat
				// events inflate two to six times), which the
				// small-message decoder needs to inflate one in a single
				// go, into one buffer. Within the 64 KiB a header may
				// make us allocate.
				want = int(max(512, min(8*r.remaining, 64<<10)))
			case r.compressed || want == len(buf):
				want = max(2*len(buf), 512)
			}
			if c.cfg.readLimit >= 0 {
				want = int(min(int64(want), c.cfg.readLimit+1))
			}
			buf = append(buf[:cap(buf)], make([]byte, max(want-cap(buf), 1))...)[:len(buf)]
		}
		n, err := c.readData(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return typ, buf, nil
		}
		if err != nil {
			return 0, buf, err
		}
	}
}

// Reader waits for the next message and returns its type and a reader of
// its bytes, for messages too large to hold in memory at once. The reader
// is valid until the next call to Read, ReadInto or Reader, which discard
// whatever of the message was left unread. ctx bounds the reads made
// through the returned reader too. As io.Reader allows, the reader may
// return io.EOF along with the last bytes of the message.
func (c *Conn) Reader(ctx context.Context) (MessageType, io.Reader, error) {
	if err := c.startRead(ctx); err != nil {
		return 0, nil, err
	}
	var err error
	for {
		c.waitIdle()
		if err = c.beginMessage(); err != errAwait {
			break
		}
	}
	typ := c.rd.typ
	c.mrCtx = ctx
	if err := c.endRead(err); err != nil {
		return 0, nil, err
	}
	return typ, (*messageReader)(c), nil
}

// messageReader is the io.Reader that Reader returns: the Conn itself,
// reading with the context Reader was given.
type messageReader Conn

func (mr *messageReader) Read(p []byte) (int, error) {
	c := (*Conn)(mr)
	if err := c.startRead(c.mrCtx); err != nil {
		if c.mrCtx.Err() == nil || errors.Is(err, ErrClosed) {
			return 0, err
		}
		return 0, c.readerContextEnded()
	}
	n, err := c.readData(p)
	if err == io.EOF {
		// As at the end of ReadInto: a Write that answers this message
		// may wait for the answers to the next ones (see writeFrame).
		c.readAhead.Store(c.rd.frameBuffered())
		c.endRead(nil)
		return n, io.EOF
	}
	return n, c.endRead(err)
}

// readerContextEnded answers a Read of the reader Reader returned whose
// context has ended: after the end of the message, io.EOF, as ever; before
// it, the message is half read, and as when the context ends while a Read
// waits, the connection closes (see Contexts in the package doc).
func (c *Conn) readerContextEnded() error {
	if err := c.lock(context.Background(), &c.rsem); err != nil {
		return err
	}
	switch {
	case c.isClosed():
		return c.endRead(errClosing) // how it ended, from endRead
	case !c.rd.inMessage:
		return c.endRead(io.EOF)
	}
	return c.endRead(c.abort(context.Cause(c.mrCtx)))
}

// WriteTo implements io.WriterTo, so that io.Copy moves the rest of the
// message through a pooled buffer rather than allocating one.
func (mr *messageReader) WriteTo(w io.Writer) (int64, error) {
	bufp := getBuffer(mr.cfg.readBufferSize)
	defer putBuffer(bufp)
	var total int64
	for {
		n, err := mr.Read(*bufp)
		if n > 0 {
			m, werr := w.Write((*bufp)[:n])
			total += int64(m)
			if werr != nil {
				return total, werr
			}
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// readFailed records a failure of the network connection while reading.
// between reports that the reader is between messages with nothing of the
// next one consumed: a read whose context ends there gives up and leaves
// the connection open, since the stream is still in step. Anywhere else
// part of a message or frame would be lost, so the connection closes.
func (c *Conn) readFailed(err error, between bool) error {
	r := &c.rd
	if r.err != nil {
		return r.err
	}
	if isProtocolError(err) {
		return c.fail(err)
	}
	ctx := c.readContext()
	if between && ctx.Err() != nil && errors.Is(err, os.ErrDeadlineExceeded) && !c.isClosed() {
		return &prefixedError{"websocket: ", ctx.Err()}
	}
	r.err = c.lost(ctx, err)
	return r.err
}

// isProtocolError reports whether err is or wraps a *frame.ProtocolError,
// as errors.As would for errors without an As method. Every connection
// that ends without a close frame asks, and errors.As's reflection runs
// deep enough to grow the stack of the goroutine serving the connection,
// a copy of the whole stack.
func isProtocolError(err error) bool {
	for err != nil && err != io.EOF {
		// The network's own errors first, by concrete type: an interface
		// case costs a runtime lookup that can also run deep.
		switch e := err.(type) {
		case *frame.ProtocolError:
			return true
		case *net.OpError:
			err = e.Err
		case *os.SyscallError:
			err = e.Err
		case interface{ Unwrap() error }:
			err = e.Unwrap()
		case interface{ Unwrap() []error }:
			for _, err := range e.Unwrap() {
				if isProtocolError(err) {
					return true
				}
			}
			return false
		default:
			return false
		}
	}
	return false
}
