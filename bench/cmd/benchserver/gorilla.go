package main

import (
	"bytes"
	"net/http"

	"github.com/gorilla/websocket"
)

// gorillaHandler streams each message through NextReader into a reused
// buffer (with -pooled, a pooled one returned after the echo) and sends it
// back with WriteMessage (which writes one frame).
// The zero Upgrader reuses net/http's buffers and disables compression.
func gorillaHandler() http.Handler { return gorillaEcho(&websocket.Upgrader{}) }

// gorillaEcho is the echo loop behind up.
func gorillaEcho(up *websocket.Upgrader) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		c.SetReadLimit(readLimit)
		if pooled {
			echoPooled(c.NextReader, c.WriteMessage)
			return
		}
		var buf bytes.Buffer
		for {
			typ, rd, err := c.NextReader()
			if err != nil {
				return
			}
			buf.Reset()
			if _, err := buf.ReadFrom(rd); err != nil {
				return
			}
			if err := c.WriteMessage(typ, buf.Bytes()); err != nil {
				return
			}
		}
	})
}
