package main

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/twoway/websocket/conn"
	"github.com/twoway/websocket/examples/internal/shutdown"
	"github.com/twoway/websocket/frame"
)

// config is what the flags set.
type config struct {
	Addr              string
	Path              string   // of the WebSocket endpoint
	OriginPatterns    []string // allowed besides same-origin
	CertFile, KeyFile string
	Compress          bool
	ReadLimit         int64
	CloseTimeout      time.Duration
	Event             bool // serve the WebSockets with package event
}

//go:embed index.html
var indexHTML string

var indexPage = template.Must(template.New("index").Parse(indexHTML))

// server serves the page at / and echoes WebSocket messages at cfg.Path.
// It keeps track of its connections, which net/http forgets once they
// are hijacked, so that Shutdown can close them.
type server struct {
	cfg  config
	log  *slog.Logger
	mux  *http.ServeMux
	opts conn.AcceptOptions

	mu      sync.Mutex
	conns   map[*conn.Conn]struct{}
	closing bool
	active  sync.WaitGroup // running WebSocket handlers
}

func newServer(cfg config, log *slog.Logger) *server {
	s := &server{
		cfg:   cfg,
		log:   log,
		mux:   http.NewServeMux(),
		conns: make(map[*conn.Conn]struct{}),
		opts: conn.AcceptOptions{
			OriginPatterns: cfg.OriginPatterns,
			ReadLimit:      cfg.ReadLimit,
			CloseTimeout:   cfg.CloseTimeout,
			// Notice peers that vanished without closing.
			PingInterval: 30 * time.Second,
		},
	}
	if cfg.Compress {
		// Settings for many clients. Context takeover both ways, as by
		// default: small chat-like messages compress to about a quarter
		// with it and barely at all without (pmdeflate's
		// BenchmarkChatRatio: 0.26 against 0.98), and an idle connection
		// keeps only 4 KiB of window each way (the client is asked for a
		// 4 KiB window), about 18 KiB of memory in all. Messages under
		// 128 bytes go out uncompressed: on a connection that was idle,
		// priming the compressor costs more CPU than they would save.
		s.opts.Compression = &conn.CompressionOptions{Threshold: 128}
	}
	s.mux.HandleFunc("GET /{$}", s.servePage)
	s.mux.HandleFunc(cfg.Path, s.serveWebSocket)
	return s
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

func (s *server) servePage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := indexPage.Execute(w, struct{ Path string }{s.cfg.Path}); err != nil {
		s.log.Warn("writing page", "err", err)
	}
}

func (s *server) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	if !s.enter() {
		http.Error(w, "server shutting down", http.StatusServiceUnavailable)
		return
	}
	defer s.active.Done()
	log := s.log.With("remote", r.RemoteAddr)
	c, err := conn.Accept(w, r, &s.opts)
	if err != nil {
		// Accept has answered with an HTTP error, such as 403 for a
		// foreign Origin.
		log.Warn("handshake refused", "origin", r.Header.Get("Origin"), "err", err)
		return
	}
	if !s.track(c) {
		// Shutdown began during the handshake.
		c.Close(conn.CloseGoingAway, "server shutting down")
		return
	}
	defer s.untrack(c)
	log.Info("connection opened", "compressed", c.Compressed())
	start := time.Now()
	n, err := echo(r.Context(), c)
	level, msg, attrs := describeEnd(err)
	log.Log(r.Context(), level, msg, append(attrs, "messages", n, "duration", time.Since(start).Round(time.Millisecond))...)
}

// echo sends every message back until the connection ends, and reports
// how many it echoed and why it stopped.
//
// Each message is read whole into buf, which is reused, and written back
// whole: the library's fast path, which sends a message in as few frames
// as it can. buf grows to the largest message, at most the read limit.
// Reading the whole message before answering also keeps the loop reading
// while the peer writes: a peer that sends a large message before it
// reads the echo can finish sending it, where streaming each piece back
// as it came would stop reading once the peer stopped reading, and both
// would wait for ever.
//
// ctx is the request's context. It ends when the handler returns or, over
// HTTP/2, when the client resets the stream; server shutdown does not end
// it. A context that ended in the middle of a message would cut the
// connection without a closing handshake (see conn's "Contexts"), so
// Shutdown instead closes with 1001, and the reads here carry that
// handshake through to the peer's answer.
func echo(ctx context.Context, c *conn.Conn) (int, error) {
	var buf []byte
	for n := 0; ; {
		typ, msg, err := c.ReadInto(ctx, buf)
		if err != nil {
			return n, err
		}
		buf = msg
		err = c.Write(ctx, typ, msg)
		switch {
		case err == nil:
			n++
		case !errors.Is(err, conn.ErrClosed):
			return n, err
		}
		// A write that matches ErrClosed found our Close frame sent (the
		// server is shutting down) or the connection ended. Keep reading:
		// the next read either returns how the connection ended or reads
		// on until the peer answers our Close.
	}
}

// describeEnd says how a connection ended, for the log, from the
// *conn.CloseError that err holds: a closing handshake with 1000 or 1001
// is routine; anything else, such as a protocol error or a lost
// connection, deserves a warning. The attributes name the close code and
// which side began the closing.
func describeEnd(err error) (slog.Level, string, []any) {
	var ce *conn.CloseError
	if !errors.As(err, &ce) {
		// The connection is still open: a context ended before anything
		// was sent. The handler closes it on its way out.
		return slog.LevelWarn, "connection abandoned", []any{"err", err}
	}
	by := "server"
	if ce.Remote {
		by = "client"
	}
	attrs := []any{"code", int(ce.Code), "by", by}
	if ce.Reason != "" {
		attrs = append(attrs, "reason", ce.Reason)
	}
	if ce.Err != nil {
		attrs = append(attrs, "err", ce.Err)
	}
	var pe *frame.ProtocolError
	switch {
	case ce.Normal():
		return slog.LevelInfo, "connection closed", attrs
	case errors.As(ce.Err, &pe):
		return slog.LevelWarn, "connection failed: the client broke the protocol", attrs
	case errors.Is(ce.Err, conn.ErrCloseTimeout):
		return slog.LevelWarn, "connection closed: the client did not answer our close in time", attrs
	case errors.Is(ce.Err, conn.ErrKeepaliveTimeout):
		return slog.LevelWarn, "connection closed: the client stopped answering pings", attrs
	case ce.Err != nil && ce.Remote:
		return slog.LevelWarn, "connection lost", attrs
	case errors.Is(ce.Err, context.Canceled), errors.Is(ce.Err, context.DeadlineExceeded):
		return slog.LevelWarn, "connection cut: the request ended in the middle of a message", attrs
	case ce.Err != nil:
		return slog.LevelWarn, "connection lost while closing", attrs
	case ce.Code == conn.CloseAbnormal:
		return slog.LevelWarn, "connection cut without a closing handshake", attrs
	default:
		// A completed handshake with a code that reports a problem, such
		// as 1009 or 1011.
		return slog.LevelWarn, "connection closed", attrs
	}
}

// enter counts a WebSocket handler in, unless the server is shutting down.
func (s *server) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.active.Add(1)
	return true
}

// track adds c to the open connections, unless the server is shutting down.
func (s *server) track(c *conn.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *server) untrack(c *conn.Conn) {
	c.CloseNow()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// Shutdown closes every open WebSocket connection with 1001 (going away)
// and waits for their handlers to return. Later handshakes are refused
// with 503 Service Unavailable. When ctx ends first, the connections whose
// Close frame has not gone out are cut, the closing handshakes in progress
// are left to finish within the close timeout, and Shutdown returns an
// error wrapping ctx's (see shutdown.CloseAll).
func (s *server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	open := make([]*conn.Conn, 0, len(s.conns))
	for c := range s.conns {
		open = append(open, c)
	}
	s.mu.Unlock()

	if err := shutdown.CloseAll(ctx, open, &s.active); err != nil {
		return fmt.Errorf("echo: %w", err)
	}
	return nil
}
