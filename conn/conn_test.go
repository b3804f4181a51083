package conn

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twoway/websocket/frame"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func wsURL(httpURL string) string { return "ws" + strings.TrimPrefix(httpURL, "http") }

func dial(t testing.TB, url string, opts *DialOptions) *Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := Dial(ctx, url, opts)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

// TestEcho round-trips messages of many sizes and both types through a
// server and a client built on Conn, over loopback TCP.
func TestEcho(t *testing.T) {
	for _, compress := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "deflate"}[compress], func(t *testing.T) {
			var co *CompressionOptions
			if compress {
				co = &CompressionOptions{}
			}
			url, _ := echoServer(t, &AcceptOptions{Compression: co})
			c := dial(t, wsURL(url), &DialOptions{Compression: co})
			if c.Compressed() != compress {
				t.Fatalf("Compressed() = %v, want %v", c.Compressed(), compress)
			}
			ctx := context.Background()
			for _, size := range []int{0, 1, 125, 126, 127, 4095, 4096, 4097, 65535, 65536, 70000, 1 << 20} {
				for _, typ := range []MessageType{Text, Binary} {
					msg := bytes.Repeat([]byte("héllo wörld "), size/13+1)[:0]
					msg = append(msg, bytes.Repeat([]byte("a"), size)...)
					if err := c.Write(ctx, typ, msg); err != nil {
						t.Fatalf("Write(%d): %v", size, err)
					}
					gotTyp, got, err := c.Read(ctx)
					if err != nil {
						t.Fatalf("Read(%d): %v", size, err)
					}
					if gotTyp != typ || !bytes.Equal(got, msg) {
						t.Fatalf("size %d: got %v %d bytes, want %v %d bytes", size, gotTyp, len(got), typ, len(msg))
					}
				}
			}
			if err := c.Close(CloseNormal, "bye"); err != nil {
				t.Fatalf("Close: %v", err)
			}
		})
	}
}

// TestStreaming sends a message through Writer in uneven pieces and reads
// it back through Reader.
func TestStreaming(t *testing.T) {
	url, _ := echoServer(t, nil)
	c := dial(t, wsURL(url), &DialOptions{WriteBufferSize: 4096})
	ctx := context.Background()
	want := bytes.Repeat([]byte("0123456789abcdef"), 10000) // 160 KB, 40 frames
	w, err := c.Writer(ctx, Binary)
	if err != nil {
		t.Fatal(err)
	}
	for rest := want; len(rest) > 0; {
		n := min(len(rest), 777)
		if _, err := w.Write(rest[:n]); err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Error("Write after Close succeeded")
	}
	typ, r, err := c.Reader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if typ != Binary || !bytes.Equal(got, want) {
		t.Fatalf("got %v %d bytes", typ, len(got))
	}
}

// TestServerProtocolErrors sends malformed input to a server and checks the
// close code it answers with (RFC 6455 §5, §7.4).
func TestServerProtocolErrors(t *testing.T) {
	long := bytes.Repeat([]byte("x"), 126)
	tests := []struct {
		name  string
		send  func(p *rawPeer)
		code  int
		limit int64
	}{
		{"reserved opcode 3", func(p *rawPeer) { p.send(true, 0, 0x3, nil) }, 1002, 0},
		{"reserved control opcode 0xB", func(p *rawPeer) { p.send(true, 0, 0xB, nil) }, 1002, 0},
		{"RSV1 without extension", func(p *rawPeer) { p.send(true, 0x40, 0x1, []byte("x")) }, 1002, 0},
		{"RSV3 on ping", func(p *rawPeer) { p.send(true, 0x10, 0x9, nil) }, 1002, 0},
		{"fragmented ping", func(p *rawPeer) { p.send(false, 0, 0x9, []byte("x")) }, 1002, 0},
		{"ping over 125 bytes", func(p *rawPeer) { p.send(true, 0, 0x9, long) }, 1002, 0},
		{"continuation without start", func(p *rawPeer) { p.send(true, 0, 0x0, []byte("x")) }, 1002, 0},
		{"text inside fragmented message", func(p *rawPeer) {
			p.send(false, 0, 0x1, []byte("a"))
			p.send(true, 0, 0x1, []byte("b"))
		}, 1002, 0},
		{"unmasked frame to server", func(p *rawPeer) { p.sendUnmasked(true, 0, 0x1, []byte("x")) }, 1002, 0},
		{"invalid UTF-8", func(p *rawPeer) { p.send(true, 0, 0x1, []byte{0xce, 0xba, 0xff}) }, 1007, 0},
		{"truncated UTF-8 at message end", func(p *rawPeer) { p.send(true, 0, 0x1, []byte{0xce}) }, 1007, 0},
		{"close with 1-byte payload", func(p *rawPeer) { p.send(true, 0, 0x8, []byte{3}) }, 1002, 0},
		{"close with code 1005", func(p *rawPeer) { p.send(true, 0, 0x8, []byte{0x03, 0xed}) }, 1002, 0},
		{"close with code 999", func(p *rawPeer) { p.send(true, 0, 0x8, []byte{0x03, 0xe7}) }, 1002, 0},
		{"close reason not UTF-8", func(p *rawPeer) { p.send(true, 0, 0x8, []byte{0x03, 0xe8, 0xff}) }, 1007, 0},
		{"message over the read limit", func(p *rawPeer) { p.send(true, 0, 0x2, make([]byte, 200)) }, 1009, 100},
		{"fragments over the read limit", func(p *rawPeer) {
			p.send(false, 0, 0x2, make([]byte, 60))
			p.send(true, 0, 0x0, make([]byte, 60))
		}, 1009, 100},
		{"64-bit length with top bit", func(p *rawPeer) {
			p.write([]byte{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4})
		}, 1002, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, errs := echoServer(t, &AcceptOptions{ReadLimit: tt.limit})
			p := dialRaw(t, url)
			tt.send(p)
			if got := p.expectClose(); got != tt.code {
				t.Errorf("close code = %d, want %d", got, tt.code)
			}
			// Complete the handshake; the server then closes TCP.
			p.send(true, 0, 0x8, []byte{byte(tt.code >> 8), byte(tt.code)})
			p.expectEOF()
			err := <-errs
			var pe *frame.ProtocolError
			if !errors.As(err, &pe) || int(pe.Code) != tt.code {
				t.Errorf("server error = %v, want a *frame.ProtocolError with code %d", err, tt.code)
			}
		})
	}
}

// TestFailFastUTF8 checks that an invalid byte in the third fragment of a
// text message fails the connection with 1007 before the message ends.
func TestFailFastUTF8(t *testing.T) {
	url, errs := echoServer(t, nil)
	p := dialRaw(t, url)
	p.send(false, 0, 0x1, []byte("hello "))
	p.send(false, 0, 0x0, []byte("wörld "))
	p.send(false, 0, 0x0, []byte{'o', 'k', 0xed, 0xa0, 0x80}) // a surrogate: invalid at 0xa0
	// The final fragment is never sent.
	if got := p.expectClose(); got != 1007 {
		t.Fatalf("close code = %d, want 1007", got)
	}
	p.send(true, 0, 0x8, []byte{0x03, 0xef})
	p.expectEOF()
	err := <-errs
	var pe *frame.ProtocolError
	var ce *CloseError
	if !errors.As(err, &pe) || !errors.As(err, &ce) || ce.Remote || ce.Code != 1007 {
		t.Fatalf("server error %v, want our 1007 protocol error", err)
	}
}

// TestControlFramesBetweenFragments interleaves pings with the fragments of
// a message in both directions.
func TestControlFramesBetweenFragments(t *testing.T) {
	t.Run("peer to server", func(t *testing.T) {
		url, _ := echoServer(t, nil)
		p := dialRaw(t, url)
		p.send(false, 0, 0x1, []byte("frag1 "))
		p.send(true, 0, 0x9, []byte("ping-a"))
		p.send(false, 0, 0x0, []byte("frag2 "))
		p.send(true, 0, 0xA, []byte("unsolicited pong"))
		p.send(true, 0, 0x9, []byte("ping-b"))
		p.send(true, 0, 0x0, []byte("frag3"))
		var got []rawFrame
		for range 3 {
			f, err := p.recv()
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, f)
		}
		want := []rawFrame{
			{fin: true, op: 0xA, payload: []byte("ping-a")},
			{fin: true, op: 0xA, payload: []byte("ping-b")},
			{fin: true, op: 0x1, payload: []byte("frag1 frag2 frag3")},
		}
		if diff := cmp.Diff(want, got, cmp.AllowUnexported(rawFrame{})); diff != "" {
			t.Fatalf("frames (-want +got):\n%s", diff)
		}
	})
	t.Run("client to peer", func(t *testing.T) {
		url, peers := serveRaw(t)
		c := dial(t, url, &DialOptions{WriteBufferSize: 4096})
		p := <-peers
		defer p.nc.Close()
		ctx := context.Background()
		w, err := c.Writer(ctx, Text)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(bytes.Repeat([]byte("a"), 5000)) // one full frame goes out
		pingDone := make(chan error, 1)
		go func() { pingDone <- c.Ping(ctx) }()
		readDone := make(chan error, 1)
		go func() { _, _, err := c.Read(ctx); readDone <- err }()
		f1, err := p.recv()
		if err != nil {
			t.Fatal(err)
		}
		f2, err := p.recv()
		if err != nil {
			t.Fatal(err)
		}
		if f1.op != 0x1 || f1.fin || f2.op != 0x9 {
			t.Fatalf("frames: %d fin=%v, then %d; want a text fragment, then a ping", f1.op, f1.fin, f2.op)
		}
		p.send(true, 0, 0xA, f2.payload)
		if err := <-pingDone; err != nil {
			t.Fatalf("Ping: %v", err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		f3, err := p.recv()
		if err != nil || f3.op != 0x0 || !f3.fin || len(f1.payload)+len(f3.payload) != 5000 {
			t.Fatalf("last fragment: %+v %v", f3, err)
		}
		p.send(true, 0, 0x8, []byte{0x03, 0xe8})
		p.nc.Close() // as a server does: the client need not wait for it
		if err := <-readDone; CloseStatus(err) != CloseNormal {
			t.Fatalf("Read after peer close: %v", err)
		}
	})
}

// TestCloseHandshake covers both orders of the closing handshake (§7).
func TestCloseHandshake(t *testing.T) {
	t.Run("peer closes first", func(t *testing.T) {
		url, errs := echoServer(t, nil)
		p := dialRaw(t, url)
		p.send(true, 0, 0x8, append([]byte{0x0f, 0xa0}, "going"...)) // 4000
		f, err := p.recv()
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(rawFrame{fin: true, op: 0x8, payload: []byte{0x0f, 0xa0}}, f, cmp.AllowUnexported(rawFrame{})); diff != "" {
			t.Errorf("echoed close (-want +got):\n%s", diff)
		}
		p.expectEOF() // the server closes TCP first (§7.1.1)
		var ce *CloseError
		if err := <-errs; !errors.As(err, &ce) || ce.Code != 4000 || ce.Reason != "going" || !errors.Is(err, ErrClosed) {
			t.Fatalf("server Read error = %v, want CloseError 4000 \"going\"", err)
		}
	})
	t.Run("empty close is answered with 1000", func(t *testing.T) {
		url, _ := echoServer(t, nil)
		p := dialRaw(t, url)
		p.send(true, 0, 0x8, nil)
		if got := p.expectClose(); got != 1000 {
			t.Fatalf("close code = %d, want 1000", got)
		}
	})
	t.Run("client Close", func(t *testing.T) {
		url, peers := serveRaw(t)
		c := dial(t, url, nil)
		p := <-peers
		done := make(chan error, 1)
		go func() { done <- c.Close(CloseGoingAway, "later") }()
		f, err := p.recv()
		if err != nil || f.op != 0x8 || !bytes.Equal(f.payload, append([]byte{0x03, 0xe9}, "later"...)) {
			t.Fatalf("close frame %+v %v", f, err)
		}
		p.send(true, 0, 0x8, f.payload[:2])
		p.nc.Close() // the server closes TCP
		if err := <-done; err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := c.Write(context.Background(), Text, []byte("x")); !errors.Is(err, ErrClosed) {
			t.Fatalf("Write after Close = %v, want ErrClosed", err)
		}
	})
	t.Run("peer never answers", func(t *testing.T) {
		url, peers := serveRaw(t)
		c := dial(t, url, &DialOptions{CloseTimeout: 200 * time.Millisecond})
		p := <-peers
		defer p.nc.Close()
		start := time.Now()
		err := c.Close(CloseNormal, "")
		if !errors.Is(err, ErrCloseTimeout) {
			t.Fatalf("Close = %v, want a timeout", err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("Close took %v", d)
		}
	})
}

// TestPeerVanishes checks that pending calls end when the TCP connection
// is reset under them.
func TestPeerVanishes(t *testing.T) {
	url, peers := serveRaw(t)
	c := dial(t, url, nil)
	p := <-peers
	ctx := context.Background()
	readErr := make(chan error, 1)
	go func() { _, _, err := c.Read(ctx); readErr <- err }()
	pingErr := make(chan error, 1)
	go func() { pingErr <- c.Ping(ctx) }()
	if _, err := p.recv(); err != nil { // the ping
		t.Fatal(err)
	}
	p.nc.(interface{ SetLinger(int) error }).SetLinger(0)
	p.nc.Close() // RST
	for _, ch := range []chan error{readErr, pingErr} {
		select {
		case err := <-ch:
			if err == nil {
				t.Error("call succeeded after the peer vanished")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("call still blocked 5s after the peer vanished")
		}
	}
	if err := c.Write(ctx, Text, []byte("x")); err == nil {
		t.Error("Write succeeded after the peer vanished")
	}
}

// TestContext checks that a context bounds a blocked Read, and that a Read
// that gave up between messages leaves the connection usable.
func TestContext(t *testing.T) {
	url, peers := serveRaw(t)
	c := dial(t, url, nil)
	p := <-peers
	defer p.nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, _, err := c.Read(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrClosed) {
		t.Fatalf("Read = %v, want DeadlineExceeded, connection open", err)
	}
	if err := c.Write(context.Background(), Text, []byte("still here")); err != nil {
		t.Fatalf("Write after an interrupted Read = %v, want nil", err)
	}
	if f, err := p.recv(); err != nil || string(f.payload) != "still here" {
		t.Fatalf("peer got %+v, %v", f, err)
	}
	p.send(true, 0, 0x1, []byte("late"))
	if _, msg, err := c.Read(context.Background()); err != nil || string(msg) != "late" {
		t.Fatalf("Read after an interrupted Read = %q, %v", msg, err)
	}
}

// TestConcurrentWriters writes from many goroutines at once, streamed and
// whole messages mixed with pings, and checks every message arrives whole.
func TestConcurrentWriters(t *testing.T) {
	url, _ := echoServer(t, nil)
	c := dial(t, wsURL(url), nil)
	ctx := context.Background()
	const writers, perWriter = 8, 50
	got := make(map[string]int)
	readDone := make(chan error, 1)
	go func() {
		for range writers * perWriter {
			_, msg, err := c.Read(ctx)
			if err != nil {
				readDone <- err
				return
			}
			got[string(msg[:2])]++
			if !bytes.Equal(msg[2:], bytes.Repeat(msg[:1], len(msg)-2)) {
				readDone <- errors.New("message interleaved with another")
				return
			}
		}
		readDone <- nil
	}()
	var wg sync.WaitGroup
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tag := []byte{byte('a' + i), byte('0' + i)}
			for j := range perWriter {
				body := bytes.Repeat(tag[:1], 100+j*97)
				if j%2 == 0 {
					if err := c.Write(ctx, Binary, append(tag, body...)); err != nil {
						t.Error(err)
						return
					}
					continue
				}
				w, err := c.Writer(ctx, Binary)
				if err != nil {
					t.Error(err)
					return
				}
				w.Write(tag)
				for k := 0; k < len(body); k += 1000 {
					w.Write(body[k:min(k+1000, len(body))])
				}
				if err := w.Close(); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := <-readDone; err != nil {
		t.Fatal(err)
	}
	for i := range writers {
		if n := got[string([]byte{byte('a' + i), byte('0' + i)})]; n != perWriter {
			t.Errorf("writer %d: %d messages arrived, want %d", i, n, perWriter)
		}
	}
}

// TestPingPong checks Ping against a server that answers pings itself.
func TestPingPong(t *testing.T) {
	url, _ := echoServer(t, nil)
	c := dial(t, wsURL(url), nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.Read(ctx) // a reader must run for pongs to be seen
	for range 3 {
		pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
		err := c.Ping(pctx)
		pcancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	c.CloseNow()
}

// TestKeepalive checks that a peer that stops answering pings is dropped.
func TestKeepalive(t *testing.T) {
	url, peers := serveRaw(t)
	c := dial(t, url, &DialOptions{PingInterval: 50 * time.Millisecond})
	p := <-peers
	defer p.nc.Close()
	readErr := make(chan error, 1)
	go func() { _, _, err := c.Read(context.Background()); readErr <- err }()
	f, err := p.recv()
	if err != nil || f.op != 0x9 {
		t.Fatalf("want a ping, got %+v %v", f, err)
	}
	// Never answer.
	select {
	case err := <-readErr:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("Read = %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("connection not dropped")
	}
}

// TestNetConn runs a byte stream over messages.
func TestNetConn(t *testing.T) {
	url, _ := echoServer(t, nil)
	c := dial(t, wsURL(url), nil)
	nc := NetConn(context.Background(), c, Binary)
	if _, err := io.WriteString(nc, "hello, "); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(nc, "stream"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 13)
	if _, err := io.ReadFull(nc, buf); err != nil {
		t.Fatal(err)
	}
	if string(buf) != "hello, stream" {
		t.Fatalf("read %q", buf)
	}
	nc.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := nc.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read past deadline = %v", err)
	}
}

// TestLostConnectionErrors checks what a read returns when the connection
// ends without a close frame: its message, and what it wraps.
func TestLostConnectionErrors(t *testing.T) {
	for _, tt := range []struct {
		name    string
		end     func(p *rawPeer, cancel context.CancelFunc)
		timeout time.Duration
		want    string
		wraps   error
	}{
		{"peer closes", func(p *rawPeer, _ context.CancelFunc) { p.nc.Close() }, 5 * time.Second,
			"websocket: connection lost: unexpected EOF", io.ErrUnexpectedEOF},
		{"context expires", func(*rawPeer, context.CancelFunc) {}, 50 * time.Millisecond,
			"websocket: context deadline exceeded", context.DeadlineExceeded},
		{"context canceled", func(_ *rawPeer, cancel context.CancelFunc) { cancel() }, 5 * time.Second,
			"websocket: context canceled", context.Canceled},
	} {
		t.Run(tt.name, func(t *testing.T) {
			url, peers := serveRaw(t)
			c := dial(t, url, nil)
			defer c.CloseNow()
			p := <-peers
			defer p.nc.Close()
			ctx, cancel := context.WithTimeout(context.Background(), tt.timeout)
			defer cancel()
			time.AfterFunc(20*time.Millisecond, func() { tt.end(p, cancel) })
			_, _, err := c.Read(ctx)
			if err == nil || err.Error() != tt.want || !errors.Is(err, tt.wraps) {
				t.Fatalf("Read = %v, want %q wrapping %v", err, tt.want, tt.wraps)
			}
		})
	}
}

// TestCloseAfterPeerDropped checks that Close returns at once, with an
// error, when the peer has already dropped the TCP connection.
func TestCloseAfterPeerDropped(t *testing.T) {
	url, peers := serveRaw(t)
	c := dial(t, url, nil)
	p := <-peers
	p.nc.Close()
	start := time.Now()
	err := c.Close(CloseNormal, "")
	if !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, ErrClosed) {
		t.Errorf("Close = %v, want a lost-connection error", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Close took %v", d)
	}
}

// TestPipelinedEcho sends a burst of messages in one write; the echo loop
// answers them, coalescing its writes, and every answer arrives in order.
func TestPipelinedEcho(t *testing.T) {
	url, _ := echoServer(t, nil)
	p := dialRaw(t, url)
	const n = 50
	var burst []byte
	for i := range n {
		burst = append(burst, p.encode(true, 0, 0x2, bytes.Repeat([]byte{byte(i)}, 100+i))...)
	}
	p.write(burst)
	for i := range n {
		f, err := p.recv()
		if err != nil {
			t.Fatalf("echo %d: %v", i, err)
		}
		if want := bytes.Repeat([]byte{byte(i)}, 100+i); !bytes.Equal(f.payload, want) {
			t.Fatalf("echo %d: got %d bytes of %d", i, len(f.payload), f.payload[0])
		}
	}
}

// TestHeldWriteIsDelivered checks that a reply held back because another
// message was already buffered still goes out when the application stops
// reading.
func TestHeldWriteIsDelivered(t *testing.T) {
	c, p := benchPair(t, true)
	p.write(append(p.encode(true, 0, 0x1, []byte("one")), p.encode(true, 0, 0x1, []byte("two"))...))
	ctx := context.Background()
	_, msg, err := c.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !c.readAhead.Load() {
		t.Fatal("the second message is buffered, but readAhead is false")
	}
	if err := c.Write(ctx, Text, msg); err != nil {
		t.Fatal(err)
	}
	// No more reads: the flush timer must send the reply.
	f, err := p.recv()
	if err != nil || string(f.payload) != "one" {
		t.Fatalf("reply: %q %v", f.payload, err)
	}
}

// TestStreamingCopy moves messages with io.Copy in both directions, through
// messageWriter.ReadFrom and messageReader.WriteTo, for sizes around the
// buffer size.
func TestStreamingCopy(t *testing.T) {
	url, _ := echoServer(t, nil)
	c := dial(t, wsURL(url), nil)
	ctx := context.Background()
	for _, size := range []int{0, 10, 4095, 4096, 4097, 100000} {
		want := bytes.Repeat([]byte("z"), size)
		w, err := c.Writer(ctx, Binary)
		if err != nil {
			t.Fatal(err)
		}
		// LimitReader hides bytes.Reader's WriteTo, so ReadFrom is used.
		if n, err := io.Copy(w, io.LimitReader(bytes.NewReader(want), int64(size))); err != nil || n != int64(size) {
			t.Fatalf("copy in: %d %v", n, err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		_, r, err := c.Reader(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		if _, err := io.Copy(&got, r); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want) {
			t.Fatalf("size %d: got %d bytes", size, got.Len())
		}
	}
}

// TestContextPerCall uses a fresh, then canceled, context for every call,
// the common pattern with context.WithTimeout, and a long-lived one, and
// checks that neither a canceled context of an earlier call nor a held
// write is disturbed by it.
func TestContextPerCall(t *testing.T) {
	url, _ := echoServer(t, nil)
	c := dial(t, wsURL(url), nil)
	long, cancelLong := context.WithCancel(context.Background())
	defer cancelLong()
	for i := range 200 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if i%2 == 0 {
			ctx = long
		}
		if err := c.Write(ctx, Text, []byte("ping")); err != nil {
			t.Fatalf("Write %d: %v", i, err)
		}
		cancel()
		ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
		if i%3 == 0 {
			ctx = long
		}
		if _, msg, err := c.Read(ctx); err != nil || string(msg) != "ping" {
			t.Fatalf("Read %d: %q %v", i, msg, err)
		}
		cancel()
	}
	cancelLong()
	if _, _, err := c.Read(long); !errors.Is(err, context.Canceled) {
		t.Fatalf("Read with a canceled context = %v", err)
	}
	// Nothing was in flight, so the connection is still usable.
	if err := c.Write(context.Background(), Text, []byte("after")); err != nil {
		t.Fatalf("Write after a canceled Read: %v", err)
	}
}

// TestCloseAfterCanceledRead checks that the context of an earlier read,
// canceled since, does not cut Close's wait for the peer short.
func TestCloseAfterCanceledRead(t *testing.T) {
	url, _ := echoServer(t, nil)
	for range 20 {
		c := dial(t, wsURL(url), nil)
		ctx, cancel := context.WithCancel(context.Background())
		if err := c.Write(ctx, Text, []byte("x")); err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.Read(ctx); err != nil {
			t.Fatal(err)
		}
		cancel()
		if err := c.Close(CloseNormal, ""); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
}

// TestSetReadLimit lowers the limit of a client: an echo over it fails the
// connection with 1009, and Read reports it.
func TestSetReadLimit(t *testing.T) {
	url, _ := echoServer(t, nil)
	c := dial(t, wsURL(url), nil)
	ctx := context.Background()
	c.SetReadLimit(10)
	if err := c.Write(ctx, Binary, make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Read(ctx); err != nil {
		t.Fatalf("a message at the limit: %v", err)
	}
	if err := c.Write(ctx, Binary, make([]byte, 11)); err != nil {
		t.Fatal(err)
	}
	_, _, err := c.Read(ctx)
	var pe *frame.ProtocolError
	if !errors.As(err, &pe) || pe.Code != CloseMessageTooBig {
		t.Fatalf("Read over the limit = %v, want a 1009 protocol error", err)
	}
}

// TestAcceptConn serves WebSocket straight from a net.Listener, without
// net/http, and echoes through it.
func TestAcceptConn(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	served := make(chan error, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			served <- err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, r, err := AcceptConn(ctx, nc, &AcceptOptions{Compression: &CompressionOptions{}})
		if err != nil {
			served <- err
			return
		}
		defer c.CloseNow()
		if r.URL.Path != "/echo" {
			served <- fmt.Errorf("path %q", r.URL.Path)
			return
		}
		typ, msg, err := c.Read(context.Background())
		if err == nil {
			err = c.Write(context.Background(), typ, msg)
		}
		if err == nil {
			_, _, err = c.Read(context.Background())
		}
		served <- err
	}()
	c := dial(t, "ws://"+ln.Addr().String()+"/echo", &DialOptions{Compression: &CompressionOptions{}})
	if !c.Compressed() {
		t.Error("compression not negotiated")
	}
	ctx := context.Background()
	if err := c.Write(ctx, Text, []byte("no net/http")); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := c.Read(ctx); err != nil || string(msg) != "no net/http" {
		t.Fatalf("echo %q %v", msg, err)
	}
	if err := c.Close(CloseNormal, ""); err != nil {
		t.Fatal(err)
	}
	if err := <-served; CloseStatus(err) != CloseNormal {
		t.Fatalf("server: %v", err)
	}
}

// TestNetConnDeadlines reads one message in several calls with a read
// deadline set, then unblocks a blocked Read by moving the deadline, as
// net.Conn promises.
func TestNetConnDeadlines(t *testing.T) {
	url, _ := echoServer(t, nil)
	c := dial(t, wsURL(url), nil)
	nc := NetConn(context.Background(), c, Binary)
	want := bytes.Repeat([]byte("0123456789"), 10)
	if _, err := nc.Write(want); err != nil {
		t.Fatal(err)
	}
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := make([]byte, 0, len(want))
	for len(got) < len(want) {
		buf := make([]byte, 10)
		n, err := nc.Read(buf)
		if err != nil {
			t.Fatalf("Read after %d bytes: %v", len(got), err)
		}
		got = append(got, buf[:n]...)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("read %q", got)
	}
	nc.SetReadDeadline(time.Time{})
	readErr := make(chan error, 1)
	go func() { _, err := nc.Read(make([]byte, 1)); readErr <- err }()
	time.Sleep(50 * time.Millisecond) // let the Read block
	nc.SetReadDeadline(time.Now())
	select {
	case err := <-readErr:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("blocked Read = %v, want os.ErrDeadlineExceeded", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("moving the deadline did not unblock Read")
	}
}

// TestWriterFailsMidMessage checks that a streamed message cut short after
// its first frame fails the connection instead of letting another message
// interleave with its fragments.
func TestWriterFailsMidMessage(t *testing.T) {
	url, peers := serveRaw(t)
	c := dial(t, url, &DialOptions{WriteBufferSize: 4096})
	p := <-peers
	ctx, cancel := context.WithCancel(context.Background())
	w, err := c.Writer(ctx, Binary)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(make([]byte, 5000)); err != nil { // the first frame goes out
		t.Fatal(err)
	}
	cancel()
	if err := w.Close(); err == nil {
		t.Fatal("Close of a message whose context was canceled succeeded")
	}
	if err := c.Write(context.Background(), Text, []byte("hi")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Write after a broken message = %v, want ErrClosed", err)
	}
	f, err := p.recv()
	if err != nil || f.fin || f.op != 0x2 {
		t.Fatalf("first frame %+v %v", f, err)
	}
	if f, err := p.recv(); err == nil {
		t.Fatalf("after the broken message the peer got %+v, want the connection closed", f)
	}
}

// TestHostileLength checks that a header claiming a huge payload makes
// ReadInto allocate by what arrives, not by what the header claims, even
// without a read limit.
func TestHostileLength(t *testing.T) {
	c, p := benchPair(t, true)
	c.SetReadLimit(-1)
	hdr := []byte{0x82, 0xff, 0x40, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4} // 2^62 bytes
	p.write(append(hdr, 1, 2, 3))
	done := make(chan error, 1)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	go func() { _, _, err := c.Read(context.Background()); done <- err }()
	time.Sleep(100 * time.Millisecond)
	runtime.ReadMemStats(&after)
	p.nc.Close()
	<-done
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Fatalf("a 14-byte header made Read allocate %d bytes", grew)
	}
}

// TestConcurrentClose closes from two goroutines while the peer takes its
// time: both return nil once the handshake completes.
func TestConcurrentClose(t *testing.T) {
	url, peers := serveRaw(t)
	c := dial(t, url, nil)
	p := <-peers
	errs := make(chan error, 2)
	go func() { errs <- c.Close(CloseNormal, "") }()
	f, err := p.recv()
	if err != nil || f.op != 0x8 {
		t.Fatalf("close frame %+v %v", f, err)
	}
	go func() { errs <- c.Close(CloseGoingAway, "") }()
	time.Sleep(50 * time.Millisecond)
	p.send(true, 0, 0x8, f.payload)
	p.nc.Close()
	for range 2 {
		if err := <-errs; err != nil {
			t.Errorf("Close = %v, want nil", err)
		}
	}
}

// newConn makes a Conn over nc with no handshake, for tests that drive the
// frame layer directly.
func newConn(nc net.Conn, buffered []byte, client bool, subprotocol string, cfg settings) *Conn {
	c := new(Conn)
	c.init(nc, buffered, client, subprotocol, cfg)
	return c
}
