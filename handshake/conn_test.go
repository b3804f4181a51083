package handshake

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// serveConn accepts one TCP connection and runs UpgradeConn on it.
func serveConn(t *testing.T, ctx context.Context, opts *ServerOptions) (string, <-chan error, <-chan *ServerConn) {
	t.Helper()
	return serveConnDeadline(t, ctx, opts, 0)
}

// serveConnDeadline is serveConn with a deadline, when not 0, set on the
// connection before UpgradeConn.
func serveConnDeadline(t *testing.T, ctx context.Context, opts *ServerOptions, deadline time.Duration) (string, <-chan error, <-chan *ServerConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	errs := make(chan error, 1)
	conns := make(chan *ServerConn, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			errs <- err
			return
		}
		if deadline != 0 {
			nc.SetDeadline(time.Now().Add(deadline))
		}
		sc, r, err := UpgradeConn(ctx, nc, opts)
		if err != nil {
			errs <- err
			return
		}
		if r.URL.Path != "/chat" {
			errs <- errors.New("request path " + r.URL.Path)
			return
		}
		errs <- nil
		conns <- sc
	}()
	return ln.Addr().String(), errs, conns
}

func TestUpgradeConn(t *testing.T) {
	for _, tt := range []struct {
		name     string
		deadline time.Duration // set on the connection before UpgradeConn
	}{
		{"no deadline", 0},
		// A successful handshake clears the deadline that bounded it.
		// The client must complete the handshake within it, however a
		// loaded machine schedules the two: a second, not less.
		{"deadline cleared", time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			addr, errs, conns := serveConnDeadline(t, context.Background(), &ServerOptions{Subprotocols: []string{"chat"}}, tt.deadline)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			cc, err := Dial(ctx, "ws://"+addr+"/chat", &ClientOptions{Subprotocols: []string{"chat"}})
			if err != nil {
				t.Fatal(err)
			}
			defer cc.Conn.Close()
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
			sc := <-conns
			defer sc.Conn.Close()
			if cc.Subprotocol != "chat" || sc.Subprotocol != "chat" {
				t.Fatalf("subprotocol: client %q, server %q", cc.Subprotocol, sc.Subprotocol)
			}
			// The server set the deadline before it answered: it has
			// passed once as long again has.
			time.Sleep(tt.deadline)
			// The connection is a plain byte stream now.
			cc.Conn.Write([]byte("after"))
			got := make([]byte, 5)
			if _, err := io.ReadFull(io.MultiReader(strings.NewReader(string(sc.Buffered)), sc.Conn), got); err != nil || string(got) != "after" {
				t.Fatalf("read %q, %v", got, err)
			}
		})
	}
}

func TestUpgradeConnRefusals(t *testing.T) {
	valid := "GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
	tests := []struct {
		name    string
		request string
		status  int
		header  string // a header the response must carry
		sent    error
	}{
		{"POST", strings.Replace(valid, "GET", "POST", 1) + "\r\n", 405, "Allow: GET", ErrMethod},
		{"CONNECT to an authority", strings.Replace(valid, "GET /chat", "CONNECT h:443", 1) + "\r\n", 405, "Allow: GET", ErrMethod},
		{"version 8", strings.Replace(valid, "Version: 13", "Version: 8", 1) + "\r\n", 426, "Sec-Websocket-Version: 13", ErrVersion},
		{"foreign origin", valid + "Origin: https://evil.example\r\n\r\n", 403, "", ErrBadOrigin},
		{"short key", strings.Replace(valid, "dGhlIHNhbXBsZSBub25jZQ==", "c2hvcnQ=", 1) + "\r\n", 400, "", ErrBadKey},
		{"not HTTP", "hello there\r\n\r\n", 400, "", ErrBadRequest},
		{"with a body", valid + "Content-Length: 5\r\n\r\nhello", 400, "", ErrBadRequest},
		{"chunked body", valid + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 400, "", ErrBadRequest},
		{"huge headers", valid + "X-Big: " + strings.Repeat("a", maxRequestBytes) + "\r\n\r\n", 431, "", ErrBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, errs, _ := serveConn(t, context.Background(), nil)
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			go io.WriteString(nc, tt.request)
			nc.SetReadDeadline(time.Now().Add(5 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if tt.header != "" {
				k, v, _ := strings.Cut(tt.header, ": ")
				if resp.Header.Get(k) != v {
					t.Errorf("header %s = %q, want %q", k, resp.Header.Get(k), v)
				}
			}
			var re *RequestError
			if err := <-errs; !errors.As(err, &re) || !errors.Is(err, tt.sent) || re.Status != tt.status {
				t.Errorf("UpgradeConn error %v, want a RequestError %d matching %v", err, tt.status, tt.sent)
			}
		})
	}
}

// TestUpgradeConnSlowClient checks that ctx cuts off a client that never
// sends its request.
func TestUpgradeConnSlowClient(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	addr, errs, _ := serveConn(t, ctx, nil)
	expectCutOff(t, addr, errs, context.DeadlineExceeded)
}

// expectCutOff sends the start of a request to addr and never the rest,
// then checks that UpgradeConn gives up with an error matching want, and
// closes the connection.
func expectCutOff(t *testing.T, addr string, errs <-chan error, want error) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	io.WriteString(nc, "GET / HTTP/1.1\r\n") // and nothing more
	select {
	case err := <-errs:
		if !errors.Is(err, want) {
			t.Fatalf("UpgradeConn = %v, want %v", err, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("UpgradeConn still waiting 5 s after its bound")
	}
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := nc.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("read after UpgradeConn gave up: %v, want EOF", err)
	}
}

// TestUpgradeConnDeadline checks the cheap way to bound a handshake, a
// deadline on the connection with a context that cannot end: it cuts off
// a slow client (TestUpgradeConn checks that success clears it).
func TestUpgradeConnDeadline(t *testing.T) {
	addr, errs, _ := serveConnDeadline(t, context.Background(), nil, 100*time.Millisecond)
	expectCutOff(t, addr, errs, os.ErrDeadlineExceeded)
}
