package event

import (
	"context"
	"errors"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twoway/websocket/conn"
	"github.com/twoway/websocket/frame"
	"github.com/twoway/websocket/handshake"
	"github.com/twoway/websocket/internal/pmdeflate"
)

// DefaultHandshakeTimeout bounds the opening handshake when
// Server.HandshakeTimeout is zero.
const DefaultHandshakeTimeout = 10 * time.Second

// ErrServerClosed is returned by Serve once Shutdown has been called.
var ErrServerClosed = errors.New("websocket: event server closed")

// A Server upgrades the connections of listeners and serves their
// WebSocket messages through callbacks. Its zero value serves with the
// defaults of conn.AcceptOptions and no callbacks. Its fields must not be
// changed once Serve has been called.
type Server struct {
	// Accept holds the handshake, read limit, keepalive, closing and
	// compression options, as for conn.AcceptConn. ReadBufferSize,
	// WriteBufferSize and Tracker do not apply: Shutdown ends the
	// connections of a Server.
	Accept conn.AcceptOptions

	// HandshakeTimeout bounds the time from accepting a connection to the
	// end of its request; 0 means DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration

	// Workers bounds the goroutines that run callbacks at once; 0 means
	// 64 per GOMAXPROCS. A callback that blocks holds one worker. Workers
	// are started as callbacks need them and, once started, wait for more
	// work until Shutdown.
	Workers int

	// HTTP, if set, serves the requests that are not WebSocket
	// handshakes (no "Upgrade: websocket", or not GET), such as the page
	// that opens the WebSockets: such a connection leaves the loops, with
	// what was read of it, for an http.Server of its own. Otherwise those
	// requests are refused with 400 or 405.
	HTTP http.Handler

	// MaxPending bounds, per connection, the bytes of output the peer has
	// not yet taken and the bytes of messages the callbacks have not yet
	// taken: beyond it the connection is not read, and Write waits.
	// 0 means 1 MiB.
	MaxPending int

	// OnOpen, if set, is called once a connection's handshake has
	// succeeded, with the request, before any OnMessage of the
	// connection. The request is the server's to keep or drop; keeping
	// it costs its memory per connection.
	OnOpen func(c *Conn, r *http.Request)

	// OnMessage, if set, is called with each message, in the order of the
	// connection, one at a time for a connection. data is valid until
	// OnMessage returns.
	OnMessage func(c *Conn, typ conn.MessageType, data []byte)

	// OnClose, if set, is called once when a connection whose handshake
	// succeeded has ended, after its OnOpen, if set, and its last
	// OnMessage, with an error matching
	// conn.ErrClosed that holds a *conn.CloseError saying how it ended
	// (see conn's package documentation).
	OnClose func(c *Conn, err error)

	once     sync.Once
	initErr  error
	settings settings
	pool     pool
	engine   engine
	goroutineState

	mu        sync.Mutex
	listeners map[closer]struct{}
	httpSrv   *http.Server
	httpLn    *handoffListener
	shutdown  atomic.Bool
	active    atomic.Int64 // connections not yet ended
}

type closer interface{ Close() error }

// settings are the options that every connection reads, resolved once.
type settings struct {
	hs           handshake.ServerOptions
	deflate      *pmdeflate.ServerExtension
	readLimit    int64 // < 0: none
	pingInterval time.Duration
	pingTimeout  time.Duration
	closeTimeout time.Duration
	hsTimeout    time.Duration
	maxPending   int
	onPing       func([]byte)
	onPong       func([]byte)
}

func (s *Server) init() error {
	s.once.Do(func() {
		o := &s.Accept
		st := &s.settings
		st.hs = handshake.ServerOptions{
			Subprotocols:            o.Subprotocols,
			SelectSubprotocol:       o.SelectSubprotocol,
			OriginPatterns:          o.OriginPatterns,
			InsecureSkipOriginCheck: o.InsecureSkipOriginCheck,
			CheckOrigin:             o.CheckOrigin,
			Header:                  o.Header,
		}
		if c := o.Compression; c != nil {
			st.deflate = pmdeflate.NewServerExtension(pmdeflate.Config{
				ServerNoContextTakeover: c.ServerNoContextTakeover,
				ClientNoContextTakeover: c.ClientNoContextTakeover,
				ServerMaxWindowBits:     c.ServerMaxWindowBits,
				ClientMaxWindowBits:     c.ClientMaxWindowBits,
				Level:                   c.Level,
				Threshold:               c.Threshold,
			})
			st.hs.Extensions = []handshake.ServerExtension{st.deflate}
		}
		st.readLimit = o.ReadLimit
		if st.readLimit == 0 {
			st.readLimit = conn.DefaultReadLimit
		}
		st.pingInterval = o.PingInterval
		st.pingTimeout = o.PingTimeout
		if st.pingTimeout <= 0 {
			st.pingTimeout = st.pingInterval
		}
		st.closeTimeout = o.CloseTimeout
		if st.closeTimeout <= 0 {
			st.closeTimeout = conn.DefaultCloseTimeout
		}
		st.hsTimeout = s.HandshakeTimeout
		if st.hsTimeout <= 0 {
			st.hsTimeout = DefaultHandshakeTimeout
		}
		st.onPing, st.onPong = o.OnPing, o.OnPong
		st.maxPending = s.MaxPending
		if st.maxPending <= 0 {
			st.maxPending = 1 << 20
		}
		s.pool.max = s.Workers
		if s.pool.max <= 0 {
			s.pool.max = 64 * runtime.GOMAXPROCS(0)
		}
		s.pool.work.L = &s.pool.mu
		s.listeners = make(map[closer]struct{})
		s.goConns = make(map[*Conn]struct{})
		s.initErr = s.engine.start(s)
	})
	return s.initErr
}

// track adds ln to the listeners Shutdown closes, unless shutdown has
// begun.
func (s *Server) track(ln closer) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutdown.Load() {
		return false
	}
	s.listeners[ln] = struct{}{}
	return true
}

func (s *Server) untrack(ln closer) {
	s.mu.Lock()
	delete(s.listeners, ln)
	s.mu.Unlock()
}

// Shutdown stops the listeners, begins the closing handshake of every
// connection with CloseGoingAway, and waits until every connection has
// ended and every callback has returned. When ctx ends first it closes
// the remaining connections at once (as CloseNow), waits for the
// callbacks and returns ctx's error. Serve returns ErrServerClosed.
func (s *Server) Shutdown(ctx context.Context) error {
	if err := s.init(); err != nil {
		return err
	}
	s.mu.Lock()
	first := !s.shutdown.Swap(true)
	for ln := range s.listeners {
		ln.Close()
	}
	s.mu.Unlock()
	if first {
		s.engine.goAway()
		s.endNet(false)
	}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	var err error
	for s.active.Load() > 0 && err == nil {
		select {
		case <-ctx.Done():
			err = ctx.Err()
			s.engine.closeAll()
			s.endNet(true)
		case <-tick.C:
		}
	}
	for s.active.Load() > 0 {
		<-tick.C // closeAll ends them without waiting for peers
	}
	s.pool.stop()
	s.pool.wg.Wait()
	s.mu.Lock()
	hs := s.httpSrv
	s.mu.Unlock()
	if hs != nil {
		if herr := hs.Shutdown(ctx); herr != nil && err == nil {
			err = herr
			hs.Close()
		}
	}
	s.stopNet()
	s.engine.stop()
	return err
}

// pool runs the callbacks of connections on at most max goroutines,
// started as they are needed; once started, a goroutine waits for more
// work until stop. One that ended whenever it found no work would have its
// successor, started for the next message, grow its stack anew (to inflate
// and compress, for one): that was a fifth of the server's CPU in a
// compressed echo, even with GOMAXPROCS goroutines kept waiting. Waiting
// goroutines hold their stacks, a few KiB each.
type pool struct {
	mu      sync.Mutex
	work    sync.Cond // signaled when a waiting goroutine is given work
	max     int
	running int
	started int // goroutines started, ever
	waiting int // goroutines waiting in work and not yet given any
	stopped bool
	queue   []*Conn
	wg      sync.WaitGroup
}

// submit arranges for c.run to be called.
func (p *pool) submit(c *Conn) {
	p.mu.Lock()
	switch {
	case p.waiting > 0:
		p.waiting--
		p.queue = append(p.queue, c)
		p.work.Signal()
	case p.running < p.max:
		p.running++
		p.started++
		p.wg.Add(1)
		p.mu.Unlock()
		go p.serve(c)
		return
	default:
		p.queue = append(p.queue, c)
	}
	p.mu.Unlock()
}

// serve runs c and then the queue's connections, waiting for more until
// stop.
func (p *pool) serve(c *Conn) {
	defer p.wg.Done()
	p.mu.Lock()
	for c != nil {
		p.mu.Unlock()
		c.run()
		p.mu.Lock()
		c = nil
		for len(p.queue) == 0 && !p.stopped {
			p.waiting++
			p.work.Wait() // submit or stop takes us off waiting
		}
		if len(p.queue) > 0 {
			c = p.queue[0]
			p.queue[0] = nil
			p.queue = p.queue[1:]
			if len(p.queue) == 0 {
				p.queue = nil
			}
		}
	}
	p.running--
	p.mu.Unlock()
}

// stop ends the waiting goroutines, and makes the others end once there is
// no work.
func (p *pool) stop() {
	p.mu.Lock()
	p.stopped = true
	p.waiting = 0
	p.work.Broadcast()
	p.mu.Unlock()
}

// Errors of the protocol found by this package, as conn reports them.
var (
	errRSVContinuation = &frame.ProtocolError{Code: frame.CloseProtocolError, Reason: "RSV1 set on a continuation frame"}
	errRSVControl      = &frame.ProtocolError{Code: frame.CloseProtocolError, Reason: "RSV bit set on a control frame"}
	errTooBig          = &frame.ProtocolError{Code: frame.CloseMessageTooBig, Reason: "message exceeds the read limit"}
	errBadDeflate      = &frame.ProtocolError{Code: frame.CloseInvalidPayload, Reason: "invalid compressed data"}
)
