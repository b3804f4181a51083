package conn

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twoway/websocket/frame"
	"github.com/twoway/websocket/handshake"
)

// These tests came from a review of the connection's ending; each failed
// on the code it reviewed.

// keepaliveSlack is the ping timeout of tests whose peer must act on a
// ping before the keepalive looks for the pong: a test goroutine starved
// for longer on a loaded machine would see the keepalive end the
// connection, as it rightly does (20 ms was missed under load).
const keepaliveSlack = time.Second

// TestKeepaliveLeavesCloseAlone: a peer that answers the keepalive
// ping and answers our Close within the close timeout (but after the ping
// timeout) must see Close return nil. The pong is discarded by Close's own
// drain, and the keepalive's tick fails the connection under the closing
// handshake.
//
// The ping timeout (keepaliveSlack) is long enough that the peer answers
// and Close starts within it however a loaded machine schedules them, and
// the peer answers the Close only after it has passed.
func TestKeepaliveLeavesCloseAlone(t *testing.T) {
	url, peers := serveRaw(t)
	c := dial(t, url, &DialOptions{PingInterval: 50 * time.Millisecond, PingTimeout: keepaliveSlack, CloseTimeout: 10 * keepaliveSlack})
	p := <-peers
	defer p.nc.Close()
	f, err := p.recv()
	if err != nil || f.op != 0x9 {
		t.Fatalf("want the keepalive ping, got %+v, %v", f, err)
	}
	p.send(true, 0, 0xA, f.payload) // answered at once
	done := make(chan error, 1)
	go func() { done <- c.Close(CloseNormal, "") }()
	for {
		f, err = p.recv()
		if err != nil {
			t.Fatalf("peer waiting for our Close: %v", err)
		}
		if f.op == 0x8 {
			break
		}
	}
	time.Sleep(keepaliveSlack * 3 / 2) // a slow peer, well within CloseTimeout
	p.send(true, 0, 0x8, f.payload)
	p.nc.Close()
	if err := await(t, done, "Close"); err != nil {
		t.Errorf("Close = %v, want nil: the peer answered the ping and the Close", err)
	}
}

// TestCloseOvertakenByCloseNow: a Close waiting for a writer
// to finish its frame has sent nothing; CloseNow then ends the connection,
// and Close reports a completed handshake.
func TestCloseOvertakenByCloseNow(t *testing.T) {
	url, peers := serveRaw(t)
	c := dial(t, url, nil)
	p := <-peers
	defer p.nc.Close()
	// The peer does not read: a large write blocks holding wsem.
	go c.Write(context.Background(), Binary, make([]byte, 64<<20))
	waitFor(t, func() bool {
		c.wsem.mu.Lock()
		defer c.wsem.mu.Unlock()
		return c.wsem.held
	})
	closed := make(chan error, 1)
	go func() { closed <- c.Close(CloseNormal, "") }()
	waitFor(t, func() bool {
		c.wsem.mu.Lock()
		defer c.wsem.mu.Unlock()
		return c.wsem.waiters > 0
	})
	if c.sent.Load() != nil {
		t.Fatal("the Close frame went out before the writer's frame")
	}
	c.CloseNow()
	if err := await(t, closed, "Close"); err == nil {
		t.Errorf("Close = nil, but no Close frame was ever sent")
	}
}

// TestCompressedWriteGivesUpBeforeSending: a compressed Write whose
// context ends while it waits for a Ping to be written has sent nothing;
// the package doc says the connection stays open.
func TestCompressedWriteGivesUpBeforeSending(t *testing.T) {
	ours, peer := net.Pipe()
	defer peer.Close()
	c := new(Conn)
	if err := c.open(ours, nil, false, "", []handshake.Extension{{Name: deflateName}}, &CompressionOptions{}, newSettings(0, 0, 0, 0, 0, 0), hooks{}); err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	pinged := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		pinged <- c.Ping(ctx)
	}()
	// The pipe has no buffer: the Ping holds wsem until the peer reads.
	waitFor(t, func() bool {
		c.wsem.mu.Lock()
		defer c.wsem.mu.Unlock()
		return c.wsem.held
	})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := c.Write(ctx, Binary, bytes.Repeat([]byte("compress me "), 100))
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrClosed) {
		t.Errorf("Write waiting behind a Ping = %v; want DeadlineExceeded with the connection open", err)
	}
	go io.Copy(io.Discard, peer)
	c.CloseNow() // the ping's pong will not come
	<-pinged
}

// TestCloseWithoutCode: Close(0, "") and Close(CloseNoStatus, "bye")
// send a Close frame without a code (and without the reason); the recorded
// ending should be a normal one with no code, and no reason that never
// went on the wire.
func TestCloseWithoutCode(t *testing.T) {
	for _, tt := range []struct {
		code   CloseCode
		reason string
	}{{0, ""}, {0, "bye"}, {CloseNoStatus, "bye"}} {
		url, peers := serveRaw(t)
		c := dial(t, url, nil)
		p := <-peers
		done := make(chan error, 1)
		go func() { done <- c.Close(tt.code, tt.reason) }()
		answerClose(t, p)
		if err := await(t, done, "Close"); err != nil {
			t.Fatalf("Close = %v", err)
		}
		_, _, err := c.Read(context.Background())
		var ce *CloseError
		if !errors.As(err, &ce) {
			t.Fatalf("Read = %v", err)
		}
		want := CloseError{Code: CloseNoStatus}
		if diff := cmp.Diff(want, *ce, closeErrorOpts); diff != "" || !ce.Normal() {
			t.Errorf("Close(%d, %q): ending (-want +got):\n%s Normal=%v, Error=%q", tt.code, tt.reason, diff, ce.Normal(), ce.Error())
		}
	}
}

// waitFor polls cond, which reads internal state no channel reports,
// failing the test after a generous bound.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); runtime.Gosched() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 5 s")
		}
	}
}

// TestKeepaliveLeavesDecidedEnding: while a client waits for the
// server to close TCP after the closing handshake (the server closes
// first, RFC 6455 §7.1.1), or lingers after failing the connection, the
// keepalive's tick finds the read lock held, takes the outstanding ping
// for unanswered and records its own ending over the one already decided.
//
// The peer ends the connection within keepaliveSlack of the ping, however
// a loaded machine schedules it, and closes TCP only after the
// keepalive's tick has come.
func TestKeepaliveLeavesDecidedEnding(t *testing.T) {
	for _, tt := range []struct {
		name string
		send func(p *rawPeer)
		want CloseError
	}{
		{"peer's Close", func(p *rawPeer) { p.send(true, 0, 0x8, []byte{0x03, 0xe8, 'b', 'y', 'e'}) },
			CloseError{Code: CloseNormal, Reason: "bye", Remote: true}},
		{"protocol error", func(p *rawPeer) { p.send(true, 0, 0x3, nil) },
			CloseError{Code: CloseProtocolError, Reason: frame.ErrReservedOpcode.Reason, Err: frame.ErrReservedOpcode}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			url, peers := serveRaw(t)
			c := dial(t, url, &DialOptions{PingInterval: 50 * time.Millisecond, PingTimeout: keepaliveSlack})
			p := <-peers
			defer p.nc.Close()
			read := make(chan error, 1)
			go func() { _, _, err := c.Read(context.Background()); read <- err }()
			if f, err := p.recv(); err != nil || f.op != 0x9 {
				t.Fatalf("want the keepalive ping, got %+v, %v", f, err)
			}
			// The peer ends the connection instead of answering the ping
			// that crossed its decision.
			tt.send(p)
			if got := p.expectClose(); got <= 0 {
				t.Fatalf("peer got no Close frame (%d)", got)
			}
			time.Sleep(keepaliveSlack * 3 / 2) // a server slow to close TCP
			p.nc.Close()
			var ce *CloseError
			if err := await(t, read, "Read"); !errors.As(err, &ce) {
				t.Fatalf("Read = %v", err)
			}
			if diff := cmp.Diff(tt.want, *ce, closeErrorOpts); diff != "" {
				t.Errorf("ending (-want +got):\n%s", diff)
			}
		})
	}
}

// TestKeepaliveSeesLostConnection: the keepalive's own read sees
// the peer close TCP, yet the connection is recorded as a keepalive
// timeout rather than as lost.
//
// The peer closes within keepaliveSlack of the ping, before the keepalive
// looks for the pong.
func TestKeepaliveSeesLostConnection(t *testing.T) {
	url, peers := serveRaw(t)
	c := dial(t, url, &DialOptions{PingInterval: 50 * time.Millisecond, PingTimeout: keepaliveSlack})
	p := <-peers
	if f, err := p.recv(); err != nil || f.op != 0x9 {
		t.Fatalf("want the keepalive ping, got %+v, %v", f, err)
	}
	p.nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var ce *CloseError
	if err := c.Ping(ctx); !errors.As(err, &ce) {
		t.Fatalf("Ping = %v, want the connection ended", err)
	}
	want := CloseError{Code: CloseAbnormal, Remote: true, Err: io.ErrUnexpectedEOF}
	if diff := cmp.Diff(want, *ce, closeErrorOpts); diff != "" {
		t.Errorf("ending (-want +got):\n%s", diff)
	}
}

// TestCloseNowLeavesAnswer: CloseNow while the answer to the peer's
// Close waits for a writer records CloseNow, though its doc says it lets
// the answer to the peer's Close finish.
func TestCloseNowLeavesAnswer(t *testing.T) {
	url, peers := serveRaw(t)
	c := dial(t, url, &DialOptions{CloseTimeout: 300 * time.Millisecond})
	p := <-peers
	defer p.nc.Close()
	read := make(chan error, 1)
	go func() { _, _, err := c.Read(context.Background()); read <- err }()
	go c.Write(context.Background(), Binary, make([]byte, 64<<20)) // the peer does not read
	waitFor(t, func() bool {
		c.wsem.mu.Lock()
		defer c.wsem.mu.Unlock()
		return c.wsem.held
	})
	p.send(true, 0, 0x8, []byte{0x03, 0xe8})
	waitFor(t, func() bool {
		c.wsem.mu.Lock()
		defer c.wsem.mu.Unlock()
		return c.wsem.waiters > 0 && c.peer.Load() != nil
	})
	c.CloseNow()
	var ce *CloseError
	if err := await(t, read, "Read"); !errors.As(err, &ce) {
		t.Fatalf("Read = %v", err)
	}
	if ce.Code == CloseAbnormal && ce.Err == nil {
		t.Errorf("ending = %+v: CloseNow cut the answer to the peer's Close", *ce)
	}
}

// TestKeepaliveHugeLength: a peer sends the header of a data frame
// that declares the largest length RFC 6455 allows. With nobody reading,
// the keepalive's pollControl looks for a pong behind that frame, and
// at += n + h.Length overflows int64: the slice expression panics in the
// timer's goroutine and takes the whole process down.
func TestKeepaliveHugeLength(t *testing.T) {
	url, peers := serveRaw(t)
	c := dial(t, url, &DialOptions{PingInterval: 20 * time.Millisecond, PingTimeout: 50 * time.Millisecond})
	p := <-peers
	defer p.nc.Close()
	if f, err := p.recv(); err != nil || f.op != 0x9 {
		t.Fatalf("want the keepalive ping, got %+v, %v", f, err)
	}
	// A binary frame header, unmasked as from a server, of length 2^63-1.
	p.write([]byte{0x82, 0x7f, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	// The keepalive ends the connection: the ping stays unanswered.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx); !errors.Is(err, ErrKeepaliveTimeout) {
		t.Errorf("Ping = %v, want the keepalive to end the connection", err)
	}
}

// TestKeepaliveHugeLengthServer is the same attack on a server: any
// client can crash a server that uses PingInterval while it is not reading.
func TestKeepaliveHugeLengthServer(t *testing.T) {
	servers := make(chan *Conn, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, &AcceptOptions{PingInterval: 20 * time.Millisecond, PingTimeout: 50 * time.Millisecond})
		if err != nil {
			t.Errorf("Accept: %v", err)
			return
		}
		servers <- c
	}))
	defer srv.Close()
	p := dialRaw(t, srv.URL)
	c := <-servers
	defer c.CloseNow()
	if f, err := p.recv(); err != nil || f.op != 0x9 {
		t.Fatalf("want the keepalive ping, got %+v, %v", f, err)
	}
	// A masked binary frame header of length 2^63-1, as from a client.
	p.write([]byte{0x82, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx); !errors.Is(err, ErrKeepaliveTimeout) {
		t.Errorf("Ping = %v, want the keepalive to end the connection", err)
	}
}

// TestKeepaliveWithShortReads stresses pollControl against reads
// whose contexts keep expiring between messages: nothing may be lost and
// the connection must stay up.
func TestKeepaliveWithShortReads(t *testing.T) {
	client, server := acceptedPair(t, &AcceptOptions{PingInterval: 3 * time.Millisecond, PingTimeout: 500 * time.Millisecond}, nil)
	go func() {
		for {
			if _, _, err := client.Read(context.Background()); err != nil {
				return
			}
		}
	}()
	const n = 300
	go func() {
		for i := range n {
			if err := client.Write(context.Background(), Binary, []byte{byte(i)}); err != nil {
				return
			}
			if i%10 == 0 {
				time.Sleep(time.Millisecond) // let ticks fall between reads
			}
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for got := 0; got < n; {
		if time.Now().After(deadline) {
			t.Fatalf("got %d of %d messages", got, n)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Microsecond)
		_, msg, err := server.Read(ctx)
		cancel()
		if err != nil {
			if errors.Is(err, ErrClosed) {
				t.Fatalf("after %d messages: %v", got, err)
			}
			continue
		}
		if msg[0] != byte(got) {
			t.Fatalf("message %d: got %d", got, msg[0])
		}
		got++
	}
}
