// Command autobahn-server is an echo server for the Autobahn testsuite's
// fuzzingclient mode (wstest -m fuzzingclient), which tests servers.
//
// It echoes every message with its type, accepts permessage-deflate when
// offered, allows messages up to 64 MiB (section 9 sends 16 MiB) and skips
// the Origin check. It serves until interrupted.
//
// Usage:
//
//	autobahn-server [-addr 127.0.0.1:9002]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/twoway/websocket/conn"
)

// readLimit admits Autobahn's largest messages (16 MiB in 9.1.6).
const readLimit = 64 << 20

func main() {
	addr := flag.String("addr", "127.0.0.1:9002", "address to listen on")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("autobahn-server: listening on ws://%s\n", ln.Addr())
	if err := serve(ctx, ln); err != nil {
		log.Fatal(err)
	}
}

// serve serves the echo handler on ln until ctx is done.
func serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: handler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// handler upgrades every request and echoes.
func handler() http.Handler {
	opts := &conn.AcceptOptions{
		InsecureSkipOriginCheck: true,
		Compression:             &conn.CompressionOptions{},
		ReadLimit:               readLimit,
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := conn.Accept(w, r, opts)
		if err != nil {
			return // Accept has answered the request
		}
		echo(c)
	})
}

// echo sends back every message with its type until the connection ends;
// the connection has then run the closing handshake, or failed.
func echo(c *conn.Conn) {
	defer c.CloseNow()
	ctx := context.Background()
	var buf []byte
	for {
		typ, msg, err := c.ReadInto(ctx, buf)
		if err != nil {
			return
		}
		if err := c.Write(ctx, typ, msg); err != nil {
			return
		}
		buf = msg
	}
}
