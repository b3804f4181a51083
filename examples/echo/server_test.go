package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/twoway/websocket/conn"
	"github.com/twoway/websocket/examples/internal/servertest"
	"github.com/twoway/websocket/frame"
	"github.com/twoway/websocket/handshake"
	"github.com/twoway/websocket/internal/godebugtest"
	"github.com/twoway/websocket/internal/h2build"
	"go.uber.org/goleak"
	"golang.org/x/net/http2"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testLogger discards logs unless -v is given.
func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(t.Output(), nil))
	}
	return slog.New(slog.DiscardHandler)
}

func defaultConfig() config {
	cfg, err := parseFlags(nil, io.Discard)
	if err != nil {
		panic(err)
	}
	return cfg
}

// startServer runs an echo server on loopback and returns it with its
// ws:// URL. It is shut down when the test ends.
func startServer(t testing.TB, cfg config) (*server, string) {
	t.Helper()
	s := newServer(cfg, testLogger(t))
	hs := httptest.NewServer(s)
	t.Cleanup(func() {
		hs.Close()
		s.Shutdown(context.Background())
	})
	return s, "ws" + strings.TrimPrefix(hs.URL, "http") + cfg.Path
}

func dial(t testing.TB, url string, opts *conn.DialOptions) *conn.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := conn.Dial(ctx, url, opts)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

func TestEcho(t *testing.T) {
	big := bytes.Repeat([]byte("all work and no play makes jack a dull boy\n"), 20000)
	messages := []struct {
		typ  conn.MessageType
		data []byte
	}{
		{conn.Text, []byte("hello")},
		{conn.Text, []byte("héllo wörld ✓")},
		{conn.Text, nil},
		{conn.Binary, []byte{0, 1, 2, 0xff, 0xfe}},
		{conn.Binary, nil},
		{conn.Text, big},
		{conn.Binary, big},
	}
	for _, compress := range []bool{false, true} {
		name := map[bool]string{false: "plain", true: "deflate"}[compress]
		t.Run(name, func(t *testing.T) {
			cfg := defaultConfig()
			cfg.Compress = compress
			_, url := startServer(t, cfg)
			c := dial(t, url, &conn.DialOptions{Compression: &conn.CompressionOptions{}})
			if c.Compressed() != compress {
				t.Errorf("Compressed() = %v, want %v", c.Compressed(), compress)
			}
			ctx := context.Background()
			for _, m := range messages {
				if err := c.Write(ctx, m.typ, m.data); err != nil {
					t.Fatalf("Write: %v", err)
				}
				typ, got, err := c.Read(ctx)
				if err != nil {
					t.Fatalf("Read: %v", err)
				}
				if typ != m.typ || !bytes.Equal(got, m.data) {
					t.Errorf("sent %v %d bytes, got back %v %d bytes", m.typ, len(m.data), typ, len(got))
				}
			}
			if err := c.Close(conn.CloseNormal, ""); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
}

func TestReadLimit(t *testing.T) {
	cfg := defaultConfig()
	cfg.ReadLimit = 1000
	_, url := startServer(t, cfg)
	c := dial(t, url, nil)
	ctx := context.Background()
	if err := c.Write(ctx, conn.Binary, make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Read(ctx); err != nil {
		t.Fatalf("message at the limit: %v", err)
	}
	if err := c.Write(ctx, conn.Binary, make([]byte, 1001)); err != nil {
		t.Fatal(err)
	}
	_, _, err := c.Read(ctx)
	if got := conn.CloseStatus(err); got != conn.CloseMessageTooBig {
		t.Errorf("message over the limit: Read error %v, close code %d; want %d", err, got, conn.CloseMessageTooBig)
	}
}

func TestOrigins(t *testing.T) {
	tests := []struct {
		patterns []string
		origin   string // "" sends none
		want     int    // HTTP status of the handshake
	}{
		{nil, "", http.StatusSwitchingProtocols},
		{nil, "http://evil.example", http.StatusForbidden},
		{nil, "null", http.StatusForbidden},
		{[]string{"*.example.com"}, "https://app.example.com", http.StatusSwitchingProtocols},
		{[]string{"*.example.com"}, "https://example.org", http.StatusForbidden},
		{[]string{"localhost:*"}, "http://localhost:3000", http.StatusSwitchingProtocols},
		{[]string{"*"}, "http://evil.example", http.StatusSwitchingProtocols},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.patterns, ",")+"/"+tt.origin, func(t *testing.T) {
			cfg := defaultConfig()
			cfg.OriginPatterns = tt.patterns
			_, url := startServer(t, cfg)
			h := http.Header{}
			if tt.origin != "" {
				h.Set("Origin", tt.origin)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, resp, err := conn.Dial(ctx, url, &conn.DialOptions{Header: h})
			status := 0
			var re *handshake.ResponseError
			switch {
			case err == nil:
				c.CloseNow()
				status = resp.StatusCode
			case errors.As(err, &re):
				status = re.StatusCode
			default:
				t.Fatalf("Dial: %v", err)
			}
			if status != tt.want {
				t.Errorf("status %d, want %d (err %v)", status, tt.want, err)
			}
		})
	}
}

// TestShutdown checks that Shutdown closes every open connection with
// 1001 and refuses later handshakes with 503.
func TestShutdown(t *testing.T) {
	s, url := startServer(t, defaultConfig())
	ctx := context.Background()
	clients := make([]*conn.Conn, 3)
	for i := range clients {
		c := dial(t, url, nil)
		// A round trip shows the server is echoing, hence tracking c.
		if err := c.Write(ctx, conn.Text, []byte("ping")); err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.Read(ctx); err != nil {
			t.Fatal(err)
		}
		clients[i] = c
	}
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(ctx) }()

	type closed struct {
		Code   conn.CloseCode
		Reason string
	}
	var got []closed
	for _, c := range clients {
		_, _, err := c.Read(ctx)
		var ce *conn.CloseError
		if !errors.As(err, &ce) {
			t.Fatalf("Read: %v, want a close from the server", err)
		}
		got = append(got, closed{ce.Code, ce.Reason})
	}
	want := make([]closed, len(clients))
	for i := range want {
		want[i] = closed{conn.CloseGoingAway, "server shutting down"}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("close frames (-want +got):\n%s", diff)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}

	late, _, err := conn.Dial(ctx, url, nil)
	var re *handshake.ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("Dial after shutdown: %v, want a 503 response", err)
	}
	if late != nil {
		late.CloseNow()
	}
}

func TestPage(t *testing.T) {
	cfg := defaultConfig()
	cfg.Path = "/echo/socket"
	s := newServer(cfg, testLogger(t))
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /: %d", rec.Code)
	}
	body := rec.Body.String()
	for _, want := range []string{"<title>WebSocket echo</title>", `location.host + "/echo/socket";`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	rec = httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("GET", "/nothing", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("GET /nothing: %d, want 404", rec.Code)
	}
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		args    []string
		want    config
		wantErr bool
	}{
		{args: nil, want: config{Addr: "localhost:8080", Path: "/ws", Compress: true, ReadLimit: 1 << 20, CloseTimeout: 5 * time.Second}},
		{
			args: []string{"-addr", ":9000", "-path", "/echo", "-origins", "*.example.com, localhost:*", "-compress", "off", "-read-limit", "-1", "-close-timeout", "30s"},
			want: config{Addr: ":9000", Path: "/echo", OriginPatterns: []string{"*.example.com", "localhost:*"}, ReadLimit: -1, CloseTimeout: 30 * time.Second},
		},
		{
			args: []string{"-compress=false", "-tls-cert", "c.pem", "-tls-key", "k.pem"},
			want: config{Addr: "localhost:8080", Path: "/ws", CertFile: "c.pem", KeyFile: "k.pem", ReadLimit: 1 << 20, CloseTimeout: 5 * time.Second},
		},
		{args: []string{"-compress", "on", "-origins", "*"}, want: config{Addr: "localhost:8080", Path: "/ws", Compress: true, OriginPatterns: []string{"*"}, ReadLimit: 1 << 20, CloseTimeout: 5 * time.Second}},
		{args: []string{"-tls-cert", "c.pem"}, wantErr: true},
		{args: []string{"-path", "ws"}, wantErr: true},
		{args: []string{"-path", "/"}, wantErr: true},
		{args: []string{"-read-limit", "0"}, wantErr: true},
		{args: []string{"-close-timeout", "0s"}, wantErr: true},
		{args: []string{"-compress=maybe"}, wantErr: true},
		{args: []string{"extra"}, wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseFlags(tt.args, io.Discard)
		if (err != nil) != tt.wantErr {
			t.Errorf("parseFlags(%q): error %v, want error %v", tt.args, err, tt.wantErr)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("parseFlags(%q) (-want +got):\n%s", tt.args, diff)
		}
	}
}

func TestPageURL(t *testing.T) {
	bound := func(port int) *net.TCPAddr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port} }
	tests := []struct {
		asked string
		port  int
		tls   bool
		want  string
	}{
		{"localhost:8080", 8080, false, "http://localhost:8080/"},
		{":8080", 8080, false, "http://localhost:8080/"},
		{"0.0.0.0:0", 41234, false, "http://localhost:41234/"},
		{"[::]:443", 443, true, "https://localhost:443/"},
		{"[::1]:8080", 8080, false, "http://[::1]:8080/"},
		{"example.com:80", 80, false, "http://example.com:80/"},
	}
	for _, tt := range tests {
		if got := pageURL(tt.asked, bound(tt.port), tt.tls); got != tt.want {
			t.Errorf("pageURL(%q, %d, %v) = %q, want %q", tt.asked, tt.port, tt.tls, got, tt.want)
		}
	}
	if got, want := wsURL("https://localhost:8443/", "/ws"), "wss://localhost:8443/ws"; got != want {
		t.Errorf("wsURL = %q, want %q", got, want)
	}
}

// TestEchoLargeWithoutReading sends a message larger than the TCP buffers
// both ways and reads its echo only once the write has returned, as a
// client with a single goroutine does. A server that streamed the echo
// back while reading would stop reading once the client's buffers filled,
// and both would wait for ever.
func TestEchoLargeWithoutReading(t *testing.T) {
	if testing.Short() {
		t.Skip("sends 16 MiB; skipped in -short mode")
	}
	cfg := defaultConfig()
	cfg.ReadLimit = 16 << 20
	_, url := startServer(t, cfg)
	c := dial(t, url, &conn.DialOptions{ReadLimit: cfg.ReadLimit})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	msg := bytes.Repeat([]byte{0, 1, 2, 3, 5, 8, 13, 21}, int(cfg.ReadLimit)/8)
	if err := c.Write(ctx, conn.Binary, msg); err != nil {
		t.Fatalf("Write: %v", err)
	}
	typ, got, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if typ != conn.Binary || !bytes.Equal(got, msg) {
		t.Errorf("got back %v %d bytes, want the %d sent", typ, len(got), len(msg))
	}
	if err := c.Close(conn.CloseNormal, ""); err != nil {
		t.Errorf("Close: %v", err)
	}
}

func TestDescribeEnd(t *testing.T) {
	errReset := &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	tooBig := &frame.ProtocolError{Code: conn.CloseMessageTooBig, Reason: "message too big"}
	canceled := fmt.Errorf("websocket: %w", context.Canceled)
	type described struct {
		Level slog.Level
		Msg   string
		Attrs []any
	}
	tests := []struct {
		err  error
		want described
	}{
		{
			&conn.CloseError{Code: conn.CloseNormal, Remote: true},
			described{slog.LevelInfo, "connection closed", []any{"code", 1000, "by", "client"}},
		},
		{
			&conn.CloseError{Code: conn.CloseGoingAway, Reason: "server shutting down"},
			described{slog.LevelInfo, "connection closed", []any{"code", 1001, "by", "server", "reason", "server shutting down"}},
		},
		{
			&conn.CloseError{Code: conn.CloseNoStatus, Remote: true},
			described{slog.LevelInfo, "connection closed", []any{"code", 1005, "by", "client"}},
		},
		{
			&conn.CloseError{Code: conn.CloseInternalError, Reason: "oops", Remote: true},
			described{slog.LevelWarn, "connection closed", []any{"code", 1011, "by", "client", "reason", "oops"}},
		},
		{
			&conn.CloseError{Code: conn.CloseMessageTooBig, Reason: "message too big", Err: tooBig},
			described{slog.LevelWarn, "connection failed: the client broke the protocol", []any{"code", 1009, "by", "server", "reason", "message too big", "err", tooBig}},
		},
		{
			&conn.CloseError{Code: conn.CloseAbnormal, Remote: true, Err: errReset},
			described{slog.LevelWarn, "connection lost", []any{"code", 1006, "by", "client", "err", errReset}},
		},
		{
			&conn.CloseError{Code: conn.CloseGoingAway, Reason: "server shutting down", Err: conn.ErrCloseTimeout},
			described{slog.LevelWarn, "connection closed: the client did not answer our close in time", []any{"code", 1001, "by", "server", "reason", "server shutting down", "err", conn.ErrCloseTimeout}},
		},
		{
			&conn.CloseError{Code: conn.CloseGoingAway, Reason: "keepalive timeout", Err: conn.ErrKeepaliveTimeout},
			described{slog.LevelWarn, "connection closed: the client stopped answering pings", []any{"code", 1001, "by", "server", "reason", "keepalive timeout", "err", conn.ErrKeepaliveTimeout}},
		},
		{
			&conn.CloseError{Code: conn.CloseAbnormal, Err: context.Canceled},
			described{slog.LevelWarn, "connection cut: the request ended in the middle of a message", []any{"code", 1006, "by", "server", "err", context.Canceled}},
		},
		{
			&conn.CloseError{Code: conn.CloseGoingAway, Reason: "server shutting down", Err: errReset},
			described{slog.LevelWarn, "connection lost while closing", []any{"code", 1001, "by", "server", "reason", "server shutting down", "err", errReset}},
		},
		{
			&conn.CloseError{Code: conn.CloseAbnormal},
			described{slog.LevelWarn, "connection cut without a closing handshake", []any{"code", 1006, "by", "server"}},
		},
		{
			canceled,
			described{slog.LevelWarn, "connection abandoned", []any{"err", canceled}},
		},
	}
	for _, tt := range tests {
		// As the connection's calls return it.
		err := fmt.Errorf("wrapped: %w", tt.err)
		if _, ok := tt.err.(*conn.CloseError); !ok {
			err = tt.err
		}
		var got described
		got.Level, got.Msg, got.Attrs = describeEnd(err)
		if diff := cmp.Diff(tt.want, got, cmpopts.EquateErrors()); diff != "" {
			t.Errorf("describeEnd(%v) (-want +got):\n%s", err, diff)
		}
	}
}

// TestServeShutdownHTTP2 runs the server over TLS with WebSockets carried
// as HTTP/2 streams (RFC 8441) and shuts it down: the WebSocket must be
// closed with 1001 while net/http waits for the HTTP/2 connection that
// carries it to fall idle, and serve must return nil.
func TestServeShutdownHTTP2(t *testing.T) {
	if !godebugtest.Run(t, "http2xconnect=1") {
		return
	}
	cfg := defaultConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.CertFile, cfg.KeyFile = writeCert(t)
	addrs := make(chan string, 1)
	log := slog.New(&addrHandler{Handler: testLogger(t).Handler(), addr: addrs})
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	served := make(chan error, 1)
	go func() { served <- serve(ctx, stop, cfg, log) }()
	var addr string
	select {
	case addr = <-addrs:
	case err := <-served:
		t.Fatalf("serve: %v", err)
	}

	tlsConfig := &tls.Config{InsecureSkipVerify: true} // the certificate is the test's
	opts := &conn.DialOptions{
		TLSConfig: tlsConfig,
		//lint:ignore SA1019 x/net's HTTP/2 Transport is deprecated for net/http's, which in Go 1.26 refuses the :protocol pseudo-header RFC 8441 needs.
		HTTP2: &http2.Transport{TLSClientConfig: tlsConfig},
	}
	if !h2build.XNetSendsExtendedConnect {
		// Go 1.27 without -tags http2legacy: x/net's transport cannot
		// send the extended CONNECT, and Dial must say so.
		dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _, err := conn.Dial(dctx, "wss://"+addr+cfg.Path, opts)
		if !errors.Is(err, handshake.ErrNoExtendedConnect) || !strings.Contains(err.Error(), "-tags http2legacy") {
			t.Errorf("Dial = %v, want an error that matches handshake.ErrNoExtendedConnect and names -tags http2legacy", err)
		}
		stop()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
		return
	}
	c := dial(t, "wss://"+addr+cfg.Path, opts)
	ctx2 := context.Background()
	if err := c.Write(ctx2, conn.Text, []byte("over h2")); err != nil {
		t.Fatal(err)
	}
	// The echo shows that the server tracks the connection.
	if _, _, err := c.Read(ctx2); err != nil {
		t.Fatal(err)
	}
	stop()
	_, _, err := c.Read(ctx2)
	want := servertest.Ending{Code: conn.CloseGoingAway, Reason: "server shutting down", Remote: true}
	if diff := cmp.Diff(want, servertest.EndingOf(err)); diff != "" {
		t.Errorf("how the connection ended (-want +got):\n%s", diff)
	}
	if err := <-served; err != nil {
		t.Errorf("serve: %v", err)
	}
}

// addrHandler passes records on and sends the addr attribute of the first
// record that has one, that of the line saying where the server listens.
type addrHandler struct {
	slog.Handler
	addr chan<- string
	once sync.Once
}

func (h *addrHandler) Handle(ctx context.Context, r slog.Record) error {
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "addr" {
			h.once.Do(func() { h.addr <- a.Value.String() })
			return false
		}
		return true
	})
	return h.Handler.Handle(ctx, r)
}

// writeCert writes a self-signed certificate for 127.0.0.1 and its key to
// files, and returns their names.
func writeCert(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	for name, block := range map[string]*pem.Block{
		certFile: {Type: "CERTIFICATE", Bytes: der},
		keyFile:  {Type: "PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(name, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return certFile, keyFile
}

// TestServeMissingCert checks that a certificate that cannot be loaded
// is reported before the server says it listens.
func TestServeMissingCert(t *testing.T) {
	cfg := defaultConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.CertFile = filepath.Join(t.TempDir(), "missing.pem")
	cfg.KeyFile = cfg.CertFile
	var logged bytes.Buffer
	err := serve(context.Background(), func() {}, cfg, slog.New(slog.NewTextHandler(&logged, nil)))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("serve: %v, want an error for the missing file", err)
	}
	if strings.Contains(logged.String(), "listening") {
		t.Errorf("serve logged that it listens, with no certificate:\n%s", logged.String())
	}
}

func TestUsage(t *testing.T) {
	var out bytes.Buffer
	if _, err := parseFlags([]string{"-h"}, &out); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("parseFlags(-h): %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{"-compress on|off", "-read-limit bytes", "-close-timeout duration"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage lacks %q:\n%s", want, out.String())
		}
	}
}
