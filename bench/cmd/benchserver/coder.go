package main

import (
	"bytes"
	"context"
	"io"
	"net/http"

	"github.com/coder/websocket"
)

// coderHandler streams each message through Reader into a reused buffer
// (with -pooled, a pooled one returned after the echo) and sends it back
// with Write.
func coderHandler() http.Handler { return coderEcho(websocket.CompressionDisabled) }

// coderEcho is the echo loop with the given compression mode.
func coderEcho(mode websocket.CompressionMode) http.Handler {
	opts := &websocket.AcceptOptions{
		InsecureSkipVerify: true, // the benchmark client sends no Origin anyway
		CompressionMode:    mode,
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, opts)
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(readLimit)
		ctx := context.Background()
		if pooled {
			echoPooled(func() (websocket.MessageType, io.Reader, error) { return c.Reader(ctx) },
				func(typ websocket.MessageType, p []byte) error { return c.Write(ctx, typ, p) })
			return
		}
		var buf bytes.Buffer
		for {
			typ, rd, err := c.Reader(ctx)
			if err != nil {
				return
			}
			buf.Reset()
			if _, err := buf.ReadFrom(rd); err != nil {
				return
			}
			if err := c.Write(ctx, typ, buf.Bytes()); err != nil {
				return
			}
		}
	})
}
