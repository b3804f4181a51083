package wsclient

import (
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestAcceptKey(t *testing.T) {
	// The example of RFC 6455 §1.3.
	if got, want := AcceptKey("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="; got != want {
		t.Errorf("AcceptKey = %q, want %q", got, want)
	}
}

func TestCheckHead(t *testing.T) {
	accept := AcceptKey("x")
	const ok = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	tests := []struct {
		name, head string
		ok         bool
	}{
		{"good", ok + "Sec-WebSocket-Accept: " + accept, true},
		{"any case, spaces, token list", "HTTP/1.1 101 OK\r\nupgrade:WebSocket\r\nCONNECTION: keep-alive, upgrade\r\nsec-websocket-accept: \t" + accept + " ", true},
		{"status", "HTTP/1.1 400 Bad Request\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + accept, false},
		{"HTTP/1.0", "HTTP/1.0 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + accept, false},
		{"wrong accept", ok + "Sec-WebSocket-Accept: " + AcceptKey("y"), false},
		{"accept one byte off", ok + "Sec-WebSocket-Accept: " + accept[:27] + "x", false},
		{"accept prefix", ok + "Sec-WebSocket-Accept: " + accept[:27], false},
		{"two accepts", ok + "Sec-WebSocket-Accept: " + accept + "\r\nSec-WebSocket-Accept: " + accept, false},
		{"no accept", ok[:len(ok)-2], false},
		{"no upgrade", "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + accept, false},
		{"upgrade h2c", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + accept, false},
		{"no connection", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: " + accept, false},
		{"connection close", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: close\r\nSec-WebSocket-Accept: " + accept, false},
		{"extension", ok + "Sec-WebSocket-Accept: " + accept + "\r\nSec-WebSocket-Extensions: permessage-deflate", false},
		{"bad line", ok + "Sec-WebSocket-Accept " + accept, false},
	}
	for _, tt := range tests {
		_, err := checkHead([]byte(tt.head), []byte(accept), nil)
		if (err == nil) != tt.ok {
			t.Errorf("%s: err = %v, want ok = %v", tt.name, err, tt.ok)
		}
		if err != nil && !errors.Is(err, errHandshake) {
			t.Errorf("%s: %v does not wrap errHandshake", tt.name, err)
		}
	}
}

// TestRequest checks that every request carries a fresh 16-byte key and
// the Accept value that key calls for, and that the template survives.
func TestRequest(t *testing.T) {
	r := newRequest("127.0.0.1:80", deflateOffer)
	seen := map[string]bool{}
	var buf []byte
	for range 1000 {
		var accept [acceptLen]byte
		buf = r.next(buf, &accept)
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(buf)))
		if err != nil {
			t.Fatal(err)
		}
		key := req.Header.Get("Sec-WebSocket-Key")
		nonce, err := base64.StdEncoding.DecodeString(key)
		if err != nil || len(nonce) != 16 {
			t.Fatalf("key %q: %d bytes, %v", key, len(nonce), err)
		}
		if seen[key] {
			t.Fatalf("key %q repeated", key)
		}
		seen[key] = true
		if got, want := string(accept[:]), AcceptKey(key); got != want {
			t.Fatalf("accept %q, want %q", got, want)
		}
		got := map[string]string{"method": req.Method, "uri": req.RequestURI, "host": req.Host}
		for _, h := range []string{"Upgrade", "Connection", "Sec-WebSocket-Version", "Sec-WebSocket-Extensions"} {
			got[h] = req.Header.Get(h)
		}
		want := map[string]string{"method": "GET", "uri": "/ws", "host": "127.0.0.1:80",
			"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Extensions": deflateOffer}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("request (-want +got):\n%s", diff)
		}
	}
	if n := testing.AllocsPerRun(100, func() {
		var accept [acceptLen]byte
		buf = r.next(buf, &accept)
	}); n != 0 {
		t.Errorf("next allocates %v times", n)
	}
}

// echoMode selects how the test server mangles its echo.
type echoMode int

const (
	echoPlain    echoMode = iota
	echoFragment          // three frames with a ping in between
	echoCorrupt           // flip the last byte
	echoReorder           // swap the first two messages
	echoStream            // echo each chunk of a frame as soon as it is read
)

// serveTest is a deliberately separate, simple server: one goroutine per
// connection, reading a whole frame at a time.
func serveTest(t *testing.T, proto Proto, mode echoMode) string {
	t.Helper()
	return serveConns(t, func(nc net.Conn) {
		echoConn(nc, proto, mode) // fails once the client hangs up
	})
}

// serveConns listens on loopback and runs handle, then closes, on each
// connection in a goroutine of its own until the test ends.
func serveConns(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait() // the client has closed its connections by now
	})
	wg.Go(func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer nc.Close()
				handle(nc)
			})
		}
	})
	return ln.Addr().String()
}

func echoConn(nc net.Conn, proto Proto, mode echoMode) error {
	br := bufio.NewReader(nc)
	if proto == WebSocket {
		req, err := http.ReadRequest(br)
		if err != nil {
			return err
		}
		resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
			AcceptKey(req.Header.Get("Sec-WebSocket-Key")) + "\r\n\r\n"
		if _, err := io.WriteString(nc, resp); err != nil {
			return err
		}
	}
	var held []byte
	for n := 0; ; n++ {
		var msg []byte
		if mode == echoStream {
			if err := streamFrame(nc, br); err != nil {
				return err
			}
			continue
		}
		if proto == RawTCP {
			var l [4]byte
			if _, err := io.ReadFull(br, l[:]); err != nil {
				return err
			}
			msg = make([]byte, binary.BigEndian.Uint32(l[:]))
			if _, err := io.ReadFull(br, msg); err != nil {
				return err
			}
		} else {
			var h [2]byte
			if _, err := io.ReadFull(br, h[:]); err != nil {
				return err
			}
			if h[0] != 0x82 || h[1]&0x80 == 0 {
				return errors.New("unexpected client frame header")
			}
			length := uint64(h[1] & 0x7f)
			switch length {
			case 126:
				var e [2]byte
				io.ReadFull(br, e[:])
				length = uint64(binary.BigEndian.Uint16(e[:]))
			case 127:
				var e [8]byte
				io.ReadFull(br, e[:])
				length = binary.BigEndian.Uint64(e[:])
			}
			var key [4]byte
			io.ReadFull(br, key[:])
			msg = make([]byte, length)
			if _, err := io.ReadFull(br, msg); err != nil {
				return err
			}
			for i := range msg {
				msg[i] ^= key[i&3]
			}
		}
		switch mode {
		case echoCorrupt:
			msg[len(msg)-1] ^= 1
		case echoReorder:
			if n == 0 {
				held = msg
				continue
			}
			if n == 1 {
				if err := writeFrames(nc, proto, msg, false); err != nil {
					return err
				}
				msg = held
			}
		}
		if err := writeFrames(nc, proto, msg, mode == echoFragment); err != nil {
			return err
		}
	}
}

// streamFrame echoes one masked client frame unmasked, 64 KiB at a time,
// without waiting for its end.
func streamFrame(w io.Writer, br *bufio.Reader) error {
	var h [14]byte
	if _, err := io.ReadFull(br, h[:2]); err != nil {
		return err
	}
	n, ext := uint64(h[1]&0x7f), 0
	switch n {
	case 126:
		ext = 2
	case 127:
		ext = 8
	}
	if _, err := io.ReadFull(br, h[2:2+ext+4]); err != nil {
		return err
	}
	switch ext {
	case 2:
		n = uint64(binary.BigEndian.Uint16(h[2:]))
	case 8:
		n = binary.BigEndian.Uint64(h[2:])
	}
	key := h[2+ext : 2+ext+4]
	out := []byte{h[0], h[1] &^ 0x80}
	out = append(out, h[2:2+ext]...)
	if _, err := w.Write(out); err != nil {
		return err
	}
	buf := make([]byte, 64<<10)
	for off := uint64(0); off < n; {
		k, err := br.Read(buf[:min(uint64(len(buf)), n-off)])
		for i := range buf[:k] {
			buf[i] ^= key[(off+uint64(i))&3]
		}
		if _, err := w.Write(buf[:k]); err != nil {
			return err
		}
		off += uint64(k)
		if err != nil {
			return err
		}
	}
	return nil
}

func frame(op byte, fin bool, p []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	var f []byte
	switch {
	case len(p) <= 125:
		f = []byte{b0, byte(len(p))}
	case len(p) <= 0xffff:
		f = binary.BigEndian.AppendUint16([]byte{b0, 126}, uint16(len(p)))
	default:
		f = binary.BigEndian.AppendUint64([]byte{b0, 127}, uint64(len(p)))
	}
	return append(f, p...)
}

func writeFrames(w io.Writer, proto Proto, msg []byte, fragment bool) error {
	var out []byte
	switch {
	case proto == RawTCP:
		out = append(binary.BigEndian.AppendUint32(nil, uint32(len(msg))), msg...)
	case fragment:
		a, b := len(msg)/3, 2*len(msg)/3
		out = frame(2, false, msg[:a])
		out = append(out, frame(9, true, []byte("ping"))...)
		out = append(out, frame(0, false, msg[a:b])...)
		out = append(out, frame(0, true, msg[b:])...)
	default:
		out = frame(2, true, msg)
	}
	_, err := w.Write(out)
	return err
}

func TestEcho(t *testing.T) {
	tests := []struct {
		name    string
		proto   Proto
		mode    echoMode
		size    int
		wantErr error // nil: every echo checks out
	}{
		{"ws small", WebSocket, echoPlain, 64, nil},
		{"ws 126..64K", WebSocket, echoPlain, 1000, nil},
		{"ws big", WebSocket, echoPlain, 200 << 10, nil},
		{"ws fragmented", WebSocket, echoFragment, 1000, nil},
		{"ws fragmented big", WebSocket, echoFragment, 200 << 10, nil},
		{"ws corrupt", WebSocket, echoCorrupt, 128, ErrMismatch},
		{"ws corrupt big", WebSocket, echoCorrupt, 200 << 10, ErrMismatch},
		{"ws reorder", WebSocket, echoReorder, 128, ErrMismatch},
		{"ws streamed 16 MiB", WebSocket, echoStream, 16 << 20, nil},
		{"raw small", RawTCP, echoPlain, 128, nil},
		{"raw big", RawTCP, echoPlain, 200 << 10, nil},
		{"raw corrupt", RawTCP, echoCorrupt, 128, ErrMismatch},
		{"raw reorder", RawTCP, echoReorder, 128, ErrMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if testing.Short() && tt.size > 1<<20 {
				t.Skip("big message skipped in -short mode")
			}
			addr := serveTest(t, tt.proto, tt.mode)
			p, err := NewPayload(tt.size, 1)
			if err != nil {
				t.Fatal(err)
			}
			// 16 MiB takes some 20 s under the race detector on a busy
			// two-core machine; the bound is for a hang, not for speed.
			timeout := 10 * time.Second
			if tt.size > bigMessage {
				timeout = 2 * time.Minute
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			var d Dialer
			c, err := d.Dial(ctx, addr, tt.proto, p)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Abort()
			c.SetDeadline(time.Now().Add(timeout))
			if tt.size > bigMessage {
				// Ping-pong, writing while reading, as benchload does: a
				// streaming echo of 16 MiB would deadlock a plain Send.
				var recvErr error
				for range 3 {
					done := c.SendAsync(1)
					recvErr = c.Recv()
					if werr := <-done; recvErr == nil {
						recvErr = werr
					}
					if recvErr != nil {
						break
					}
				}
				if !errors.Is(recvErr, tt.wantErr) {
					t.Fatalf("err = %v, want %v", recvErr, tt.wantErr)
				}
				return
			}
			// Pipelined: 4 in flight, refilled as echoes come back.
			if err := c.Send(4); err != nil {
				t.Fatal(err)
			}
			var recvErr error
			for c.Received() < 12 && recvErr == nil {
				if recvErr = c.Recv(); recvErr == nil && c.Sent() < 12 {
					recvErr = c.Send(1)
				}
			}
			if tt.wantErr == nil {
				if recvErr != nil {
					t.Fatalf("after %d echoes: %v", c.Received(), recvErr)
				}
				if c.Buffered() {
					t.Error("Buffered with nothing in flight")
				}
				return
			}
			if !errors.Is(recvErr, tt.wantErr) {
				t.Fatalf("err = %v, want %v", recvErr, tt.wantErr)
			}
		})
	}
}

func TestBuffered(t *testing.T) {
	addr := serveTest(t, WebSocket, echoPlain)
	p, _ := NewPayload(128, 2)
	var d Dialer
	c, err := d.Dial(context.Background(), addr, WebSocket, p)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Abort()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if err := c.Send(3); err != nil {
		t.Fatal(err)
	}
	// After the first Recv, the other two echoes arrive without further
	// sends; Buffered must eventually report them without blocking.
	if err := c.Recv(); err != nil {
		t.Fatal(err)
	}
	for c.Received() < 3 {
		if err := c.Recv(); err != nil {
			t.Fatal(err)
		}
	}
	if c.Buffered() {
		t.Error("Buffered after all echoes were read")
	}
}

func TestServerClose(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		req, err := http.ReadRequest(bufio.NewReader(nc))
		if err != nil {
			return
		}
		io.WriteString(nc, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "+
			AcceptKey(req.Header.Get("Sec-WebSocket-Key"))+"\r\n\r\n")
		nc.Write(frame(8, true, []byte{0x03, 0xf1, 'b', 'y', 'e'}))
	}()
	p, _ := NewPayload(64, 3)
	var d Dialer
	c, err := d.Dial(context.Background(), ln.Addr().String(), WebSocket, p)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Abort()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Send(1)
	if err := c.Recv(); err == nil || !strings.Contains(err.Error(), "close 1009") {
		t.Fatalf("err = %v, want server close 1009", err)
	}
}

func TestNewPayload(t *testing.T) {
	for _, size := range []int{-1, 0, 7} {
		if _, err := NewPayload(size, 1); err == nil {
			t.Errorf("NewPayload(%d) succeeded", size)
		}
	}
	p, err := NewPayload(1<<16+1, 1)
	if err != nil {
		t.Fatal(err)
	}
	if p.Size() != 1<<16+1 || len(p.wsHdr) != 14 || p.wsHdr[1] != 0x80|127 {
		t.Errorf("size %d, header % x", p.Size(), p.wsHdr)
	}
	for i := range p.plain {
		if p.plain[i]^p.key[i&3] != p.masked[i] {
			t.Fatalf("masked[%d] wrong", i)
		}
	}
}

func TestCheckResponseDeflate(t *testing.T) {
	accept := AcceptKey("x")
	head := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + accept
	tests := []struct {
		name, ext  string // ext "": no Sec-WebSocket-Extensions line
		ok, agreed bool
	}{
		{"declined", "", true, false},
		{"agreed", "permessage-deflate; server_no_context_takeover; client_no_context_takeover", true, true},
		{"agreed, window", "permessage-deflate;server_no_context_takeover; server_max_window_bits=10", true, true},
		{"quoted window", `permessage-deflate; server_no_context_takeover; server_max_window_bits="9"`, true, true},
		{"takeover", "permessage-deflate; client_no_context_takeover", false, false},
		{"bad window", "permessage-deflate; server_no_context_takeover; server_max_window_bits=16", false, false},
		{"unknown parameter", "permessage-deflate; server_no_context_takeover; x=1", false, false},
		{"other extension", "x-webkit-deflate-frame", false, false},
	}
	for _, tt := range tests {
		h := head
		if tt.ext != "" {
			h += "\r\nSec-WebSocket-Extensions: " + tt.ext
		}
		agreed, err := checkHead([]byte(h), []byte(accept), checkDeflateResponse)
		if (err == nil) != tt.ok || agreed != tt.agreed {
			t.Errorf("%s: err = %v, agreed = %v; want ok = %v, agreed = %v", tt.name, err, agreed, tt.ok, tt.agreed)
		}
	}
	// Without an offer, an agreement is an error.
	h := head + "\r\nSec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover"
	if _, err := checkHead([]byte(h), []byte(accept), nil); err == nil {
		t.Error("accepted permessage-deflate that was not offered")
	}
}

// deflate compresses p as a permessage-deflate sender without context
// takeover does: a sync flush with its final 00 00 ff ff removed.
func deflate(t *testing.T, p []byte) []byte {
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.BestSpeed)
	w.Write(p)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	out := b.Bytes()
	if !bytes.HasSuffix(out, []byte{0, 0, 0xff, 0xff}) {
		t.Fatalf("flush ended with % x", out[len(out)-4:])
	}
	return out[:len(out)-4]
}

// serveBytes accepts one connection, answers its handshake, agreeing to
// permessage-deflate if ext is set, sends out and keeps the connection
// open until the client hangs up.
func serveBytes(t *testing.T, proto Proto, ext string, out []byte) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	go func() {
		defer close(done)
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		br := bufio.NewReader(nc)
		if proto == WebSocket {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
				AcceptKey(req.Header.Get("Sec-WebSocket-Key")) + "\r\n"
			if ext != "" && req.Header.Get("Sec-WebSocket-Extensions") == deflateOffer {
				resp += "Sec-WebSocket-Extensions: " + ext + "\r\n"
			}
			if _, err := io.WriteString(nc, resp+"\r\n"); err != nil {
				return
			}
		}
		nc.Write(out)
		io.Copy(io.Discard, br)
	}()
	return ln.Addr().String()
}

func TestNext(t *testing.T) {
	long := bytes.Repeat([]byte("0123456789abcdef"), 2<<10) // 32 KiB, over the 4 KiB buffer below
	const ext = "permessage-deflate; server_no_context_takeover"
	rsv1 := func(f []byte) []byte { f[0] |= 0x40; return f }
	cat := func(fs ...[]byte) []byte { return bytes.Join(fs, nil) }
	type msg struct {
		Text, Compressed bool
		Payload          string
	}
	tests := []struct {
		name    string
		proto   Proto
		deflate bool   // offer permessage-deflate
		ext     string // the server's agreement
		out     []byte
		want    []msg
		wantErr string // the error after want, "" for a timeout
	}{
		{
			name:  "text and binary",
			out:   cat(frame(1, true, []byte("hello")), frame(2, true, []byte{0, 1, 2})),
			want:  []msg{{Text: true, Payload: "hello"}, {Payload: "\x00\x01\x02"}},
			proto: WebSocket,
		},
		{
			name: "fragmented with ping, then long",
			out: cat(frame(1, false, []byte("hel")), frame(9, true, []byte("p")), frame(0, false, []byte("l")),
				frame(0, true, []byte("o")), frame(2, true, long)),
			want: []msg{{Text: true, Payload: "hello"}, {Payload: string(long)}},
		},
		{
			name:    "compressed",
			deflate: true, ext: ext,
			out:  cat(rsv1(frame(1, true, deflate(t, []byte("hello")))), frame(1, true, []byte("plain"))),
			want: []msg{{Text: true, Compressed: true, Payload: "hello"}, {Text: true, Payload: "plain"}},
		},
		{
			name:    "compressed fragmented",
			deflate: true, ext: ext,
			out: func() []byte {
				d := deflate(t, long)
				return cat(rsv1(frame(2, false, d[:10])), frame(0, true, d[10:]))
			}(),
			want: []msg{{Compressed: true, Payload: string(long)}},
		},
		{
			name:    "RSV1 on a continuation",
			deflate: true, ext: ext,
			out:     cat(frame(1, false, []byte("a")), rsv1(frame(0, true, []byte("b")))),
			wantErr: "unexpected frame",
		},
		{
			name:    "RSV1 not agreed",
			deflate: true,
			out:     rsv1(frame(1, true, deflate(t, []byte("hello")))),
			wantErr: "reserved bits",
		},
		{
			name:    "continuation first",
			out:     frame(0, true, []byte("a")),
			wantErr: "unexpected frame",
		},
		{
			name:    "close",
			out:     cat(frame(1, true, []byte("a")), frame(8, true, []byte{0x03, 0xe8})),
			want:    []msg{{Text: true, Payload: "a"}},
			wantErr: "close 1000",
		},
		{
			name:  "raw",
			proto: RawTCP,
			out:   cat([]byte{0, 0, 0, 2}, []byte("hi"), binary.BigEndian.AppendUint32(nil, uint32(len(long))), long),
			want:  []msg{{Payload: "hi"}, {Payload: string(long)}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := serveBytes(t, tt.proto, tt.ext, tt.out)
			p, _ := NewPayload(8, 1)
			d := Dialer{ReadBufferSize: 4 << 10, Deflate: tt.deflate}
			c, err := d.Dial(context.Background(), addr, tt.proto, p)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Abort()
			if c.Deflate() != (tt.ext != "") {
				t.Fatalf("Deflate() = %v, want %v", c.Deflate(), tt.ext != "")
			}
			c.SetDeadline(time.Now().Add(5 * time.Second))
			var got []msg
			for range tt.want {
				m, err := c.Next()
				if err != nil {
					t.Fatalf("after %d messages: %v", len(got), err)
				}
				if m.Compressed {
					if m.Payload, err = Inflate(nil, m.Payload); err != nil {
						t.Fatal(err)
					}
				}
				got = append(got, msg{m.Text, m.Compressed, string(m.Payload)})
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("messages (-want +got):\n%s", diff)
			}
			if tt.wantErr == "" {
				return
			}
			if _, err := c.Next(); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Next = %v, want an error with %q", err, tt.wantErr)
			}
		})
	}
}

func TestInflateCorrupt(t *testing.T) {
	d := deflate(t, []byte("hello, hello, hello"))
	d[0] ^= 0xff
	if _, err := Inflate(nil, d); err == nil {
		t.Error("Inflate of corrupt data succeeded")
	}
}
