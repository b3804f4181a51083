package wsclient

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// opener returns an Opener spread over three loopback sources, or skips
// where Open is not implemented.
func opener(t *testing.T) *Opener {
	t.Helper()
	o := &Opener{InFlight: 4, ReadBufferSize: 4 << 10}
	for i := range 3 {
		o.Sources = append(o.Sources, netip.AddrFrom4([4]byte{127, 0, 0, byte(1 + i)}))
	}
	if _, err := o.Open(context.Background(), netip.MustParseAddrPort("127.0.0.1:1"), RawTCP, nil, 0); errors.Is(err, errors.ErrUnsupported) {
		t.Skip(err)
	}
	return o
}

func TestOpen(t *testing.T) {
	for _, proto := range []Proto{WebSocket, RawTCP} {
		addr := netip.MustParseAddrPort(serveTest(t, proto, echoPlain))
		p, err := NewPayload(128, 3)
		if err != nil {
			t.Fatal(err)
		}
		const n = 40
		opened, err := opener(t).Open(context.Background(), addr, proto, p, n)
		if err != nil {
			t.Fatalf("proto %d: %v", proto, err)
		}
		conns, err := opened.Conns()
		if err != nil {
			t.Fatal(err)
		}
		sources := map[string]bool{}
		for i, c := range conns {
			sources[c.nc.LocalAddr().(*net.TCPAddr).IP.String()] = true
			c.SetDeadline(time.Now().Add(10 * time.Second))
			err := c.Send(2)
			for err == nil && c.Received() < 2 {
				err = c.Recv()
			}
			if err != nil {
				t.Fatalf("proto %d, connection %d: %v", proto, i, err)
			}
			c.Abort()
		}
		if len(sources) != 3 {
			t.Errorf("proto %d: connections came from %v, want 3 sources", proto, sources)
		}
	}
}

// serveHandshakes answers every connection's handshake with answer(key),
// writes then, if any, in a second write, and reads until the client
// hangs up; it hangs up itself after an answer without a blank line (so
// that no test waits for a timeout).
func serveHandshakes(t *testing.T, answer func(key string) string, then string) netip.AddrPort {
	t.Helper()
	return netip.MustParseAddrPort(serveConns(t, func(nc net.Conn) {
		nc.SetDeadline(time.Now().Add(time.Minute)) // a bound for a stuck test only
		br := bufio.NewReader(nc)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		resp := answer(req.Header.Get("Sec-WebSocket-Key"))
		if resp == "" {
			return // hang up unanswered
		}
		io.WriteString(nc, resp)
		if then != "" {
			io.WriteString(nc, then)
		}
		if strings.Contains(resp, "\r\n\r\n") {
			io.Copy(io.Discard, br)
		}
	}))
}

// TestHandshakeRejects checks that Open and Dial both fail, with an error
// wrapping errHandshake, on every answer RFC 6455 §4.1 tells a client to
// refuse: the benchmark must never count a handshake that did not happen.
func TestHandshakeRejects(t *testing.T) {
	const up = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	tests := []struct {
		name   string
		answer func(key string) string
	}{
		{"wrong accept", func(key string) string { return up + "Sec-WebSocket-Accept: " + AcceptKey(key+"x") + "\r\n\r\n" }},
		{"accept of the key itself", func(key string) string { return up + "Sec-WebSocket-Accept: " + key + "\r\n\r\n" }},
		{"no accept", func(string) string { return up + "\r\n" }},
		{"status 200", func(key string) string {
			return strings.Replace(up, "101 Switching Protocols", "200 OK", 1) + "Sec-WebSocket-Accept: " + AcceptKey(key) + "\r\n\r\n"
		}},
		{"no connection header", func(key string) string {
			return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: " + AcceptKey(key) + "\r\n\r\n"
		}},
		{"closed unanswered", func(string) string { return "" }},
		{"head cut short", func(key string) string { return up + "Sec-WebSocket-Accept: " + AcceptKey(key) + "\r\n" }},
	}
	p, err := NewPayload(128, 4)
	if err != nil {
		t.Fatal(err)
	}
	o := opener(t)
	for _, tt := range tests {
		addr := serveHandshakes(t, tt.answer, "")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		opened, err := o.Open(ctx, addr, WebSocket, p, 5)
		if err == nil {
			opened.Close()
		}
		if !errors.Is(err, errHandshake) {
			t.Errorf("%s: Open: err = %v, want errHandshake", tt.name, err)
		}
		var d Dialer
		c, err := d.Dial(ctx, addr.String(), WebSocket, p)
		if err == nil {
			c.Abort()
		}
		if !errors.Is(err, errHandshake) {
			t.Errorf("%s: Dial: err = %v, want errHandshake", tt.name, err)
		}
		cancel()
	}
}

// TestOpenKeepsEarlyBytes checks that bytes the server sends after its
// response head, in the same segment or soon after, reach the first Recv,
// and that a finished connection's later readiness is not taken for that
// of the handshake that reuses its slot.
func TestOpenKeepsEarlyBytes(t *testing.T) {
	closeFrame := string(frame(8, true, []byte{0x03, 0xe8, 'b', 'y', 'e'}))
	answer := func(key string) string {
		return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
			AcceptKey(key) + "\r\n\r\n"
	}
	p, err := NewPayload(128, 5)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name   string
		answer func(string) string
		then   string
	}{
		{"same write", func(key string) string { return answer(key) + closeFrame }, ""},
		{"second write", answer, closeFrame},
	} {
		addr := serveHandshakes(t, tt.answer, tt.then)
		o := opener(t)
		o.InFlight = 2
		opened, err := o.Open(context.Background(), addr, WebSocket, p, 50)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		conns, err := opened.Conns()
		if err != nil {
			t.Fatal(err)
		}
		for i, c := range conns {
			c.SetDeadline(time.Now().Add(10 * time.Second))
			if err := c.Send(1); err != nil {
				t.Fatal(err)
			}
			if err := c.Recv(); err == nil || !strings.Contains(err.Error(), `close 1000 "bye"`) {
				t.Fatalf("%s: connection %d: Recv: %v, want the server's close 1000", tt.name, i, err)
			}
			c.Abort()
		}
	}
}

// TestOpenTimeout checks that a server that never answers fails Open
// once the handshake timeout has passed.
func TestOpenTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close() // the kernel completes the connections; nobody answers
	p, err := NewPayload(128, 6)
	if err != nil {
		t.Fatal(err)
	}
	o := opener(t)
	o.Timeout = 100 * time.Millisecond
	_, err = o.Open(context.Background(), netip.MustParseAddrPort(ln.Addr().String()), WebSocket, p, 2)
	if !errors.Is(err, errHandshake) {
		t.Fatalf("err = %v, want a handshake timeout", err)
	}
}
