// Echo is a WebSocket echo server: every message a client sends comes
// back to it unchanged, with its type. It serves a page at / where a
// person can type messages and watch them return.
//
// Usage:
//
//	go run ./examples/echo [flags]
//
// then open http://localhost:8080 in a browser. The flags are:
//
//	-addr host:port   address to listen on (default localhost:8080)
//	-path /ws         path of the WebSocket endpoint
//	-origins list     comma-separated Origin host patterns allowed besides
//	                  the server's own, such as "*.example.com,localhost:*";
//	                  "*" allows any origin
//	-tls-cert file    serve HTTPS and wss:// with this certificate...
//	-tls-key file     ...and this key
//	-compress on|off  negotiate permessage-deflate (default on)
//	-read-limit n     largest message accepted, in bytes; -1 for none
//	-close-timeout d  how long a client may take to answer our Close
//	                  (default 5s)
//	-event            serve the WebSockets from event loops (package
//	                  event): an idle connection holds no goroutine
//
// SIGINT or SIGTERM shuts the server down gracefully: every open
// WebSocket is closed with status 1001 (going away), and the server exits
// once every client has answered or the close timeout has passed.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/twoway/websocket/conn"
)

func main() {
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, stop, cfg, log); err != nil {
		log.Error("server failed", "err", err)
		os.Exit(1)
	}
}

// parseFlags parses the command line into a config. It reports problems,
// and the usage text for -h, on stderr.
func parseFlags(args []string, stderr io.Writer) (config, error) {
	cfg := config{Compress: true}
	fs := flag.NewFlagSet("echo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.Addr, "addr", "localhost:8080", "`host:port` to listen on")
	fs.StringVar(&cfg.Path, "path", "/ws", "`path` of the WebSocket endpoint")
	origins := fs.String("origins", "", "comma-separated Origin host `patterns` allowed besides the server's own (\"*\" allows any)")
	certFile := fs.String("tls-cert", "", "TLS certificate `file` (serve https and wss)")
	keyFile := fs.String("tls-key", "", "TLS key `file`")
	fs.Var((*onOff)(&cfg.Compress), "compress", "negotiate permessage-deflate, `on|off`")
	fs.Int64Var(&cfg.ReadLimit, "read-limit", 1<<20, "largest message accepted, in `bytes` (-1: no limit)")
	fs.DurationVar(&cfg.CloseTimeout, "close-timeout", conn.DefaultCloseTimeout, "how long a client may take to answer our Close, such as at shutdown")
	fs.BoolVar(&cfg.Event, "event", false, "serve the WebSockets from event loops, without a goroutine per idle connection")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	fail := func(format string, args ...any) (config, error) {
		err := fmt.Errorf(format, args...)
		fmt.Fprintf(stderr, "echo: %v\n", err)
		fs.Usage()
		return config{}, err
	}
	if fs.NArg() > 0 {
		return fail("unexpected arguments: %q", fs.Args())
	}
	if !strings.HasPrefix(cfg.Path, "/") || cfg.Path == "/" {
		return fail("-path %q must start with / and not be / itself, where the page is", cfg.Path)
	}
	if (*certFile == "") != (*keyFile == "") {
		return fail("-tls-cert and -tls-key go together")
	}
	if cfg.ReadLimit == 0 || cfg.ReadLimit < -1 {
		return fail("-read-limit must be positive or -1")
	}
	if cfg.CloseTimeout <= 0 {
		return fail("-close-timeout must be positive")
	}
	cfg.CertFile, cfg.KeyFile = *certFile, *keyFile
	for p := range strings.SplitSeq(*origins, ",") {
		if p = strings.TrimSpace(p); p != "" {
			cfg.OriginPatterns = append(cfg.OriginPatterns, p)
		}
	}
	return cfg, nil
}

// onOff is a boolean flag that also accepts "on" and "off".
type onOff bool

func (b *onOff) String() string {
	if b != nil && *b {
		return "on"
	}
	return "off"
}

func (b *onOff) Set(s string) error {
	switch strings.ToLower(s) {
	case "on":
		*b = true
	case "off":
		*b = false
	default:
		v, err := strconv.ParseBool(s)
		if err != nil {
			return errors.New("want on or off")
		}
		*b = onOff(v)
	}
	return nil
}

// serve runs the server until ctx is done, then shuts it down. It calls
// stop once shutdown begins so that a second signal kills the process.
func serve(ctx context.Context, stop func(), cfg config, log *slog.Logger) error {
	if cfg.Event {
		return serveEvent(ctx, stop, cfg, log)
	}
	var tlsConfig *tls.Config
	if cfg.CertFile != "" {
		// Loaded now rather than by ServeTLS, so that a missing or bad
		// file is reported before the server claims to be listening.
		cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			return err
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	ws := newServer(cfg, log)
	hs := &http.Server{
		Handler:           ws,
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() {
		if tlsConfig != nil {
			errc <- hs.ServeTLS(ln, "", "")
		} else {
			errc <- hs.Serve(ln)
		}
	}()
	page := pageURL(cfg.Addr, ln.Addr(), tlsConfig != nil)
	return runUntilDone(ctx, stop, cfg, log, "echo server listening", ln.Addr(), page, errc, func(sctx context.Context) error {
		// hs.Shutdown stops the listener and idle HTTP connections but
		// does not know the hijacked WebSocket connections: ws.Shutdown
		// closes those. The two run at once because hs.Shutdown also
		// waits for HTTP/2 connections to fall idle, which those carrying
		// WebSockets as streams (RFC 8441) do only once ws.Shutdown has
		// closed them.
		wsErr := make(chan error, 1)
		go func() { wsErr <- ws.Shutdown(sctx) }()
		return errors.Join(hs.Shutdown(sctx), <-wsErr)
	})
}

// shutdownMargin is what shutting down allows beyond the close timeout,
// for the handlers or callbacks to return.
const shutdownMargin = 5 * time.Second

// runUntilDone says where the server listens, waits until ctx is done or
// serving fails (an error on errc), then calls stop, so that a second
// signal kills the process, and shuts down with shutdown, within the close
// timeout, which bounds each closing handshake, and a margin for the
// handlers to return.
func runUntilDone(ctx context.Context, stop func(), cfg config, log *slog.Logger, listening string, bound net.Addr, page string, errc <-chan error, shutdown func(context.Context) error) error {
	log.Info(listening+"; open "+page+" in a browser",
		"addr", bound.String(), "websocket", wsURL(page, cfg.Path), "compress", cfg.Compress)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	stop()
	log.Info("shutting down; closing open connections with 1001 (going away)")
	sctx, cancel := context.WithTimeout(context.Background(), cfg.CloseTimeout+shutdownMargin)
	defer cancel()
	err := shutdown(sctx)
	if err == nil {
		log.Info("shut down cleanly")
	}
	return err
}

// pageURL is the URL at which a browser finds the page, given the address
// asked for and the address bound. An unspecified host becomes localhost.
func pageURL(asked string, bound net.Addr, tls bool) string {
	host, _, err := net.SplitHostPort(asked)
	if ip := net.ParseIP(host); err != nil || host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	port := "0"
	if a, ok := bound.(*net.TCPAddr); ok {
		port = strconv.Itoa(a.Port)
	}
	scheme := "http"
	if tls {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, port) + "/"
}

// wsURL turns the page's URL into the endpoint's.
func wsURL(page, path string) string {
	return "ws" + strings.TrimSuffix(strings.TrimPrefix(page, "http"), "/") + path
}
