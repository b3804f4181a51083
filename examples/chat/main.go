// Chat is a WebSocket chat room: every message a member sends goes to all
// members. It serves a page at / to chat from.
//
// Usage:
//
//	go run ./examples/chat [-addr localhost:8081] [-origins patterns] [-close-timeout 5s]
//
// then open http://localhost:8081 in two browser windows. SIGINT or
// SIGTERM closes every member's connection with 1001 (going away); the
// server exits once every member has answered or the close timeout, how
// long a member may take to answer, has passed.
//
// The room sends each message to every member without letting a slow one
// hold up the others: each member has a bounded queue drained by a writer
// goroutine of its own, and a member whose queue overflows is disconnected
// with status 1008 (policy violation).
//
// The protocol: a client sends each chat line as a text message; the
// server sends JSON events:
//
//	{"type":"welcome","name":"ann","members":["ann","bob"]}  to a new member
//	{"type":"join","name":"bob"}
//	{"type":"leave","name":"bob"}
//	{"type":"message","name":"ann","text":"hi"}
//
// A client chooses its name with the query parameter name on the
// WebSocket URL; the server makes it unique.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
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
	fs := flag.NewFlagSet("chat", flag.ExitOnError)
	addr := fs.String("addr", "localhost:8081", "`host:port` to listen on")
	origins := fs.String("origins", "", "comma-separated Origin host `patterns` allowed besides the server's own (\"*\" allows any)")
	closeTimeout := fs.Duration("close-timeout", conn.DefaultCloseTimeout, "how long a member may take to answer our Close, such as at shutdown")
	fs.Parse(os.Args[1:])
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "chat: unexpected arguments %q\n", fs.Args())
		fs.Usage()
		os.Exit(2)
	}
	if *closeTimeout <= 0 {
		fmt.Fprintln(os.Stderr, "chat: -close-timeout must be positive")
		fs.Usage()
		os.Exit(2)
	}
	cfg := config{QueueLen: 64, CloseTimeout: *closeTimeout}
	for p := range strings.SplitSeq(*origins, ",") {
		if p = strings.TrimSpace(p); p != "" {
			cfg.OriginPatterns = append(cfg.OriginPatterns, p)
		}
	}

	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, stop, *addr, cfg, log); err != nil {
		log.Error("server failed", "err", err)
		os.Exit(1)
	}
}

// serve runs the chat server until ctx is done, then shuts it down.
func serve(ctx context.Context, stop func(), addr string, cfg config, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	room := newRoom(cfg, log)
	hs := &http.Server{
		Handler:           room,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	log.Info("chat server listening; open "+pageURL(addr, ln.Addr())+" in two browser windows", "addr", ln.Addr().String())

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	stop()
	log.Info("shutting down; closing open connections with 1001 (going away)")
	// The close timeout bounds each closing handshake; the margin lets
	// the handlers return.
	sctx, cancel := context.WithTimeout(context.Background(), cfg.CloseTimeout+5*time.Second)
	defer cancel()
	// hs.Shutdown stops the listener and idle HTTP connections; the
	// hijacked WebSocket connections are the room's to close.
	err = errors.Join(hs.Shutdown(sctx), room.Shutdown(sctx))
	if err == nil {
		log.Info("shut down cleanly")
	}
	return err
}

// pageURL is the URL at which a browser finds the page, given the address
// asked for and the address bound. An unspecified host becomes localhost.
func pageURL(asked string, bound net.Addr) string {
	host, _, err := net.SplitHostPort(asked)
	if ip := net.ParseIP(host); err != nil || host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	port := "0"
	if a, ok := bound.(*net.TCPAddr); ok {
		port = strconv.Itoa(a.Port)
	}
	return "http://" + net.JoinHostPort(host, port) + "/"
}
