package event

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twoway/websocket/conn"
	"github.com/twoway/websocket/frame"
)

// TestRespondInLoop checks that the loop writes the answer to a
// handshake as it reads the request, rather than queuing it for a later
// round of the loop: the peer can read it as soon as feed returns. A
// refusal also ends the write side. The loop here is never run, so that
// nothing but feed writes.
func TestRespondInLoop(t *testing.T) {
	const key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	const upgrade = "GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	tests := []struct {
		name    string
		request string
		opts    conn.AcceptOptions
		status  string // the response's status line
		shut    bool   // the response ends the write side
	}{
		{"upgrade", upgrade + "Sec-WebSocket-Version: 13\r\n" + key + "\r\n", conn.AcceptOptions{}, "HTTP/1.1 101 Switching Protocols", false},
		{"upgrade with a frame after it", upgrade + "Sec-WebSocket-Version: 13\r\n" + key + "\r\n\x89\x80abcd", conn.AcceptOptions{}, "HTTP/1.1 101 Switching Protocols", false},
		{"not an upgrade", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", conn.AcceptOptions{}, "HTTP/1.1 400 Bad Request", true},
		{"version 8", upgrade + "Sec-WebSocket-Version: 8\r\n" + key + "\r\n", conn.AcceptOptions{}, "HTTP/1.1 426 Upgrade Required", true},
		{"cross origin", upgrade + "Sec-WebSocket-Version: 13\r\n" + key + "Origin: http://evil.example\r\n\r\n", conn.AcceptOptions{}, "HTTP/1.1 403 Forbidden", true},
		{"allowed origin", upgrade + "Sec-WebSocket-Version: 13\r\n" + key + "Origin: http://a.example\r\n\r\n",
			conn.AcceptOptions{OriginPatterns: []string{"*.example"}}, "HTTP/1.1 101 Switching Protocols", false},
	}
	for _, withOpen := range []bool{false, true} {
		for _, tt := range tests {
			name := tt.name
			if withOpen {
				name += "/OnOpen" // ParseUpgrade's way, with the request
			}
			t.Run(name, func(t *testing.T) {
				opened := make(chan *http.Request, 1)
				srv := &Server{Accept: tt.opts}
				if withOpen {
					srv.OnOpen = func(_ *Conn, r *http.Request) { opened <- r }
				}
				c, peer := unrunLoopConn(t, srv, 0)
				c.feed([]byte(tt.request))

				buf := make([]byte, 4096)
				n, err := syscall.Read(peer, buf)
				if err != nil {
					t.Fatalf("nothing to read once feed returned (%v): the response waits in a queue", err)
				}
				line, _, _ := strings.Cut(string(buf[:n]), "\r\n")
				if diff := cmp.Diff(tt.status, line); diff != "" {
					t.Errorf("status line (-want +got):\n%s", diff)
				}
				if !bytes.HasSuffix(buf[:n], []byte("\r\n\r\n")) && !tt.shut {
					t.Errorf("response %q is not a head alone", buf[:n])
				}
				// End of file (a read of 0) means the write side ended;
				// EAGAIN, or the pong to a ping that followed the
				// request, means it is open.
				n, err = syscall.Read(peer, buf)
				if got := err == nil && n == 0; got != tt.shut {
					t.Errorf("write side ended: %v, want %v (read: %v)", got, tt.shut, err)
				}
				if tt.shut {
					return
				}
				if withOpen {
					select {
					case r := <-opened:
						if r.Host != "example.com" {
							t.Errorf("OnOpen's request has Host %q", r.Host)
						}
					case <-time.After(10 * time.Second):
						t.Fatal("OnOpen was not called")
					}
				}
				c.mu.Lock()
				c.endLocked(&conn.CloseError{Code: frame.CloseAbnormal})
				c.mu.Unlock()
				srv.pool.stop()
				srv.pool.wg.Wait()
			})
		}
	}
}

// TestNoDelay checks that the connections a loop accepts have
// TCP_NODELAY set, as package net sets it: the loop sets it on the
// listener, whose later connections inherit it, and on those that were
// established before.
func TestNoDelay(t *testing.T) {
	accepted := make(chan *Conn, 2)
	srv := &Server{OnOpen: func(c *Conn, _ *http.Request) { accepted <- c }}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// This connection waits in the listener's queue until Serve.
	early, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer func() {
		early.Close() // rather than have Shutdown wait for its Close frame
		srv.Shutdown(t.Context())
		<-served
	}()
	if _, err := early.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"established before Serve", "established after Serve"} {
		if name != "established before Serve" {
			cc, _, err := conn.Dial(t.Context(), "ws://"+ln.Addr().String()+"/", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer cc.CloseNow()
		}
		var c *Conn
		select {
		case c = <-accepted:
		case <-time.After(10 * time.Second):
			t.Fatalf("connection %s: not opened", name)
		}
		nodelay, err := syscall.GetsockoptInt(int(c.sys.fd), syscall.IPPROTO_TCP, syscall.TCP_NODELAY)
		if err != nil || nodelay == 0 {
			t.Errorf("connection %s: TCP_NODELAY %d, %v; want it set", name, nodelay, err)
		}
	}
}

// unservedLoop returns a loop of an initialized srv that no goroutine
// runs, so that a test sees what one call does.
func unservedLoop(t *testing.T, srv *Server) *loop {
	t.Helper()
	if err := srv.init(); err != nil {
		t.Fatal(err)
	}
	lp, err := newLoop(srv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		endAll(lp)
		lp.ep.Close()
		srv.Shutdown(context.Background())
	})
	return lp
}

// endAll ends the connections of a loop that no goroutine runs, as
// Shutdown would have its loop do.
func endAll(lp *loop) {
	lp.mu.Lock()
	conns := slices.Clone(lp.conns)
	lp.mu.Unlock()
	for _, c := range conns {
		if c != nil {
			c.mu.Lock()
			c.endLocked(&conn.CloseError{Code: frame.CloseAbnormal})
			c.mu.Unlock()
		}
	}
}

// TestAnswerOnAccept checks that a loop answers a request that has
// arrived by the time it accepts the connection, then registers the
// connection with epoll for what it waits for; a connection of another
// loop is left to that loop.
func TestAnswerOnAccept(t *testing.T) {
	const request = "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
	srv := &Server{}
	lp := unservedLoop(t, srv)
	other, err := newLoop(srv)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		endAll(other)
		other.ep.Close()
	}()
	for _, to := range []*loop{lp, other} {
		fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer syscall.Close(fds[1])
		if _, err := syscall.Write(fds[1], []byte(request)); err != nil {
			t.Fatal(err)
		}
		srv.addTo(to, lp, fds[0])
		buf := make([]byte, 4096)
		n, err := syscall.Read(fds[1], buf)
		if to == other {
			if err != syscall.EAGAIN {
				t.Errorf("another loop's connection: read %q, %v; want nothing yet", buf[:max(n, 0)], err)
			}
			continue
		}
		if err != nil || !bytes.HasPrefix(buf[:n], []byte("HTTP/1.1 101 ")) {
			t.Fatalf("read %q, %v; want the 101 once addTo returned", buf[:max(n, 0)], err)
		}
		// The request was taken: epoll reports the connection when
		// more comes, not before.
		events := make([]syscall.EpollEvent, 4)
		if n, _ := syscall.EpollWait(lp.epfd, events, 0); n != 0 {
			t.Errorf("%d events before the peer sent more", n)
		}
		if _, err := syscall.Write(fds[1], []byte{0x89, 0x80, 1, 2, 3, 4}); err != nil { // a ping
			t.Fatal(err)
		}
		if n, _ := syscall.EpollWait(lp.epfd, events, 0); n != 1 || events[0].Fd != int32(fds[0]) || events[0].Events&syscall.EPOLLIN == 0 {
			t.Errorf("after a frame: %d events %+v, want EPOLLIN for %d", n, events[:n], fds[0])
		}
	}
}

// TestAcceptOneAtATime checks that a loop accepts one connection per
// readiness of its listener, once it has found the listener's queue
// empty, but all those that waited before Serve.
func TestAcceptOneAtATime(t *testing.T) {
	srv := &Server{}
	lp := unservedLoop(t, srv)
	// A Unix socket's connect queues the connection before it returns.
	ln, err := net.Listen("unix", t.TempDir()+"/s")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// As Serve: a duplicate, which is non-blocking as the listener is.
	rc, err := ln.(*net.UnixListener).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	fd := -1
	rc.Control(func(lfd uintptr) { fd, err = syscall.Dup(int(lfd)) })
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	l := &listener{ln: ln, fd: fd, lp: lp, early: true, done: make(chan struct{})}
	dial := func(n int) {
		for range n {
			c, err := net.Dial("unix", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
		}
	}
	dial(3)
	steps := []struct {
		dial     int
		accepted int64 // connections served after accept
	}{
		{0, 3}, // early: all that wait
		{2, 4}, // then one
		{0, 5},
		{0, 5}, // none left
	}
	for i, st := range steps {
		dial(st.dial)
		lp.accept(l)
		if got := srv.active.Load(); got != st.accepted {
			t.Errorf("step %d: %d connections accepted, want %d", i, got, st.accepted)
		}
	}
}

// unrunLoopConn returns a connection of srv on one end of a socket pair,
// watched by a loop that is never run, and the pair's other end; the
// test's cleanup closes both. sndbuf, if not 0, bounds what the
// connection's socket holds. Feeding the connection a handshake request
// opens it.
func unrunLoopConn(t *testing.T, srv *Server, sndbuf int) (*Conn, int) {
	t.Helper()
	if err := srv.init(); err != nil {
		t.Fatal(err)
	}
	lp, err := newLoop(srv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lp.ep.Close() })
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fds[1]) })
	if sndbuf > 0 {
		if err := syscall.SetsockoptInt(fds[0], syscall.SOL_SOCKET, syscall.SO_SNDBUF, sndbuf); err != nil {
			t.Fatal(err)
		}
	}
	srv.active.Add(1)
	return &Conn{srv: srv, sys: sysConn{lp: lp, fd: int32(fds[0])}, events: evIn}, fds[1]
}
