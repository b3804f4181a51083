package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/gobwas/ws"
)

// gobwasHandler uses gobwas's documented low-level path: read a frame
// header, read and unmask the payload into a reused buffer, write the
// frame back unmasked. Frames are echoed one by one, so a fragmented
// message comes back whole with the same fragmentation. Reads and writes
// go through the bufio pair net/http hands over on hijack.
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
		hbuf := make([]byte, ws.MaxHeaderSize)
		var payload []byte
		for {
			h, err := ws.ReadHeaderBuffer(br, hbuf)
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
			if _, err := io.ReadFull(br, payload); err != nil {
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
			if err := ws.WriteHeaderBuffer(bw, h, hbuf); err != nil {
				return
			}
			if _, err := bw.Write(payload); err != nil {
				return
			}
			if err := bw.Flush(); err != nil {
				return
			}
			if h.OpCode == ws.OpClose {
				return
			}
		}
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
			var payload []byte
			for {
				h, err := ws.ReadHeader(nc)
				if err != nil {
					return
				}
				if !h.Masked || h.Length > readLimit {
					return
				}
				if int64(cap(payload)) < h.Length {
					payload = make([]byte, h.Length)
				}
				payload = payload[:h.Length]
				if _, err := io.ReadFull(nc, payload); err != nil {
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
				if err := ws.WriteFrame(nc, ws.Frame{Header: h, Payload: payload}); err != nil {
					return
				}
				if h.OpCode == ws.OpClose {
					return
				}
			}
		}()
	}
}
