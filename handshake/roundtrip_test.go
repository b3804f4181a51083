package handshake

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// seenRequest is what the WebSocket test server saw of a handshake.
type seenRequest struct {
	uri, host, origin string
	tls               bool
}

// echoServer returns a handler that upgrades with opts, records the
// request and echoes everything the client sends.
func echoServer(t *testing.T, opts *ServerOptions, seen chan<- seenRequest) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sc, err := Upgrade(w, r, opts)
		if err != nil {
			t.Errorf("Upgrade: %v", err)
			return
		}
		defer sc.Conn.Close()
		seen <- seenRequest{uri: r.RequestURI, host: r.Host, origin: r.Header.Get("Origin"), tls: r.TLS != nil}
		io.Copy(sc.Conn, io.MultiReader(bytes.NewReader(sc.Buffered), sc.Conn))
	})
}

// connectProxy returns an HTTP CONNECT proxy handler. When user is not
// empty it requires those Basic credentials. Each tunnel's target is
// sent to targets.
func connectProxy(user, pass string, targets chan<- string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect {
			http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
			return
		}
		if user != "" {
			want := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
			if r.Header.Get("Proxy-Authorization") != want {
				w.Header().Set("Proxy-Authenticate", `Basic realm="test"`)
				http.Error(w, "credentials required", http.StatusProxyAuthRequired)
				return
			}
		}
		targets <- r.Host
		backend, err := net.Dial("tcp", r.Host)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			backend.Close()
			return
		}
		io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n")
		pipe(conn, io.MultiReader(brw.Reader, conn), backend)
	})
}

// pipe copies between a (read through ar) and b until either side ends,
// then closes both.
func pipe(a net.Conn, ar io.Reader, b net.Conn) {
	done := make(chan struct{}, 2)
	go func() { io.Copy(b, ar); done <- struct{}{} }()
	go func() { io.Copy(a, b); done <- struct{}{} }()
	<-done
	a.Close()
	b.Close()
	<-done
}

// socks5Server runs a minimal SOCKS5 proxy (RFC 1928: no
// authentication, CONNECT only) on loopback. Each request's address
// type and destination is sent to requests.
func socks5Server(t *testing.T, requests chan<- string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { serveSOCKS5(c, requests) })
		}
	})
	return ln.Addr().String()
}

func serveSOCKS5(c net.Conn, requests chan<- string) {
	defer c.Close()
	var hdr [2]byte // VER NMETHODS
	if _, err := io.ReadFull(c, hdr[:]); err != nil || hdr[0] != 5 {
		return
	}
	methods := make([]byte, hdr[1])
	if _, err := io.ReadFull(c, methods); err != nil || !bytes.Contains(methods, []byte{0}) {
		c.Write([]byte{5, 0xff})
		return
	}
	c.Write([]byte{5, 0}) // no authentication
	var req [4]byte       // VER CMD RSV ATYP
	if _, err := io.ReadFull(c, req[:]); err != nil || req[1] != 1 {
		return
	}
	var host, kind string
	switch req[3] {
	case 1, 4:
		ip := make([]byte, 4)
		kind = "ipv4"
		if req[3] == 4 {
			ip, kind = make([]byte, 16), "ipv6"
		}
		if _, err := io.ReadFull(c, ip); err != nil {
			return
		}
		host = net.IP(ip).String()
	case 3:
		var n [1]byte
		if _, err := io.ReadFull(c, n[:]); err != nil {
			return
		}
		name := make([]byte, n[0])
		if _, err := io.ReadFull(c, name); err != nil {
			return
		}
		host, kind = string(name), "domain"
	default:
		return
	}
	var port [2]byte
	if _, err := io.ReadFull(c, port[:]); err != nil {
		return
	}
	addr := net.JoinHostPort(host, strconv.Itoa(int(binary.BigEndian.Uint16(port[:]))))
	requests <- kind + " " + addr
	backend, err := net.Dial("tcp", addr)
	if err != nil {
		c.Write([]byte{5, 5, 0, 1, 0, 0, 0, 0, 0, 0}) // connection refused
		return
	}
	c.Write([]byte{5, 0, 0, 1, 0, 0, 0, 0, 0, 0})
	pipe(c, c, backend)
}

// testRoots returns a pool trusting the httptest certificate.
func testRoots(srv *httptest.Server) *tls.Config {
	return &tls.Config{RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
}

func TestRoundTrip(t *testing.T) {
	type setup struct {
		url   string         // of the WebSocket server
		opts  *ClientOptions // Proxy and TLSConfig filled in
		proxy string         // what the proxy must have been asked, "" for none
		tls   bool
	}
	seen := make(chan seenRequest, 1)
	proxied := make(chan string, 1)
	serverOpts := &ServerOptions{Subprotocols: []string{"v2", "v1"}}

	plain := httptest.NewServer(echoServer(t, serverOpts, seen))
	defer plain.Close()
	secure := httptest.NewTLSServer(echoServer(t, serverOpts, seen))
	defer secure.Close()
	httpProxy := httptest.NewServer(connectProxy("alice", "s3cret", proxied))
	defer httpProxy.Close()
	httpsProxy := httptest.NewTLSServer(connectProxy("", "", proxied))
	defer httpsProxy.Close()
	socks := socks5Server(t, proxied)
	plainAddr := plain.Listener.Addr().String()
	_, plainPort, _ := net.SplitHostPort(plainAddr)
	secureAddr := secure.Listener.Addr().String()

	proxyTo := func(raw string) func(*http.Request) (*url.URL, error) {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		return http.ProxyURL(u)
	}
	tests := []struct {
		name string
		s    setup
	}{
		{"plain", setup{url: "ws://" + plainAddr, opts: &ClientOptions{}}},
		{"http alias", setup{url: "http://" + plainAddr, opts: &ClientOptions{}}},
		{"tls", setup{url: "wss://" + secureAddr, opts: &ClientOptions{TLSConfig: testRoots(secure)}, tls: true}},
		{"http proxy", setup{
			url:   "ws://" + plainAddr,
			opts:  &ClientOptions{Proxy: proxyTo("http://alice:s3cret@" + httpProxy.Listener.Addr().String())},
			proxy: plainAddr,
		}},
		{"http proxy to tls", setup{
			url:   "wss://" + secureAddr,
			opts:  &ClientOptions{TLSConfig: testRoots(secure), Proxy: proxyTo("http://alice:s3cret@" + httpProxy.Listener.Addr().String())},
			proxy: secureAddr, tls: true,
		}},
		{"https proxy to tls", setup{
			url:   "wss://" + secureAddr,
			opts:  &ClientOptions{TLSConfig: testRoots(secure), Proxy: proxyTo("https://" + httpsProxy.Listener.Addr().String())},
			proxy: secureAddr, tls: true,
		}},
		{"socks5", setup{
			url:   "ws://" + plainAddr,
			opts:  &ClientOptions{Proxy: proxyTo("socks5://" + socks)},
			proxy: "ipv4 " + plainAddr,
		}},
		{"socks5h by name", setup{
			url:   "ws://localhost:" + plainPort,
			opts:  &ClientOptions{Proxy: proxyTo("socks5h://" + socks)},
			proxy: "domain localhost:" + plainPort,
		}},
		{"socks5 to tls", setup{
			url:   "wss://" + secureAddr,
			opts:  &ClientOptions{TLSConfig: testRoots(secure), Proxy: proxyTo("socks5://" + socks)},
			proxy: "ipv4 " + secureAddr, tls: true,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.s.opts
			if opts.Proxy == nil {
				opts.Proxy = NoProxy
			}
			u, _ := url.Parse(tt.s.url)
			origin := "http://" + u.Host
			opts.Header = http.Header{"Origin": {origin}}
			opts.Subprotocols = []string{"v1", "v2"}
			cc, err := Dial(context.Background(), tt.s.url+"/chat?room=1&q=a%20b", opts)
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			defer cc.Conn.Close()
			if _, isTLS := cc.Conn.(*tls.Conn); isTLS != tt.s.tls {
				t.Errorf("Conn is %T, want TLS %v", cc.Conn, tt.s.tls)
			}
			if cc.Subprotocol != "v2" {
				t.Errorf("Subprotocol %q, want v2 (server preference)", cc.Subprotocol)
			}
			if len(cc.Buffered) != 0 {
				t.Errorf("Buffered %q, want nothing", cc.Buffered)
			}
			want := seenRequest{uri: "/chat?room=1&q=a%20b", host: u.Host, origin: origin, tls: tt.s.tls}
			if diff := cmp.Diff(want, <-seen, cmp.AllowUnexported(seenRequest{})); diff != "" {
				t.Errorf("server saw (-want +got):\n%s", diff)
			}
			// The proxies report before they open the tunnel, so by now
			// the report is waiting if a proxy was used.
			select {
			case got := <-proxied:
				if got != tt.s.proxy {
					t.Errorf("proxy asked for %q, want %q", got, tt.s.proxy)
				}
			default:
				if tt.s.proxy != "" {
					t.Errorf("the proxy was not used")
				}
			}
			// The connection carries bytes both ways.
			const msg = "ping through the handshake"
			if _, err := io.WriteString(cc.Conn, msg); err != nil {
				t.Fatal(err)
			}
			echo := make([]byte, len(msg))
			if _, err := io.ReadFull(cc.Conn, echo); err != nil || string(echo) != msg {
				t.Errorf("echo %q, %v; want %q", echo, err, msg)
			}
		})
	}
}

func TestRoundTripIPv6(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	seen := make(chan seenRequest, 1)
	srv := httptest.NewUnstartedServer(echoServer(t, nil, seen))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	defer srv.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	cc, err := Dial(context.Background(), "ws://[::1]:"+port+"/v6", &ClientOptions{Proxy: NoProxy})
	if err != nil {
		t.Fatal(err)
	}
	cc.Conn.Close()
	if got := <-seen; got.host != "[::1]:"+port || got.uri != "/v6" {
		t.Errorf("server saw Host %q, URI %q; want [::1]:%s, /v6", got.host, got.uri, port)
	}
}

func TestRoundTripExtensions(t *testing.T) {
	seen := make(chan seenRequest, 1)
	foo := &serverExt{name: "x-foo", accept: func(e Extension) bool { return len(e.Params) == 0 }}
	srv := httptest.NewServer(echoServer(t, &ServerOptions{Extensions: []ServerExtension{foo}}, seen))
	defer srv.Close()
	ce := &clientExt{offers: []Extension{ext("x-foo", "big", ""), ext("x-foo")}}
	other := &clientExt{offers: []Extension{ext("x-other")}}
	cc, err := Dial(context.Background(), srv.URL, &ClientOptions{Proxy: NoProxy, Extensions: []ClientExtension{ce, other}})
	if err != nil {
		t.Fatal(err)
	}
	cc.Conn.Close()
	<-seen
	if diff := cmp.Diff([]Extension{ext("x-foo")}, cc.Extensions); diff != "" {
		t.Errorf("Extensions (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]Extension{ext("x-foo", "big", ""), ext("x-foo")}, foo.offers); diff != "" {
		t.Errorf("server offers (-want +got):\n%s", diff)
	}
	if len(other.got) != 0 {
		t.Errorf("x-other was answered %v", other.got)
	}
}

func TestRoundTripRefused(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		Upgrade(w, r, nil)
	}))
	defer srv.Close()
	_, err := Dial(context.Background(), srv.URL, &ClientOptions{
		Proxy:  NoProxy,
		Header: http.Header{"Origin": {"https://evil.example"}},
	})
	want := `websocket: handshake failed: server answered 403 Forbidden: "Origin \"https://evil.example\" is not allowed to connect to ` + srv.Listener.Addr().String() + `"`
	if err == nil || err.Error() != want {
		t.Errorf("error:\n got %v\nwant %s", err, want)
	}
	if !errors.Is(err, ErrBadStatus) {
		t.Errorf("error %v, want ErrBadStatus", err)
	}
}

func TestProxyErrors(t *testing.T) {
	proxied := make(chan string, 1)
	p := httptest.NewServer(connectProxy("alice", "s3cret", proxied))
	defer p.Close()
	pu, _ := url.Parse(p.URL)
	_, err := Dial(context.Background(), "ws://127.0.0.1:1/", &ClientOptions{Proxy: http.ProxyURL(pu)})
	want := fmt.Sprintf("websocket: dial ws://127.0.0.1:1/: proxy %s answered CONNECT 127.0.0.1:1 with 407 Proxy Authentication Required", p.URL)
	if err == nil || err.Error() != want {
		t.Errorf("error:\n got %v\nwant %s", err, want)
	}
	if !errors.Is(err, ErrProxy) {
		t.Errorf("error %v, want ErrProxy", err)
	}
	// The password must not leak into messages.
	pu.User = url.UserPassword("alice", "wrong-password")
	_, err = Dial(context.Background(), "ws://127.0.0.1:1/", &ClientOptions{Proxy: http.ProxyURL(pu)})
	if err == nil || strings.Contains(err.Error(), "wrong-password") || !errors.Is(err, ErrProxy) {
		t.Errorf("error %v, want ErrProxy without the password", err)
	}
}

func TestProxyRequestURL(t *testing.T) {
	var got []string
	opts := &ClientOptions{
		Proxy: func(r *http.Request) (*url.URL, error) {
			got = append(got, r.URL.String())
			return nil, errors.New("stop here")
		},
	}
	Dial(context.Background(), "ws://example.com/a?b", opts)
	Dial(context.Background(), "wss://example.com:8443/", opts)
	// http.ProxyFromEnvironment only knows http and https URLs.
	if diff := cmp.Diff([]string{"http://example.com/a?b", "https://example.com:8443/"}, got); diff != "" {
		t.Errorf("URLs given to Proxy (-want +got):\n%s", diff)
	}
}

func TestDialContextEnds(t *testing.T) {
	// A server that accepts TCP connections and never answers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 4)
	var wg sync.WaitGroup
	defer func() {
		ln.Close()
		wg.Wait()
		close(accepted)
		for c := range accepted {
			c.Close()
		}
	}()
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	})
	addr := ln.Addr().String()

	for _, scheme := range []string{"ws", "wss"} {
		t.Run(scheme+" cancel", func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			errc := make(chan error, 1)
			go func() {
				_, err := Dial(ctx, scheme+"://"+addr+"/", &ClientOptions{Proxy: NoProxy})
				errc <- err
			}()
			c := <-accepted // the handshake is under way
			defer c.Close()
			cancel()
			err := <-errc
			if !errors.Is(err, context.Canceled) {
				t.Errorf("error %v, want context.Canceled", err)
			}
		})
		t.Run(scheme+" deadline", func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 50e6) // 50ms; only bounds the wait
			defer cancel()
			_, err := Dial(ctx, scheme+"://"+addr+"/", &ClientOptions{Proxy: NoProxy})
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("error %v, want context.DeadlineExceeded", err)
			}
			if msg := fmt.Sprint(err); !strings.HasPrefix(msg, "websocket: dial "+scheme+"://"+addr+"/: ") || !strings.Contains(msg, "context deadline exceeded") {
				t.Errorf("error %q does not name the URL and the deadline", msg)
			}
			(<-accepted).Close()
		})
	}
}

func TestDialNoDeadlineLeft(t *testing.T) {
	// After Dial, reads must block rather than fail on a leftover
	// deadline; the server sends its bytes only after we ask.
	u := rawServer(t, func(r *http.Request) string { return fill(ok101+"\r\n", r) })
	ctx, cancel := context.WithTimeout(context.Background(), 1<<40)
	defer cancel()
	var raw net.Conn
	opts := &ClientOptions{Proxy: NoProxy, NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		raw = c
		return c, err
	}}
	cc, err := Dial(ctx, u, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Conn.Close()
	cancel() // must not disturb the established connection
	// rawServer half-closes after the 101, so a read ends with EOF,
	// not with a deadline error.
	if _, err := raw.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("read after Dial and cancel: %v, want EOF", err)
	}
}
