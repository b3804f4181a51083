package main

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/twoway/websocket/conn"
	"github.com/twoway/websocket/handshake"
	"github.com/twoway/websocket/internal/godebugtest"
	"github.com/twoway/websocket/internal/h2build"
)

var listeningRE = regexp.MustCompile(`wsc: listening on (\S+)\n`)

// listen starts wsc with -l on a free loopback port and returns it and the
// URL it serves.
func listen(t *testing.T, path string, flags ...string) (*wsc, string) {
	t.Helper()
	w := start(t, append([]string{"-l", "127.0.0.1:0" + path}, flags...)...)
	s := w.stderr.await(t, "the listening address", listeningRE.MatchString)
	return w, listeningRE.FindStringSubmatch(s)[1]
}

// dial opens a client connection to url, failing the test if it cannot.
func dial(t *testing.T, url string, opts *conn.DialOptions) *conn.Conn {
	t.Helper()
	c, _, err := conn.Dial(context.Background(), url, opts)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

// readText reads a message from c and checks that it is text want.
func readText(t *testing.T, c *conn.Conn, want string) {
	t.Helper()
	typ, msg, err := c.Read(context.Background())
	if err != nil || typ != conn.Text || string(msg) != want {
		t.Fatalf("read %v %q, %v; want text %q", typ, msg, err, want)
	}
}

// TestListenRelay relays both ways between a client and wsc's standard
// input and output.
func TestListenRelay(t *testing.T) {
	w, url := listen(t, "/ws", "-once", "-subprotocol", "b,a")
	if !strings.HasPrefix(url, "ws://127.0.0.1:") || !strings.HasSuffix(url, "/ws") {
		t.Fatalf("wsc listens on %s, want ws://127.0.0.1:port/ws", url)
	}
	c := dial(t, url, &conn.DialOptions{Subprotocols: []string{"a", "b"}, Compression: &conn.CompressionOptions{}})
	if c.Subprotocol() != "b" {
		t.Errorf("subprotocol %q, want b, wsc's first choice", c.Subprotocol())
	}
	ctx := context.Background()
	if err := c.Write(ctx, conn.Text, []byte("from the client")); err != nil {
		t.Fatal(err)
	}
	if err := c.Write(ctx, conn.Binary, []byte{0, 1}); err != nil {
		t.Fatal(err)
	}
	w.stdout.awaitText(t, "from the client\n0001\n")
	w.write(t, "from wsc\n")
	readText(t, c, "from wsc")
	if err := c.Close(conn.CloseNormal, "done"); err != nil {
		t.Errorf("Close: %v", err)
	}
	if code := w.wait(t); code != exitClean {
		t.Errorf("exit status %d, want 0; stderr:\n%s", code, w.stderr.String())
	}
	for _, want := range []string{"connection 1 from 127.0.0.1:", " to /ws over HTTP/1.1 (subprotocol b, permessage-deflate)", `closed by peer: 1000 (normal closure): "done"`} {
		if !strings.Contains(w.stderr.String(), want) {
			t.Errorf("stderr does not contain %q:\n%s", want, w.stderr.String())
		}
	}
}

// TestListenEnds checks, with -once, the exit status for each way the
// connection can end, and what the client sees.
func TestListenEnds(t *testing.T) {
	tests := []struct {
		name  string
		flags []string
		end   func(t *testing.T, w *wsc, c *conn.Conn)
		code  int
		seen  *closeSeen // by the client, when wsc closes
	}{
		{
			name: "client closes",
			end:  func(t *testing.T, w *wsc, c *conn.Conn) { c.Close(conn.CloseGoingAway, "") },
			code: exitClean,
		},
		{
			name: "client closes with 4000",
			end:  func(t *testing.T, w *wsc, c *conn.Conn) { c.Close(4000, "") },
			code: exitAbnormal,
		},
		{
			name: "client drops",
			end:  func(t *testing.T, w *wsc, c *conn.Conn) { c.CloseNow() },
			code: exitAbnormal,
		},
		{
			name:  "end of input",
			flags: []string{"-close-code", "4001", "-close-reason", "that's all"},
			end:   func(t *testing.T, w *wsc, c *conn.Conn) { w.stdin.Close() },
			code:  exitClean,
			seen:  &closeSeen{4001, "that's all", true},
		},
		{
			name:  "command",
			flags: []string{"-i"},
			end:   func(t *testing.T, w *wsc, c *conn.Conn) { w.write(t, "/close 4002 by hand\n") },
			code:  exitClean,
			seen:  &closeSeen{4002, "by hand", true},
		},
		{
			name: "interrupt",
			end:  func(t *testing.T, w *wsc, c *conn.Conn) { w.interrupt() },
			code: exitClean,
			seen: &closeSeen{conn.CloseGoingAway, "", true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, url := listen(t, "", append([]string{"-once"}, tt.flags...)...)
			c := dial(t, url+"any/path", nil)
			w.stderr.awaitText(t, "connection 1 from")
			ended := make(chan error, 1)
			go func() {
				for {
					if _, _, err := c.Read(context.Background()); err != nil {
						ended <- err
						return
					}
				}
			}()
			tt.end(t, w, c)
			if code := w.wait(t); code != tt.code {
				t.Errorf("exit status %d, want %d; stderr:\n%s", code, tt.code, w.stderr.String())
			}
			err := <-ended
			if tt.seen == nil {
				return
			}
			var ce *conn.CloseError
			if !errors.As(err, &ce) {
				t.Fatalf("client saw %v, want a *conn.CloseError", err)
			}
			if diff := cmp.Diff(*tt.seen, closeSeen{ce.Code, ce.Reason, ce.Remote}); diff != "" {
				t.Errorf("client saw the closing handshake (-want +got):\n%s", diff)
			}
		})
	}
}

// TestListenRefuses checks the handshakes wsc refuses: another path, a
// second connection, a foreign Origin unless -origins allows it.
func TestListenRefuses(t *testing.T) {
	tests := []struct {
		name   string
		flags  []string
		path   string
		origin string
		second bool // dial while a first connection is open
		status int  // of the refusal, or 0 for none
	}{
		{name: "path", path: "/other", status: http.StatusNotFound},
		{name: "path prefix", path: "/ws/more", status: http.StatusNotFound},
		{name: "second", path: "/ws", second: true, status: http.StatusServiceUnavailable},
		{name: "foreign origin", path: "/ws", origin: "https://elsewhere.example", status: http.StatusForbidden},
		{name: "allowed origin", flags: []string{"-origins", "*.example"}, path: "/ws", origin: "https://elsewhere.example"},
		{name: "any origin", flags: []string{"-origins", "*"}, path: "/ws", origin: "https://elsewhere.example"},
		{name: "own origin", path: "/ws", origin: "http://127.0.0.1:PORT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, url := listen(t, "/ws", tt.flags...)
			hostPort := strings.TrimSuffix(strings.TrimPrefix(url, "ws://"), "/ws")
			var first *conn.Conn
			if tt.second {
				first = dial(t, url, nil)
				w.stderr.awaitText(t, "connection 1 from")
			}
			h := http.Header{}
			if tt.origin != "" {
				_, port, _ := net.SplitHostPort(hostPort)
				h.Set("Origin", strings.ReplaceAll(tt.origin, "PORT", port))
			}
			c, _, err := conn.Dial(context.Background(), "ws://"+hostPort+tt.path, &conn.DialOptions{Header: h})
			if err == nil {
				c.Close(conn.CloseNormal, "")
			}
			var re *handshake.ResponseError
			switch {
			case tt.status == 0 && err != nil:
				t.Errorf("dial: %v, want a connection", err)
			case tt.status != 0 && !errors.As(err, &re):
				t.Errorf("dial: %v, want a refusal with %d", err, tt.status)
			case tt.status != 0 && re.StatusCode != tt.status:
				t.Errorf("dial refused with %d, want %d", re.StatusCode, tt.status)
			}
			if first != nil {
				first.Close(conn.CloseNormal, "")
			}
			w.interrupt()
			if code := w.wait(t); code != exitClean {
				t.Errorf("exit status %d, want 0: a refusal is no abnormal end; stderr:\n%s", code, w.stderr.String())
			}
		})
	}
}

// TestListenSequence serves connections one after another: a line read
// while none is open waits for the next, and the exit status remembers a
// connection that ended abnormally.
func TestListenSequence(t *testing.T) {
	w, url := listen(t, "/")
	w.write(t, "early\n") // read by wsc before anyone connects
	c1 := dial(t, url, nil)
	readText(t, c1, "early")
	c1.CloseNow()
	w.stderr.awaitText(t, "connection lost")

	c2 := dial(t, url, nil)
	w.stderr.awaitText(t, "connection 2 from")
	w.write(t, "second\n")
	readText(t, c2, "second")
	w.stdin.Close()
	if _, _, err := c2.Read(context.Background()); conn.CloseStatus(err) != conn.CloseNormal {
		t.Errorf("second client saw %v, want close 1000", err)
	}
	if code := w.wait(t); code != exitAbnormal {
		t.Errorf("exit status %d, want %d for the first connection; stderr:\n%s", code, exitAbnormal, w.stderr.String())
	}
}

// TestListenPrintOnly checks that with -u wsc serves connections until
// interrupted, printing what arrives.
func TestListenPrintOnly(t *testing.T) {
	w, url := listen(t, "", "-u")
	for i, msg := range []string{"one", "two"} {
		c := dial(t, url, nil)
		if err := c.Write(context.Background(), conn.Text, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		if err := c.Close(conn.CloseNormal, ""); err != nil {
			t.Fatalf("connection %d: Close: %v", i+1, err)
		}
	}
	w.stdout.awaitText(t, "one\ntwo\n")
	w.stderr.awaitText(t, "connection 2 from")
	w.interrupt()
	if code := w.wait(t); code != exitClean {
		t.Errorf("exit status %d, want 0; stderr:\n%s", code, w.stderr.String())
	}
}

// TestListenInputEnds checks that wsc exits when its input ends while no
// connection is open.
func TestListenInputEnds(t *testing.T) {
	var stdout, stderr buffer
	if code := run(context.Background(), []string{"-l", "127.0.0.1:0"}, strings.NewReader(""), &stdout, &stderr); code != exitClean {
		t.Errorf("exit status %d, want 0; stderr:\n%s", code, stderr.String())
	}
}

func TestListenError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	stdin, _ := openStdin(t)
	var stdout, stderr buffer
	if code := run(context.Background(), []string{"-l", ln.Addr().String()}, stdin, &stdout, &stderr); code != exitError {
		t.Errorf("exit status %d, want %d; stderr:\n%s", code, exitError, stderr.String())
	}
	if !strings.Contains(stderr.String(), "address already in use") {
		t.Errorf("stderr does not say why:\n%s", stderr.String())
	}
}

func TestListenVerbose(t *testing.T) {
	w, url := listen(t, "/v", "-v", "-once", "-H", "X-Served-By: wsc")
	c, resp, err := conn.Dial(context.Background(), url+"?q=1", &conn.DialOptions{Header: http.Header{"X-Token": {"abc"}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Header.Get("X-Served-By"); got != "wsc" {
		t.Errorf("response header X-Served-By %q, want wsc", got)
	}
	c.Close(conn.CloseNormal, "")
	w.wait(t)
	for _, want := range []string{"\n< GET /v?q=1 HTTP/1.1\n< Host: 127.0.0.1:", "\n< X-Token: abc\n", "\n< Sec-Websocket-Version: 13\n"} {
		if !strings.Contains(w.stderr.String(), want) {
			t.Errorf("stderr does not contain %q:\n%s", want, w.stderr.String())
		}
	}
}

// TestListenTLS serves wss:// and requires client certificates that the
// test CA signed.
func TestListenTLS(t *testing.T) {
	p := newPKI(t)
	tests := []struct {
		name string
		cfg  *tls.Config
		ok   bool
	}{
		{"client certificate", &tls.Config{RootCAs: p.pool, Certificates: []tls.Certificate{p.client}}, true},
		{"no client certificate", &tls.Config{RootCAs: p.pool}, false},
		{"server not trusted", &tls.Config{Certificates: []tls.Certificate{p.client}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, url := listen(t, "/s", "-cert", p.serverCert, "-key", p.serverKey, "-cacert", p.ca)
			if !strings.HasPrefix(url, "wss://") {
				t.Fatalf("wsc listens on %s, want wss://", url)
			}
			c, _, err := conn.Dial(context.Background(), url, &conn.DialOptions{TLSConfig: tt.cfg})
			if tt.ok != (err == nil) {
				t.Fatalf("dial: %v, want success %v", err, tt.ok)
			}
			if err == nil {
				w.write(t, "secret\n")
				readText(t, c, "secret")
				c.Close(conn.CloseNormal, "")
			}
			w.interrupt()
			if code := w.wait(t); code != exitClean {
				t.Errorf("exit status %d, want 0; stderr:\n%s", code, w.stderr.String())
			}
		})
	}
}

// TestListenHTTP2 connects wsc to wsc over an HTTP/2 stream (RFC 8441).
func TestListenHTTP2(t *testing.T) {
	if !godebugtest.Run(t, "http2xconnect=1") {
		return
	}
	p := newPKI(t)
	server, url := listen(t, "/h2", "-once", "-cert", p.serverCert, "-key", p.serverKey)
	client := start(t, "-http2", "-cacert", p.ca, url)
	if !h2build.XNetSendsExtendedConnect {
		checkNoExtendedConnect(t, client.wait(t), client.stderr.String())
		server.interrupt()
		if code := server.wait(t); code != exitClean {
			t.Errorf("server: exit status %d, want 0; stderr:\n%s", code, server.stderr.String())
		}
		return
	}
	client.stderr.awaitText(t, "over HTTP/2.0")
	server.stderr.awaitText(t, "over HTTP/2.0")
	client.write(t, "ping over h2\n")
	server.stdout.awaitText(t, "ping over h2\n")
	server.write(t, "pong over h2\n")
	client.stdout.awaitText(t, "pong over h2\n")
	client.stdin.Close()
	if code := client.wait(t); code != exitClean {
		t.Errorf("client: exit status %d, want 0; stderr:\n%s", code, client.stderr.String())
	}
	if code := server.wait(t); code != exitClean {
		t.Errorf("server: exit status %d, want 0; stderr:\n%s", code, server.stderr.String())
	}
}

// checkNoExtendedConnect checks how wsc -http2 ends where x/net's HTTP/2
// transport cannot send the extended CONNECT (Go 1.27 and later without
// -tags http2legacy): status 1, with handshake.ErrNoExtendedConnect's
// advice on standard error rather than net/http's bare complaint.
func checkNoExtendedConnect(t *testing.T, code int, stderr string) {
	t.Helper()
	if code != exitError || !strings.Contains(stderr, handshake.ErrNoExtendedConnect.Error()) {
		t.Fatalf("exit status %d, want %d with the text of handshake.ErrNoExtendedConnect; stderr:\n%s", code, exitError, stderr)
	}
}
