package main

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"time"

	"github.com/twoway/websocket/conn"
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
// Its tracker keeps the WebSocket connections, which net/http forgets
// once they are hijacked, so that Shutdown can close them.
type server struct {
	cfg     config
	log     *slog.Logger
	mux     *http.ServeMux
	opts    conn.AcceptOptions
	tracker conn.Tracker
}

func newServer(cfg config, log *slog.Logger) *server {
	s := &server{
		cfg: cfg,
		log: log,
		mux: http.NewServeMux(),
		opts: conn.AcceptOptions{
			OriginPatterns: cfg.OriginPatterns,
			ReadLimit:      cfg.ReadLimit,
			CloseTimeout:   cfg.CloseTimeout,
			// Notice peers that vanished without closing.
			PingInterval: 30 * time.Second,
		},
	}
	s.opts.Tracker = &s.tracker
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
	log := s.log.With("remote", r.RemoteAddr)
	c, err := conn.Accept(w, r, &s.opts)
	switch {
	case errors.Is(err, conn.ErrShuttingDown):
		// Accept has answered 503; the server is on its way out.
		log.Info("handshake refused during shutdown")
		return
	case err != nil:
		// Accept has answered with an HTTP error, such as 403 for a
		// foreign Origin.
		log.Warn("handshake refused", "origin", r.Header.Get("Origin"), "err", err)
		return
	}
	defer c.CloseNow()
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

// Shutdown closes every open WebSocket connection with 1001 (going away)
// and waits for their closing handshakes, each bounded by the close
// timeout. Later handshakes are refused with 503 Service Unavailable. When
// ctx ends first, the connections still closing are cut and Shutdown
// returns an error wrapping ctx's (see conn.Tracker.Shutdown).
func (s *server) Shutdown(ctx context.Context) error {
	if err := s.tracker.Shutdown(ctx); err != nil {
		return fmt.Errorf("echo: %w", err)
	}
	return nil
}
