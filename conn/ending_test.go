package conn

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/twoway/websocket/frame"
)

// These tests pin how a connection ends (see "Errors" in the package
// documentation): one *CloseError per connection, seen alike by every call
// and goroutine, and the closing handshake surviving calls that race it.

// compressions are the two ways a test runs: without compression, and
// with permessage-deflate and context takeover on both ends.
var compressions = []struct {
	name string
	opts *CompressionOptions
}{{"plain", nil}, {"deflate", &CompressionOptions{}}}

// acceptedPair connects a client to a server over loopback TCP and returns
// both ends.
func acceptedPair(t *testing.T, aopts *AcceptOptions, dopts *DialOptions) (client, server *Conn) {
	t.Helper()
	servers := make(chan *Conn, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, aopts)
		if err != nil {
			t.Errorf("Accept: %v", err)
			return
		}
		servers <- c
	}))
	t.Cleanup(srv.Close)
	client = dial(t, wsURL(srv.URL), dopts)
	server = <-servers
	t.Cleanup(func() { server.CloseNow() })
	return client, server
}

// closeErrorOpts compares CloseError values (not pointers, which are
// errors and would be matched by their Is method) with Err matched by
// errors.Is.
var closeErrorOpts = cmpopts.EquateErrors()

// checkEnded checks that every call on c reports want, the same
// *CloseError each time, and that Close and CloseNow answer alike.
func checkEnded(t *testing.T, c *Conn, want *CloseError) {
	t.Helper()
	ctx := context.Background()
	_, _, rerr := c.Read(ctx)
	var got *CloseError
	if !errors.As(rerr, &got) || !errors.Is(rerr, ErrClosed) {
		t.Fatalf("Read = %v, want a *CloseError matching ErrClosed", rerr)
	}
	if diff := cmp.Diff(*want, *got, closeErrorOpts); diff != "" {
		t.Errorf("CloseError (-want +got):\n%s", diff)
	}
	checkAllEnded(t, c, got)
}

// TestEndings pins the classification of endings in the package
// documentation, one row each, for a client talking to a raw server.
func TestEndings(t *testing.T) {
	for _, tt := range []struct {
		name   string
		opts   DialOptions
		end    func(t *testing.T, c *Conn, p *rawPeer)
		want   *CloseError
		normal bool
	}{
		{
			name: "peer closes normally",
			end: func(t *testing.T, c *Conn, p *rawPeer) {
				p.send(true, 0, 0x8, append([]byte{0x03, 0xe8}, "bye"...))
				p.expectClose()
				p.nc.Close()
			},
			want:   &CloseError{Code: CloseNormal, Reason: "bye", Remote: true},
			normal: true,
		},
		{
			name: "peer closes with an error code",
			end: func(t *testing.T, c *Conn, p *rawPeer) {
				p.send(true, 0, 0x8, append([]byte{0x03, 0xf3}, "oops"...)) // 1011
				p.expectClose()
				p.nc.Close()
			},
			want: &CloseError{Code: CloseInternalError, Reason: "oops", Remote: true},
		},
		{
			name: "our Close, answered",
			end: func(t *testing.T, c *Conn, p *rawPeer) {
				done := make(chan error, 1)
				go func() { done <- c.Close(CloseGoingAway, "later") }()
				answerClose(t, p)
				if err := await(t, done, "Close"); err != nil {
					t.Errorf("Close = %v, want nil", err)
				}
			},
			want:   &CloseError{Code: CloseGoingAway, Reason: "later"},
			normal: true,
		},
		{
			name: "our Close, not answered",
			opts: DialOptions{CloseTimeout: 100 * time.Millisecond},
			end: func(t *testing.T, c *Conn, p *rawPeer) {
				if err := c.Close(CloseNormal, ""); !errors.Is(err, ErrCloseTimeout) {
					t.Errorf("Close = %v, want ErrCloseTimeout", err)
				}
			},
			want: &CloseError{Code: CloseNormal, Err: ErrCloseTimeout},
		},
		{
			name: "our Close, then the connection broke",
			end: func(t *testing.T, c *Conn, p *rawPeer) {
				done := make(chan error, 1)
				go func() { done <- c.Close(CloseNormal, "") }()
				if got := p.expectClose(); got != 1000 {
					t.Errorf("peer got close code %d", got)
				}
				p.nc.Close()
				if err := await(t, done, "Close"); !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Errorf("Close = %v, want a lost connection", err)
				}
			},
			want: &CloseError{Code: CloseNormal, Err: io.ErrUnexpectedEOF},
		},
		{
			name: "CloseNow",
			end: func(t *testing.T, c *Conn, p *rawPeer) {
				if err := c.CloseNow(); err != nil {
					t.Errorf("CloseNow = %v", err)
				}
			},
			want: &CloseError{Code: CloseAbnormal},
		},
		{
			name: "peer breaks the protocol",
			end: func(t *testing.T, c *Conn, p *rawPeer) {
				p.send(true, 0, 0x3, nil) // a reserved opcode
				if got := p.expectClose(); got != 1002 {
					t.Errorf("peer got close code %d, want 1002", got)
				}
				p.nc.Close()
			},
			want: &CloseError{Code: CloseProtocolError, Reason: frame.ErrReservedOpcode.Reason, Err: frame.ErrReservedOpcode},
		},
		{
			name: "peer sends invalid UTF-8",
			end: func(t *testing.T, c *Conn, p *rawPeer) {
				p.send(true, 0, 0x1, []byte("a\xffb"))
				p.expectClose()
				p.nc.Close()
			},
			want: &CloseError{Code: CloseInvalidPayload, Reason: frame.ErrInvalidUTF8.Reason, Err: frame.ErrInvalidUTF8},
		},
		{
			name: "peer sends too much",
			opts: DialOptions{ReadLimit: 10},
			end: func(t *testing.T, c *Conn, p *rawPeer) {
				p.send(true, 0, 0x2, make([]byte, 11))
				p.expectClose()
				p.nc.Close()
			},
			want: &CloseError{Code: CloseMessageTooBig, Reason: errTooBig.Reason, Err: errTooBig},
		},
		{
			name: "connection broke without a Close frame",
			end: func(t *testing.T, c *Conn, p *rawPeer) {
				p.nc.Close()
			},
			want: &CloseError{Code: CloseAbnormal, Remote: true, Err: io.ErrUnexpectedEOF},
		},
		{
			name: "context ended mid-message",
			end: func(t *testing.T, c *Conn, p *rawPeer) {
				p.send(false, 0, 0x2, []byte("first half"))
				// The first half is in the socket before Read begins; the
				// deadline must come after Read has taken it, which a
				// goroutine starved for 50 ms on a loaded machine did not
				// (then Read gives up between messages, leaving the
				// connection open).
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				if _, _, err := c.Read(ctx); !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrClosed) {
					t.Errorf("Read = %v, want the connection closed for the deadline", err)
				}
			},
			want: &CloseError{Code: CloseAbnormal, Err: context.DeadlineExceeded},
		},
		{
			name: "keepalive unanswered",
			// The keepalive gives its Close frame as long as the ping
			// timeout to go out (keepaliveFailed); a goroutine starved
			// for 50 ms on a loaded machine would send none, and the
			// peer would see the connection end without it.
			opts: DialOptions{PingInterval: 50 * time.Millisecond, PingTimeout: keepaliveSlack},
			end: func(t *testing.T, c *Conn, p *rawPeer) {
				// No answer to the pings: a Close frame follows them.
				if got := p.expectClose(); got != int(CloseGoingAway) {
					t.Errorf("peer got close code %d, want 1001", got)
				}
				p.nc.Close()
			},
			want: &CloseError{Code: CloseGoingAway, Reason: "keepalive timeout", Err: ErrKeepaliveTimeout},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			url, peers := serveRaw(t)
			c := dial(t, url, &tt.opts)
			p := <-peers
			defer p.nc.Close()
			// A reader is blocked in Read as the connection ends; it must
			// see what every later call sees.
			blocked := make(chan error, 1)
			if tt.name != "context ended mid-message" {
				go func() { _, _, err := c.Read(context.Background()); blocked <- err }()
			}
			tt.end(t, c, p)
			checkEnded(t, c, tt.want)
			if tt.name != "context ended mid-message" {
				var ce *CloseError
				if err := await(t, blocked, "blocked Read"); !errors.As(err, &ce) || !cmp.Equal(*tt.want, *ce, closeErrorOpts) {
					t.Errorf("blocked Read = %v, want %+v", err, tt.want)
				}
			}
			var ce *CloseError
			_, _, err := c.Read(context.Background())
			errors.As(err, &ce)
			if got := ce.Normal(); got != tt.normal {
				t.Errorf("Normal() = %v, want %v", got, tt.normal)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "websocket: ") || strings.Count(msg, "websocket: ") > 1 {
				t.Errorf("error text %q: want one websocket: prefix", msg)
			}
		})
	}
}

// answerClose reads our Close frame at the raw peer, echoes it, and
// closes TCP as a server does.
func answerClose(t *testing.T, p *rawPeer) {
	t.Helper()
	for {
		f, err := p.recv()
		if err != nil {
			t.Fatalf("peer waiting for the Close frame: %v", err)
		}
		if f.op == 0x8 {
			p.send(true, 0, 0x8, f.payload)
			p.nc.Close()
			return
		}
	}
}

// TestCloseWithoutReaderMatchesReader checks that a Read made after Close
// has read the peer's answer itself sees what a reader blocked during the
// Close would have seen.
func TestCloseWithoutReaderMatchesReader(t *testing.T) {
	url, peers := serveRaw(t)
	c := dial(t, url, nil)
	p := <-peers
	done := make(chan error, 1)
	go func() { done <- c.Close(CloseGoingAway, "later") }()
	answerClose(t, p)
	if err := await(t, done, "Close"); err != nil {
		t.Fatalf("Close = %v", err)
	}
	checkEnded(t, c, &CloseError{Code: CloseGoingAway, Reason: "later"})
}

// TestCloseDuringStreamedMessage closes while another goroutine streams a
// message of many frames: the Close frame goes between two of them, the
// streaming writer fails with ErrClosed, and the handshake completes in
// both roles, plain and compressed.
func TestCloseDuringStreamedMessage(t *testing.T) {
	for _, tt := range []struct {
		name     string
		compress bool
		writer   bool // stream with Writer; else one large compressed Write
		server   bool // the server streams and closes
	}{
		{"client Writer", false, true, false},
		{"server Writer", false, true, true},
		{"client compressed Writer", true, true, false},
		{"client compressed Write", true, false, false},
		{"server compressed Write", true, false, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var co *CompressionOptions
			if tt.compress {
				co = &CompressionOptions{}
			}
			client, server := acceptedPair(t, &AcceptOptions{Compression: co}, &DialOptions{Compression: co})
			ours, peer := client, server
			if tt.server {
				ours, peer = server, client
			}
			peerErr := make(chan error, 1)
			go func() {
				for {
					if _, _, err := peer.Read(context.Background()); err != nil {
						peerErr <- err
						return
					}
				}
			}()
			// Random bytes do not compress, so a compressed message of
			// 1 MiB goes out in many frames too.
			chunk := bytes.Repeat([]byte("0123456789abcdef"), 256)
			for i := range chunk {
				chunk[i] ^= byte(i * 7919 >> 3)
			}
			started := make(chan struct{})
			streamErr := make(chan error, 1)
			go func() {
				ctx := context.Background()
				var once sync.Once
				for {
					var err error
					if tt.writer {
						var w io.WriteCloser
						if w, err = ours.Writer(ctx, Binary); err == nil {
							for range 256 {
								if _, err = w.Write(chunk); err != nil {
									break
								}
								once.Do(func() { close(started) })
							}
							if err == nil {
								err = w.Close()
							}
						}
					} else {
						once.Do(func() { close(started) })
						err = ours.Write(ctx, Binary, bytes.Repeat(chunk, 256))
					}
					if err != nil {
						streamErr <- err
						return
					}
				}
			}()
			<-started
			if err := ours.Close(CloseGoingAway, "shutting down"); err != nil {
				t.Fatalf("Close while a message streams = %v, want nil", err)
			}
			if err := await(t, streamErr, "streaming writer"); !errors.Is(err, ErrClosed) {
				t.Errorf("streaming writer = %v, want an error matching ErrClosed", err)
			}
			want := &CloseError{Code: CloseGoingAway, Reason: "shutting down", Remote: true}
			var ce *CloseError
			if err := await(t, peerErr, "peer's Read"); !errors.As(err, &ce) || !cmp.Equal(*want, *ce, closeErrorOpts) {
				t.Errorf("peer's Read = %v, want %+v", err, want)
			}
			want.Remote = false
			checkEnded(t, ours, want)
		})
	}
}

// TestDeferredCloseNowDuringClose checks that a CloseNow made while a
// Close runs in another goroutine, as a handler's deferred CloseNow does
// while its server shuts down, lets the handshake finish.
func TestDeferredCloseNowDuringClose(t *testing.T) {
	url, peers := serveRaw(t)
	c := dial(t, url, nil)
	p := <-peers
	done := make(chan error, 1)
	go func() { done <- c.Close(CloseGoingAway, "") }()
	f, err := p.recv()
	if err != nil || f.op != 0x8 {
		t.Fatalf("want our Close frame, got %+v, %v", f, err)
	}
	if err := c.CloseNow(); err != nil {
		t.Fatalf("CloseNow during Close = %v", err)
	}
	if err := c.Write(context.Background(), Text, []byte("x")); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after CloseNow = %v, want ErrClosed", err)
	}
	if _, _, err := c.Read(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Read after CloseNow = %v, want ErrClosed", err)
	}
	// The peer answers late; the handshake still completes.
	p.send(true, 0, 0x8, f.payload)
	p.nc.Close()
	if err := await(t, done, "Close"); err != nil {
		t.Errorf("Close = %v, want nil: CloseNow cut the handshake", err)
	}
}

// TestReadAfterCloseNow checks that messages already buffered are not
// delivered after CloseNow, and that a compressed one does not turn into
// a false 1007 once the decompressor is gone.
func TestReadAfterCloseNow(t *testing.T) {
	for _, co := range compressions {
		t.Run(co.name, func(t *testing.T) {
			co := co.opts
			client, server := acceptedPair(t, &AcceptOptions{Compression: co}, &DialOptions{Compression: co})
			ctx := context.Background()
			for i := range 20 {
				if err := server.Write(ctx, Text, []byte(strings.Repeat("message ", 10+i))); err != nil {
					t.Fatal(err)
				}
			}
			if _, _, err := client.Read(ctx); err != nil {
				t.Fatal(err)
			}
			time.Sleep(10 * time.Millisecond) // let the rest arrive, to be buffered
			client.CloseNow()
			for i := range 3 {
				_, msg, err := client.Read(ctx)
				var pe *frame.ProtocolError
				if err == nil || !errors.Is(err, ErrClosed) || errors.As(err, &pe) {
					t.Fatalf("Read %d after CloseNow = %.20q, %v; want ErrClosed", i, msg, err)
				}
			}
		})
	}
}

// TestWriterAfterClose checks that Writer refuses once Close has run.
func TestWriterAfterClose(t *testing.T) {
	url, peers := serveRaw(t)
	c := dial(t, url, nil)
	p := <-peers
	done := make(chan error, 1)
	go func() { done <- c.Close(CloseNormal, "") }()
	answerClose(t, p)
	await(t, done, "Close")
	w, err := c.Writer(context.Background(), Text)
	if w != nil || !errors.Is(err, ErrClosed) {
		t.Fatalf("Writer after Close = %v, %v; want nil and ErrClosed", w, err)
	}
}

// TestExpiredContextDoesNotPoison checks that a read whose context expired
// while it waited leaves later reads to wait afresh, and that once a write
// is cut mid-frame every later call reports the closed connection with
// the deadline as its cause, not the deadline error itself.
func TestExpiredContextDoesNotPoison(t *testing.T) {
	t.Run("read", func(t *testing.T) {
		url, peers := serveRaw(t)
		c := dial(t, url, nil)
		p := <-peers
		for range 3 {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			start := time.Now()
			_, _, err := c.Read(ctx)
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrClosed) {
				t.Fatalf("Read = %v, want DeadlineExceeded on an open connection", err)
			}
			if d := time.Since(start); d < 15*time.Millisecond {
				t.Fatalf("Read returned after %v: a later read must wait again", d)
			}
		}
		p.send(true, 0, 0x1, []byte("hello"))
		if _, msg, err := c.Read(context.Background()); err != nil || string(msg) != "hello" {
			t.Fatalf("Read = %q, %v", msg, err)
		}
	})
	t.Run("write", func(t *testing.T) {
		url, peers := serveRaw(t)
		c := dial(t, url, nil)
		p := <-peers
		defer p.nc.Close()
		// The peer does not read: the socket buffers fill, and a write
		// blocks mid-frame until its context ends. The context must not
		// end before the first write begins, which a goroutine starved
		// for 200 ms on a loaded machine saw: that write gives up
		// before sending, and leaves the connection open.
		big := make([]byte, 8<<20)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		var err error
		for err == nil {
			err = c.Write(ctx, Binary, big)
		}
		var ce *CloseError
		if !errors.As(err, &ce) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Write = %v, want the connection closed for the deadline", err)
		}
		checkEnded(t, c, &CloseError{Code: CloseAbnormal, Err: context.DeadlineExceeded})
	})
}

// TestContextBeforeSending checks that calls that give up before sending
// anything leave the connection open, with errors that say so.
func TestContextBeforeSending(t *testing.T) {
	url, peers := serveRaw(t)
	c := dial(t, url, nil)
	p := <-peers
	expired := func() context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
		t.Cleanup(cancel)
		return ctx
	}
	// Ping with nobody reading: the ping goes out, the pong is not seen.
	// The peer looks for the ping below, so the context leaves it time to
	// go out however a loaded machine schedules Ping.
	pingCtx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := c.Ping(pingCtx); !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrClosed) || !strings.HasPrefix(err.Error(), "websocket: ") {
		t.Errorf("Ping = %v, want a websocket: error wrapping DeadlineExceeded", err)
	}
	// A Write waiting behind an open Writer.
	w, err := c.Writer(context.Background(), Text)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Write(expired(), Text, []byte("waits")); !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrClosed) || !strings.HasPrefix(err.Error(), "websocket: ") {
		t.Errorf("Write behind a Writer = %v, want a websocket: error wrapping DeadlineExceeded", err)
	}
	io.WriteString(w, "streamed")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Write(context.Background(), Text, []byte("after")); err != nil {
		t.Fatalf("Write = %v, want the connection open", err)
	}
	var got []string
	for len(got) < 3 {
		f, err := p.recv()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(f.payload[:min(len(f.payload), 8)]))
	}
	if diff := cmp.Diff([]string{"\x00\x00\x00\x00\x00\x00\x00\x01", "streamed", "after"}, got); diff != "" {
		t.Errorf("the peer got (-want +got):\n%s", diff)
	}
}

// TestOutgoingTextValidated checks that text a peer would reject is never
// sent: whole messages, streamed ones, and close reasons.
func TestOutgoingTextValidated(t *testing.T) {
	for _, co := range compressions {
		t.Run(co.name, func(t *testing.T) {
			co := co.opts
			client, server := acceptedPair(t, &AcceptOptions{Compression: co}, &DialOptions{Compression: co})
			ctx := context.Background()
			if err := client.Write(ctx, Text, []byte("a\xffb")); err != ErrInvalidUTF8 {
				t.Errorf("Write of invalid text = %v, want ErrInvalidUTF8", err)
			}
			if err := client.Write(ctx, MessageType(0), []byte("x")); err == nil {
				t.Error("Write of message type 0 succeeded")
			}
			if err := client.Close(4000, "\xff"); err != ErrInvalidUTF8 {
				t.Errorf("Close with an invalid reason = %v, want ErrInvalidUTF8", err)
			}
			// Streamed: a Write that breaks the text is refused whole, a
			// character may be split across Writes.
			w, err := client.Writer(ctx, Text)
			if err != nil {
				t.Fatal(err)
			}
			for _, tt := range []struct {
				in   string
				want error
			}{{"euro: \xe2", nil}, {"\x82", nil}, {"\xff", ErrInvalidUTF8}, {"\xac!", nil}} {
				if _, err := io.WriteString(w, tt.in); err != tt.want {
					t.Errorf("Writer.Write(%q) = %v, want %v", tt.in, err, tt.want)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatalf("Writer.Close = %v", err)
			}
			// Ending inside a character drops a message nothing of
			// which has gone out.
			w, _ = client.Writer(ctx, Text)
			io.WriteString(w, "cut \xe2\x82")
			if err := w.Close(); err != ErrInvalidUTF8 {
				t.Errorf("Writer.Close inside a character = %v, want ErrInvalidUTF8", err)
			}
			if err := client.Write(ctx, Text, []byte("last")); err != nil {
				t.Fatalf("Write after refused text = %v", err)
			}
			for _, want := range []string{"euro: €!", "last"} {
				if _, msg, err := server.Read(ctx); err != nil || string(msg) != want {
					t.Fatalf("server read %q, %v; want %q", msg, err, want)
				}
			}
		})
	}
}

// TestKeepaliveWithoutReader checks that the keepalive sees the peer's
// pongs when nobody reads, and leaves data for the next read. The
// keepalive looks for the pong once, a ping timeout after the ping; the
// timeout is long enough for a peer starved on a loaded machine to have
// answered by then, since a ping the peer answered late would rightly end
// the connection. Each ping after the first shows that the previous pong
// was seen; those after the data show that the pong was found behind it.
func TestKeepaliveWithoutReader(t *testing.T) {
	url, peers := serveRaw(t)
	c := dial(t, url, &DialOptions{PingInterval: time.Millisecond, PingTimeout: time.Second})
	p := <-peers
	defer p.nc.Close()
	for i := range 4 {
		f, err := p.recv()
		if err != nil || f.op != 0x9 {
			t.Fatalf("ping %d: got %+v, %v; the connection should live", i, f, err)
		}
		p.send(true, 0, 0xA, f.payload)
		if i == 1 {
			p.send(true, 0, 0x1, []byte("data waits for the reader"))
		}
	}
	if err := c.Write(context.Background(), Text, []byte("alive")); err != nil {
		t.Fatalf("Write = %v", err)
	}
	if _, msg, err := c.Read(context.Background()); err != nil || string(msg) != "data waits for the reader" {
		t.Fatalf("Read = %q, %v", msg, err)
	}
}
