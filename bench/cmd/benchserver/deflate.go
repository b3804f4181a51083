package main

import (
	"net/http"

	coder "github.com/coder/websocket"
	"github.com/gorilla/websocket"
	"github.com/lxzan/gws"
	"github.com/twoway/websocket/conn"
)

// deflateHandlers returns the echo servers with permessage-deflate (RFC
// 7692) on: each library with its own compression defaults and, where it
// has it, with context takeover. The echo loops are the uncompressed
// servers' own; only the options differ.
func deflateHandlers() map[string]func() http.Handler {
	return map[string]func() http.Handler{
		// twoway's default takes over context both ways, with a 32 KiB
		// window of its own and a 4 KiB one asked of the client.
		"twoway-deflate": func() http.Handler { return twowayDeflate(&conn.CompressionOptions{}) },
		"twoway-deflate-nt": func() http.Handler {
			return twowayDeflate(&conn.CompressionOptions{ServerNoContextTakeover: true, ClientNoContextTakeover: true})
		},
		// gorilla never takes over context.
		"gorilla-deflate": func() http.Handler { return gorillaEcho(&websocket.Upgrader{EnableCompression: true}) },
		"coder-deflate":   func() http.Handler { return coderEcho(coder.CompressionNoContextTakeover) },
		"coder-takeover":  func() http.Handler { return coderEcho(coder.CompressionContextTakeover) },
		"gws-deflate":     func() http.Handler { return gwsEchoHandler(false) },
		"gws-takeover":    func() http.Handler { return gwsEchoHandler(true) },
	}
}

func twowayDeflate(co *conn.CompressionOptions) http.Handler {
	opts := twowayOptions()
	opts.Compression = co
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := conn.Accept(w, r, opts)
		if err != nil {
			return
		}
		echoTwoway(c)
	})
}

func gwsEchoHandler(takeover bool) http.Handler {
	opt := &gws.ServerOption{
		ReadMaxPayloadSize:  readLimit,
		WriteMaxPayloadSize: readLimit,
	}
	opt.PermessageDeflate.Enabled = true
	opt.PermessageDeflate.ServerContextTakeover = takeover
	opt.PermessageDeflate.ClientContextTakeover = takeover
	return gwsServe(opt)
}
