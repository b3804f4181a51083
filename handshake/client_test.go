package handshake

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// dialTCP connects to a loopback address.
func dialTCP(t testing.TB, addr string) (*net.TCPConn, error) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	return c.(*net.TCPConn), nil
}

// rawServer answers every connection with respond(request) in a single
// write, then half-closes and waits for the client to close. It returns
// the ws:// URL of the server.
func rawServer(t testing.TB, respond func(r *http.Request) string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() {
				defer c.Close()
				r, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					return
				}
				io.WriteString(c, respond(r))
				c.(*net.TCPConn).CloseWrite()
				io.Copy(io.Discard, c)
			})
		}
	})
	return "ws://" + ln.Addr().String() + "/"
}

// fill replaces {accept} in a response template with the right answer
// for r.
func fill(template string, r *http.Request) string {
	return strings.ReplaceAll(template, "{accept}", AcceptKey(r.Header.Get("Sec-WebSocket-Key")))
}

const ok101 = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n"

func TestDialBadResponses(t *testing.T) {
	errRefused := errors.New("window too small")
	tests := []struct {
		name     string
		response string
		opts     *ClientOptions
		err      error  // sentinel; nil for an error that is not a *ResponseError
		msg      string // full error text; {want} stands for the right accept value
		status   int
		body     string
	}{
		{
			name:     "refused with a body",
			response: "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 19\r\n\r\norigin not allowed\n",
			err:      ErrBadStatus, status: 403, body: "origin not allowed\n",
			msg: `websocket: handshake failed: server answered 403 Forbidden: "origin not allowed"`,
		},
		{
			name:     "redirect",
			response: "HTTP/1.1 302 Found\r\nLocation: wss://example.com/\r\nContent-Length: 0\r\n\r\n",
			err:      ErrBadStatus, status: 302,
			msg: `websocket: handshake failed: server answered 302 Found redirecting to "wss://example.com/", which Dial does not follow`,
		},
		{
			name:     "long close-delimited body",
			response: "HTTP/1.1 200 OK\r\n\r\n" + strings.Repeat("x", 3000),
			err:      ErrBadStatus, status: 200, body: strings.Repeat("x", 1024),
			msg: `websocket: handshake failed: server answered 200 OK: "` + strings.Repeat("x", 200) + `"...`,
		},
		{
			name:     "101 over HTTP/1.0",
			response: strings.Replace(ok101, "HTTP/1.1", "HTTP/1.0", 1) + "\r\n",
			err:      ErrBadStatus, status: 101,
			msg: "websocket: handshake failed: server answered 101 over HTTP/1.0; WebSocket needs HTTP/1.1",
		},
		{
			name:     "no upgrade",
			response: "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n",
			err:      ErrMissingUpgrade, status: 101,
			msg: `websocket: handshake failed: response lacks "Upgrade: websocket"`,
		},
		{
			name:     "upgrade to more than websocket",
			response: strings.Replace(ok101, "Upgrade: websocket", "Upgrade: websocket, h2c", 1) + "\r\n",
			err:      ErrMissingUpgrade, status: 101,
			msg: `websocket: handshake failed: response has "Upgrade: websocket, h2c", want "websocket"`,
		},
		{
			name:     "no connection upgrade",
			response: strings.Replace(ok101, "Connection: Upgrade", "Connection: keep-alive", 1) + "\r\n",
			err:      ErrMissingUpgrade, status: 101,
			msg: `websocket: handshake failed: response lacks "Connection: Upgrade"`,
		},
		{
			name:     "no accept",
			response: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
			err:      ErrBadAccept, status: 101,
			msg: "websocket: handshake failed: response lacks Sec-WebSocket-Accept",
		},
		{
			name:     "wrong accept",
			response: strings.Replace(ok101, "{accept}", sampleAccept, 1) + "\r\n",
			err:      ErrBadAccept, status: 101,
			msg: `websocket: handshake failed: Sec-WebSocket-Accept is "` + sampleAccept + `", want "{want}" for the key sent`,
		},
		{
			name:     "accept twice",
			response: ok101 + "Sec-WebSocket-Accept: {accept}\r\n\r\n",
			err:      ErrBadAccept, status: 101,
			msg: "websocket: handshake failed: response has 2 Sec-WebSocket-Accept headers",
		},
		{
			name:     "subprotocol when none offered",
			response: ok101 + "Sec-WebSocket-Protocol: chat\r\n\r\n",
			err:      ErrBadSubprotocol, status: 101,
			msg: `websocket: handshake failed: server chose subprotocol "chat", but none was offered`,
		},
		{
			name:     "subprotocol not offered",
			response: ok101 + "Sec-WebSocket-Protocol: chat\r\n\r\n",
			opts:     &ClientOptions{Subprotocols: []string{"v1", "v2"}},
			err:      ErrBadSubprotocol, status: 101,
			msg: `websocket: handshake failed: server chose subprotocol "chat", which is not among those offered: v1, v2`,
		},
		{
			name:     "two subprotocols",
			response: ok101 + "Sec-WebSocket-Protocol: v1, v2\r\n\r\n",
			opts:     &ClientOptions{Subprotocols: []string{"v1", "v2"}},
			err:      ErrBadSubprotocol, status: 101,
			msg: `websocket: handshake failed: server chose subprotocol "v1, v2", which is not among those offered: v1, v2`,
		},
		{
			name:     "subprotocol header twice",
			response: ok101 + "Sec-WebSocket-Protocol: v1\r\nSec-WebSocket-Protocol: v1\r\n\r\n",
			opts:     &ClientOptions{Subprotocols: []string{"v1"}},
			err:      ErrBadSubprotocol, status: 101,
			msg: "websocket: handshake failed: response has 2 Sec-WebSocket-Protocol headers",
		},
		{
			name:     "extension not offered",
			response: ok101 + "Sec-WebSocket-Extensions: x-bar\r\n\r\n",
			opts:     &ClientOptions{Extensions: []ClientExtension{&clientExt{offers: []Extension{ext("x-foo")}}}},
			err:      ErrBadExtension, status: 101,
			msg: `websocket: handshake failed: server accepted extension "x-bar", which was not offered`,
		},
		{
			name:     "extension answered twice",
			response: ok101 + "Sec-WebSocket-Extensions: x-foo\r\nSec-WebSocket-Extensions: x-foo; a=1\r\n\r\n",
			opts:     &ClientOptions{Extensions: []ClientExtension{&clientExt{offers: []Extension{ext("x-foo"), ext("x-foo", "a", "1")}}}},
			err:      ErrBadExtension, status: 101,
			msg: `websocket: handshake failed: server answered extension "x-foo" twice`,
		},
		{
			name:     "malformed extensions",
			response: ok101 + "Sec-WebSocket-Extensions: x-foo; a=\"b c\"\r\n\r\n",
			opts:     &ClientOptions{Extensions: []ClientExtension{&clientExt{offers: []Extension{ext("x-foo")}}}},
			err:      ErrBadExtension, status: 101,
			msg: `websocket: handshake failed: malformed Sec-WebSocket-Extensions: parameter a has value "b c", which is not a token, in "x-foo; a=\"b c\""`,
		},
		{
			name:     "extension refuses the answer",
			response: ok101 + "Sec-WebSocket-Extensions: x-foo; w=8\r\n\r\n",
			opts:     &ClientOptions{Extensions: []ClientExtension{&clientExt{offers: []Extension{ext("x-foo")}, err: errRefused}}},
			err:      errRefused, status: 101,
			msg: `websocket: handshake failed: extension x-foo refused the server's response "x-foo; w=8": window too small`,
		},
		{
			name:     "not HTTP",
			response: "SSH-2.0-OpenSSH_9.6\r\n",
			msg:      `websocket: dial {url}: reading the handshake response: malformed HTTP response "SSH-2.0-OpenSSH_9.6"`,
		},
		{
			name:     "headers too large",
			response: "HTTP/1.1 101 Switching Protocols\r\nX-Big: " + strings.Repeat("a", maxHeaderBytes),
			msg:      "websocket: dial {url}: reading the handshake response: response header larger than 1 MiB",
		},
		{
			name:     "closed early",
			response: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n",
			msg:      "websocket: dial {url}: reading the handshake response: unexpected EOF",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if testing.Short() && tt.name == "headers too large" {
				t.Skip("1 MiB response")
			}
			var (
				mu  sync.Mutex
				key string
			)
			u := rawServer(t, func(r *http.Request) string {
				mu.Lock()
				key = r.Header.Get("Sec-WebSocket-Key")
				mu.Unlock()
				return fill(tt.response, r)
			})
			cc, err := Dial(context.Background(), u, tt.opts)
			if cc != nil || err == nil {
				t.Fatalf("Dial succeeded, want an error")
			}
			mu.Lock()
			want := strings.NewReplacer("{want}", AcceptKey(key), "{url}", u).Replace(tt.msg)
			mu.Unlock()
			if err.Error() != want {
				t.Errorf("error:\n got %s\nwant %s", err, want)
			}
			var re *ResponseError
			if tt.err == nil {
				if errors.As(err, &re) {
					t.Errorf("error is a *ResponseError, want another kind")
				}
				return
			}
			if !errors.Is(err, tt.err) {
				t.Errorf("error %v, want errors.Is %v", err, tt.err)
			}
			if !errors.As(err, &re) {
				t.Fatalf("error %T, want *ResponseError", err)
			}
			if re.StatusCode != tt.status || re.Response == nil || re.Response.StatusCode != tt.status {
				t.Errorf("StatusCode %d (Response %v), want %d", re.StatusCode, re.Response, tt.status)
			}
			if diff := cmp.Diff(tt.body, string(re.Body)); diff != "" {
				t.Errorf("Body (-want +got):\n%s", diff)
			}
			if b, _ := io.ReadAll(re.Response.Body); string(b) != tt.body {
				t.Errorf("Response.Body reads %q, want %q", b, tt.body)
			}
		})
	}
}

func TestDialAcceptsVariants(t *testing.T) {
	foo := &clientExt{offers: []Extension{ext("x-foo", "a", "1"), ext("x-foo")}}
	bar := &clientExt{offers: []Extension{ext("x-bar")}}
	opts := &ClientOptions{Subprotocols: []string{"v1", "v2"}, Extensions: []ClientExtension{foo, bar}}
	u := rawServer(t, func(r *http.Request) string {
		return fill("HTTP/1.1 101 Web Socket Protocol Handshake\r\n"+
			"upgrade: WebSocket\r\nconnection: keep-alive, upgrade\r\n"+
			"sec-websocket-accept:   {accept}  \r\n"+
			"Sec-WebSocket-Protocol: v2\r\n"+
			"Sec-WebSocket-Extensions: X-BAR\r\nSec-WebSocket-Extensions: x-foo;a=\"1\"\r\n"+
			"Set-Cookie: id=1\r\n\r\n", r)
	})
	cc, err := Dial(context.Background(), u, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Conn.Close()
	if cc.Subprotocol != "v2" {
		t.Errorf("Subprotocol %q, want v2", cc.Subprotocol)
	}
	wantExts := []Extension{ext("X-BAR"), ext("x-foo", "a", "1")}
	if diff := cmp.Diff(wantExts, cc.Extensions); diff != "" {
		t.Errorf("Extensions (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantExts[1:], foo.got); diff != "" {
		t.Errorf("x-foo Accept calls (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantExts[:1], bar.got); diff != "" {
		t.Errorf("x-bar Accept calls (-want +got):\n%s", diff)
	}
	if got := cc.Response.Header.Get("Set-Cookie"); got != "id=1" {
		t.Errorf("Response Set-Cookie %q, want id=1", got)
	}
	if cc.Response.StatusCode != 101 || cc.Response.Request == nil || cc.Response.Request.Method != "GET" {
		t.Errorf("Response = %+v, want the 101 with its request", cc.Response)
	}
}

func TestDialRequest(t *testing.T) {
	got := make(chan *http.Request, 1)
	u := rawServer(t, func(r *http.Request) string {
		got <- r
		return fill(ok101+"\r\n", r)
	})
	opts := &ClientOptions{
		Header: http.Header{
			"Origin":   {"https://app.example"},
			"X-Multi":  {"1", "2"},
			"Host":     {"virtual.example"},
			"Cookie":   {"a=b"},
			"X-Quoted": {`say "hi"`},
			"x-lower":  {"canonicalized"},
		},
		Subprotocols: []string{"v1", "v2"},
		Extensions: []ClientExtension{
			&clientExt{offers: []Extension{ext("x-foo", "a", "1"), ext("x-foo")}},
			&clientExt{offers: []Extension{ext("x-bar", "q", "")}},
		},
	}
	u = strings.Replace(u, "ws://", "ws://user:secret@", 1) + "chat%2Froom?x=1&y=%20"
	cc, err := Dial(context.Background(), u, opts)
	if err != nil {
		t.Fatal(err)
	}
	cc.Conn.Close()
	r := <-got
	if r.RequestURI != "/chat%2Froom?x=1&y=%20" || r.Proto != "HTTP/1.1" || r.Method != "GET" {
		t.Errorf("request line %s %s %s, want GET /chat%%2Froom?x=1&y=%%20 HTTP/1.1", r.Method, r.RequestURI, r.Proto)
	}
	if r.Host != "virtual.example" {
		t.Errorf("Host %q, want virtual.example", r.Host)
	}
	key := r.Header.Get("Sec-WebSocket-Key")
	want := http.Header{
		"Upgrade":                  {"websocket"},
		"Connection":               {"Upgrade"},
		"Sec-Websocket-Key":        {key},
		"Sec-Websocket-Version":    {"13"},
		"Sec-Websocket-Protocol":   {"v1, v2"},
		"Sec-Websocket-Extensions": {"x-foo; a=1, x-foo, x-bar; q"},
		"Origin":                   {"https://app.example"},
		"X-Multi":                  {"1", "2"},
		"Cookie":                   {"a=b"},
		"X-Quoted":                 {`say "hi"`},
		"Authorization":            {"Basic dXNlcjpzZWNyZXQ="},
		"X-Lower":                  {"canonicalized"},
	}
	if diff := cmp.Diff(want, r.Header); diff != "" {
		t.Errorf("request header (-want +got):\n%s", diff)
	}
	if _, detail := checkKeyValue(key); detail != "" {
		t.Errorf("key: %s", detail)
	}
}

// checkKeyValue validates a Sec-WebSocket-Key the way Upgrade does.
func checkKeyValue(key string) (string, string) {
	r := upgradeRequest()
	r.Header.Set("Sec-WebSocket-Key", key)
	k, e := checkRequest(r)
	if e != nil {
		return "", e.Detail
	}
	return k, ""
}

func TestDialKeysDiffer(t *testing.T) {
	keys := make(chan string, 2)
	u := rawServer(t, func(r *http.Request) string {
		keys <- r.Header.Get("Sec-WebSocket-Key")
		return fill(ok101+"\r\n", r)
	})
	for range 2 {
		cc, err := Dial(context.Background(), u, nil)
		if err != nil {
			t.Fatal(err)
		}
		cc.Conn.Close()
	}
	if a, b := <-keys, <-keys; a == b {
		t.Errorf("two handshakes used the same key %q; RFC 6455 §4.1 wants a fresh nonce", a)
	}
}

func TestDialBuffered(t *testing.T) {
	const early = "\x81\x05hello frame sent with the 101"
	u := rawServer(t, func(r *http.Request) string { return fill(ok101+"\r\n"+early, r) })
	cc, err := Dial(context.Background(), u, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Conn.Close()
	rest, err := io.ReadAll(cc.Conn) // the server half-closes after its write
	if err != nil {
		t.Fatal(err)
	}
	if got := string(cc.Buffered) + string(rest); got != early {
		t.Errorf("Buffered %q + Conn %q = %q, want %q", cc.Buffered, rest, got, early)
	}
	if len(cc.Buffered) == 0 {
		t.Logf("the 101 and the frame arrived apart; only the order was checked")
	}
}

func TestDialBufferedFromReader(t *testing.T) {
	// Deterministic twin of TestDialBuffered: all bytes are available
	// at once, so all of the frame must be in Buffered.
	const early = "\x81\x02hi"
	resp := strings.ReplaceAll(ok101+"\r\n"+early, "{accept}", sampleAccept)
	br := bufio.NewReaderSize(strings.NewReader(resp), readBufferSize)
	cc, err := readResponse(br, &http.Request{Method: "GET"}, sampleKey, &ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if string(cc.Buffered) != early {
		t.Errorf("Buffered %q, want %q", cc.Buffered, early)
	}
	if cc.Response.Body != http.NoBody {
		t.Errorf("Response.Body %v, want http.NoBody", cc.Response.Body)
	}
}

func TestDialOptionErrors(t *testing.T) {
	tests := []struct {
		url  string
		opts *ClientOptions
		err  error
		msg  string
	}{
		{url: "ftp://example.com/", err: ErrBadURL,
			msg: `websocket: bad URL: "ftp://example.com/" has scheme "ftp"; use ws:// or wss://`},
		{url: "example.com/chat", err: ErrBadURL,
			msg: `websocket: bad URL: "example.com/chat" has scheme ""; use ws:// or wss://`},
		{url: "ws:example.com", err: ErrBadURL,
			msg: `websocket: bad URL: "ws:example.com" has no host; write it as ws://host/path`},
		{url: "ws:///chat", err: ErrBadURL,
			msg: `websocket: bad URL: "ws:///chat" has no host; write it as ws://host/path`},
		{url: "ws://example.com/#top", err: ErrBadURL,
			msg: `websocket: bad URL: "ws://example.com/#top" has a fragment, which WebSocket URLs cannot have; escape "#" as %23`},
		{url: "ws://bücher.example/", err: ErrBadURL,
			msg: `websocket: bad URL: host "bücher.example" is not ASCII; convert it to its punycode form (golang.org/x/net/idna.ToASCII)`},
		{url: "ws://example.com:0/", err: ErrBadURL,
			msg: `websocket: bad URL: "ws://example.com:0/" has port "0", which is not in 1-65535`},
		{url: "ws://example.com:70000/", err: ErrBadURL,
			msg: `websocket: bad URL: "ws://example.com:70000/" has port "70000", which is not in 1-65535`},
		{url: "ws://exa mple.com/", err: ErrBadURL,
			msg: `websocket: bad URL: parse "ws://exa mple.com/": invalid character " " in host name`},
		{opts: &ClientOptions{Header: http.Header{"Sec-WebSocket-Protocol": {"chat"}}}, err: ErrBadOptions,
			msg: "websocket: invalid options: ClientOptions.Header must not set Sec-WebSocket-Protocol; Dial writes it (use ClientOptions.Subprotocols or Extensions to offer those)"},
		{opts: &ClientOptions{Header: http.Header{"upgrade": {"h2c"}}}, err: ErrBadOptions,
			msg: "websocket: invalid options: ClientOptions.Header must not set upgrade; Dial writes it (use ClientOptions.Subprotocols or Extensions to offer those)"},
		{opts: &ClientOptions{Header: http.Header{"X-Id": {"1\r\nX-Evil: 1"}}}, err: ErrBadOptions,
			msg: `websocket: invalid options: ClientOptions.Header X-Id has invalid value "1\r\nX-Evil: 1"`},
		{opts: &ClientOptions{Header: http.Header{"Bad Name": {"1"}}}, err: ErrBadOptions,
			msg: `websocket: invalid options: ClientOptions.Header has invalid name "Bad Name"`},
		{opts: &ClientOptions{Header: http.Header{"Host": {"a", "b"}}}, err: ErrBadOptions,
			msg: "websocket: invalid options: ClientOptions.Header Host must have one non-empty value"},
		{opts: &ClientOptions{Subprotocols: []string{"chat", "my chat"}}, err: ErrBadOptions,
			msg: `websocket: invalid options: ClientOptions.Subprotocols[1] "my chat" is not a token`},
		{opts: &ClientOptions{Subprotocols: []string{"chat", "chat"}}, err: ErrBadOptions,
			msg: `websocket: invalid options: ClientOptions.Subprotocols lists "chat" twice`},
		{opts: &ClientOptions{Extensions: []ClientExtension{&clientExt{}}}, err: ErrBadOptions,
			msg: "websocket: invalid options: ClientOptions.Extensions[0] offers nothing"},
		{opts: &ClientOptions{Extensions: []ClientExtension{&clientExt{offers: []Extension{ext("a"), ext("b")}}}}, err: ErrBadOptions,
			msg: "websocket: invalid options: ClientOptions.Extensions[0] offers both a and b; one ClientExtension offers one name"},
		{opts: &ClientOptions{Extensions: []ClientExtension{&clientExt{offers: []Extension{ext("a")}}, &clientExt{offers: []Extension{ext("A")}}}}, err: ErrBadOptions,
			msg: "websocket: invalid options: ClientOptions.Extensions[0] and [1] both offer A"},
		{opts: &ClientOptions{Extensions: []ClientExtension{&clientExt{offers: []Extension{ext("a", "w", "x y")}}}}, err: ErrBadOptions,
			msg: `websocket: invalid options: ClientOptions.Extensions[0]: extension a: parameter w has value "x y", which is not a token`},
		{opts: &ClientOptions{Proxy: func(*http.Request) (*url.URL, error) { return url.Parse("ftp://proxy.example") }}, err: ErrProxy,
			msg: `websocket: dial ws://example.com/: proxy URL ftp://proxy.example has scheme "ftp"; use http, https, socks5 or socks5h`},
		{opts: &ClientOptions{Proxy: func(*http.Request) (*url.URL, error) { return nil, errors.New("no PAC") }}, err: ErrProxy,
			msg: `websocket: proxy failed: choosing a proxy for ws://example.com/: no PAC`},
	}
	for _, tt := range tests {
		if tt.url == "" {
			tt.url = "ws://example.com/"
		}
		opts := tt.opts
		if opts == nil {
			opts = &ClientOptions{}
		}
		// Nothing here may reach the network.
		opts.NetDialContext = func(context.Context, string, string) (net.Conn, error) {
			t.Errorf("%s: Dial tried to connect", tt.url)
			return nil, errors.New("no network in this test")
		}
		_, err := Dial(context.Background(), tt.url, opts)
		if !errors.Is(err, tt.err) {
			t.Errorf("Dial(%q): error %v, want errors.Is %v", tt.url, err, tt.err)
		}
		if err == nil || err.Error() != tt.msg {
			t.Errorf("Dial(%q) error:\n got %v\nwant %s", tt.url, err, tt.msg)
		}
	}
}

func TestParseTarget(t *testing.T) {
	tests := []struct {
		url        string
		secure     bool
		addr       string
		hostHeader string
		serverName string
		requestURI string
		proxyURL   string // URL handed to ClientOptions.Proxy
	}{
		{"ws://example.com", false, "example.com:80", "example.com", "example.com", "/", "http://example.com"},
		{"wss://example.com/chat?x=1&y=%20", true, "example.com:443", "example.com", "example.com", "/chat?x=1&y=%20", "https://example.com/chat?x=1&y=%20"},
		{"ws://example.com:80/", false, "example.com:80", "example.com", "example.com", "/", "http://example.com:80/"},
		{"wss://example.com:80/", true, "example.com:80", "example.com:80", "example.com", "/", "https://example.com:80/"},
		{"ws://example.com:8080/a%2Fb", false, "example.com:8080", "example.com:8080", "example.com", "/a%2Fb", "http://example.com:8080/a%2Fb"},
		{"http://[::1]:9000/x", false, "[::1]:9000", "[::1]:9000", "::1", "/x", "http://[::1]:9000/x"},
		{"wss://[fe80::1%25eth0]/", true, "[fe80::1%eth0]:443", "[fe80::1]", "fe80::1", "/", "https://[fe80::1%25eth0]/"},
		{"WSS://Example.COM/?", true, "Example.COM:443", "Example.COM", "Example.COM", "/?", "https://Example.COM/?"},
		{"https://example.com:443", true, "example.com:443", "example.com", "example.com", "/", "https://example.com:443"},
		{"ws://user:pw@example.com/", false, "example.com:80", "example.com", "example.com", "/", "http://user:pw@example.com/"},
	}
	for _, tt := range tests {
		tg, err := parseTarget(tt.url)
		if err != nil {
			t.Errorf("parseTarget(%q): %v", tt.url, err)
			continue
		}
		got := []any{tg.secure, tg.addr, tg.hostHeader, tg.serverName, tg.u.RequestURI(), tg.u.String()}
		want := []any{tt.secure, tt.addr, tt.hostHeader, tt.serverName, tt.requestURI, tt.proxyURL}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("parseTarget(%q) [secure addr host serverName requestURI url] (-want +got):\n%s", tt.url, diff)
		}
	}
}

func TestResponseErrorUnwrap(t *testing.T) {
	cause := errors.New("cause")
	e := &ResponseError{Err: ErrBadExtension, Cause: cause, Detail: "d"}
	if !errors.Is(e, ErrBadExtension) || !errors.Is(e, cause) || errors.Is(e, ErrBadStatus) {
		t.Errorf("errors.Is does not follow Err and Cause only")
	}
	if e.Error() != "websocket: handshake failed: d" {
		t.Errorf("Error() = %q", e.Error())
	}
}
