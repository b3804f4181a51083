package event_test

import (
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/twoway/websocket/conn"
	"github.com/twoway/websocket/event"
	"github.com/twoway/websocket/frame"
	"github.com/twoway/websocket/internal/rawpeer"
)

// A mode serves an echo with the given options and returns its URL and
// the error each connection ended with.
type mode struct {
	name  string
	serve func(t testing.TB, opts conn.AcceptOptions, handshakeTimeout time.Duration) (url string, ended <-chan error)
}

// modes are the ways of serving: a goroutine per connection
// (conn.AcceptConn), the event loops, and the event server's goroutines
// for listeners without a descriptor (and systems without epoll).
var modes = []mode{
	{"goroutine", serveGoroutines},
	{"event", serveEvents},
	{"event-goroutines", serveEventsPlain},
}

func serveGoroutines(t testing.TB, opts conn.AcceptOptions, handshakeTimeout time.Duration) (string, <-chan error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ended := make(chan error, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
				c, _, err := conn.AcceptConn(ctx, nc, &opts)
				cancel()
				if err != nil {
					return // as the event server, which reports nothing before OnOpen
				}
				ctx = context.Background()
				for {
					typ, p, err := c.Read(ctx)
					if err == nil {
						err = c.Write(ctx, typ, p)
					}
					if err != nil {
						c.CloseNow()
						ended <- err
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return "ws://" + ln.Addr().String() + "/", ended
}

func serveEvents(t testing.TB, opts conn.AcceptOptions, handshakeTimeout time.Duration) (string, <-chan error) {
	return serveEventsOn(t, opts, handshakeTimeout, false)
}

func serveEventsPlain(t testing.TB, opts conn.AcceptOptions, handshakeTimeout time.Duration) (string, <-chan error) {
	return serveEventsOn(t, opts, handshakeTimeout, true)
}

func serveEventsOn(t testing.TB, opts conn.AcceptOptions, handshakeTimeout time.Duration, plain bool) (string, <-chan error) {
	ended := make(chan error, 16)
	srv := &event.Server{
		Accept:           opts,
		HandshakeTimeout: handshakeTimeout,
		OnClose:          func(_ *event.Conn, err error) { ended <- err },
	}
	return startEchoOn(t, srv, plain), ended
}

// noHandshakeTimeout is the handshake timeout of tests that do not test
// it: longer than any test, so that a client starved on a loaded machine
// between connecting and sending its request is not cut off.
const noHandshakeTimeout = time.Minute

func dialRaw(t *testing.T, url string, header http.Header) *rawpeer.Peer {
	t.Helper()
	p, err := rawpeer.Dial(url, &rawpeer.DialOptions{Header: header})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func waitErr(t *testing.T, ended <-chan error) error {
	t.Helper()
	select {
	case err := <-ended:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("the connection did not end")
		return nil
	}
}

func frameOf(fin bool, rsv, op byte, p []byte) rawpeer.Frame {
	return rawpeer.Frame{Fin: fin, RSV: rsv, Opcode: op, Payload: p}
}

// TestProtocolErrors sends what a server must refuse, and checks that it
// fails the connection with the right code, completes the closing
// handshake and ends TCP.
func TestProtocolErrors(t *testing.T) {
	long := bytes.Repeat([]byte("x"), 126)
	tests := []struct {
		name  string
		send  []rawpeer.Frame
		raw   []byte // sent as is, after send
		code  uint16
		limit int64
	}{
		{name: "reserved opcode 3", send: []rawpeer.Frame{frameOf(true, 0, 3, nil)}, code: 1002},
		{name: "reserved control opcode 0xB", send: []rawpeer.Frame{frameOf(true, 0, 0xB, nil)}, code: 1002},
		{name: "RSV1 without extension", send: []rawpeer.Frame{frameOf(true, 4, 1, []byte("x"))}, code: 1002},
		{name: "RSV3 on ping", send: []rawpeer.Frame{frameOf(true, 1, 9, nil)}, code: 1002},
		{name: "fragmented ping", send: []rawpeer.Frame{frameOf(false, 0, 9, []byte("x"))}, code: 1002},
		{name: "ping over 125 bytes", send: []rawpeer.Frame{frameOf(true, 0, 9, long)}, code: 1002},
		{name: "continuation without start", send: []rawpeer.Frame{frameOf(true, 0, 0, []byte("x"))}, code: 1002},
		{name: "text inside fragmented message", send: []rawpeer.Frame{frameOf(false, 0, 1, []byte("a")), frameOf(true, 0, 1, []byte("b"))}, code: 1002},
		{name: "unmasked frame to server", raw: []byte{0x81, 0x01, 'x'}, code: 1002},
		{name: "invalid UTF-8", send: []rawpeer.Frame{frameOf(true, 0, 1, []byte{0xce, 0xba, 0xff})}, code: 1007},
		{name: "truncated UTF-8 at message end", send: []rawpeer.Frame{frameOf(true, 0, 1, []byte{0xce})}, code: 1007},
		{name: "invalid UTF-8 fails before the message ends", send: []rawpeer.Frame{
			frameOf(false, 0, 1, []byte("hello ")),
			frameOf(false, 0, 0, []byte("wörld ")),
			frameOf(false, 0, 0, []byte{'o', 'k', 0xed, 0xa0, 0x80}),
		}, code: 1007},
		{name: "close with 1-byte payload", send: []rawpeer.Frame{frameOf(true, 0, 8, []byte{3})}, code: 1002},
		{name: "close with code 1005", send: []rawpeer.Frame{frameOf(true, 0, 8, []byte{0x03, 0xed})}, code: 1002},
		{name: "close with code 999", send: []rawpeer.Frame{frameOf(true, 0, 8, []byte{0x03, 0xe7})}, code: 1002},
		{name: "close reason not UTF-8", send: []rawpeer.Frame{frameOf(true, 0, 8, []byte{0x03, 0xe8, 0xff})}, code: 1007},
		{name: "message over the read limit", send: []rawpeer.Frame{frameOf(true, 0, 2, make([]byte, 200))}, code: 1009, limit: 100},
		{name: "fragments over the read limit", send: []rawpeer.Frame{frameOf(false, 0, 2, make([]byte, 60)), frameOf(true, 0, 0, make([]byte, 60))}, code: 1009, limit: 100},
		{name: "64-bit length with top bit", raw: []byte{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}, code: 1002},
	}
	for _, m := range modes {
		for _, tt := range tests {
			t.Run(m.name+"/"+tt.name, func(t *testing.T) {
				url, ended := m.serve(t, conn.AcceptOptions{ReadLimit: tt.limit}, noHandshakeTimeout)
				p := dialRaw(t, url, nil)
				if err := p.SendFrames(tt.send...); err != nil {
					t.Fatal(err)
				}
				if tt.raw != nil {
					if err := p.SendRaw(tt.raw); err != nil {
						t.Fatal(err)
					}
				}
				closing, err := p.ExpectClose(5 * time.Second)
				if err != nil {
					t.Fatal(err)
				}
				if closing.Code != tt.code || len(closing.Frames) != 0 {
					t.Errorf("got close code %d after %d frames, want %d at once", closing.Code, len(closing.Frames), tt.code)
				}
				// Complete the handshake; the server then ends TCP.
				p.SendFrame(frameOf(true, 0, 8, rawpeer.ClosePayload(tt.code, "")))
				if err := p.ExpectEOF(5 * time.Second); err != nil {
					t.Error(err)
				}
				p.Close() // as a client does once the server has ended TCP
				err = waitErr(t, ended)
				var pe *frame.ProtocolError
				var ce *conn.CloseError
				if !errors.As(err, &pe) || uint16(pe.Code) != tt.code || !errors.As(err, &ce) || ce.Remote {
					t.Errorf("server error %v, want our *frame.ProtocolError with code %d", err, tt.code)
				}
			})
		}
	}
}

// TestDecompressionBomb sends a compressed message of about 32 KiB that
// inflates to 32 MiB to a server whose read limit is 1 MiB: the server
// must answer 1009 having allocated about the limit.
func TestDecompressionBomb(t *testing.T) {
	if testing.Short() {
		t.Skip("inflates up to the limit")
	}
	var payload bytes.Buffer
	fw, _ := flate.NewWriter(&payload, flate.BestCompression)
	zeros := make([]byte, 1<<20)
	for range 32 {
		fw.Write(zeros)
	}
	fw.Flush()
	bomb := bytes.TrimSuffix(payload.Bytes(), []byte{0, 0, 0xff, 0xff})
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			url, ended := m.serve(t, conn.AcceptOptions{Compression: &conn.CompressionOptions{}, ReadLimit: 1 << 20}, noHandshakeTimeout)
			p := dialRaw(t, url, http.Header{"Sec-WebSocket-Extensions": {"permessage-deflate"}})
			if p.HandshakeHeader().Get("Sec-WebSocket-Extensions") == "" {
				t.Fatal("permessage-deflate was not negotiated")
			}
			var before, after runtime.MemStats
			// Twice: buffers in sync.Pool survive one collection, and
			// what earlier tests left there is not this test's growth.
			runtime.GC()
			runtime.GC()
			runtime.ReadMemStats(&before)
			if err := p.SendFrame(frameOf(true, 4, 2, bomb)); err != nil {
				t.Fatal(err)
			}
			closing, err := p.ExpectClose(10 * time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if closing.Code != 1009 {
				t.Fatalf("close code %d, want 1009", closing.Code)
			}
			p.Close()
			waitErr(t, ended)
			runtime.ReadMemStats(&after)
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 16<<20 {
				t.Errorf("the server allocated %d MiB to refuse a message over a 1 MiB limit", grew>>20)
			}
		})
	}
}

// TestHostileLength checks that a header claiming a huge payload makes
// the server allocate by what arrives, not by what the header claims, even
// without a read limit.
func TestHostileLength(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			url, ended := m.serve(t, conn.AcceptOptions{ReadLimit: -1}, noHandshakeTimeout)
			p := dialRaw(t, url, nil)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			p.SendRaw([]byte{0x82, 0xff, 0x40, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 1, 2, 3}) // 2^62 bytes
			time.Sleep(100 * time.Millisecond)
			runtime.ReadMemStats(&after)
			p.Close()
			waitErr(t, ended)
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
				t.Fatalf("a 14-byte header made the server allocate %d bytes", grew)
			}
		})
	}
}

// TestHostileHandshakes sends requests a server must refuse or cut off.
// A request that gets a status is served with a handshake timeout longer
// than the test, so that the status cannot depend on whether a starved
// server read the request before its timeout; the one that must be cut
// off meets a short timeout.
func TestHostileHandshakes(t *testing.T) {
	tests := []struct {
		name    string
		request string
		status  string // the start of the response; "" for none
	}{
		{"head over 64 KiB", "GET / HTTP/1.1\r\nHost: x\r\nX: " + strings.Repeat("a", 70<<10) + "\r\n\r\n", "HTTP/1.1 431 "},
		{"not an upgrade", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 400 "},
		{"garbage", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", "HTTP/1.1 400 "},
		{"slow request", "GET / HTTP/1.1\r\nHost: x\r\n", ""},
	}
	for _, m := range modes {
		for _, tt := range tests {
			t.Run(m.name+"/"+tt.name, func(t *testing.T) {
				timeout := noHandshakeTimeout
				if tt.status == "" {
					timeout = 200 * time.Millisecond
				}
				url, _ := m.serve(t, conn.AcceptOptions{}, timeout)
				nc, err := net.Dial("tcp", strings.TrimSuffix(strings.TrimPrefix(url, "ws://"), "/"))
				if err != nil {
					t.Fatal(err)
				}
				defer nc.Close()
				go nc.Write([]byte(tt.request))
				nc.SetReadDeadline(time.Now().Add(5 * time.Second))
				line, err := bufio.NewReader(nc).ReadString('\n')
				switch {
				case tt.status == "" && err == nil:
					t.Errorf("got %q, want the connection cut off", line)
				case tt.status == "" && errors.Is(err, os.ErrDeadlineExceeded):
					t.Errorf("the connection was not cut off: %v", err)
				case tt.status != "" && !strings.HasPrefix(line, tt.status):
					t.Errorf("got %q, %v; want %q", line, err, tt.status)
				}
			})
		}
	}
}

// TestPingFlood sends pings as fast as the server takes them and never
// reads the pongs: the server must stop reading rather than hold the
// pongs it owes without bound.
func TestPingFlood(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			url, ended := m.serve(t, conn.AcceptOptions{}, noHandshakeTimeout)
			p := dialRaw(t, url, nil)
			batch := bytes.Repeat(p.Encode(frameOf(true, 0, 9, make([]byte, 125))), 1000)
			var before, after runtime.MemStats
			// Twice: buffers in sync.Pool survive one collection, and
			// what earlier tests left there is not this test's growth.
			runtime.GC()
			runtime.GC()
			runtime.ReadMemStats(&before)
			nc := p.NetConn()
			nc.SetWriteDeadline(time.Now().Add(time.Second))
			sent := 0
			for range 200 { // at most 26 MB
				n, err := nc.Write(batch)
				sent += n
				if err != nil {
					break
				}
			}
			runtime.GC()
			runtime.GC()
			runtime.ReadMemStats(&after)
			p.Close()
			waitErr(t, ended)
			grew := int64(after.HeapInuse) - int64(before.HeapInuse)
			t.Logf("sent %d KiB of pings; the heap grew by %d KiB", sent>>10, grew>>10)
			if grew > 6<<20 {
				t.Errorf("the heap grew by %d MiB", grew>>20)
			}
		})
	}
}
