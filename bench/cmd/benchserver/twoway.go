package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/twoway/websocket/conn"
)

func twowayOptions() *conn.AcceptOptions {
	return &conn.AcceptOptions{
		InsecureSkipOriginCheck: true, // the benchmark client sends no Origin anyway
		ReadLimit:               readLimit,
	}
}

// twowayHandler runs echoTwoway in the handler's goroutine.
func twowayHandler() http.Handler {
	opts := twowayOptions()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := conn.Accept(w, r, opts)
		if err != nil {
			return
		}
		echoTwoway(c)
	})
}

// twowayGoHandler is twowayHandler with the echo loop in a new goroutine,
// so that the handler's goroutine and the stack net/http grew in it are
// released: this shows what an idle connection costs the library itself.
func twowayGoHandler() http.Handler {
	opts := twowayOptions()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := conn.Accept(w, r, opts)
		if err != nil {
			return
		}
		go echoTwoway(c)
	})
}

// serveTwowayRaw serves WebSocket straight from the listener with
// conn.AcceptConn, one goroutine per connection and no net/http state.
func serveTwowayRaw(ln net.Listener) error {
	opts := twowayOptions()
	for {
		nc, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			// The handshake is bounded as gobwas-raw's is, by a deadline
			// on the connection, which AcceptConn clears on success.
			nc.SetDeadline(time.Now().Add(10 * time.Second))
			c, _, err := conn.AcceptConn(context.Background(), nc, opts)
			if err != nil {
				return
			}
			echoTwoway(c)
		}()
	}
}

// echoTwoway echoes each message with Write. By default it reads with
// ReadInto into a buffer it reuses, the fast path, which keeps the largest
// message so far while the connection idles; with -pooled it waits with
// Reader, which holds no buffer, reads the message into a pooled buffer
// and returns that after the echo.
func echoTwoway(c *conn.Conn) {
	defer c.CloseNow()
	ctx := context.Background()
	if pooled {
		echoPooled(func() (conn.MessageType, io.Reader, error) { return c.Reader(ctx) },
			func(typ conn.MessageType, p []byte) error { return c.Write(ctx, typ, p) })
		return
	}
	var buf []byte
	for {
		typ, msg, err := c.ReadInto(ctx, buf)
		if err != nil {
			return
		}
		buf = msg
		if err := c.Write(ctx, typ, msg); err != nil {
			return
		}
	}
}

// twowayStreamHandler copies each message from Reader to Writer, never
// holding a whole message.
func twowayStreamHandler() http.Handler {
	opts := twowayOptions()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := conn.Accept(w, r, opts)
		if err != nil {
			return
		}
		defer c.CloseNow()
		ctx := context.Background()
		for {
			typ, rd, err := c.Reader(ctx)
			if err != nil {
				return
			}
			wr, err := c.Writer(ctx, typ)
			if err != nil {
				return
			}
			if _, err := io.Copy(wr, rd); err != nil {
				return
			}
			if err := wr.Close(); err != nil {
				return
			}
		}
	})
}
