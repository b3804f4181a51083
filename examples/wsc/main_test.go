package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twoway/websocket/conn"
	"github.com/twoway/websocket/internal/godebugtest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// serve runs handler on loopback and returns the ws:// URL of its root.
func serve(t *testing.T, handler func(c *conn.Conn, r *http.Request)) string {
	t.Helper()
	var handlers sync.WaitGroup
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Counted before the connection is hijacked, so that hs.Close,
		// which waits for requests not yet hijacked, orders this Add
		// before handlers.Wait.
		handlers.Add(1)
		defer handlers.Done()
		c, err := conn.Accept(w, r, &conn.AcceptOptions{
			Subprotocols: []string{"chat.v2", "chat.v1"},
			Compression:  &conn.CompressionOptions{},
		})
		if err != nil {
			return
		}
		defer c.CloseNow()
		handler(c, r)
	}))
	t.Cleanup(func() {
		hs.Close()
		handlers.Wait()
	})
	return "ws" + strings.TrimPrefix(hs.URL, "http") + "/"
}

// echo is the echo server's loop.
func echo(c *conn.Conn, _ *http.Request) {
	ctx := context.Background()
	for {
		typ, msg, err := c.Read(ctx)
		if err != nil {
			return
		}
		if c.Write(ctx, typ, msg) != nil {
			return
		}
	}
}

// buffer is a bytes.Buffer safe for concurrent use.
type buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// openStdin returns a standard input that stays open until the test ends
// or the returned writer is closed.
func openStdin(t *testing.T) (io.Reader, *io.PipeWriter) {
	r, w := io.Pipe()
	t.Cleanup(func() { w.Close() })
	return r, w
}

// waitFor polls until cond holds, failing the test after a generous bound.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for start := time.Now(); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func TestScript(t *testing.T) {
	url := serve(t, echo)
	tests := []struct {
		name  string
		flags []string
		stdin string
		want  string
	}{
		{"text", nil, "hello\nwörld\n\nlast", "hello\nwörld\n\nlast\n"},
		{"crlf", nil, "a\r\nb\r\n", "a\nb\n"},
		{"empty", nil, "", ""},
		{"hex", []string{"-binary"}, "AB\n\x00\xff\n", "4142\n00ff\n"},
		{"base64", []string{"-binary", "-binary-format", "base64"}, "AB\n", "QUI=\n"},
		{"uncompressed", []string{"-compress=false"}, "plain\n", "plain\n"},
		{"long", nil, strings.Repeat("z", 1<<20) + "\n", strings.Repeat("z", 1<<20) + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr buffer
			args := append(append([]string{"-n"}, tt.flags...), url)
			code := run(context.Background(), args, strings.NewReader(tt.stdin), &stdout, &stderr)
			if code != exitClean {
				t.Errorf("exit status %d, want %d; stderr:\n%s", code, exitClean, stderr.String())
			}
			if got := stdout.String(); got != tt.want {
				t.Errorf("stdout %.60q, want %.60q", got, tt.want)
			}
		})
	}
}

// TestHTTP2 runs a script over an HTTP/2 stream (RFC 8441) to a TLS server
// that offers extended CONNECT.
func TestHTTP2(t *testing.T) {
	if !godebugtest.Run(t, "http2xconnect=1") {
		return
	}
	protos := make(chan string, 1)
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		protos <- r.Proto + " " + r.Method
		c, err := conn.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		echo(c, r)
	}))
	hs.EnableHTTP2 = true
	hs.StartTLS()
	defer hs.Close()
	var stdout, stderr buffer
	url := "wss" + strings.TrimPrefix(hs.URL, "https") + "/"
	code := run(context.Background(), []string{"-n", "-k", "-http2", url}, strings.NewReader("over h2\n"), &stdout, &stderr)
	if code != exitClean || stdout.String() != "over h2\n" {
		t.Fatalf("exit status %d, stdout %q; want %d, the echo; stderr:\n%s", code, stdout.String(), exitClean, stderr.String())
	}
	if p := <-protos; p != "HTTP/2.0 CONNECT" {
		t.Fatalf("request %s, want HTTP/2.0 CONNECT", p)
	}
}

// TestInteractiveEOF checks that, without -n, the end of input closes the
// connection with 1000 at once. Replies still on their way may be lost:
// conn's Close discards messages that arrive while no Read is under way.
func TestInteractiveEOF(t *testing.T) {
	closed := make(chan error, 1)
	url := serve(t, func(c *conn.Conn, r *http.Request) {
		ctx := context.Background()
		for {
			typ, msg, err := c.Read(ctx)
			if err != nil {
				closed <- err
				return
			}
			c.Write(ctx, typ, msg)
		}
	})
	var stdout, stderr buffer
	code := run(context.Background(), []string{url}, strings.NewReader("one\ntwo\n"), &stdout, &stderr)
	if code != exitClean {
		t.Errorf("exit status %d, want 0; stderr:\n%s", code, stderr.String())
	}
	if got, want := stdout.String(), "one\ntwo\n"; !strings.HasPrefix(want, got) {
		t.Errorf("stdout %q, want a prefix of %q", got, want)
	}
	if err := <-closed; conn.CloseStatus(err) != conn.CloseNormal {
		t.Errorf("server saw %v, want close 1000", err)
	}
}

func TestHeadersAndSubprotocols(t *testing.T) {
	url := serve(t, func(c *conn.Conn, r *http.Request) {
		msg := fmt.Sprintf("subprotocol=%s token=%s other=%q", c.Subprotocol(), r.Header.Get("X-Token"), r.Header.Values("X-Other"))
		c.Write(context.Background(), conn.Text, []byte(msg))
		c.Close(conn.CloseNormal, "")
	})
	stdin, _ := openStdin(t)
	var stdout, stderr buffer
	args := []string{"-subprotocol", "chat.v1, chat.v3", "-subprotocol", "chat.v2", "-H", "X-Token: s3cret", "-H", "X-Other:a", "-H", "X-Other: b ", url}
	code := run(context.Background(), args, stdin, &stdout, &stderr)
	if code != exitClean {
		t.Errorf("exit status %d, want 0; stderr:\n%s", code, stderr.String())
	}
	if got, want := stdout.String(), "subprotocol=chat.v2 token=s3cret other=[\"a\" \"b\"]\n"; got != want {
		t.Errorf("stdout %q, want %q", got, want)
	}
	if !strings.Contains(stderr.String(), "subprotocol chat.v2, permessage-deflate") {
		t.Errorf("stderr does not report the subprotocol and compression:\n%s", stderr.String())
	}
}

// TestPeerCloses checks the exit status for each way the server can end
// the connection.
func TestPeerCloses(t *testing.T) {
	tests := []struct {
		name string
		end  func(c *conn.Conn)
		want int
	}{
		{"normal", func(c *conn.Conn) { c.Close(conn.CloseNormal, "bye") }, exitClean},
		{"going away", func(c *conn.Conn) { c.Close(conn.CloseGoingAway, "restart") }, exitClean},
		{"no status", func(c *conn.Conn) { c.Close(0, "") }, exitClean},
		{"policy", func(c *conn.Conn) { c.Close(conn.ClosePolicyViolation, "go away") }, exitAbnormal},
		{"internal error", func(c *conn.Conn) { c.Close(conn.CloseInternalError, "") }, exitAbnormal},
		{"dropped", func(c *conn.Conn) { c.CloseNow() }, exitAbnormal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := serve(t, func(c *conn.Conn, r *http.Request) {
				if _, _, err := c.Read(context.Background()); err == nil {
					tt.end(c)
				}
			})
			stdin, in := openStdin(t)
			go io.WriteString(in, "trigger\n")
			var stdout, stderr buffer
			code := run(context.Background(), []string{"-q", url}, stdin, &stdout, &stderr)
			if code != tt.want {
				t.Errorf("exit status %d, want %d; stderr:\n%s", code, tt.want, stderr.String())
			}
			if tt.want != exitClean && stderr.String() == "" {
				t.Errorf("nothing on stderr about the abnormal end, despite -q")
			}
		})
	}
}

func TestInterrupt(t *testing.T) {
	closed := make(chan error, 1)
	url := serve(t, func(c *conn.Conn, r *http.Request) {
		for {
			_, _, err := c.Read(context.Background())
			if err != nil {
				closed <- err
				return
			}
			c.Write(context.Background(), conn.Text, []byte("ready"))
		}
	})
	stdin, in := openStdin(t)
	go io.WriteString(in, "go\n")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr buffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{url}, stdin, &stdout, &stderr) }()
	waitFor(t, "the reply", func() bool { return stdout.String() == "ready\n" })
	cancel()
	if code := <-done; code != exitClean {
		t.Errorf("exit status %d, want 0; stderr:\n%s", code, stderr.String())
	}
	if err := <-closed; conn.CloseStatus(err) != conn.CloseGoingAway {
		t.Errorf("server saw %v, want close 1001", err)
	}
}

func TestPing(t *testing.T) {
	url := serve(t, echo)
	stdin, in := openStdin(t)
	var stdout, stderr buffer
	done := make(chan int, 1)
	go func() { done <- run(context.Background(), []string{"-ping", "10ms", url}, stdin, &stdout, &stderr) }()
	waitFor(t, "a pong", func() bool { return strings.Contains(stderr.String(), "wsc: pong after ") })
	in.Close()
	if code := <-done; code != exitClean {
		t.Errorf("exit status %d, want 0; stderr:\n%s", code, stderr.String())
	}
}

// TestScriptWait checks that script mode gives up waiting for replies
// that do not come, and still closes cleanly.
func TestScriptWait(t *testing.T) {
	url := serve(t, func(c *conn.Conn, r *http.Request) {
		for { // read and never answer
			if _, _, err := c.Read(context.Background()); err != nil {
				return
			}
		}
	})
	var stdout, stderr buffer
	code := run(context.Background(), []string{"-n", "-wait", "20ms", url}, strings.NewReader("hello?\n"), &stdout, &stderr)
	if code != exitClean {
		t.Errorf("exit status %d, want 0; stderr:\n%s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "0 replies to 1 messages") {
		t.Errorf("stderr does not report the missing reply:\n%s", stderr.String())
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestOutputError(t *testing.T) {
	url := serve(t, echo)
	stdin, in := openStdin(t)
	go io.WriteString(in, "x\n")
	var stderr buffer
	if code := run(context.Background(), []string{url}, stdin, failingWriter{}, &stderr); code != exitError {
		t.Errorf("exit status %d, want %d; stderr:\n%s", code, exitError, stderr.String())
	}
	if !strings.Contains(stderr.String(), "disk full") {
		t.Errorf("stderr does not name the error:\n%s", stderr.String())
	}
}

func TestConnectErrors(t *testing.T) {
	refusing := httptest.NewServer(http.NotFoundHandler())
	defer refusing.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := "ws://" + ln.Addr().String() + "/"
	ln.Close()
	for _, url := range []string{"ws" + strings.TrimPrefix(refusing.URL, "http") + "/ws", closedPort} {
		var stdout, stderr buffer
		if code := run(context.Background(), []string{url}, strings.NewReader(""), &stdout, &stderr); code != exitError {
			t.Errorf("%s: exit status %d, want %d; stderr:\n%s", url, code, exitError, stderr.String())
		}
	}
}

func TestUsage(t *testing.T) {
	tests := []struct {
		args []string
		want int
	}{
		{nil, exitUsage},
		{[]string{"ws://a/", "ws://b/"}, exitUsage},
		{[]string{"http://localhost/"}, exitUsage},
		{[]string{"localhost:8080"}, exitUsage},
		{[]string{"ws:///path"}, exitUsage},
		{[]string{"-H", "NoColon", "ws://localhost/"}, exitUsage},
		{[]string{"-H", "Bad Name: x", "ws://localhost/"}, exitUsage},
		{[]string{"-binary-format", "octal", "ws://localhost/"}, exitUsage},
		{[]string{"-ping", "-1s", "ws://localhost/"}, exitUsage},
		{[]string{"-bogus", "ws://localhost/"}, exitUsage},
		{[]string{"-http2", "ws://localhost/"}, exitUsage},
		{[]string{"-h"}, exitClean},
	}
	for _, tt := range tests {
		var stdout, stderr buffer
		code := run(context.Background(), tt.args, strings.NewReader(""), &stdout, &stderr)
		if code != tt.want {
			t.Errorf("wsc %q: exit status %d, want %d", tt.args, code, tt.want)
		}
		if !strings.Contains(stderr.String(), "usage: wsc") {
			t.Errorf("wsc %q: no usage on stderr:\n%s", tt.args, stderr.String())
		}
	}
}

// FuzzHeaderFlag checks that -H either refuses a value or adds a header
// whose name has no spaces.
func FuzzHeaderFlag(f *testing.F) {
	for _, s := range []string{"X-Token: abc", "X:", ":v", "NoColon", "A B: c", " Name :  v  ", "X: a: b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		o, err := parseArgs([]string{"-H", h, "ws://localhost/"}, io.Discard)
		if err != nil {
			return
		}
		if len(o.header) != 1 {
			t.Fatalf("-H %q gave headers %v", h, o.header)
		}
		for name := range o.header {
			if name == "" || strings.ContainsAny(name, " \t:") {
				t.Fatalf("-H %q gave header name %q", h, name)
			}
		}
	})
}
