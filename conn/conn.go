package conn

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twoway/websocket/frame"
	"github.com/twoway/websocket/handshake"
)

// MessageType is the type of a data message (RFC 6455 §5.6).
type MessageType int

// Message types.
const (
	Text   MessageType = MessageType(frame.OpText)
	Binary MessageType = MessageType(frame.OpBinary)
)

// String returns "text" or "binary".
func (t MessageType) String() string { return frame.Opcode(t).String() }

// CloseCode is a close status code (RFC 6455 §7.4).
type CloseCode = frame.CloseCode

// Close codes most often used by applications; frame defines them all.
const (
	CloseNormal          = frame.CloseNormal
	CloseGoingAway       = frame.CloseGoingAway
	CloseProtocolError   = frame.CloseProtocolError
	CloseUnsupportedData = frame.CloseUnsupportedData
	CloseNoStatus        = frame.CloseNoStatus
	CloseAbnormal        = frame.CloseAbnormal
	CloseInvalidPayload  = frame.CloseInvalidPayload
	ClosePolicyViolation = frame.ClosePolicyViolation
	CloseMessageTooBig   = frame.CloseMessageTooBig
	CloseInternalError   = frame.CloseInternalError
	CloseTryAgainLater   = frame.CloseTryAgainLater
)

// ErrClosed matches every error that a call returns once the connection
// has ended, or has begun its closing handshake: see CloseError for how
// to tell how it ended.
var ErrClosed = errors.New("websocket: connection closed")

// Causes of an ending that are not a completed closing handshake (see
// CloseError.Err).
var (
	// ErrKeepaliveTimeout: the peer did not answer a keepalive ping in time.
	ErrKeepaliveTimeout = errors.New("websocket: peer did not answer a keepalive ping in time")
	// ErrCloseTimeout: the peer did not complete the closing handshake
	// within the close timeout.
	ErrCloseTimeout = errors.New("websocket: peer did not complete the closing handshake in time")
)

// ErrInvalidUTF8 is returned, and nothing is sent, when a text message or
// a close reason is not valid UTF-8, which a peer must reject (RFC 6455
// §5.6, §8.1). The connection stays open.
var ErrInvalidUTF8 = errors.New("websocket: outgoing text is not valid UTF-8")

// CloseError says how a connection ended. Once a connection has ended,
// every call on it returns an error that matches ErrClosed and holds a
// *CloseError, which errors.As finds; the package documentation lists
// what it holds for each way a connection can end.
type CloseError struct {
	// Code and Reason are those of the Close frame that began the closing
	// handshake: the peer's when Remote is set, ours otherwise. Code is
	// CloseAbnormal when the connection ended without one.
	Code   CloseCode
	Reason string

	// Remote reports that the peer ended the connection: it sent the
	// first Close frame, or the connection broke under us. It is false
	// when this side did: Close, CloseNow, a protocol error of the peer
	// that we answered, a context, the keepalive.
	Remote bool

	// Err is what ended the connection when it was not a completed
	// closing handshake, nor CloseNow: a *frame.ProtocolError, the
	// network's error, a context's cause, ErrKeepaliveTimeout or
	// ErrCloseTimeout. It is nil otherwise.
	Err error
}

func (e *CloseError) Error() string {
	if e.Err != nil {
		msg := e.Err.Error()
		switch {
		case strings.HasPrefix(msg, "websocket: "):
			return msg // our own causes say it all
		case e.Remote:
			return "websocket: connection lost: " + msg
		}
		if _, ok := e.Err.(*frame.ProtocolError); ok {
			return "websocket: connection failed: " + msg
		}
		return "websocket: connection closed: " + msg
	}
	if e.Code == CloseAbnormal {
		return ErrClosed.Error() // CloseNow
	}
	s := "websocket: closed: "
	if e.Remote {
		s = "websocket: closed by peer: "
	}
	s += strconv.Itoa(int(e.Code))
	if name := e.Code.String(); !strings.HasPrefix(name, "close code") {
		s += " (" + name + ")"
	}
	if e.Reason != "" {
		s += ": " + strconv.Quote(e.Reason)
	}
	return s
}

// Is makes every ending match ErrClosed.
func (e *CloseError) Is(target error) bool { return target == ErrClosed }

// Unwrap returns Err.
func (e *CloseError) Unwrap() error { return e.Err }

// Normal reports whether the connection ended the ordinary way: a closing
// handshake that completed, begun by either side with CloseNormal,
// CloseGoingAway or no code.
func (e *CloseError) Normal() bool {
	switch e.Code {
	case CloseNormal, CloseGoingAway, CloseNoStatus:
		return e.Err == nil
	}
	return false
}

// CloseStatus returns the code of the closing handshake that ended the
// connection, begun by either side: the Code of the *CloseError in err's
// chain when the handshake completed. It returns 0 when err holds no
// *CloseError or the connection ended otherwise (its Err is set, or
// CloseNow ended it).
func CloseStatus(err error) CloseCode {
	var ce *CloseError
	if errors.As(err, &ce) && ce.Err == nil && ce.Code != CloseAbnormal {
		return ce.Code
	}
	return 0
}

// errClosing is returned by writes once a Close frame has gone out, after
// which RFC 6455 §5.5.1 allows no data, and by every call after CloseNow
// while a closing handshake is still in progress.
var errClosing error = closingError{}

type closingError struct{}

func (closingError) Error() string {
	return "websocket: connection closing: nothing may be sent after a Close frame"
}
func (closingError) Is(target error) bool { return target == ErrClosed }

// Conn is a WebSocket connection. See the package documentation for which
// methods may be called concurrently.
type Conn struct {
	nc          net.Conn
	subprotocol string
	cfg         settings

	// rsem is held by the one goroutine reading.
	rsem   sema
	rd     reader
	rwatch atomic.Pointer[ctxWatch] // used under rsem; made by the first read with a context that can end
	wwatch atomic.Pointer[ctxWatch] // used under wsem; made likewise by a write

	// msem is held for the whole of a data message, wsem while one frame
	// is written.
	msem    sema
	wsem    sema
	client  bool            // we are the client: we mask what we send
	maskKey [4]byte         // guarded by wsem; scratch for crypto/rand
	mw      *messageWriter  // guarded by msem; made by the first Writer or compressed message
	mrCtx   context.Context // of the reader Reader returned last
	tracker *Tracker        // from AcceptOptions, or nil
	out     *[]byte         // guarded by wsem: pooled output buffer, nil when empty
	outN    int             // guarded by wsem: bytes in out
	large   *largeWrite     // guarded by wsem; made by the first writeLarge
	// held reports bytes waiting in out; readAhead that the reader holds a
	// whole frame, so its next read will not wait (see writeFrame).
	held       atomic.Bool
	readAhead  atomic.Bool
	flushTimer *time.Timer // guarded by wsem

	compress *compression // nil unless permessage-deflate was negotiated

	// sent holds the code and reason of our Close frame once it is being
	// written, after which nothing else may be sent; its Err is set when
	// the ending was decided then (a protocol error, the keepalive).
	sent atomic.Pointer[CloseError]
	// peer is set once the peer's Close frame has been read, to how the
	// connection ends: by the handshake, whichever side began it.
	peer atomic.Pointer[CloseError]

	closed atomic.Bool // closeTCP has been called; set under closeMu
	// abandoned is set by a CloseNow that found the closing handshake in
	// progress: it runs on, but the application's calls fail.
	abandoned atomic.Bool
	closeErr  atomic.Pointer[CloseError]
	closeMu   sync.Mutex    // guards closing, ncClosed and doneCh
	doneCh    chan struct{} // closed with the TCP connection; made by done when first needed
	ncClosed  bool          // the first closeTCP has returned from nc.Close
	// closeSent is set once our Close frame has gone out whole (sent is
	// set before it is written). It sits here, in ncClosed's padding.
	closeSent atomic.Bool
	closing   chan struct{} // closed once ncClosed is set; made by a closeTCP that must wait

	ping atomic.Pointer[pinger] // made by the first Ping or the keepalive
}

// init sets up a zero Conn.
func (c *Conn) init(nc net.Conn, buffered []byte, client bool, subprotocol string, cfg settings) {
	c.initHooks(nc, buffered, client, subprotocol, cfg, nil, nil)
}

// initHooks is init with the hooks of the options, which live in the
// pinger: few connections have them, and the Conn has no room to spare.
func (c *Conn) initHooks(nc net.Conn, buffered []byte, client bool, subprotocol string, cfg settings, onPing, onPong func([]byte)) {
	c.nc, c.client, c.subprotocol, c.cfg = nc, client, subprotocol, cfg
	c.rd.init(client, buffered, cfg.readBufferSize)
	if cfg.pingInterval > 0 || onPing != nil || onPong != nil {
		p := &pinger{onPing: onPing, onPong: onPong}
		c.ping.Store(p)
		if cfg.pingInterval > 0 {
			p.startKeepalive(c)
		}
	}
}

// open makes the Conn for a connection whose opening handshake is done,
// with the extensions agreed in it.
func open(nc net.Conn, buffered []byte, client bool, subprotocol string, agreed []handshake.Extension, co *CompressionOptions, cfg settings, hk hooks) (*Conn, error) {
	c := new(Conn)
	if err := c.open(nc, buffered, client, subprotocol, agreed, co, cfg, hk); err != nil {
		return nil, err
	}
	return c, nil
}

// open sets up a zero Conn as the package-level open does.
func (c *Conn) open(nc net.Conn, buffered []byte, client bool, subprotocol string, agreed []handshake.Extension, co *CompressionOptions, cfg settings, hk hooks) error {
	c.initHooks(nc, buffered, client, subprotocol, cfg, hk.onPing, hk.onPong)
	if err := c.setupCompression(agreed, co); err != nil {
		c.CloseNow()
		return err
	}
	return nil
}

// serverOptions maps the options to the handshake's. It is not inlined,
// so that its result is on the heap rather than in AcceptConn's frame.
//
//go:noinline
func serverOptions(opts *AcceptOptions) *handshake.ServerOptions {
	if opts == nil {
		return &handshake.ServerOptions{}
	}
	hopts := &handshake.ServerOptions{
		Subprotocols:            opts.Subprotocols,
		SelectSubprotocol:       opts.SelectSubprotocol,
		OriginPatterns:          opts.OriginPatterns,
		InsecureSkipOriginCheck: opts.InsecureSkipOriginCheck,
		CheckOrigin:             opts.CheckOrigin,
		Header:                  opts.Header,
	}
	if opts.Compression != nil {
		hopts.Extensions = []handshake.ServerExtension{serverDeflate(opts.Compression)}
	}
	return hopts
}

// IsWebSocketRequest reports whether r asks for a WebSocket connection, so
// that one handler can serve a page and the WebSocket on the same path:
// Accept the requests for which it is true, serve the others.
func IsWebSocketRequest(r *http.Request) bool { return handshake.IsUpgradeRequest(r) }

// Accept upgrades an HTTP request to a WebSocket connection (RFC 6455 §4.2).
// When the request is not a valid WebSocket handshake, or its Origin is not
// allowed, Accept writes an HTTP error response and returns an error that
// wraps a *handshake.RequestError.
//
// Over HTTP/2, Accept answers an extended CONNECT (RFC 8441) and the
// connection is the request's stream, which lives only as long as the
// handler: a handler that returns before it is done with the Conn ends
// the connection, and the Conn's calls then fail. Go's HTTP/2 server offers
// extended CONNECT to clients only when the program runs with
// GODEBUG=http2xconnect=1.
func Accept(w http.ResponseWriter, r *http.Request, opts *AcceptOptions) (*Conn, error) {
	if opts == nil {
		opts = &AcceptOptions{}
	}
	if err := opts.Tracker.refuse(w); err != nil {
		return nil, err
	}
	sc, err := handshake.Upgrade(w, r, serverOptions(opts))
	if err != nil {
		return nil, err
	}
	cfg := newSettings(opts.ReadLimit, opts.ReadBufferSize, opts.WriteBufferSize, opts.PingInterval, opts.PingTimeout, opts.CloseTimeout)
	c, err := open(sc.Conn, sc.Buffered, false, sc.Subprotocol, sc.Extensions, opts.Compression, cfg, hooks{opts.OnPing, opts.OnPong})
	if err == nil && opts.Tracker != nil {
		err = opts.Tracker.track(c)
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

// AcceptConn performs the server handshake on a connection accepted
// without net/http, such as from a net.Listener, and returns the Conn and
// the handshake request (for its URL, headers and cookies). It applies the
// same rules and options as Accept. ctx bounds the handshake, so that a
// client that never sends its request is cut off; it has no effect on the
// connection afterwards. A deadline set on nc before the call bounds the
// handshake as well, more cheaply than a context that can be canceled
// (see [handshake.UpgradeConn]); the Conn starts with no deadline on nc
// either way. AcceptConn takes ownership of nc: on failure it answers with
// the HTTP error, if it read a request, and closes nc.
//
// A server built this way keeps no net/http state per connection, which
// matters when it holds many idle connections.
func AcceptConn(ctx context.Context, nc net.Conn, opts *AcceptOptions) (*Conn, *http.Request, error) {
	// The handshake runs on the goroutine that will serve the connection,
	// usually one per connection, and that goroutine's stack keeps the size
	// its deepest call needed (see TestIdleServerStack). So this frame
	// holds nothing large: the handshake's options are made on the heap,
	// and the Conn is set up in a call of its own. Both take nil options.
	sc, r, err := handshake.UpgradeConn(ctx, nc, serverOptions(opts))
	if err != nil {
		return nil, nil, err
	}
	// The allocator's slow path is deep: allocate near the top.
	c := new(Conn)
	if err := c.openAccepted(sc, opts); err != nil {
		return nil, nil, err
	}
	return c, r, nil
}

// openAccepted sets up c for a connection AcceptConn has upgraded.
//
//go:noinline
func (c *Conn) openAccepted(sc *handshake.ServerConn, opts *AcceptOptions) error {
	if opts == nil {
		return c.open(sc.Conn, sc.Buffered, false, sc.Subprotocol, sc.Extensions, nil, newSettings(0, 0, 0, 0, 0, 0), hooks{})
	}
	cfg := newSettings(opts.ReadLimit, opts.ReadBufferSize, opts.WriteBufferSize, opts.PingInterval, opts.PingTimeout, opts.CloseTimeout)
	if err := c.open(sc.Conn, sc.Buffered, false, sc.Subprotocol, sc.Extensions, opts.Compression, cfg, hooks{opts.OnPing, opts.OnPong}); err != nil {
		return err
	}
	if opts.Tracker != nil {
		return opts.Tracker.track(c)
	}
	return nil
}

// Dial opens a WebSocket connection to a ws:// or wss:// URL (RFC 6455 §4.1);
// http:// and https:// URLs are taken as ws:// and wss://.
// ctx bounds the dial and the whole opening handshake; it has no effect on
// the connection once Dial has returned. The response is the server's 101
// answer. When the server refuses, the response is returned too, and the
// error wraps a *handshake.ResponseError that carries its status, headers
// and the start of its body.
func Dial(ctx context.Context, url string, opts *DialOptions) (*Conn, *http.Response, error) {
	if opts == nil {
		opts = &DialOptions{}
	}
	hopts := &handshake.ClientOptions{
		Header:         opts.Header,
		Subprotocols:   opts.Subprotocols,
		TLSConfig:      opts.TLSConfig,
		Proxy:          opts.Proxy,
		NetDialContext: opts.NetDialContext,
		HTTP2:          opts.HTTP2,
	}
	if opts.Compression != nil {
		hopts.Extensions = []handshake.ClientExtension{clientDeflate(opts.Compression)}
	}
	cc, err := handshake.Dial(ctx, url, hopts)
	if err != nil {
		var resp *http.Response
		var re *handshake.ResponseError
		if errors.As(err, &re) {
			resp = re.Response
		}
		return nil, resp, err
	}
	cfg := newSettings(opts.ReadLimit, opts.ReadBufferSize, opts.WriteBufferSize, opts.PingInterval, opts.PingTimeout, opts.CloseTimeout)
	c, err := open(cc.Conn, cc.Buffered, true, cc.Subprotocol, cc.Extensions, opts.Compression, cfg, hooks{opts.OnPing, opts.OnPong})
	return c, cc.Response, err
}

// Subprotocol returns the subprotocol agreed in the handshake, or "".
func (c *Conn) Subprotocol() string { return c.subprotocol }

// Compressed reports whether permessage-deflate was negotiated.
func (c *Conn) Compressed() bool { return c.compress != nil }

// LocalAddr returns the local network address.
func (c *Conn) LocalAddr() net.Addr { return c.nc.LocalAddr() }

// RemoteAddr returns the remote network address.
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// SetReadLimit sets the largest message, in bytes after decompression, that
// reads accept; a larger one fails the connection with CloseMessageTooBig.
// A negative n removes the limit and 0 restores DefaultReadLimit, as in the
// options. It applies from the next frame on and must not be called
// concurrently with a read.
func (c *Conn) SetReadLimit(n int64) {
	if n == 0 {
		n = DefaultReadLimit
	}
	c.cfg.readLimit = n
}

// CloseNow closes the TCP connection at once, without a closing
// handshake; later calls return errors matching ErrClosed, and pending
// ones end. When a closing handshake is already in progress (Close in
// another goroutine, or the answer to the peer's Close), CloseNow lets it
// finish, within the close timeout, since cutting it would lose the Close
// frame: that makes "defer c.CloseNow()" safe in a handler while a server
// shuts down. Once both Close frames have been exchanged, nothing is left
// to lose: CloseNow ends the client's wait for the server to close TCP
// (RFC 6455 §7.1.1) at once. Once the connection has ended, CloseNow
// answers as Close does.
func (c *Conn) CloseNow() error {
	if !c.isClosed() && (c.sent.Load() != nil || c.peer.Load() != nil) {
		// Set before looking, as finishClose looks at it after the
		// handshake's last step: one of the two sees the other, so a
		// client never goes on waiting for TCP once both are done.
		c.abandoned.Store(true)
		if ce := c.peer.Load(); ce != nil && c.closeSent.Load() {
			c.closeTCP(ce)
			return c.closeResult()
		}
		if !c.isClosed() { // else the handshake ended meanwhile
			return nil
		}
	}
	if c.closeTCP(&CloseError{Code: CloseAbnormal}) {
		return nil
	}
	return c.closeResult()
}

// closeResult is what Close and CloseNow return once the connection has
// ended: nil when it ended by a completed closing handshake, else how it
// ended.
func (c *Conn) closeResult() error {
	if ce := c.closeErr.Load(); ce != nil && (ce.Err != nil || ce.Code == CloseAbnormal) {
		return ce
	}
	return nil
}

// closeTCP closes the network connection once, recording how the
// connection ended; the first call's ce is what every later call sees.
// Later calls wait for a close in progress, as a sync.Once would: until
// then the connection still works. It reports whether this call was the
// one that closed it.
// A sync.Once is not used because a failed read closes from deep in the
// read path, and the Once's two frames on top were enough for nc.Close to
// grow the goroutine's stack, a copy of the whole stack per connection.
func (c *Conn) closeTCP(ce *CloseError) bool {
	c.closeMu.Lock()
	if c.closed.Load() {
		if c.closing == nil && !c.ncClosed {
			c.closing = make(chan struct{})
		}
		closing := c.closing
		c.closeMu.Unlock()
		if closing != nil {
			<-closing // closed by closeDone, or already
		}
		return false
	}
	c.closeErr.Store(ce)
	c.closed.Store(true)
	if c.doneCh != nil {
		close(c.doneCh)
	}
	c.closeMu.Unlock()
	// Deferred, so that waiters are let go even if Close panics, as a
	// sync.Once would.
	defer c.closeDone()
	if p := c.ping.Load(); p != nil {
		p.stop()
	}
	if c.tracker != nil {
		c.tracker.untrack(c)
	}
	c.rwatch.Load().detach()
	c.wwatch.Load().detach()
	c.nc.Close() // how it ended is recorded; a failure to close adds nothing
	return true
}

// closeDone marks the first closeTCP done and lets its waiters go.
func (c *Conn) closeDone() {
	c.closeMu.Lock()
	c.ncClosed = true
	if c.closing != nil {
		close(c.closing)
	}
	c.closeMu.Unlock()
}

// isClosed reports whether the TCP connection has been closed.
func (c *Conn) isClosed() bool { return c.closed.Load() }

// done returns a channel that is closed with the TCP connection. It is made
// on first use: most connections never wait for it.
func (c *Conn) done() <-chan struct{} {
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	if c.doneCh == nil {
		c.doneCh = make(chan struct{})
		if c.closed.Load() {
			close(c.doneCh)
		}
	}
	return c.doneCh
}

// closedError returns how the connection ended, once closeTCP has been
// called; until then errClosing.
func (c *Conn) closedError() error {
	if ce := c.closeErr.Load(); ce != nil {
		return ce
	}
	return errClosing
}

// unusable returns the error for a call that would send on a connection
// that has ended or is closing, or nil.
func (c *Conn) unusable() error {
	if c.isClosed() || c.sent.Load() != nil || c.abandoned.Load() {
		return c.closedError()
	}
	return nil
}

// lock acquires a semaphore, bounded by ctx and by the connection closing.
// A call that gives up here has sent nothing, so the connection stays
// open.
func (c *Conn) lock(ctx context.Context, s *sema) error {
	err := s.acquire(ctx, c.done)
	if err == errSemaDone {
		return c.closedError()
	}
	if err != nil {
		return &prefixedError{"websocket: ", err}
	}
	return nil
}

// lost ends the connection after an I/O error under a call bound to ctx,
// and returns what the call returns: a deadline that ctx's watch set is
// ctx ending, an error after a close is that close, anything else is the
// network failing.
func (c *Conn) lost(ctx context.Context, err error) error {
	if c.isClosed() {
		return c.closedError()
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF // no Close frame came first
	}
	var ce *CloseError
	sent := c.sent.Load()
	byContext := ctx.Err() != nil && errors.Is(err, os.ErrDeadlineExceeded)
	switch {
	case c.peer.Load() != nil:
		ce = c.peer.Load() // the handshake is over: only TCP is left
	case sent != nil && sent.Err != nil:
		ce = sent // the ending was decided when our Close went out
	case byContext:
		ce = c.sentWith(context.Cause(ctx)) // CloseAbnormal if none was sent
	case sent != nil:
		ce = c.sentWith(&prefixedError{"websocket: connection lost during the closing handshake: ", err})
	default:
		ce = &CloseError{Code: CloseAbnormal, Remote: true, Err: err}
	}
	c.closeTCP(ce)
	return c.closedError()
}

// abort ends the connection for cause, on this side's account, and returns
// what the call that found it returns.
func (c *Conn) abort(cause error) error {
	c.closeTCP(&CloseError{Code: CloseAbnormal, Err: cause})
	return c.closedError()
}

// prefixedError is err with a prefix to its message. Every connection that
// ends without a close frame makes one, so it is built without fmt, whose
// formatting machinery is deep enough to grow the stack of the goroutine
// that serves the connection (a copy of the whole stack) and allocates
// twice.
type prefixedError struct {
	prefix string
	err    error
}

func (e *prefixedError) Error() string { return e.prefix + e.err.Error() }
func (e *prefixedError) Unwrap() error { return e.err }
