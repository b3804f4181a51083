package event_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/twoway/websocket/conn"
	"github.com/twoway/websocket/event"
)

// plainListener hides the descriptor of its listener, so that the server
// serves its connections with goroutines.
type plainListener struct{ net.Listener }

// startEchoOn serves an echo on a loopback listener, through goroutines
// rather than the loops if plain is set, and returns its URL. The test's
// cleanup shuts the server down and checks that no goroutine is left.
func startEchoOn(t testing.TB, srv *event.Server, plain bool) string {
	t.Helper()
	before := runtime.NumGoroutine()
	if srv.OnMessage == nil {
		srv.OnMessage = func(c *event.Conn, typ conn.MessageType, data []byte) {
			c.Write(context.Background(), typ, data)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	var l net.Listener = ln
	if plain {
		l = plainListener{ln}
	}
	go func() { served <- srv.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, event.ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
		event.CheckGoroutines(t, before)
	})
	return "ws://" + ln.Addr().String() + "/"
}

func TestEcho(t *testing.T) {
	for _, tc := range []struct{ plain, compress bool }{{false, false}, {false, true}, {true, false}, {true, true}} {
		compress := tc.compress
		t.Run(fmt.Sprintf("goroutines=%v/compress=%v", tc.plain, compress), func(t *testing.T) {
			var co *conn.CompressionOptions
			if compress {
				co = &conn.CompressionOptions{}
			}
			var mu sync.Mutex
			var closed []error
			srv := &event.Server{Accept: conn.AcceptOptions{Compression: co}}
			srv.OnClose = func(c *event.Conn, err error) {
				mu.Lock()
				closed = append(closed, err)
				mu.Unlock()
			}
			url := startEchoOn(t, srv, tc.plain)
			ctx := context.Background()
			const clients = 8
			var wg sync.WaitGroup
			errs := make(chan error, clients)
			for i := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c, _, err := conn.Dial(ctx, url, &conn.DialOptions{Compression: co})
					if err != nil {
						errs <- err
						return
					}
					defer c.CloseNow()
					for j := range 50 {
						msg := fmt.Appendf(nil, "client %d message %d %s", i, j, make([]byte, j*j*7))
						if err := c.Write(ctx, conn.Binary, msg); err != nil {
							errs <- err
							return
						}
						typ, got, err := c.Read(ctx)
						if err != nil {
							errs <- err
							return
						}
						if typ != conn.Binary || !bytes.Equal(msg, got) {
							errs <- fmt.Errorf("echo %d of client %d: got %v of %d bytes, want the %d sent", j, i, typ, len(got), len(msg))
							return
						}
					}
					if err := c.Close(conn.CloseNormal, "bye"); err != nil {
						errs <- fmt.Errorf("Close: %w", err)
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			deadline := time.Now().Add(5 * time.Second)
			for {
				mu.Lock()
				n := len(closed)
				mu.Unlock()
				if n == clients || time.Now().After(deadline) {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(closed) != clients {
				t.Fatalf("OnClose called %d times, want %d", len(closed), clients)
			}
			for _, err := range closed {
				if conn.CloseStatus(err) != conn.CloseNormal {
					t.Errorf("OnClose: %v, want a normal close", err)
				}
			}
		})
	}
}

// TestServerCloses closes from a callback: the client answers, and the
// server ends TCP at once, well before its close timeout.
func TestServerCloses(t *testing.T) {
	for _, plain := range []bool{false, true} {
		t.Run(fmt.Sprintf("goroutines=%v", plain), func(t *testing.T) {
			closed := make(chan error, 1)
			srv := &event.Server{
				Accept: conn.AcceptOptions{CloseTimeout: time.Minute},
				OnMessage: func(c *event.Conn, _ conn.MessageType, p []byte) {
					c.Close(conn.CloseNormal, string(p))
				},
				OnClose: func(_ *event.Conn, err error) { closed <- err },
			}
			url := startEchoOn(t, srv, plain)
			ctx := context.Background()
			// Neither side gives up on the other before the test does.
			c, _, err := conn.Dial(ctx, url, &conn.DialOptions{CloseTimeout: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseNow()
			c.Write(ctx, conn.Text, []byte("bye"))
			read := make(chan error, 1)
			go func() { _, _, err := c.Read(ctx); read <- err }()
			var ce *conn.CloseError
			select {
			case err := <-closed:
				if !errors.As(err, &ce) || ce.Code != conn.CloseNormal || ce.Remote || ce.Err != nil {
					t.Errorf("server: %v, want its own normal close", err)
				}
			case <-time.After(10 * time.Second):
				c.CloseNow()
				t.Fatal("the server did not end the connection after the closing handshake")
			}
			err = <-read
			if !errors.As(err, &ce) || ce.Code != conn.CloseNormal || ce.Reason != "bye" || !ce.Remote || ce.Err != nil {
				t.Errorf("client: %v, want the server's normal close", err)
			}
		})
	}
}

// TestKeepalive pings a peer that does not answer, which is dropped with
// 1001 and ErrKeepaliveTimeout, and one that does, which stays.
//
// Each peer has a server of its own. The one that never answers meets a
// ping timeout as short as the interval. The one that answers gets a
// timeout far longer than the test: a reader starved for longer than an
// interval on a loaded machine must not be dropped, and the server pings
// again only once the last ping is answered, so three pings in a row show
// that its answers count.
func TestKeepalive(t *testing.T) {
	const interval = 20 * time.Millisecond
	for _, plain := range []bool{false, true} {
		t.Run(fmt.Sprintf("goroutines=%v", plain), func(t *testing.T) {
			ctx := context.Background()

			// A peer that never answers is dropped.
			dropped := make(chan error, 1)
			url := startEchoOn(t, &event.Server{
				Accept:  conn.AcceptOptions{PingInterval: interval, PingTimeout: interval},
				OnClose: func(_ *event.Conn, err error) { dropped <- err },
			}, plain)
			p := dialRaw(t, url, nil)
			closing, err := p.ExpectClose(10 * time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if closing.Code != 1001 || len(closing.Frames) == 0 || closing.Frames[0].Opcode != 9 {
				t.Errorf("got %d frames then close code %d, want pings then 1001", len(closing.Frames), closing.Code)
			}
			p.Close()
			err = waitErr(t, dropped)
			var ce *conn.CloseError
			if !errors.As(err, &ce) || ce.Code != conn.CloseGoingAway || !errors.Is(err, conn.ErrKeepaliveTimeout) {
				t.Errorf("server: %v, want 1001 and ErrKeepaliveTimeout", err)
			}

			// A client that reads, and so answers pings, is pinged again
			// and again.
			closed := make(chan error, 1)
			url = startEchoOn(t, &event.Server{
				Accept:  conn.AcceptOptions{PingInterval: interval, PingTimeout: time.Hour},
				OnClose: func(_ *event.Conn, err error) { closed <- err },
			}, plain)
			pings := make(chan struct{}, 3)
			c, _, err := conn.Dial(ctx, url, &conn.DialOptions{OnPing: func([]byte) {
				select {
				case pings <- struct{}{}:
				default:
				}
			}})
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseNow()
			read := make(chan error, 1)
			go func() {
				for {
					if _, _, err := c.Read(ctx); err != nil {
						read <- err
						return
					}
				}
			}()
			timeout := time.After(10 * time.Second)
			for i := range cap(pings) {
				select {
				case <-pings:
				case err := <-closed:
					t.Fatalf("the client that answers pings was dropped after %d pings: %v", i, err)
				case <-timeout:
					t.Fatalf("%d pings in 10 s at an interval of %v: the answers went unseen", i, interval)
				}
			}
			if err := c.Write(ctx, conn.Text, []byte("still here")); err != nil {
				t.Fatalf("the client that answers pings: %v", err)
			}
			c.Close(conn.CloseNormal, "")
			<-read
			if err := waitErr(t, closed); conn.CloseStatus(err) != conn.CloseNormal {
				t.Errorf("server: %v, want the client's normal close", err)
			}
		})
	}
}

// TestLargeOutputInPieces writes, from outside the callbacks, a message
// larger than the socket takes at once and then many more while the
// loop is still writing it in pieces, to a client that reads slowly at
// first: every message must arrive whole and in order, however the
// writes were split and the output buffer grown meanwhile.
func TestLargeOutputInPieces(t *testing.T) {
	opened := make(chan *event.Conn, 1)
	srv := &event.Server{
		MaxPending: 64 << 20, // Write never waits: appends meet partial writes
		OnOpen:     func(c *event.Conn, _ *http.Request) { opened <- c },
	}
	url := startEchoOn(t, srv, false)
	ctx := context.Background()
	c, _, err := conn.Dial(ctx, url, &conn.DialOptions{ReadLimit: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	sc := <-opened
	message := func(i int) []byte {
		n := 100 << 10
		if i == 0 {
			n = 6 << 20
		}
		b := make([]byte, n)
		for j := range b {
			b[j] = byte(i*131 + j*7 + j>>9)
		}
		return b
	}
	const count = 80
	written := make(chan error, 1)
	go func() {
		for i := range count {
			if err := sc.Write(ctx, conn.Binary, message(i)); err != nil {
				written <- err
				return
			}
		}
		written <- nil
	}()
	for i := range count {
		if i < 4 {
			time.Sleep(10 * time.Millisecond) // let the socket fill
		}
		_, got, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if want := message(i); !bytes.Equal(got, want) {
			t.Fatalf("message %d: %d bytes differ from the %d written", i, len(got), len(want))
		}
	}
	if err := <-written; err != nil {
		t.Fatal(err)
	}
}

// TestWorkersWait echoes messages one at a time on one connection: the
// callbacks' goroutine waits for the next one rather than end, so that
// each message does not start a goroutine whose stack grows again.
func TestWorkersWait(t *testing.T) {
	for _, plain := range []bool{false, true} {
		t.Run(fmt.Sprintf("goroutines=%v", plain), func(t *testing.T) {
			srv := &event.Server{}
			url := startEchoOn(t, srv, plain)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c, _, err := conn.Dial(ctx, url, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseNow()
			msg := []byte("hello")
			for range 50 {
				if err := c.Write(ctx, conn.Text, msg); err != nil {
					t.Fatal(err)
				}
				if _, _, err := c.Read(ctx); err != nil {
					t.Fatal(err)
				}
			}
			// The first message's goroutine took every later one; the
			// handshake may have had one of its own.
			if n := event.WorkersStarted(srv); n > 2 {
				t.Errorf("%d goroutines started for 50 messages in turn, want at most 2", n)
			}
		})
	}
}
