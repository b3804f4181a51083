package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/gobwas/ws"
)

// gobwasHandler uses gobwas's documented low-level path over the bufio
// pair net/http hands over on hijack.
func gobwasHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		nc, rw, _, err := ws.UpgradeHTTP(r, w)
		if err != nil {
			return
		}
		defer nc.Close()
		var br *bufio.Reader
		var bw *bufio.Writer
		if rw != nil {
			br, bw = rw.Reader, rw.Writer
		} else {
			br, bw = bufio.NewReader(nc), bufio.NewWriter(nc)
		}
		echoGobwas(br, bw, bw.Flush)
	})
}

// serveGobwasRaw is gobwas's minimal-memory pattern: the zero-copy
// ws.Upgrade straight on each connection from the listener, then frames read
// and written on the bare net.Conn with no bufio, one goroutine per
// connection. It is the shape behind gobwas's small idle footprint, the
// peer twoway-raw is compared with.
func serveGobwasRaw(ln net.Listener) error {
	for {
		nc, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := ws.Upgrade(nc); err != nil {
				return
			}
			nc.SetDeadline(time.Time{})
			echoGobwas(nc, nc, func() error { return nil })
		}()
	}
}

// echoGobwas reads frames with gobwas's low-level API (ReadHeaderBuffer,
// the payload into a reused buffer, Cipher) and writes each back unmasked
// (WriteHeaderBuffer, the payload, flush), so a fragmented message comes
// back whole with the same fragmentation.
func echoGobwas(r io.Reader, w io.Writer, flush func() error) {
	hbuf := make([]byte, ws.MaxHeaderSize)
	var payload []byte
	for {
		h, err := ws.ReadHeaderBuffer(r, hbuf)
		if err != nil {
			return
		}
		if !h.Masked || h.Length > readLimit {
			return // RFC 6455 §5.1 / our limit: drop the connection
		}
		if int64(cap(payload)) < h.Length {
			payload = make([]byte, h.Length)
		}
		payload = payload[:h.Length]
		if _, err := io.ReadFull(r, payload); err != nil {
			return
		}
		ws.Cipher(payload, h.Mask, 0)
		h.Masked = false
		switch h.OpCode {
		case ws.OpPong:
			continue
		case ws.OpPing:
			h.OpCode = ws.OpPong
		}
		if err := ws.WriteHeaderBuffer(w, h, hbuf); err != nil {
			return
		}
		if _, err := w.Write(payload); err != nil {
			return
		}
		if err := flush(); err != nil {
			return
		}
		if h.OpCode == ws.OpClose {
			return
		}
	}
}
