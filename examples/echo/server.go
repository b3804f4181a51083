package main

import (
	"context"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/twoway/websocket/conn"
	"github.com/twoway/websocket/examples/internal/shutdown"
)

// config is what the flags set.
type config struct {
	Addr              string
	Path              string   // of the WebSocket endpoint
	OriginPatterns    []string // allowed besides same-origin
	CertFile, KeyFile string
	Compress          bool
	ReadLimit         int64
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
			// Notice peers that vanished without closing.
			PingInterval: 30 * time.Second,
		},
	}
	if cfg.Compress {
		s.opts.Compression = &conn.CompressionOptions{}
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
	n, err := echo(c)
	log.Info("connection closed", "messages", n, "duration", time.Since(start).Round(time.Millisecond), "why", err)
}

// echo sends every message back until the connection ends, and reports
// how many it echoed and why it stopped. Messages are streamed, so a large
// one needs no more memory than the buffers.
func echo(c *conn.Conn) (int, error) {
	ctx := context.Background()
	for n := 0; ; n++ {
		typ, r, err := c.Reader(ctx)
		if err != nil {
			return n, err
		}
		w, err := c.Writer(ctx, typ)
		if err != nil {
			return n, err
		}
		if _, err := io.Copy(w, r); err != nil {
			c.CloseNow()
			return n, err
		}
		if err := w.Close(); err != nil {
			return n, err
		}
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
