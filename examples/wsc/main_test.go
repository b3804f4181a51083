package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"go/ast"
	"go/doc"
	"go/parser"
	"go/token"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twoway/websocket/conn"
	"github.com/twoway/websocket/internal/godebugtest"
	"github.com/twoway/websocket/internal/h2build"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// serve runs handler on loopback and returns the ws:// URL of its root.
func serve(t *testing.T, handler func(c *conn.Conn, r *http.Request)) string {
	t.Helper()
	hs := startServer(t, nil, handler)
	return "ws" + strings.TrimPrefix(hs.URL, "http") + "/"
}

// startServer runs handler on loopback, over TLS with cfg unless it is nil.
func startServer(t *testing.T, cfg *tls.Config, handler func(c *conn.Conn, r *http.Request)) *httptest.Server {
	t.Helper()
	var handlers sync.WaitGroup
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
	// Failed TLS handshakes are what some tests are about.
	hs.Config.ErrorLog = log.New(io.Discard, "", 0)
	if cfg != nil {
		hs.TLS = cfg
		hs.StartTLS()
	} else {
		hs.Start()
	}
	t.Cleanup(func() {
		hs.Close()
		handlers.Wait()
	})
	return hs
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

// buffer is a bytes.Buffer safe for concurrent use, which can be waited on.
type buffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{} // signaled by each Write
}

func (b *buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case b.signal() <- struct{}{}:
	default:
	}
	return b.b.Write(p)
}

func (b *buffer) signal() chan struct{} {
	if b.changed == nil {
		b.changed = make(chan struct{}, 1)
	}
	return b.changed
}

func (b *buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// await waits until cond holds for what b holds, which it returns, failing
// the test after a generous bound.
func (b *buffer) await(t *testing.T, what string, cond func(string) bool) string {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		b.mu.Lock()
		s, changed := b.b.String(), b.signal()
		b.mu.Unlock()
		if cond(s) {
			return s
		}
		select {
		case <-changed:
		case <-timeout:
			t.Fatalf("timed out waiting for %s; have:\n%s", what, s)
		}
	}
}

// awaitText waits until b contains each of subs.
func (b *buffer) awaitText(t *testing.T, subs ...string) string {
	t.Helper()
	return b.await(t, fmt.Sprintf("%q", subs), func(s string) bool {
		for _, sub := range subs {
			if !strings.Contains(s, sub) {
				return false
			}
		}
		return true
	})
}

// openStdin returns a standard input that stays open until the test ends
// or the returned writer is closed.
func openStdin(t *testing.T) (io.Reader, *io.PipeWriter) {
	r, w := io.Pipe()
	t.Cleanup(func() { w.Close() })
	return r, w
}

// wsc is a run of wsc in a goroutine of its own, with a standard input
// that stays open until the test closes it or ends.
type wsc struct {
	stdin          *io.PipeWriter
	stdout, stderr buffer
	interrupt      context.CancelFunc
	done           chan struct{} // closed when run has returned code
	code           int
}

func start(t *testing.T, args ...string) *wsc {
	t.Helper()
	stdin, in := openStdin(t)
	ctx, cancel := context.WithCancel(context.Background())
	w := &wsc{stdin: in, interrupt: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		w.code = run(ctx, args, stdin, &w.stdout, &w.stderr)
	}()
	t.Cleanup(func() {
		cancel()
		in.Close()
		select {
		case <-w.done:
		case <-time.After(10 * time.Second):
			t.Errorf("wsc %q still runs after interrupt and end of input", args)
		}
	})
	return w
}

// wait returns wsc's exit status.
func (w *wsc) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-w.done:
		return w.code
	case <-time.After(10 * time.Second):
		t.Fatalf("wsc did not exit; stderr:\n%s", w.stderr.String())
		return 0
	}
}

// write writes s to wsc's standard input, failing the test if it cannot.
func (w *wsc) write(t *testing.T, s string) {
	t.Helper()
	if s == "" {
		return // a pipe would wait for a read of nothing
	}
	if _, err := io.WriteString(w.stdin, s); err != nil {
		t.Fatalf("writing wsc's input: %v", err)
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
		{"read", []string{"-split", "read"}, "a\nb\n", "a\nb\n\n"},
		{"eof", []string{"-split", "eof"}, "a\nb\n", "a\nb\n\n"},
		{"eof long", []string{"-split", "eof"}, strings.Repeat("y", 1<<20), strings.Repeat("y", 1<<20) + "\n"},
		{"eof empty", []string{"-split", "eof"}, "", "\n"},
		{"eof binary", []string{"-split", "eof", "-binary"}, "\x00\n\r\xff", "000a0dff\n"},
		{"not text", nil, "ok\n\xff\nok too\n", "ok\nok too\n"},
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

// TestSplitReads checks that -split read sends each read of standard input
// as one message, and cuts text only between characters.
func TestSplitReads(t *testing.T) {
	url := serve(t, echo)
	tests := []struct {
		name   string
		flags  []string
		writes []string // each is read at once from the pipe
		want   string
	}{
		{"text", nil, []string{"ab", "c\n", "d"}, "ab\nc\n\nd\n"},
		{"character cut", nil, []string{"h\xc3", "\xa9!", "\xe2\x82", "\xac"}, "h\né!\n€\n"},
		{"cut at the end", nil, []string{"x\xc3"}, "x\n"}, // the lone byte is not text
		{"binary", []string{"-binary"}, []string{"a\n", "\xc3", "\xa9"}, "610a\nc3\na9\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdin, in := openStdin(t)
			go func() {
				for _, s := range tt.writes {
					if _, err := io.WriteString(in, s); err != nil {
						return
					}
				}
				in.Close()
			}()
			var stdout, stderr buffer
			args := append(append([]string{"-n", "-split", "read"}, tt.flags...), url)
			if code := run(context.Background(), args, stdin, &stdout, &stderr); code != exitClean {
				t.Errorf("exit status %d, want %d; stderr:\n%s", code, exitClean, stderr.String())
			}
			if got := stdout.String(); got != tt.want {
				t.Errorf("stdout %q, want %q", got, tt.want)
			}
		})
	}
}

// TestNotText checks that text that is not UTF-8 is refused: a line is
// skipped, a whole input fails.
func TestNotText(t *testing.T) {
	url := serve(t, echo)
	tests := []struct {
		name  string
		flags []string
		want  int
	}{
		{"line", nil, exitClean},
		{"read", []string{"-split", "read"}, exitClean},
		{"eof", []string{"-split", "eof"}, exitError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr buffer
			args := append(append([]string{"-n", "-wait", "1s"}, tt.flags...), url)
			code := run(context.Background(), args, strings.NewReader("\xff\xfe"), &stdout, &stderr)
			if code != tt.want {
				t.Errorf("exit status %d, want %d; stderr:\n%s", code, tt.want, stderr.String())
			}
			if !strings.Contains(stderr.String(), "not UTF-8") {
				t.Errorf("stderr does not say the input is not text:\n%s", stderr.String())
			}
			if stdout.String() != "" {
				t.Errorf("stdout %q, want nothing", stdout.String())
			}
		})
	}
}

// TestURLSchemes checks that http:// and https:// URLs are taken as ws://
// and wss://, as conn.Dial takes them.
func TestURLSchemes(t *testing.T) {
	ws := serve(t, echo)
	hostPath := strings.TrimPrefix(ws, "ws://")
	for _, scheme := range []string{"ws", "http", "HTTP", "Ws"} {
		var stdout, stderr buffer
		url := scheme + "://" + hostPath
		code := run(context.Background(), []string{"-n", url}, strings.NewReader("hi\n"), &stdout, &stderr)
		if code != exitClean || stdout.String() != "hi\n" {
			t.Errorf("%s: exit status %d, stdout %q; want %d, the echo; stderr:\n%s", url, code, stdout.String(), exitClean, stderr.String())
		}
	}
}

// TestHTTP2 runs a script over an HTTP/2 stream (RFC 8441) to a TLS server
// that offers extended CONNECT, trusting the server's certificate with
// -cacert.
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
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: hs.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr buffer
	url := "wss" + strings.TrimPrefix(hs.URL, "https") + "/"
	code := run(context.Background(), []string{"-n", "-v", "-cacert", ca, "-http2", url}, strings.NewReader("over h2\n"), &stdout, &stderr)
	if !h2build.XNetSendsExtendedConnect {
		checkNoExtendedConnect(t, code, stderr.String())
		return
	}
	if code != exitClean || stdout.String() != "over h2\n" {
		t.Fatalf("exit status %d, stdout %q; want %d, the echo; stderr:\n%s", code, stdout.String(), exitClean, stderr.String())
	}
	if p := <-protos; p != "HTTP/2.0 CONNECT" {
		t.Fatalf("request %s, want HTTP/2.0 CONNECT", p)
	}
	for _, want := range []string{"> CONNECT / HTTP/2.0\n", "\n> :protocol: websocket\n", "\n< HTTP/2.0 200 OK\n", " over HTTP/2.0 "} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr does not contain %q:\n%s", want, stderr.String())
		}
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

// TestInteractive feeds commands to wsc with -i, which stands for a
// terminal, and checks what it prints and sends.
func TestInteractive(t *testing.T) {
	url := serve(t, echo)
	tests := []struct {
		name       string
		flags      []string
		stdin      string
		wantStdout string
		wantStderr []string
	}{
		{
			name:       "marked",
			flags:      []string{"-i"},
			stdin:      "hello\n\n",
			wantStdout: "< hello\n< \n",
		},
		{
			name:       "escape",
			flags:      []string{"-i"},
			stdin:      "//not a command\n///\n",
			wantStdout: "< /not a command\n< //\n",
		},
		{
			name:       "binary",
			flags:      []string{"-i", "-binary"},
			stdin:      "AB\n",
			wantStdout: "< (binary) 4142\n",
		},
		{
			name:       "ping",
			flags:      []string{"-i"},
			stdin:      "/ping\nafter\n",
			wantStdout: "< after\n",
			wantStderr: []string{"wsc: pong after "},
		},
		{
			name:       "unknown and help",
			flags:      []string{"-i"},
			stdin:      "/bogus\n/help\nsent\n",
			wantStdout: "< sent\n",
			wantStderr: []string{"unknown command /bogus", "/close [CODE [REASON]]"},
		},
		{
			name:       "bad close",
			flags:      []string{"-i"},
			stdin:      "/close 1006\n/close x\n/close 1000 " + strings.Repeat("r", 124) + "\nstill open\n",
			wantStdout: "< still open\n",
			wantStderr: []string{"close code 1006 cannot be sent", "/close x: the code is not a number", "at most 123"},
		},
		{
			name:       "not interactive",
			flags:      []string{"-i=false"},
			stdin:      "/ping\n//x\n",
			wantStdout: "/ping\n//x\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := start(t, append(tt.flags, url)...)
			w.write(t, tt.stdin)
			w.stdout.await(t, fmt.Sprintf("stdout %q", tt.wantStdout), func(s string) bool { return len(s) >= len(tt.wantStdout) })
			w.stderr.awaitText(t, tt.wantStderr...)
			w.stdin.Close()
			if code := w.wait(t); code != exitClean {
				t.Errorf("exit status %d, want 0; stderr:\n%s", code, w.stderr.String())
			}
			if got := w.stdout.String(); got != tt.wantStdout {
				t.Errorf("stdout %q, want %q", got, tt.wantStdout)
			}
		})
	}
}

// closeSeen is what the server saw of the closing handshake.
type closeSeen struct {
	Code   conn.CloseCode
	Reason string
	Remote bool
}

// TestClose checks the code and reason wsc closes with, as the flags and
// commands choose them, and that its exit status is 0 whatever the code.
func TestClose(t *testing.T) {
	tests := []struct {
		name      string
		flags     []string
		stdin     string
		eof       bool // close stdin after writing it
		interrupt bool // interrupt wsc once it has connected
		want      closeSeen
		wantErr   string // on wsc's stderr
	}{
		{name: "default", eof: true, want: closeSeen{conn.CloseNormal, "", true}},
		{name: "flags", flags: []string{"-close-code", "4000", "-close-reason", "done here"}, eof: true, want: closeSeen{4000, "done here", true}},
		{name: "no code", flags: []string{"-close-code", "0"}, eof: true, want: closeSeen{conn.CloseNoStatus, "", true}},
		{name: "going away", flags: []string{"-close-code", "1001"}, eof: true, want: closeSeen{conn.CloseGoingAway, "", true}},
		{name: "interrupt", flags: []string{"-close-code", "4000", "-close-reason", "bye"}, interrupt: true, want: closeSeen{conn.CloseGoingAway, "bye", true}},
		{name: "command", flags: []string{"-i"}, stdin: "/close 4001 going now\n", want: closeSeen{4001, "going now", true}},
		{name: "command spaces", flags: []string{"-i"}, stdin: "/close   4001  two  spaces\n", want: closeSeen{4001, "two  spaces", true}},
		{name: "command defaults", flags: []string{"-i", "-close-code", "3000", "-close-reason", "r"}, stdin: "/close\n", want: closeSeen{3000, "r", true}},
		{name: "command no code", flags: []string{"-i"}, stdin: "/close 0\n", want: closeSeen{conn.CloseNoStatus, "", true}},
		{name: "command after a refused one", flags: []string{"-i"}, stdin: "/close 1005\n/close 4002\n", want: closeSeen{4002, "", true}, wantErr: "cannot be sent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ended := make(chan error, 1)
			url := serve(t, func(c *conn.Conn, r *http.Request) {
				for {
					if _, _, err := c.Read(context.Background()); err != nil {
						ended <- err
						return
					}
				}
			})
			w := start(t, append(tt.flags, url)...)
			w.stderr.awaitText(t, "connected to")
			w.write(t, tt.stdin)
			if tt.eof {
				w.stdin.Close()
			}
			if tt.interrupt {
				w.interrupt()
			}
			if code := w.wait(t); code != exitClean {
				t.Errorf("exit status %d, want 0; stderr:\n%s", code, w.stderr.String())
			}
			var ce *conn.CloseError
			if err := <-ended; !errors.As(err, &ce) {
				t.Fatalf("server saw %v, want a *conn.CloseError", err)
			}
			if diff := cmp.Diff(tt.want, closeSeen{ce.Code, ce.Reason, ce.Remote}); diff != "" {
				t.Errorf("server saw the closing handshake (-want +got):\n%s", diff)
			}
			if !strings.Contains(w.stderr.String(), tt.wantErr) {
				t.Errorf("stderr does not contain %q:\n%s", tt.wantErr, w.stderr.String())
			}
		})
	}
}

// TestVerbose checks that -v prints the handshake's request and response.
func TestVerbose(t *testing.T) {
	url := serve(t, echo)
	refusing := httptest.NewServer(http.NotFoundHandler())
	defer refusing.Close()
	host := strings.TrimSuffix(strings.TrimPrefix(url, "ws://"), "/")
	tests := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{
			name: "accepted",
			args: []string{"-v", "-q", "-subprotocol", "chat.v1", "-H", "X-Token: abc", url + "path?q=1"},
			code: exitClean,
			want: []string{
				"> GET /path?q=1 HTTP/1.1\n> Host: " + host + "\n",
				"> Sec-Websocket-Protocol: chat.v1\n",
				"> Sec-Websocket-Version: 13\n",
				"> X-Token: abc\n",
				"< HTTP/1.1 101 Switching Protocols\n",
				"< Sec-Websocket-Protocol: chat.v1\n",
				"< Upgrade: websocket\n",
			},
		},
		{
			name: "refused",
			args: []string{"-v", "ws" + strings.TrimPrefix(refusing.URL, "http") + "/ws"},
			code: exitError,
			want: []string{"> GET /ws HTTP/1.1\n", "< HTTP/1.1 404 Not Found\n", "wsc: websocket: handshake failed"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr buffer
			if code := run(context.Background(), tt.args, strings.NewReader(""), &stdout, &stderr); code != tt.code {
				t.Errorf("exit status %d, want %d; stderr:\n%s", code, tt.code, stderr.String())
			}
			for _, want := range tt.want {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("stderr does not contain %q:\n%s", want, stderr.String())
				}
			}
		})
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
	if !strings.Contains(stderr.String(), "over HTTP/1.1 (subprotocol chat.v2, permessage-deflate)") {
		t.Errorf("stderr does not report the protocol, subprotocol and compression:\n%s", stderr.String())
	}
}

// TestPeerCloses checks the exit status for each way the server can end
// the connection.
func TestPeerCloses(t *testing.T) {
	tests := []struct {
		name string
		end  func(c *conn.Conn)
		want int
		msg  string // on stderr
	}{
		{"normal", func(c *conn.Conn) { c.Close(conn.CloseNormal, "bye") }, exitClean, `closed by peer: 1000 (normal closure): "bye"`},
		{"going away", func(c *conn.Conn) { c.Close(conn.CloseGoingAway, "restart") }, exitClean, "closed by peer: 1001"},
		{"no status", func(c *conn.Conn) { c.Close(0, "") }, exitClean, "closed by peer: 1005"},
		{"policy", func(c *conn.Conn) { c.Close(conn.ClosePolicyViolation, "go away") }, exitAbnormal, `closed by peer: 1008 (policy violation): "go away"`},
		{"application", func(c *conn.Conn) { c.Close(4000, "") }, exitAbnormal, "closed by peer: 4000"},
		{"internal error", func(c *conn.Conn) { c.Close(conn.CloseInternalError, "") }, exitAbnormal, "closed by peer: 1011"},
		{"dropped", func(c *conn.Conn) { c.CloseNow() }, exitAbnormal, "connection lost"},
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
			args := []string{url}
			if tt.want != exitClean {
				args = []string{"-q", url}
			}
			code := run(context.Background(), args, stdin, &stdout, &stderr)
			if code != tt.want {
				t.Errorf("exit status %d, want %d; stderr:\n%s", code, tt.want, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.msg) {
				t.Errorf("stderr does not say %q, even with -q for an abnormal end:\n%s", tt.msg, stderr.String())
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
	w := start(t, url)
	w.write(t, "go\n")
	w.stdout.awaitText(t, "ready\n")
	w.interrupt()
	if code := w.wait(t); code != exitClean {
		t.Errorf("exit status %d, want 0; stderr:\n%s", code, w.stderr.String())
	}
	if err := <-closed; conn.CloseStatus(err) != conn.CloseGoingAway {
		t.Errorf("server saw %v, want close 1001", err)
	}
}

func TestPing(t *testing.T) {
	url := serve(t, echo)
	w := start(t, "-ping", "10ms", url)
	w.stderr.awaitText(t, "wsc: pong after ")
	w.stdin.Close()
	if code := w.wait(t); code != exitClean {
		t.Errorf("exit status %d, want 0; stderr:\n%s", code, w.stderr.String())
	}
}

// TestPrintOnly checks that with -u wsc reads no input, and waits for the
// peer to close.
func TestPrintOnly(t *testing.T) {
	url := serve(t, func(c *conn.Conn, r *http.Request) {
		c.Write(context.Background(), conn.Text, []byte("news"))
		c.Close(conn.CloseNormal, "")
	})
	var stdout, stderr buffer
	// Standard input that fails every read: with -u it is never read.
	code := run(context.Background(), []string{"-u", url}, iotestErrReader{}, &stdout, &stderr)
	if code != exitClean || stdout.String() != "news\n" {
		t.Errorf("exit status %d, stdout %q; want 0, the message; stderr:\n%s", code, stdout.String(), stderr.String())
	}
}

type iotestErrReader struct{}

func (iotestErrReader) Read([]byte) (int, error) { return 0, errors.New("stdin was read") }

// TestInputError checks that a failure to read standard input ends wsc
// with status 1, and the connection with 1001.
func TestInputError(t *testing.T) {
	tests := []struct {
		name  string
		split string
	}{{"line", "line"}, {"read", "read"}, {"eof", "eof"}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ended := make(chan error, 1)
			url := serve(t, func(c *conn.Conn, r *http.Request) {
				_, _, err := c.Read(context.Background())
				ended <- err
			})
			var stdout, stderr buffer
			code := run(context.Background(), []string{"-split", tt.split, url}, iotestErrReader{}, &stdout, &stderr)
			if code != exitError || !strings.Contains(stderr.String(), "reading input: stdin was read") {
				t.Errorf("exit status %d, want %d and the error; stderr:\n%s", code, exitError, stderr.String())
			}
			if err := <-ended; conn.CloseStatus(err) != conn.CloseGoingAway {
				t.Errorf("server saw %v, want close 1001", err)
			}
		})
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

// pki is a test CA and the certificates it signed, in PEM files.
type pki struct {
	ca                    string // the CA's certificate
	pool                  *x509.CertPool
	serverCert, serverKey string // for 127.0.0.1
	server                tls.Certificate
	clientCert, clientKey string // for "wsc client"
	clientBoth            string // the client's certificate and key
	client                tls.Certificate
	notPEM                string
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	dir := t.TempDir()
	p := &pki{pool: x509.NewCertPool()}
	file := func(name string, blocks ...[]byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, bytes.Join(blocks, nil), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	newKey := func() *ecdsa.PrivateKey {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return key
	}
	now := time.Now()
	caKey := newKey()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "wsc test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	p.pool.AddCert(caCert)
	p.ca = file("ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}))
	issue := func(serial int64, cn string, usage x509.ExtKeyUsage) (certPEM, keyPEM []byte, cert tls.Certificate) {
		key := newKey()
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: cn},
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.Add(time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
			IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, key.Public(), caKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
		keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
		if cert, err = tls.X509KeyPair(certPEM, keyPEM); err != nil {
			t.Fatal(err)
		}
		return certPEM, keyPEM, cert
	}
	certPEM, keyPEM, cert := issue(2, "127.0.0.1", x509.ExtKeyUsageServerAuth)
	p.serverCert, p.serverKey, p.server = file("server.pem", certPEM), file("server-key.pem", keyPEM), cert
	certPEM, keyPEM, cert = issue(3, "wsc client", x509.ExtKeyUsageClientAuth)
	p.clientCert, p.clientKey, p.client = file("client.pem", certPEM), file("client-key.pem", keyPEM), cert
	p.clientBoth = file("client-both.pem", certPEM, keyPEM)
	p.notPEM = file("not.pem", []byte("not a certificate\n"))
	return p
}

// TestTLS checks the TLS flags against a server whose certificate the
// test CA signed, and which asks for a client certificate.
func TestTLS(t *testing.T) {
	p := newPKI(t)
	hs := startServer(t, &tls.Config{
		Certificates: []tls.Certificate{p.server},
		ClientCAs:    p.pool,
		ClientAuth:   tls.VerifyClientCertIfGiven,
	}, func(c *conn.Conn, r *http.Request) {
		client := "none"
		if certs := r.TLS.PeerCertificates; len(certs) > 0 {
			client = certs[0].Subject.CommonName
		}
		c.Write(context.Background(), conn.Text, []byte("client="+client))
		c.Close(conn.CloseNormal, "")
	})
	wss := "wss" + strings.TrimPrefix(hs.URL, "https") + "/"
	tests := []struct {
		name    string
		args    []string
		code    int
		stdout  string
		wantErr string
	}{
		{"system roots", []string{wss}, exitError, "", "certificate signed by unknown authority"},
		{"cacert", []string{"-cacert", p.ca, wss}, exitClean, "client=none\n", ""},
		{"https", []string{"-cacert", p.ca, hs.URL + "/"}, exitClean, "client=none\n", ""},
		{"insecure", []string{"-k", wss}, exitClean, "client=none\n", ""},
		{"client certificate", []string{"-cacert", p.ca, "-cert", p.clientCert, "-key", p.clientKey, wss}, exitClean, "client=wsc client\n", ""},
		{"client certificate and key in one file", []string{"-cacert", p.ca, "-cert", p.clientBoth, wss}, exitClean, "client=wsc client\n", ""},
		{"cacert not PEM", []string{"-cacert", p.notPEM, wss}, exitError, "", "no PEM certificate"},
		{"cacert missing", []string{"-cacert", p.ca + ".missing", wss}, exitError, "", "no such file"},
		{"key missing", []string{"-k", "-cert", p.clientCert, wss}, exitError, "", "-cert " + p.clientCert},
		{"key of another certificate", []string{"-k", "-cert", p.clientCert, "-key", p.serverKey, wss}, exitError, "", "does not match"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdin, _ := openStdin(t)
			var stdout, stderr buffer
			if code := run(context.Background(), tt.args, stdin, &stdout, &stderr); code != tt.code {
				t.Errorf("exit status %d, want %d; stderr:\n%s", code, tt.code, stderr.String())
			}
			if got := stdout.String(); got != tt.stdout {
				t.Errorf("stdout %q, want %q", got, tt.stdout)
			}
			if !strings.Contains(stderr.String(), tt.wantErr) {
				t.Errorf("stderr does not contain %q:\n%s", tt.wantErr, stderr.String())
			}
		})
	}
}

func TestUsage(t *testing.T) {
	tests := []struct {
		args []string
		want int
	}{
		{nil, exitUsage},
		{[]string{"ws://a/", "ws://b/"}, exitUsage},
		{[]string{"ftp://localhost/"}, exitUsage},
		{[]string{"localhost:8080"}, exitUsage},
		{[]string{"ws:///path"}, exitUsage},
		{[]string{"-H", "NoColon", "ws://localhost/"}, exitUsage},
		{[]string{"-H", "Bad Name: x", "ws://localhost/"}, exitUsage},
		{[]string{"-binary-format", "octal", "ws://localhost/"}, exitUsage},
		{[]string{"-ping", "-1s", "ws://localhost/"}, exitUsage},
		{[]string{"-bogus", "ws://localhost/"}, exitUsage},
		{[]string{"-http2", "ws://localhost/"}, exitUsage},
		{[]string{"-http2", "http://localhost/"}, exitUsage},
		{[]string{"-split", "word", "ws://localhost/"}, exitUsage},
		{[]string{"-i", "-split", "read", "ws://localhost/"}, exitUsage},
		{[]string{"-i", "-u", "ws://localhost/"}, exitUsage},
		{[]string{"-key", "k.pem", "ws://localhost/"}, exitUsage},
		{[]string{"-close-code", "1005", "ws://localhost/"}, exitUsage},
		{[]string{"-close-code", "5000", "ws://localhost/"}, exitUsage},
		{[]string{"-close-code", "70000", "ws://localhost/"}, exitUsage},
		{[]string{"-close-code", "x", "ws://localhost/"}, exitUsage},
		{[]string{"-close-code", "0", "-close-reason", "r", "ws://localhost/"}, exitUsage},
		{[]string{"-close-reason", strings.Repeat("r", 124), "ws://localhost/"}, exitUsage},
		{[]string{"-close-reason", "\xff", "ws://localhost/"}, exitUsage},
		{[]string{"-once", "ws://localhost/"}, exitUsage},
		{[]string{"-origins", "*", "ws://localhost/"}, exitUsage},
		{[]string{"-l", "127.0.0.1:0", "ws://localhost/"}, exitUsage},
		{[]string{"-l", "127.0.0.1"}, exitUsage},
		{[]string{"-l", "/path"}, exitUsage},
		{[]string{"-l", ":0", "-http2"}, exitUsage},
		{[]string{"-l", ":0", "-k"}, exitUsage},
		{[]string{"-l", ":0", "-timeout", "1s"}, exitUsage},
		{[]string{"-l", ":0", "-cacert", "ca.pem"}, exitUsage},
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

// TestDoc checks that the package documentation, which go doc prints,
// is there and names every flag and command.
func TestDoc(t *testing.T) {
	fset := token.NewFileSet()
	var files []*ast.File
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	pkg, err := doc.NewFromFiles(fset, files, "github.com/twoway/websocket/examples/wsc")
	if err != nil {
		t.Fatal(err)
	}
	text := pkg.Doc
	if !strings.HasPrefix(text, "Wsc is ") {
		t.Fatalf("package documentation begins %.40q, want \"Wsc is \"", text)
	}
	var missing []string
	newFlagSet(&options{header: http.Header{}}, io.Discard).VisitAll(func(f *flag.Flag) {
		if !regexp.MustCompile(`(^|[\s(])-` + f.Name + `\b`).MatchString(text) {
			missing = append(missing, "-"+f.Name)
		}
	})
	for _, s := range []string{"/ping", "/close", "/help", "//", "# Exit status", "\t0 ", "\t1 ", "\t2 ", "\t3 "} {
		if !strings.Contains(text, s) {
			missing = append(missing, s)
		}
	}
	if len(missing) > 0 {
		t.Errorf("the package documentation does not mention %q", missing)
	}
}

func TestIsTerminal(t *testing.T) {
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	for _, r := range []io.Reader{strings.NewReader("x"), null, pr} {
		if isTerminal(r) {
			t.Errorf("isTerminal(%T %v) = true", r, r)
		}
	}
}

func TestCompleteUTF8(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{"", 0},
		{"abc", 3},
		{"é", 2},
		{"a\xc3", 1},
		{"a\xe2\x82", 1},
		{"a\xf0\x9f\x98", 1},
		{"a\xf0\x9f\x98\x80", 5},
		{"\xff", 1},             // not a start: sent, and refused as text
		{"\x80\x80\x80\x80", 4}, // likewise
	}
	for _, tt := range tests {
		if got := completeUTF8([]byte(tt.in)); got != tt.want {
			t.Errorf("completeUTF8(%q) = %d, want %d", tt.in, got, tt.want)
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
