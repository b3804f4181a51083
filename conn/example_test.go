//lint:file-ignore SA1019 x/net's HTTP/2 Transport is deprecated for net/http's, which in Go 1.26 refuses the :protocol pseudo-header RFC 8441 needs.

package conn_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/twoway/websocket/conn"
	"golang.org/x/net/http2"
)

// An echo handler: read each message into a reused buffer and write it back.
func echo(w http.ResponseWriter, r *http.Request) {
	c, err := conn.Accept(w, r, nil)
	if err != nil {
		log.Print(err) // Accept has already answered with an HTTP error
		return
	}
	defer c.CloseNow()
	var buf []byte
	for {
		typ, msg, err := c.ReadInto(r.Context(), buf)
		if err != nil {
			return // the peer closed, or broke the protocol
		}
		buf = msg
		if err := c.Write(r.Context(), typ, msg); err != nil {
			return
		}
	}
}

func ExampleAccept() {
	srv := httptest.NewServer(http.HandlerFunc(echo))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := conn.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.CloseNow()
	if err := c.Write(ctx, conn.Text, []byte("hello")); err != nil {
		log.Fatal(err)
	}
	typ, msg, err := c.Read(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(typ, string(msg))
	fmt.Println(c.Close(conn.CloseNormal, "done"))
	// Output:
	// text hello
	// <nil>
}

// Streaming sends and receives a message piece by piece, with memory
// bounded by the buffer sizes whatever the message size.
func ExampleConn_Writer() {
	srv := httptest.NewServer(http.HandlerFunc(echo))
	defer srv.Close()
	ctx := context.Background()
	c, _, err := conn.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.CloseNow()

	w, err := c.Writer(ctx, conn.Binary)
	if err != nil {
		log.Fatal(err)
	}
	for i := range 3 {
		fmt.Fprintf(w, "part %d;", i)
	}
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}

	_, r, err := c.Reader(ctx)
	if err != nil {
		log.Fatal(err)
	}
	n, err := io.Copy(io.Discard, r)
	fmt.Println(n, err)
	// Output: 21 <nil>
}

// A server without net/http: each connection taken from the listener is
// upgraded by AcceptConn, which suits servers that hold many idle
// connections.
func ExampleAcceptConn() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return // the listener was closed
			}
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				c, r, err := conn.AcceptConn(ctx, nc, nil) // the handshake must finish in 10 s
				cancel()
				if err != nil {
					return // AcceptConn has answered and closed nc
				}
				defer c.CloseNow()
				typ, msg, err := c.Read(context.Background())
				if err != nil {
					return
				}
				c.Write(context.Background(), typ, append([]byte(r.URL.Path+": "), msg...))
				c.Read(context.Background()) // until the client closes
			}()
		}
	}()

	ctx := context.Background()
	c, _, err := conn.Dial(ctx, "ws://"+ln.Addr().String()+"/greet", nil)
	if err != nil {
		log.Fatal(err)
	}
	c.Write(ctx, conn.Text, []byte("hi"))
	_, msg, err := c.Read(ctx)
	fmt.Println(string(msg), err)
	fmt.Println(c.Close(conn.CloseNormal, ""))
	// Output:
	// /greet: hi <nil>
	// <nil>
}

// A client that opens its WebSocket connections as streams of one HTTP/2
// connection (RFC 8441). The server must offer extended CONNECT; a Go
// server does when it runs with GODEBUG=http2xconnect=1. On Go 1.27 and
// later, build the client with -tags http2legacy: without it, x/net's
// transport sends through net/http, which refuses the extended CONNECT,
// and Dial fails with handshake.ErrNoExtendedConnect.
func ExampleDial_http2() {
	// One transport for the whole program: its connections are shared.
	h2 := &http2.Transport{}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := conn.Dial(ctx, "wss://example.com/chat", &conn.DialOptions{HTTP2: h2})
	if err != nil {
		log.Fatal(err)
	}
	defer c.CloseNow()
	if err := c.Write(ctx, conn.Text, []byte("hello")); err != nil {
		log.Fatal(err)
	}
	c.Close(conn.CloseNormal, "")
}
