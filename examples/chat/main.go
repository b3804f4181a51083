// Chat is a WebSocket chat server with rooms, built on the hub package:
// every message a member sends goes to all members of its room. It serves
// a page at / to chat from.
//
// Usage:
//
//	go run ./examples/chat [-addr localhost:8081] [-origins patterns]
//	    [-close-timeout 5s] [-nats nats://host:4222] [-presence-interval 5s]
//
// then open http://localhost:8081 in two browser windows. Alone, the
// process is the whole chat. With -nats, every chat process linked to the
// same NATS server is part of one chat: a member on one process sees the
// messages and the presence of members on the others, so a load balancer
// may send each browser to any of them. SIGINT or SIGTERM closes every
// member's connection with 1001 (going away); the server exits once every
// member has answered or the close timeout, how long a member may take to
// answer, has passed. The page then reconnects, to whichever process
// answers at its address, and rejoins its room.
//
// Each member has a bounded queue drained by a writer goroutine of its
// own (see the hub package), so that a slow member never holds up the
// others; a member whose queue overflows is disconnected with status
// 1008 (policy violation).
//
// The protocol: a client chooses its name and room with the query
// parameters name and room on the WebSocket URL; the server makes the
// name unique among the room's members on this process. The client sends
// each chat line as a JSON object, {"text":"hi"}; the server sends JSON
// events:
//
//	{"type":"welcome","name":"ann","room":"lobby"}  first, to the new member
//	{"type":"presence","members":["ann","bob"],"joined":["bob"],"left":[]}
//	{"type":"message","name":"ann","text":"hi"}
//
// A presence event carries the room's whole member list, with who joined
// and who left since the previous one; a room gets at most one every
// 100 ms. Across processes a name may
// appear twice, for a while after a process crashed (until the other
// processes notice its silence, three presence intervals) or when two
// processes each gave it to a member.
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
	"github.com/twoway/websocket/hub"
	"github.com/twoway/websocket/natsbroker"
)

// queueLen is how many events a member may fall behind before it is
// disconnected: a burst of a few hundred, such as every process relaying
// at once what its members said, for 2 KiB a member.
const queueLen = 256

func main() {
	fs := flag.NewFlagSet("chat", flag.ExitOnError)
	addr := fs.String("addr", "localhost:8081", "`host:port` to listen on")
	origins := fs.String("origins", "", "comma-separated Origin host `patterns` allowed besides the server's own (\"*\" allows any)")
	closeTimeout := fs.Duration("close-timeout", conn.DefaultCloseTimeout, "how long a member may take to answer our Close, such as at shutdown")
	natsURL := fs.String("nats", "", "NATS server `url` linking this process with other chat processes (default: run alone)")
	presence := fs.Duration("presence-interval", 5*time.Second, "with -nats, how often each process announces its members; a process silent for three intervals is taken for dead")
	fs.Parse(os.Args[1:])
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "chat: unexpected arguments %q\n", fs.Args())
		fs.Usage()
		os.Exit(2)
	}
	if *closeTimeout <= 0 || *presence <= 0 {
		fmt.Fprintln(os.Stderr, "chat: -close-timeout and -presence-interval must be positive")
		fs.Usage()
		os.Exit(2)
	}
	cfg := config{QueueLen: queueLen, CloseTimeout: *closeTimeout, PresenceInterval: *presence}
	for p := range strings.SplitSeq(*origins, ",") {
		if p = strings.TrimSpace(p); p != "" {
			cfg.OriginPatterns = append(cfg.OriginPatterns, p)
		}
	}

	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if *natsURL != "" {
		b, err := natsbroker.Dial(*natsURL, nil)
		if err != nil {
			log.Error("cannot reach NATS", "url", *natsURL, "err", err)
			os.Exit(1)
		}
		defer closeBroker(b, log)
		cfg.Broker = b
		log.Info("linked to other chat processes through NATS", "url", b.Conn().ConnectedUrlRedacted())
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, stop, *addr, cfg, log); err != nil {
		log.Error("server failed", "err", err)
		closeBroker(cfg.Broker, log)
		os.Exit(1)
	}
}

// closeBroker sends the NATS server what is still buffered, such as the
// announcements that this process's members have left, and disconnects.
func closeBroker(b hub.Broker, log *slog.Logger) {
	nb, ok := b.(*natsbroker.Broker)
	if !ok || nb.Conn().IsClosed() {
		return
	}
	if err := nb.Conn().FlushTimeout(5 * time.Second); err != nil {
		log.Warn("NATS flush failed", "err", err)
	}
	nb.Close()
}

// serve runs the chat server until ctx is done, then shuts it down.
func serve(ctx context.Context, stop func(), addr string, cfg config, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := newServer(cfg, log)
	hs := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	log.Info("chat server listening; open "+pageURL(addr, ln.Addr())+" in two browser windows", "addr", ln.Addr().String())

	select {
	case err := <-errc:
		srv.Shutdown(context.Background())
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
	// hijacked WebSocket connections are the server's to close.
	err = errors.Join(hs.Shutdown(sctx), srv.Shutdown(sctx))
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
