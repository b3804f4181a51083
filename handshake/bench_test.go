package handshake

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
)

func BenchmarkUpgrade(b *testing.B) {
	plain := upgradeRequest()
	full := upgradeRequest()
	full.Header.Set("Origin", "http://example.com")
	full.Header.Set("Sec-WebSocket-Protocol", "v1.chat, v2.chat")
	for _, bb := range []struct {
		name string
		r    *http.Request
		opts *ServerOptions
	}{
		{"minimal", plain, nil},
		{"origin+subprotocol", full, &ServerOptions{Subprotocols: []string{"v2.chat"}}},
	} {
		b.Run(bb.name, func(b *testing.B) {
			c := &stubConn{}
			w := &hijackWriter{
				header: http.Header{},
				conn:   c,
				brw:    bufio.NewReadWriter(bufio.NewReader(strings.NewReader("")), bufio.NewWriterSize(c, 4096)),
			}
			// Upgrade drops the hijacked buffers; put them back each time,
			// as net/http would hand over fresh ones.
			rd, wr := *w.brw.Reader, *w.brw.Writer
			b.ReportAllocs()
			for b.Loop() {
				c.written.Reset()
				*w.brw.Reader, *w.brw.Writer = rd, wr
				if _, err := Upgrade(w, bb.r, bb.opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkUpgradeConn measures the handshake on a bare connection: what
// it allocates is garbage every new connection leaves behind.
func BenchmarkUpgradeConn(b *testing.B) {
	const request = "GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + sampleKey + "\r\nSec-WebSocket-Version: 13\r\n\r\n"
	c := &scriptedConn{}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		c.in.Reset(request)
		c.written.Reset()
		if _, _, err := UpgradeConn(ctx, c, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// scriptedConn is a stubConn whose reads come from in.
type scriptedConn struct {
	stubConn
	in strings.Reader
}

func (c *scriptedConn) Read(p []byte) (int, error) { return c.in.Read(p) }
func (c *scriptedConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}
}

func BenchmarkAcceptKey(b *testing.B) {
	b.Run("string", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			AcceptKey(sampleKey)
		}
	})
	b.Run("append", func(b *testing.B) {
		buf := make([]byte, 0, acceptLen)
		b.ReportAllocs()
		for b.Loop() {
			buf = appendAcceptKey(buf[:0], sampleKey)
		}
	})
}
