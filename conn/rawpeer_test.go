package conn

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// rawPeer speaks WebSocket by hand, byte by byte, so that tests of Conn do
// not depend on Conn's (or frame's) own encoder: a bug there cannot cancel
// out in a round trip.
type rawPeer struct {
	t      testing.TB
	nc     net.Conn
	br     *bufio.Reader
	client bool // the peer is a client: it masks what it sends
}

// rawFrame is a frame as the raw peer saw it.
type rawFrame struct {
	fin     bool
	rsv     byte
	op      byte
	payload []byte
}

// send writes one frame; the payload is masked when the peer is a client.
func (p *rawPeer) send(fin bool, rsv, op byte, payload []byte) {
	p.t.Helper()
	p.write(p.encode(fin, rsv, op, payload))
}

func (p *rawPeer) encode(fin bool, rsv, op byte, payload []byte) []byte {
	b0 := rsv | op
	if fin {
		b0 |= 0x80
	}
	var mbit byte
	if p.client {
		mbit = 0x80
	}
	out := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		out = append(out, mbit|byte(n))
	case n <= 0xffff:
		out = append(out, mbit|126, byte(n>>8), byte(n))
	default:
		out = append(out, mbit|127)
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	}
	if !p.client {
		return append(out, payload...)
	}
	var key [4]byte
	rand.Read(key[:])
	out = append(out, key[:]...)
	for i, b := range payload {
		out = append(out, b^key[i&3])
	}
	return out
}

func (p *rawPeer) write(b []byte) {
	p.t.Helper()
	p.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := p.nc.Write(b); err != nil {
		p.t.Fatalf("raw peer write: %v", err)
	}
}

// recv reads one frame, unmasking it if needed.
func (p *rawPeer) recv() (rawFrame, error) {
	p.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	var hdr [2]byte
	if _, err := io.ReadFull(p.br, hdr[:]); err != nil {
		return rawFrame{}, err
	}
	f := rawFrame{fin: hdr[0]&0x80 != 0, rsv: hdr[0] & 0x70, op: hdr[0] & 0x0f}
	n := uint64(hdr[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(p.br, b[:]); err != nil {
			return f, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(p.br, b[:]); err != nil {
			return f, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	masked := hdr[1]&0x80 != 0
	if masked == p.client {
		return f, fmt.Errorf("frame masking is wrong for the role (masked=%v)", masked)
	}
	var key [4]byte
	if masked {
		if _, err := io.ReadFull(p.br, key[:]); err != nil {
			return f, err
		}
	}
	f.payload = make([]byte, n)
	if _, err := io.ReadFull(p.br, f.payload); err != nil {
		return f, err
	}
	if masked {
		for i := range f.payload {
			f.payload[i] ^= key[i&3]
		}
	}
	return f, nil
}

// expectClose reads until a Close frame and returns its code (0 when none,
// -1 when the connection ended without one).
func (p *rawPeer) expectClose() int {
	p.t.Helper()
	for {
		f, err := p.recv()
		if err != nil {
			return -1
		}
		if f.op == 0x8 {
			if len(f.payload) < 2 {
				return 0
			}
			return int(binary.BigEndian.Uint16(f.payload))
		}
	}
}

// expectEOF checks that the other side closes TCP.
func (p *rawPeer) expectEOF() {
	p.t.Helper()
	p.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(p.br)
	if err != nil && !strings.Contains(err.Error(), "reset") {
		p.t.Fatalf("waiting for EOF: read %d bytes, then %v", len(b), err)
	}
	p.nc.Close()
}

// dialRaw connects a raw client peer to a server URL (http://...).
func dialRaw(t testing.TB, serverURL string) *rawPeer {
	t.Helper()
	addr := strings.TrimPrefix(serverURL, "http://")
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	req := "GET / HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(nc, req); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: status %d", resp.StatusCode)
	}
	if got := resp.Header.Get("Sec-WebSocket-Accept"); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("handshake: accept %q", got)
	}
	return &rawPeer{t: t, nc: nc, br: br, client: true}
}

// serveRaw starts a raw server peer that answers the handshake by hand and
// returns its ws:// URL and a channel that yields the peer.
func serveRaw(t testing.TB) (string, <-chan *rawPeer) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	peers := make(chan *rawPeer, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		br := bufio.NewReader(nc)
		req, err := http.ReadRequest(br)
		if err != nil {
			nc.Close()
			return
		}
		accept := acceptFor(req.Header.Get("Sec-WebSocket-Key"))
		io.WriteString(nc, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "+accept+"\r\n\r\n")
		peers <- &rawPeer{t: t, nc: nc, br: br}
	}()
	return "ws://" + ln.Addr().String() + "/", peers
}

// echoServer serves an echo handler built on Accept and returns its URL.
// Errors of the server side are sent on the returned channel.
func echoServer(t testing.TB, opts *AcceptOptions) (string, <-chan error) {
	t.Helper()
	errs := make(chan error, 16)
	report := func(err error) {
		select {
		case errs <- err:
		default: // nobody is listening
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, opts)
		if err != nil {
			report(err)
			return
		}
		defer c.CloseNow()
		ctx := context.Background()
		var buf []byte
		for {
			typ, msg, err := c.ReadInto(ctx, buf)
			if err != nil {
				report(err)
				return
			}
			buf = msg
			if err := c.Write(ctx, typ, msg); err != nil {
				report(err)
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL, errs
}

// acceptFor computes Sec-WebSocket-Accept independently of handshake.
func acceptFor(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}
