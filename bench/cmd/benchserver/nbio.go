package main

import (
	"net"
	"net/http"

	"github.com/lesismal/nbio/nbhttp"
	"github.com/lesismal/nbio/nbhttp/websocket"
)

// serveNbio serves lesismal/nbio in its default non-blocking mode: its
// own engine (epoll pollers and a pool of handler goroutines, not one
// goroutine per connection) accepts from ln, parses HTTP, upgrades at /ws
// and calls OnMessage, which writes the message back. With compress, the
// upgrader agrees to permessage-deflate (nbio never takes over context)
// and every connection compresses what it writes.
func serveNbio(ln net.Listener, compress bool) error {
	up := websocket.NewUpgrader()
	up.MessageLengthLimit = readLimit
	up.KeepaliveTime = 0 // no read deadline: idle connections stay open
	up.CheckOrigin = func(*http.Request) bool { return true }
	up.EnableCompression(compress)
	up.OnOpen(func(c *websocket.Conn) { c.EnableWriteCompression(compress) })
	up.OnMessage(func(c *websocket.Conn, typ websocket.MessageType, data []byte) {
		_ = c.WriteMessage(typ, data)
	})
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		_, _ = up.Upgrade(w, r, nil)
	})
	handed := false
	e := nbhttp.NewEngine(nbhttp.Config{
		Network: "tcp",
		Addrs:   []string{ln.Addr().String()},
		// The engine listens through this, on the listener already bound.
		Listen: func(string, string) (net.Listener, error) {
			if handed {
				return nil, net.ErrClosed
			}
			handed = true
			return ln, nil
		},
		Handler:                 mux,
		ReleaseWebsocketPayload: true,
	})
	if err := e.Start(); err != nil {
		return err
	}
	select {} // until killed
}
