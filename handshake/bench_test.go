package handshake

import (
	"bufio"
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
			b.ReportAllocs()
			for b.Loop() {
				c.written.Reset()
				if _, err := Upgrade(w, bb.r, bb.opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
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
