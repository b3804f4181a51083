package event

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/twoway/websocket/conn"
	"github.com/twoway/websocket/frame"
	"github.com/twoway/websocket/handshake"
	"github.com/twoway/websocket/internal/pmdeflate"
	"github.com/twoway/websocket/internal/prepared"
	"github.com/twoway/websocket/internal/utf8check"
	"github.com/twoway/websocket/mask"
)

// Conn is one connection of a Server. Its methods may be called from any
// goroutine, in callbacks or outside them.
type Conn struct {
	srv *Server
	sys sysConn // the descriptor and its loop

	// Input, owned by the goroutine that reads (the loop).
	in        *[]byte // the start of a header, control frame or request not yet whole
	msg       *[]byte // the data message being received
	hdr       frame.Header
	remaining int64 // payload of hdr still to come
	keyPos    int
	seq       frame.Sequencer
	utf8      utf8check.Validator
	state     atomic.Uint32 // stHandshake, stOpen or stDone: the ticker reads it too
	msgOp     frame.Opcode
	deflated  bool // the message being received is compressed
	checkUTF8 bool
	final     bool        // hdr ends its message
	lastPing  int64       // clock of the last keepalive ping sent, 0 before
	pingOut   atomic.Bool // that ping has not been answered
	deadline  atomic.Int64

	mu        sync.Mutex
	out       *[]byte       // encoded frames, written up to outHead
	outHead   int           // bytes of out already written
	queued    bool          // on the loop's list of connections to flush
	armed     bool          // waiting for the socket to take more output
	pausedOut bool          // not reading: the output is over maxPending
	pausedIn  bool          // not reading: the callbacks are behind by over maxPending
	events    uint8         // what the loop is told of: evIn, evOut
	inQueued  int           // bytes of messages waiting for the callbacks
	drained   chan struct{} // closed when the output falls under maxPending
	handling  bool          // a worker runs callbacks: it flushes when done
	scheduled bool          // on the pool, or running
	closeSent bool          // our Close frame is in out or sent (RFC 6455 §5.5.1)
	shut      bool          // end the connection once out is written
	finSent   bool          // the write side is shut: waiting for the peer to close
	closeNow  bool
	result    *conn.CloseError // how the connection ends, once known
	ended     *conn.CloseError // set once the descriptor is closed
	head      *job
	tail      *job
	deflate   *pmdeflate.Compressor // guarded by mu
	threshold int
	inflate   *pmdeflate.Decompressor // used by the worker only

	subprotocol string
	opened      bool // the handshake succeeded: OnClose is due
	peerClosed  bool // the peer's Close frame has arrived
}

// Input states.
const (
	stHandshake = iota
	stOpen
	stDone // input is discarded: a Close was read, or the peer failed
)

// job is an event for the callbacks of a connection.
type job struct {
	next *job
	buf  *[]byte
	req  *http.Request
	err  error
	src  payloadSource // the compressed payload, while it is inflated
	kind uint8
	op   frame.Opcode
	defl bool
}

const (
	jobOpen = iota
	jobMessage
	jobClose
	jobFail      // the peer broke the protocol: err says how
	jobPeerClose // the peer's Close frame, in err
)

var jobs = sync.Pool{New: func() any { return new(job) }}

// Subprotocol returns the subprotocol agreed in the handshake, or "".
func (c *Conn) Subprotocol() string { return c.subprotocol }

// Compressed reports whether permessage-deflate was agreed.
func (c *Conn) Compressed() bool { return c.inflate != nil }

// Write queues a message; the loop sends it, together with the other
// frames queued for the connection by then. A callback's writes are sent
// when it returns, at once with those of the callbacks for the messages
// that have arrived meanwhile. Write waits only while more than
// Server.MaxPending bytes wait for the peer to read them; ctx bounds that
// wait, and an error that wraps its cause leaves the message queued.
//
// Write returns conn.ErrInvalidUTF8 for text that is not UTF-8, and an
// error matching conn.ErrClosed once a Close frame has been queued or the
// connection has ended.
func (c *Conn) Write(ctx context.Context, typ conn.MessageType, p []byte) error {
	if typ != conn.Text && typ != conn.Binary {
		return errors.New("websocket: invalid message type")
	}
	if typ == conn.Text && !utf8check.Valid(p) {
		return conn.ErrInvalidUTF8
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.closedLocked(); err != nil {
		return err
	}
	if c.deflate != nil && len(p) >= c.threshold {
		if err := c.appendCompressedLocked(frame.Opcode(typ), p); err != nil {
			return err
		}
		return c.waitLocked(ctx)
	}
	c.appendFrameLocked(frame.Header{Fin: true, Opcode: frame.Opcode(typ), Length: int64(len(p))}, p)
	return c.waitLocked(ctx)
}

// waitLocked waits while the output is over maxPending: a writer faster
// than the peer reads is held back, until ctx ends.
func (c *Conn) waitLocked(ctx context.Context) error {
	limit := c.srv.settings.maxPending
	if c.pendingLocked() <= limit {
		return nil
	}
	c.flushLocked()
	for c.ended == nil && c.pendingLocked() > limit {
		if c.drained == nil {
			c.drained = make(chan struct{})
		}
		ch := c.drained
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			c.mu.Lock()
			return fmt.Errorf("websocket: waiting for the peer to read: %w", context.Cause(ctx))
		}
		c.mu.Lock()
	}
	return nil
}

// WritePrepared queues pm's message, as Write. The frame it queues is
// shared with the other connections that send the message in the same
// form, plain or compressed without context takeover with the same
// parameters, here or through conn.Conn.WritePrepared: it is encoded, and
// compressed, once for them all, and queuing it again only copies it; a
// large frame goes straight to the socket when nothing is queued before
// it, and only what the socket does not take is copied. A connection with
// context takeover compresses its own copy.
func (c *Conn) WritePrepared(ctx context.Context, pm *conn.PreparedMessage) error {
	m := prepared.Of(pm)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.closedLocked(); err != nil {
		return err
	}
	key, shared := prepared.Form(c.deflate, c.threshold, len(m.Data))
	if !shared {
		if err := c.appendCompressedLocked(m.Opcode, m.Data); err != nil {
			return err
		}
		return c.waitLocked(ctx)
	}
	b, err := m.Frame(key)
	if err != nil {
		return err
	}
	if len(b) >= directWriteMin && c.pendingLocked() == 0 && c.sys.nc == nil && !c.closeNow {
		// Nothing is queued before it: what the socket takes now need
		// not be copied into this connection's output first, as a
		// broadcast would for every recipient.
		n, err := c.sys.fdWrite(b)
		if err != nil {
			c.lostLocked(err)
			return c.closedLocked()
		}
		if b = b[n:]; len(b) == 0 {
			return nil
		}
	}
	c.appendLocked(b)
	return c.waitLocked(ctx)
}

// directWriteMin is the size from which WritePrepared writes a shared frame
// without queuing it first: copying it costs more than a system call of
// its own, which smaller frames share with what is queued after them.
const directWriteMin = 16 << 10

// Close begins the closing handshake with code and reason and returns at
// once; OnClose reports how the connection ended. The connection ends
// when the peer answers, or after AcceptOptions.CloseTimeout.
func (c *Conn) Close(code conn.CloseCode, reason string) error {
	if code != 0 && code != frame.CloseNoStatus && !code.ValidOnWire() {
		return errors.New("websocket: invalid close code")
	}
	if len(reason) > frame.MaxControlPayload-2 || !utf8check.Valid([]byte(reason)) {
		return errors.New("websocket: invalid close reason")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.closedLocked(); err != nil {
		return err
	}
	c.sendCloseLocked(&conn.CloseError{Code: code, Reason: reason}, false)
	c.setDeadline(clock() + int64(c.srv.settings.closeTimeout))
	return nil
}

// CloseNow ends the connection without a closing handshake.
func (c *Conn) CloseNow() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended != nil {
		return c.ended
	}
	if !c.closeNow {
		c.closeNow = true
		c.queueLocked()
	}
	return nil
}

// closedLocked returns the error of a write once it may not be made.
func (c *Conn) closedLocked() error {
	switch {
	case c.ended != nil:
		return c.ended
	case c.closeSent || c.closeNow:
		return errClosing
	}
	return nil
}

var errClosing = &closingError{}

type closingError struct{}

func (*closingError) Error() string {
	return "websocket: connection closing: nothing may be sent after a Close frame"
}
func (*closingError) Is(target error) bool { return target == conn.ErrClosed }

// appendFrameLocked adds a frame to the output and arranges for it to be
// sent.
func (c *Conn) appendFrameLocked(h frame.Header, p []byte) {
	c.reserveLocked(h.Size() + len(p))
	b := frame.AppendHeader(*c.out, h)
	*c.out = append(b, p...)
	c.queueLocked()
}

// appendLocked adds encoded frames to the output and arranges for them to
// be sent.
func (c *Conn) appendLocked(frames []byte) {
	c.reserveLocked(len(frames))
	*c.out = append(*c.out, frames...)
	c.queueLocked()
}

// reserveLocked makes room for n more bytes of output.
func (c *Conn) reserveLocked(n int) {
	if c.out == nil {
		c.out = getBuffer(n)
		return
	}
	if c.outHead > 0 && len(*c.out)+n > cap(*c.out) {
		// Drop what was written before growing, rather than copy it.
		k := copy(*c.out, (*c.out)[c.outHead:])
		*c.out, c.outHead = (*c.out)[:k], 0
	}
	c.out = growBuffer(c.out, n)
}

// pendingLocked returns the bytes of output not yet written.
func (c *Conn) pendingLocked() int {
	if c.out == nil {
		return 0
	}
	return len(*c.out) - c.outHead
}

// releaseOutLocked returns the output buffer to its pool.
func (c *Conn) releaseOutLocked() {
	if c.out != nil {
		putBuffer(c.out)
		c.out, c.outHead = nil, 0
	}
}

// appendCompressedLocked adds a compressed message (RFC 7692 §7.2.1).
func (c *Conn) appendCompressedLocked(op frame.Opcode, p []byte) error {
	tmp := getBuffer(len(p)/2 + 64)
	// The pooled buffer is the writer: a writer of its own would escape
	// to the heap with every message.
	w := (*appendWriter)(tmp)
	c.deflate.Begin(w)
	_, err := c.deflate.Write(p)
	if err == nil {
		err = c.deflate.Finish()
	}
	if err == nil {
		c.appendFrameLocked(frame.Header{Fin: true, RSV: frame.RSV1, Opcode: op, Length: int64(len(*w))}, *w)
	}
	putBuffer(tmp)
	return err
}

// appendWriter is an io.Writer that appends to itself.
type appendWriter []byte

func (w *appendWriter) Write(p []byte) (int, error) {
	*w = append(*w, p...)
	return len(p), nil
}

// sendCloseLocked queues our Close frame, which ends what we send, and
// records how the connection is to end. shut ends the connection once the
// frame is written: after the peer's Close, or when failing it.
func (c *Conn) sendCloseLocked(ce *conn.CloseError, shut bool) {
	if c.result == nil {
		c.result = ce
	}
	if shut {
		c.shut = true
	}
	if c.closeSent || c.ended != nil {
		c.queueLocked()
		return
	}
	c.closeSent = true
	var p [frame.MaxControlPayload]byte
	b := p[:0]
	if ce.Code != 0 && ce.Code != frame.CloseNoStatus {
		b = frame.AppendClosePayload(b, ce.Code, ce.Reason)
	}
	c.appendFrameLocked(frame.Header{Fin: true, Opcode: frame.OpClose, Length: int64(len(b))}, b)
}

// fail ends the connection for a violation by the peer: it sends the
// violation's code and closes (RFC 6455 §7.1.7).
// The Close frame goes out after the callbacks for the messages before
// the violation, so that their answers precede it.
func (c *Conn) fail(err error) {
	c.state.Store(stDone)
	j := jobs.Get().(*job)
	j.kind, j.err = jobFail, err
	c.mu.Lock()
	c.pushLocked(j)
	c.mu.Unlock()
}

func (c *Conn) failLocked(err error) {
	code, reason := frame.CloseProtocolError, ""
	var pe *frame.ProtocolError
	if errors.As(err, &pe) {
		code, reason = pe.Code, pe.Reason
	}
	c.sendCloseLocked(&conn.CloseError{Code: code, Reason: reason, Err: err}, true)
	c.setDeadline(clock() + int64(min(c.srv.settings.closeTimeout, failLinger)))
}

// failLinger bounds how long a failed connection waits for the peer to
// close, as conn does.
const failLinger = 1e9

// feed processes bytes read from the connection.
func (c *Conn) feed(data []byte) {
	if c.in != nil {
		*c.in = append(*c.in, data...)
		data = *c.in
	}
	n := 0
	if c.state.Load() == stHandshake {
		n = c.handshake(data)
	}
	if c.state.Load() == stOpen && n < len(data) {
		n += c.frames(data[n:])
	}
	if c.state.Load() == stDone {
		n = len(data)
	}
	rest := data[n:]
	switch {
	case len(rest) == 0:
		if c.in != nil {
			putBuffer(c.in)
			c.in = nil
		}
	case c.in != nil:
		*c.in = (*c.in)[:copy(*c.in, rest)]
	default:
		c.in = getBuffer(max(len(rest), 256))
		*c.in = append(*c.in, rest...)
	}
}

// handshake parses the opening handshake and returns how much of data it
// took.
func (c *Conn) handshake(data []byte) int {
	st := &c.srv.settings
	out := getBuffer(256)
	var (
		sc   handshake.ServerConn
		r    *http.Request
		resp []byte
		n    int
		err  error
	)
	if c.srv.OnOpen == nil {
		// Nobody reads the request: it is checked where it lies in data,
		// with nothing allocated for it.
		sc, resp, n, err = handshake.AnswerUpgrade(*out, data, &st.hs)
	} else {
		var psc *handshake.ServerConn
		psc, r, resp, n, err = handshake.ParseUpgrade(*out, data, &st.hs)
		if psc != nil {
			sc = *psc
		}
	}
	if err == handshake.ErrIncomplete {
		putBuffer(out)
		return 0
	}
	if err != nil && c.srv.HTTP != nil && (errors.Is(err, handshake.ErrMissingUpgrade) || errors.Is(err, handshake.ErrMethod)) {
		putBuffer(out)
		c.handOff(data)
		return len(data)
	}
	*out = resp
	c.mu.Lock()
	defer c.mu.Unlock()
	c.out = out
	if err != nil {
		c.state.Store(stDone)
		c.closeSent = true // send nothing more than the refusal
		c.shut = true
		c.setDeadline(clock() + int64(failLinger))
		c.sendResponseLocked()
		return len(data)
	}
	c.subprotocol = sc.Subprotocol
	for _, e := range sc.Extensions {
		if e.Name != pmdeflate.ExtensionName {
			continue
		}
		p, err := pmdeflate.ParseParams(e)
		if err != nil { // the server's own answer: cannot happen
			c.state.Store(stDone)
			c.closeNow = true
			c.queueLocked()
			return len(data)
		}
		cfg := st.deflate.Config()
		c.deflate = p.Compressor(true, cfg)
		c.inflate = p.Decompressor(true)
		c.threshold = cfg.Threshold
	}
	opened := clock()
	c.lastPing = opened // before the state, which the ticker reads first
	c.deadline.Store(0)
	c.state.Store(stOpen)
	if st.pingInterval > 0 {
		c.sys.armTimer(opened + int64(st.pingInterval))
	}
	c.opened = true
	if c.srv.OnOpen != nil {
		// Without OnOpen, nobody reads the request: no worker is woken
		// for it, and the peer's address is not asked of the kernel.
		r.RemoteAddr = c.sys.remoteAddr()
		j := jobs.Get().(*job)
		j.kind, j.req = jobOpen, r
		c.pushLocked(j)
	}
	c.sendResponseLocked()
	if c.ended != nil {
		c.state.Store(stDone) // the write failed: the frames after the head are moot
	}
	return n
}

// sendResponseLocked sends the handshake's response. The loop, which
// read the request, writes it at once, sparing the wake-up and the
// round of the loop that queuing it would cost; a connection served by
// a goroutine queues it.
func (c *Conn) sendResponseLocked() {
	if c.sys.nc != nil {
		c.queueLocked()
		return
	}
	c.flushLocked()
}

// handOff gives the connection to Server.HTTP, with data, what was read.
func (c *Conn) handOff(data []byte) {
	c.state.Store(stDone)
	c.mu.Lock()
	c.ended = &conn.CloseError{Code: frame.CloseAbnormal} // this record is done with
	c.deadline.Store(0)
	nc, err := c.sys.detach()
	c.mu.Unlock()
	c.srv.active.Add(-1)
	if err == nil {
		c.srv.handHTTP(nc, bytes.Clone(data))
	}
}

// frames processes frames and returns how much of data it took: it leaves
// the start of a header or of a control frame for when the rest arrives.
func (c *Conn) frames(data []byte) int {
	st := &c.srv.settings
	p := 0
	for p < len(data) && c.state.Load() == stOpen {
		if c.remaining > 0 {
			k := int(min(c.remaining, int64(len(data)-p)))
			c.payload(data[p : p+k])
			p += k
			continue
		}
		h, hn, err := frame.ParseHeader(data[p:])
		if err == frame.ErrShortHeader {
			break
		}
		if err == nil {
			rules := frame.Rules{Role: frame.RoleServer}
			if c.inflate != nil {
				rules.AllowedRSV = frame.RSV1
			}
			err = rules.Check(h)
		}
		if err != nil {
			c.fail(err)
			break
		}
		if h.Opcode.IsControl() {
			if h.RSV != 0 {
				c.fail(errRSVControl)
				break
			}
			if len(data)-p < hn+int(h.Length) {
				break
			}
			pl := data[p+hn : p+hn+int(h.Length)]
			mask.Apply(pl, h.Key, 0)
			p += hn + len(pl)
			c.control(h.Opcode, pl)
			continue
		}
		op, final, err := c.seq.Next(h)
		if err == nil && h.Opcode == frame.OpContinuation && h.RSV != 0 {
			err = errRSVContinuation // RFC 7692 §6.1
		}
		if err != nil {
			c.fail(err)
			break
		}
		p += hn
		if h.Opcode != frame.OpContinuation {
			c.msgOp = op
			c.deflated = h.RSV&frame.RSV1 != 0
			c.checkUTF8 = op == frame.OpText && !c.deflated
			c.utf8.Reset()
		}
		size := h.Length
		if c.msg != nil {
			size += int64(len(*c.msg))
		}
		if limit := st.readLimit; limit >= 0 && size > limit && (!c.deflated || size > limit+limit>>4+1024) {
			c.fail(errTooBig)
			break
		}
		if c.msg == nil {
			c.msg = getBuffer(int(min(h.Length, 64<<10)))
		}
		c.hdr, c.remaining, c.keyPos, c.final = h, h.Length, 0, final
		if h.Length == 0 {
			c.endFrame()
		}
	}
	return p
}

// payload takes the next bytes of the payload of a data frame.
func (c *Conn) payload(b []byte) {
	start := len(*c.msg)
	c.msg = growBuffer(c.msg, len(b)) // through the pool, not append's garbage
	*c.msg = append(*c.msg, b...)
	got := (*c.msg)[start:]
	c.keyPos = mask.Apply(got, c.hdr.Key, c.keyPos)
	c.remaining -= int64(len(b))
	if c.checkUTF8 && c.utf8.Feed(got) >= 0 {
		c.fail(frame.ErrInvalidUTF8) // RFC 6455 §8.1: fail fast
		return
	}
	if c.remaining == 0 {
		c.endFrame()
	}
}

// endFrame is called when a data frame's payload has arrived.
func (c *Conn) endFrame() {
	if !c.final {
		return
	}
	if c.checkUTF8 && !c.utf8.Complete() {
		c.fail(frame.ErrInvalidUTF8)
		return
	}
	j := jobs.Get().(*job)
	j.kind, j.op, j.buf, j.defl = jobMessage, c.msgOp, c.msg, c.deflated
	c.msg = nil
	c.mu.Lock()
	c.pushLocked(j)
	// Callbacks that fall behind make us stop reading the connection.
	c.inQueued += len(*j.buf)
	if c.inQueued > c.srv.settings.maxPending {
		c.pausedIn = true
		c.updateEventsLocked()
	}
	c.mu.Unlock()
}

// control handles a control frame (RFC 6455 §5.5).
func (c *Conn) control(op frame.Opcode, p []byte) {
	st := &c.srv.settings
	switch op {
	case frame.OpPing:
		if st.onPing != nil {
			st.onPing(p)
		}
		c.mu.Lock()
		if c.closedLocked() == nil {
			c.appendFrameLocked(frame.Header{Fin: true, Opcode: frame.OpPong, Length: int64(len(p))}, p)
		}
		c.mu.Unlock()
	case frame.OpPong:
		c.pingOut.Store(false)
		// The next ping is now due an interval after the last one, sooner
		// than the ping timeout the loop's timer waits for: have the next
		// tick look, and reschedule from there.
		c.sys.armTimer(clock())
		if st.onPong != nil {
			st.onPong(p)
		}
	case frame.OpClose:
		code, reason, err := frame.ParseClosePayload(p)
		if err != nil {
			c.fail(err)
			return
		}
		c.state.Store(stDone)
		j := jobs.Get().(*job)
		j.kind, j.err = jobPeerClose, &conn.CloseError{Code: code, Reason: reason, Remote: true}
		c.mu.Lock()
		c.peerClosed = true
		c.pushLocked(j)
		c.mu.Unlock()
	}
}

// pushLocked queues j for the callbacks.
func (c *Conn) pushLocked(j *job) {
	if c.tail == nil {
		c.head = j
	} else {
		c.tail.next = j
	}
	c.tail = j
	if !c.scheduled {
		c.scheduled = true
		c.srv.pool.submit(c)
	}
}

// run delivers the connection's queued events, then writes what the
// callbacks wrote.
func (c *Conn) run() {
	c.mu.Lock()
	for c.head != nil {
		j := c.head
		c.head, c.tail = nil, nil
		c.handling = true
		c.mu.Unlock()
		for j != nil {
			next := j.next
			if j.kind == jobMessage {
				n := len(*j.buf)
				c.mu.Lock()
				c.inQueued -= n
				if c.pausedIn && c.inQueued <= c.srv.settings.maxPending/2 {
					c.pausedIn = false
					c.updateEventsLocked()
				}
				c.mu.Unlock()
			}
			c.deliver(j)
			*j = job{}
			jobs.Put(j)
			j = next
		}
		c.mu.Lock()
		c.handling = false
		if (c.pendingLocked() > 0 || c.shut && !c.finSent) && !c.queued {
			c.flushLocked()
		}
	}
	c.scheduled = false
	c.mu.Unlock()
}

func (c *Conn) deliver(j *job) {
	s := c.srv
	switch j.kind {
	case jobOpen:
		if s.OnOpen != nil {
			s.OnOpen(c, j.req)
		}
	case jobMessage:
		data := *j.buf
		if j.defl {
			var err error
			if data, err = c.decompress(j); err != nil {
				c.mu.Lock()
				c.failLocked(err)
				c.mu.Unlock()
				putBuffer(j.buf)
				return
			}
		}
		c.mu.Lock()
		failed := c.result != nil && c.result.Err != nil && !c.result.Remote
		c.mu.Unlock()
		if !failed && s.OnMessage != nil {
			s.OnMessage(c, conn.MessageType(j.op), data)
		}
		putBuffer(j.buf)
	case jobFail:
		c.mu.Lock()
		c.failLocked(j.err)
		c.mu.Unlock()
	case jobPeerClose:
		// Answer with the same code (RFC 6455 §5.5.1), after the answers
		// to the messages before it, then end TCP first, as a server does
		// (§7.1.1). After our own Close this completes the handshake we
		// began.
		c.mu.Lock()
		c.sendCloseLocked(j.err.(*conn.CloseError), true)
		c.setDeadline(clock() + int64(s.settings.closeTimeout))
		c.mu.Unlock()
	case jobClose:
		if c.inflate != nil {
			c.inflate.Release()
		}
		c.mu.Lock()
		if c.deflate != nil {
			c.deflate.Release()
		}
		err := c.ended
		c.mu.Unlock()
		if s.OnClose != nil {
			s.OnClose(c, err)
		}
		s.active.Add(-1)
	}
}

// payloadSource is a compressed message's payload, all in memory. It is a
// pmdeflate.FrameSource whose rest is always at hand, so that the
// Decompressor takes its fast path for a small message: the payload
// inflated at once into the caller's buffer.
type payloadSource struct{ b []byte }

func (s *payloadSource) Read(p []byte) (int, error) {
	if len(s.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, s.b)
	s.b = s.b[n:]
	return n, nil
}

// Rest returns the bytes of payload left.
func (s *payloadSource) Rest() int { return len(s.b) }

// decompress inflates the message of j into a buffer that replaces j's,
// within the read limit, and checks text.
func (c *Conn) decompress(j *job) ([]byte, error) {
	limit := c.srv.settings.readLimit
	j.src.b = *j.buf
	c.inflate.Begin(&j.src)
	// The decompressor inflates a small message in one go if it fits the
	// first buffer, so that buffer has room for eight times the payload,
	// which few small messages exceed; a large one grows it as it goes.
	n := len(*j.buf)
	out := getBuffer(max(2*n, min(8*n, 32<<10)))
	b := *out
	var err error
	for {
		if len(b) == cap(b) {
			*out = b
			out = growBuffer(out, 1) // at least doubles, through the pool
			b = *out
		}
		var n int
		n, err = c.inflate.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if limit >= 0 && int64(len(b)) > limit {
			err = errTooBig
			break
		}
		if err != nil {
			break
		}
	}
	*out = b
	putBuffer(j.buf)
	j.buf = out
	j.src.b = nil
	switch {
	case err == io.EOF:
	case errors.Is(err, errTooBig):
		return nil, err
	default:
		return nil, errBadDeflate
	}
	if j.op == frame.OpText && !utf8check.Valid(b) {
		return nil, frame.ErrInvalidUTF8
	}
	return b, nil
}

// queueLocked arranges for the output to be written: by the worker
// running callbacks when it is done, otherwise by the loop.
func (c *Conn) queueLocked() {
	if c.handling || c.queued || c.ended != nil {
		return
	}
	c.queued = true
	c.sys.queue(c)
}

// flushLocked writes what the socket takes of the output, and ends the
// connection once it is written and ought to end.
func (c *Conn) flushLocked() {
	if c.ended != nil {
		return
	}
	if c.closeNow {
		c.endLocked(&conn.CloseError{Code: frame.CloseAbnormal})
		return
	}
	if c.sys.nc != nil {
		if c.flushNetLocked() && c.shut && !c.sys.writing && !c.finSent {
			c.finSent = true
			if !c.sys.shutWrite() {
				c.endLocked(c.result)
			}
		}
		return
	}
	rest := c.pendingLocked()
	if rest > 0 {
		// A partial write moves the head: copying what is left to the
		// front would cost, for a large message written in many pieces,
		// time quadratic in its size.
		n, err := c.sys.fdWrite((*c.out)[c.outHead:])
		if err != nil {
			c.lostLocked(err)
			return
		}
		c.outHead += n
		rest -= n
	}
	// A peer that does not read makes us stop reading it, so that what we
	// owe it (pongs, answers) cannot grow without bound.
	c.armed = rest > 0
	c.pausedOut = rest > c.srv.settings.maxPending
	if !c.pausedOut && c.drained != nil {
		close(c.drained)
		c.drained = nil
	}
	c.updateEventsLocked()
	if rest > 0 {
		return
	}
	c.releaseOutLocked()
	if c.shut && !c.finSent {
		c.finSent = true
		if !c.sys.shutWrite() {
			c.endLocked(c.result)
		}
	}
}

// Events the loop watches for a connection.
const (
	evIn = 1 << iota
	evOut
)

// updateEventsLocked tells the loop what to watch for.
func (c *Conn) updateEventsLocked() {
	var ev uint8
	if !c.pausedOut && !c.pausedIn {
		ev |= evIn
	}
	if c.armed {
		ev |= evOut
	}
	if ev != c.events && c.ended == nil {
		c.events = ev
		c.sys.watch(ev)
	}
}

// shutdownLocked begins the closing handshake with CloseGoingAway, or
// ends the connection now, or if it has not opened yet.
func (c *Conn) shutdownLocked(now bool) {
	switch {
	case now || !c.opened:
		c.endLocked(&conn.CloseError{Code: frame.CloseAbnormal})
	case c.closedLocked() == nil:
		c.sendCloseLocked(&conn.CloseError{Code: frame.CloseGoingAway, Reason: "server shutting down"}, false)
		c.setDeadline(clock() + int64(c.srv.settings.closeTimeout))
	}
}

// lostLocked ends the connection after a network error or EOF.
func (c *Conn) lostLocked(err error) {
	switch {
	case c.peerClosed:
		c.endLocked(c.result) // the closing handshake is complete
	case c.result != nil && c.shut:
		c.endLocked(c.result) // we failed the connection
	case c.result != nil && c.closeSent:
		c.endLocked(&conn.CloseError{Code: c.result.Code, Reason: c.result.Reason, Err: err})
	default:
		c.endLocked(&conn.CloseError{Code: frame.CloseAbnormal, Remote: true, Err: err})
	}
}

// endLocked closes the descriptor and queues OnClose.
func (c *Conn) endLocked(ce *conn.CloseError) {
	if c.ended != nil {
		return
	}
	if ce == nil {
		ce = &conn.CloseError{Code: frame.CloseAbnormal}
	}
	c.ended = ce
	c.sys.close()
	c.releaseOutLocked()
	if c.drained != nil {
		close(c.drained)
		c.drained = nil
	}
	if c.opened {
		j := jobs.Get().(*job)
		j.kind = jobClose
		c.pushLocked(j)
	} else {
		c.srv.active.Add(-1) // never opened: no callbacks
	}
}

// tick runs the connection's timers: the handshake, closing and keepalive
// deadlines. It is called by the loop.
func (c *Conn) tick(now int64) {
	st := &c.srv.settings
	if d := c.deadline.Load(); d != 0 && now >= d {
		c.mu.Lock()
		switch {
		case c.state.Load() == stHandshake:
			c.endLocked(&conn.CloseError{Code: frame.CloseAbnormal, Err: errHandshakeTimeout})
		case c.result != nil && !c.shut && c.result.Err == nil:
			// Our Close was not answered in time.
			c.endLocked(&conn.CloseError{Code: c.result.Code, Reason: c.result.Reason, Err: conn.ErrCloseTimeout})
		default:
			c.endLocked(c.result)
		}
		c.mu.Unlock()
		return
	}
	if st.pingInterval <= 0 || c.state.Load() != stOpen {
		return
	}
	switch {
	case c.pingOut.Load() && now-c.lastPing >= int64(st.pingTimeout):
		c.state.Store(stDone)
		c.mu.Lock()
		c.sendCloseLocked(&conn.CloseError{Code: frame.CloseGoingAway, Err: conn.ErrKeepaliveTimeout}, true)
		c.setDeadline(now + int64(min(st.closeTimeout, failLinger)))
		c.mu.Unlock()
	case !c.pingOut.Load() && now-c.lastPing >= int64(st.pingInterval):
		c.lastPing = now
		c.pingOut.Store(true)
		c.mu.Lock()
		if c.closedLocked() == nil {
			c.appendFrameLocked(frame.Header{Fin: true, Opcode: frame.OpPing}, nil)
		}
		c.mu.Unlock()
	}
}

// nextTimer returns the clock at which tick next has something to do for
// the connection, or never. The loop calls it after tick.
func (c *Conn) nextTimer() int64 {
	at := int64(never)
	if d := c.deadline.Load(); d != 0 {
		at = d
	}
	st := &c.srv.settings
	if st.pingInterval > 0 && c.state.Load() == stOpen {
		if c.pingOut.Load() {
			at = min(at, c.lastPing+int64(st.pingTimeout))
		} else {
			at = min(at, c.lastPing+int64(st.pingInterval))
		}
	}
	return at
}

// never is a clock reading that does not come.
const never = math.MaxInt64

// setDeadline arms the deadline of the connection, which tick enforces.
func (c *Conn) setDeadline(at int64) {
	c.deadline.Store(at)
	c.sys.armTimer(at)
}

var errHandshakeTimeout = errors.New("websocket: handshake timed out")
