package conn

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twoway/websocket/frame"
)

// TestWaitIdle checks that a connection of each kind waits for its next
// message in the reader's idle buffer and then buffers what has arrived in
// a pooled buffer, without waiting for the rest of the frame: the parser
// must see the first bytes at once, so that invalid UTF-8 fails fast.
func TestWaitIdle(t *testing.T) {
	// pair connects a client to a listener on network and address.
	pair := func(t *testing.T, network, address string) (net.Conn, net.Conn) {
		ln, err := net.Listen(network, address)
		if err != nil {
			t.Skipf("cannot listen on %s: %v", network, err)
		}
		defer ln.Close()
		a, err := net.Dial(network, ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		b, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		return a, b
	}
	tcpPair := func(t *testing.T) (net.Conn, net.Conn) { return pair(t, "tcp", "127.0.0.1:0") }
	for _, tt := range []struct {
		name string
		pair func(t *testing.T) (ours, peer net.Conn)
	}{
		{"tcp", tcpPair},
		{"tls", func(t *testing.T) (net.Conn, net.Conn) {
			a, b := tcpPair(t)
			// Borrow the test server's certificate; the client does not
			// check it.
			srv := httptest.NewUnstartedServer(nil)
			srv.StartTLS()
			defer srv.Close()
			return tls.Server(a, srv.TLS.Clone()), tls.Client(b, &tls.Config{InsecureSkipVerify: true})
		}},
		{"unix", func(t *testing.T) (net.Conn, net.Conn) {
			return pair(t, "unix", filepath.Join(t.TempDir(), "s"))
		}},
		{"pipe", func(t *testing.T) (net.Conn, net.Conn) { return net.Pipe() }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ours, peer := tt.pair(t)
			defer ours.Close()
			defer peer.Close()
			// A binary frame of 300 bytes, longer than the idle buffer,
			// of which only the start comes before the test is done.
			frame := append([]byte{0x82, 126, 1, 44}, bytes.Repeat([]byte{'x'}, 300)...)
			go peer.Write(frame[:100])
			c := newConn(ours, nil, true, "", newSettings(0, 0, 0, 0, 0, 0))
			c.waitIdle()
			r := &c.rd
			if r.pending != nil {
				t.Fatalf("waitIdle kept error %v", r.pending)
			}
			if got := r.buf[r.pos:r.end]; len(got) == 0 || !bytes.Equal(got, frame[:len(got)]) {
				t.Fatalf("buffered %q, want a prefix of the frame sent", got)
			}
		})
	}
}

// stepConn is a net.Conn whose reads return scripted steps, one step per
// Read (less when p is shorter, or when max is set), each step's error
// with its last byte. Before each Read it calls onRead, if set, on the
// reading goroutine itself, so a test can look at the reader's state at
// the moment it goes to the network.
type stepConn struct {
	steps  []readStep
	max    int // bytes per Read at most, if not 0
	onRead func()
}

type readStep struct {
	data []byte
	err  error
}

func (s *stepConn) Read(p []byte) (int, error) {
	if s.onRead != nil {
		s.onRead()
	}
	if len(s.steps) == 0 {
		return 0, io.EOF
	}
	st := &s.steps[0]
	if s.max > 0 && len(p) > s.max {
		p = p[:s.max]
	}
	n := copy(p, st.data)
	st.data = st.data[n:]
	if len(st.data) > 0 {
		return n, nil
	}
	err := st.err
	s.steps = s.steps[1:]
	return n, err
}
func (s *stepConn) Write(p []byte) (int, error)      { return len(p), nil }
func (s *stepConn) Close() error                     { return nil }
func (s *stepConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (s *stepConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (s *stepConn) SetDeadline(time.Time) error      { return nil }
func (s *stepConn) SetReadDeadline(time.Time) error  { return nil }
func (s *stepConn) SetWriteDeadline(time.Time) error { return nil }

// serverFrame encodes an unmasked frame, as a server sends it.
func serverFrame(fin bool, op frame.Opcode, payload string) []byte {
	b := frame.AppendHeader(nil, frame.Header{Fin: fin, Opcode: op, Length: int64(len(payload))})
	return append(b, payload...)
}

// TestControlFramesBetweenMessages reads messages with control frames
// before, between and inside them. A control frame between messages sends
// the reader back to wait for the next message from the top of its stack
// (errAwait), which must never reach the caller, whatever the read API,
// the buffer size, or the size of the pieces the bytes arrive in.
func TestControlFramesBetweenMessages(t *testing.T) {
	long := strings.Repeat("z", 300)
	var stream []byte
	for _, f := range [][]byte{
		serverFrame(true, frame.OpPing, "p1"),
		serverFrame(true, frame.OpPong, "p2"),
		serverFrame(true, frame.OpText, "hello"),
		serverFrame(true, frame.OpPing, ""),
		serverFrame(false, frame.OpText, "ab"),
		serverFrame(true, frame.OpPing, "x"),
		serverFrame(true, frame.OpContinuation, "cd"),
		serverFrame(true, frame.OpPong, ""),
		serverFrame(true, frame.OpBinary, long),
	} {
		stream = append(stream, f...)
	}
	want := []string{"hello", "abcd", long}
	for _, api := range []string{"ReadInto", "Reader", "NetConn"} {
		for _, rbuf := range []int{0, 1, 16} {
			for _, perRead := range []int{0, 1} {
				t.Run(fmt.Sprintf("%s/buffer%d/perRead%d", api, rbuf, perRead), func(t *testing.T) {
					sc := &stepConn{steps: []readStep{{data: slices.Clone(stream)}}, max: perRead}
					c := newConn(sc, nil, true, "", newSettings(0, rbuf, 0, 0, 0, 0))
					ctx := context.Background()
					var got []string
					switch api {
					case "ReadInto":
						for range want {
							_, m, err := c.ReadInto(ctx, nil)
							if err != nil {
								t.Fatal(err)
							}
							got = append(got, string(m))
						}
					case "Reader":
						for range want {
							_, r, err := c.Reader(ctx)
							if err != nil {
								t.Fatal(err)
							}
							m, err := io.ReadAll(r)
							if err != nil {
								t.Fatal(err)
							}
							got = append(got, string(m))
						}
					case "NetConn":
						b := make([]byte, len("hello")+len("abcd")+len(long))
						if _, err := io.ReadFull(NetConn(ctx, c, Binary), b); err != nil {
							t.Fatal(err)
						}
						got = []string{string(b[:5]), string(b[5:9]), string(b[9:])}
					}
					if diff := cmp.Diff(want, got); diff != "" {
						t.Errorf("messages (-want +got):\n%s", diff)
					}
					// The stream ends: the next read fails, and not with
					// errAwait.
					if _, _, err := c.Read(ctx); err == nil || errors.Is(err, errAwait) {
						t.Errorf("read at the end = %v, want the end of the stream", err)
					}
				})
			}
		}
	}
}

// TestReadErrorComesFirst checks that an error a network read returns
// together with bytes is returned before anything read after it, also
// when the rest of the message would go straight into the caller's
// buffer.
func TestReadErrorComesFirst(t *testing.T) {
	errOnce := errors.New("a one-off read error")
	big := serverFrame(true, frame.OpBinary, strings.Repeat("b", 5000))
	sc := &stepConn{steps: []readStep{
		{data: big[:20], err: errOnce},
		{data: big[20:]},
		{data: serverFrame(true, frame.OpText, "next")},
	}}
	c := newConn(sc, nil, true, "", newSettings(0, 0, 0, 0, 0, 0))
	_, m, err := c.Read(context.Background())
	if !errors.Is(err, errOnce) {
		t.Fatalf("Read = %d bytes, %v; want the read error", len(m), err)
	}
}

// TestTrickleHoldsNoBuffer checks that a reader waiting for the rest of a
// message that comes a few bytes at a time holds no pooled buffer while it
// waits, so that many slow peers cost no buffers.
func TestTrickleHoldsNoBuffer(t *testing.T) {
	msg := serverFrame(true, frame.OpText, strings.Repeat("t", 100))
	var steps []readStep
	for i := 0; i < len(msg); i += 7 {
		steps = append(steps, readStep{data: msg[i:min(i+7, len(msg))]})
	}
	sc := &stepConn{steps: steps}
	c := newConn(sc, nil, true, "", newSettings(0, 0, 0, 0, 0, 0))
	held := 0
	sc.onRead = func() {
		if c.rd.bufp != nil {
			held++
		}
	}
	if _, m, err := c.Read(context.Background()); err != nil || len(m) != 100 {
		t.Fatalf("Read = %d bytes, %v", len(m), err)
	}
	if held > 0 {
		t.Errorf("%d of %d network reads waited holding a pooled buffer", held, len(steps))
	}
}

// TestIsProtocolError checks the reflection-free test against errors.As.
func TestIsProtocolError(t *testing.T) {
	pe := &frame.ProtocolError{Code: frame.CloseProtocolError, Reason: "bad"}
	for _, err := range []error{
		nil,
		io.EOF,
		pe,
		fmt.Errorf("frame: %w", pe),
		fmt.Errorf("outer: %w", fmt.Errorf("inner: %w", pe)),
		&net.OpError{Op: "read", Err: pe},
		&net.OpError{Op: "read", Err: io.EOF},
		&net.OpError{Op: "read", Err: os.NewSyscallError("read", errors.New("connection reset by peer"))},
		&net.OpError{Op: "read", Err: &os.SyscallError{Syscall: "read", Err: pe}},
		errors.Join(io.EOF, pe),
		errors.Join(io.EOF, io.ErrUnexpectedEOF),
		fmt.Errorf("%w and %w", io.EOF, fmt.Errorf("x: %w", pe)),
	} {
		var target *frame.ProtocolError
		if got, want := isProtocolError(err), errors.As(err, &target); got != want {
			t.Errorf("isProtocolError(%v) = %v, errors.As says %v", err, got, want)
		}
	}
}

// slowCloseConn is a net.Conn whose Close waits for release, as a TLS
// close_notify or an HTTP/2 stream with a write in progress can.
type slowCloseConn struct {
	net.Conn
	entered chan struct{} // closed when Close is called
	release chan struct{}
}

func (c *slowCloseConn) Close() error {
	close(c.entered)
	<-c.release
	return c.Conn.Close()
}

// TestCloseWaitsForCloseInProgress checks that a CloseNow racing another
// goroutine's close returns only once the connection is closed, so that
// the calls after it fail rather than reach the connection.
func TestCloseWaitsForCloseInProgress(t *testing.T) {
	ours, peer := net.Pipe()
	defer peer.Close()
	nc := &slowCloseConn{ours, make(chan struct{}), make(chan struct{})}
	c := newConn(nc, nil, false, "", newSettings(0, 0, 0, 0, 0, 0))
	first := make(chan error, 1)
	go func() { first <- c.CloseNow() }()
	<-nc.entered
	second := make(chan error, 1)
	go func() { second <- c.CloseNow() }()
	// Until the second call waits for the first, it must not return.
	for waiting := false; !waiting; {
		select {
		case err := <-second:
			t.Fatalf("second CloseNow returned %v while the first was still closing", err)
		default:
		}
		runtime.Gosched()
		c.closeMu.Lock()
		waiting = c.closing != nil
		c.closeMu.Unlock()
	}
	close(nc.release)
	if err := <-first; err != nil {
		t.Errorf("first CloseNow = %v", err)
	}
	if err := <-second; !errors.Is(err, ErrClosed) {
		t.Errorf("second CloseNow = %v, want the ending, which matches ErrClosed", err)
	}
	ctx := context.Background()
	if err := c.Write(ctx, Text, []byte("late")); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after CloseNow = %v, want ErrClosed", err)
	}
	if _, _, err := c.Read(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("Read after CloseNow = %v, want ErrClosed", err)
	}
}

// panicCloseConn is a net.Conn whose Close panics.
type panicCloseConn struct{ net.Conn }

func (c panicCloseConn) Close() error {
	c.Conn.Close()
	panic("Close panics")
}

// TestCloseAfterPanickingClose checks that a Close that panics does not
// leave later closes waiting for it, as a sync.Once would not.
func TestCloseAfterPanickingClose(t *testing.T) {
	ours, peer := net.Pipe()
	defer peer.Close()
	c := newConn(panicCloseConn{ours}, nil, false, "", newSettings(0, 0, 0, 0, 0, 0))
	func() {
		defer func() { recover() }()
		c.CloseNow()
	}()
	second := make(chan error, 1)
	go func() { second <- c.CloseNow() }()
	select {
	case err := <-second:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("CloseNow after a panicking close = %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("CloseNow still waiting 5 s after a close that panicked")
	}
}
