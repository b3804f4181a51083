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

// BenchmarkParseUpgrade measures the handshake of an event loop, on a
// request it has read itself, with ParseUpgrade and with AnswerUpgrade,
// which builds no request: what they allocate is garbage every new
// connection leaves behind, and their time is spent on the loop.
func BenchmarkParseUpgrade(b *testing.B) {
	const minimal = "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + sampleKey + "\r\n\r\n"
	const browser = "GET /chat HTTP/1.1\r\nHost: example.com\r\nConnection: Upgrade\r\nPragma: no-cache\r\n" +
		"Cache-Control: no-cache\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36\r\n" +
		"Upgrade: websocket\r\nOrigin: https://example.com\r\nSec-WebSocket-Version: 13\r\nAccept-Encoding: gzip, deflate, br\r\n" +
		"Accept-Language: en-US,en;q=0.9\r\nSec-WebSocket-Key: " + sampleKey + "\r\n" +
		"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n"
	deflate := []ServerExtension{&serverExt{name: "permessage-deflate", accept: func(Extension) bool { return true }}}
	parse := func(dst, buf []byte, opts *ServerOptions) error {
		_, _, _, _, err := ParseUpgrade(dst, buf, opts)
		return err
	}
	answer := func(dst, buf []byte, opts *ServerOptions) error {
		_, _, _, err := AnswerUpgrade(dst, buf, opts)
		return err
	}
	for _, fn := range []struct {
		name string
		f    func(dst, buf []byte, opts *ServerOptions) error
	}{{"ParseUpgrade", parse}, {"AnswerUpgrade", answer}} {
		for _, bb := range []struct {
			name string
			req  string
			opts *ServerOptions
		}{
			{"minimal", minimal, &ServerOptions{InsecureSkipOriginCheck: true}},
			{"browser", browser, &ServerOptions{}},
			{"browser+deflate", browser, &ServerOptions{Extensions: deflate}},
		} {
			b.Run(fn.name+"/"+bb.name, func(b *testing.B) {
				// The head is parsed in place, as in an event loop's read
				// buffer, and the response appended to a reused buffer.
				buf := []byte(bb.req)
				dst := make([]byte, 0, 512)
				b.ReportAllocs()
				for b.Loop() {
					copy(buf, bb.req)
					if err := fn.f(dst, buf, bb.opts); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
