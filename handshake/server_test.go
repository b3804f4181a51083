package handshake

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestAcceptKey(t *testing.T) {
	if got := AcceptKey(sampleKey); got != sampleAccept {
		t.Errorf("AcceptKey(%q) = %q, want %q (RFC 6455 §4.2.2)", sampleKey, got, sampleAccept)
	}
	// Keys of another length take the slow path; the value was
	// computed independently with Python's hashlib.
	if got, want := AcceptKey("x"), "JVxkmtKFjDcI/Pm/AGPEKSN6wT8="; got != want {
		t.Errorf("AcceptKey(%q) = %q, want %q", "x", got, want)
	}
}

func TestUpgradeRefusals(t *testing.T) {
	tests := []struct {
		name       string
		edit       func(r *http.Request)
		opts       *ServerOptions
		hijackable bool
		status     int
		err        error
		body       string
		header     http.Header // expected among the response headers
	}{
		{
			name:   "post",
			edit:   func(r *http.Request) { r.Method = http.MethodPost },
			status: 405, err: ErrMethod,
			body:   "method POST not allowed; a WebSocket handshake uses GET",
			header: http.Header{"Allow": {"GET"}},
		},
		{
			name:   "http 1.0",
			edit:   func(r *http.Request) { r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/1.0", 1, 0 },
			status: 400, err: ErrBadRequest,
			body: "HTTP/1.0 request; a WebSocket handshake needs HTTP/1.1",
		},
		{
			name:   "no host",
			edit:   func(r *http.Request) { r.Host = "" },
			status: 400, err: ErrBadRequest,
			body: "request has no Host header",
		},
		{
			name:   "no upgrade",
			edit:   func(r *http.Request) { r.Header.Del("Upgrade") },
			status: 400, err: ErrMissingUpgrade,
			body: `request lacks "Upgrade: websocket"; this endpoint only serves WebSocket connections`,
		},
		{
			name:   "upgrade to something else",
			edit:   func(r *http.Request) { r.Header.Set("Upgrade", "h2c") },
			status: 400, err: ErrMissingUpgrade,
			body: `request lacks "Upgrade: websocket"; this endpoint only serves WebSocket connections`,
		},
		{
			name:   "upgrade token only as substring",
			edit:   func(r *http.Request) { r.Header.Set("Upgrade", "websockets") },
			status: 400, err: ErrMissingUpgrade,
			body: `request lacks "Upgrade: websocket"; this endpoint only serves WebSocket connections`,
		},
		{
			name:   "connection keep-alive only",
			edit:   func(r *http.Request) { r.Header.Set("Connection", "keep-alive") },
			status: 400, err: ErrMissingUpgrade,
			body: `request lacks "Connection: Upgrade"`,
		},
		{
			name:   "no version",
			edit:   func(r *http.Request) { r.Header.Del("Sec-WebSocket-Version") },
			status: 426, err: ErrVersion,
			body:   "request lacks Sec-WebSocket-Version; this server speaks version 13",
			header: http.Header{"Sec-Websocket-Version": {"13"}},
		},
		{
			name:   "version 8",
			edit:   func(r *http.Request) { r.Header.Set("Sec-WebSocket-Version", "8") },
			status: 426, err: ErrVersion,
			body:   `Sec-WebSocket-Version "8" not supported; this server speaks version 13`,
			header: http.Header{"Sec-Websocket-Version": {"13"}},
		},
		{
			name:   "version twice",
			edit:   func(r *http.Request) { r.Header.Add("Sec-WebSocket-Version", "13") },
			status: 426, err: ErrVersion,
			body:   `Sec-WebSocket-Version "13, 13" not supported; this server speaks version 13`,
			header: http.Header{"Sec-Websocket-Version": {"13"}},
		},
		{
			name:   "no key",
			edit:   func(r *http.Request) { r.Header.Del("Sec-WebSocket-Key") },
			status: 400, err: ErrBadKey,
			body: "request lacks Sec-WebSocket-Key",
		},
		{
			name:   "key twice",
			edit:   func(r *http.Request) { r.Header.Add("Sec-WebSocket-Key", sampleKey) },
			status: 400, err: ErrBadKey,
			body: "Sec-WebSocket-Key appears 2 times; send it once",
		},
		{
			name:   "key of 15 bytes",
			edit:   func(r *http.Request) { r.Header.Set("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAA") },
			status: 400, err: ErrBadKey,
			body: `Sec-WebSocket-Key "AAAAAAAAAAAAAAAAAAAA" is not the base64 encoding of 16 bytes`,
		},
		{
			name:   "key of 18 bytes in 24 characters",
			edit:   func(r *http.Request) { r.Header.Set("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAAAAAA") },
			status: 400, err: ErrBadKey,
			body: `Sec-WebSocket-Key "AAAAAAAAAAAAAAAAAAAAAAAA" is not the base64 encoding of 16 bytes`,
		},
		{
			name:   "key not base64",
			edit:   func(r *http.Request) { r.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ!!") },
			status: 400, err: ErrBadKey,
			body: `Sec-WebSocket-Key "dGhlIHNhbXBsZSBub25jZQ!!" is not the base64 encoding of 16 bytes`,
		},
		{
			name:   "cross origin",
			edit:   func(r *http.Request) { r.Header.Set("Origin", "https://evil.example") },
			status: 403, err: ErrBadOrigin,
			body: `Origin "https://evil.example" is not allowed to connect to example.com`,
		},
		{
			name: "two origins",
			edit: func(r *http.Request) {
				r.Header.Add("Origin", "http://example.com")
				r.Header.Add("Origin", "http://example.com")
			},
			status: 403, err: ErrBadOrigin,
			body: "request has several Origin headers",
		},
		{
			name:   "subprotocol not a token",
			edit:   func(r *http.Request) { r.Header.Set("Sec-WebSocket-Protocol", "chat v2") },
			status: 400, err: ErrBadSubprotocol,
			body: `Sec-WebSocket-Protocol "chat v2" is not a comma-separated list of tokens`,
		},
		{
			name: "subprotocol offered twice",
			edit: func(r *http.Request) {
				r.Header.Add("Sec-WebSocket-Protocol", "chat, superchat")
				r.Header.Add("Sec-WebSocket-Protocol", "chat")
			},
			status: 400, err: ErrBadSubprotocol,
			body: `Sec-WebSocket-Protocol offers "chat" twice`,
		},
		{
			name:   "malformed extensions",
			edit:   func(r *http.Request) { r.Header.Set("Sec-WebSocket-Extensions", "foo; ") },
			status: 400, err: ErrBadExtension,
			body: `malformed Sec-WebSocket-Extensions: expected a parameter name after ";" at the end of "foo; "`,
		},
		{
			name:   "reserved response header",
			opts:   &ServerOptions{Header: http.Header{"Connection": {"close"}}},
			status: 500, err: ErrBadOptions,
			body: "server misconfigured: ServerOptions.Header must not set Connection; the handshake writes it",
		},
		{
			name:   "response header value with newline",
			opts:   &ServerOptions{Header: http.Header{"X-Id": {"a\r\nEvil: 1"}}},
			status: 500, err: ErrBadOptions,
			body: `server misconfigured: ServerOptions.Header X-Id has invalid value "a\r\nEvil: 1"`,
		},
		{
			name:   "bad origin pattern",
			edit:   func(r *http.Request) { r.Header.Set("Origin", "https://evil.example") },
			opts:   &ServerOptions{OriginPatterns: []string{"[a-"}},
			status: 500, err: ErrBadOptions,
			body: `server misconfigured: OriginPatterns entry "[a-" is not a valid path.Match pattern`,
		},
		{
			name:   "SelectSubprotocol invents",
			opts:   &ServerOptions{SelectSubprotocol: func(*http.Request, []string) string { return "other" }},
			edit:   func(r *http.Request) { r.Header.Set("Sec-WebSocket-Protocol", "chat") },
			status: 500, err: ErrBadOptions,
			body: `server misconfigured: SelectSubprotocol chose "other", which the client did not offer`,
		},
		{
			name:   "extension answers another name",
			opts:   &ServerOptions{Extensions: []ServerExtension{&serverExt{name: "foo", respond: &Extension{Name: "bar"}}}},
			edit:   func(r *http.Request) { r.Header.Set("Sec-WebSocket-Extensions", "foo") },
			status: 500, err: ErrBadOptions,
			body: `server misconfigured: extension foo answered with the name "bar"`,
		},
		{
			name:   "extension answers a non-token value",
			opts:   &ServerOptions{Extensions: []ServerExtension{&serverExt{name: "foo", respond: &Extension{Name: "foo", Params: []ExtensionParam{{"x", "a b"}}}}}},
			edit:   func(r *http.Request) { r.Header.Set("Sec-WebSocket-Extensions", "foo") },
			status: 500, err: ErrBadOptions,
			body: `server misconfigured: extension foo answered an invalid element: extension foo: parameter x has value "a b", which is not a token`,
		},
		{
			name:   "body by length",
			edit:   func(r *http.Request) { r.ContentLength = 7 },
			status: 400, err: ErrBadRequest,
			body: "handshake request has a body",
		},
		{
			name:   "chunked body",
			edit:   func(r *http.Request) { r.ContentLength, r.TransferEncoding = -1, []string{"chunked"} },
			status: 400, err: ErrBadRequest,
			body: "handshake request has a body",
		},
		{
			name:   "cannot hijack",
			status: 500, err: ErrHijack,
			body: "cannot take over the connection (feature not supported); WebSocket needs an HTTP/1.1 server whose ResponseWriter supports hijacking",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := upgradeRequest()
			if tt.edit != nil {
				tt.edit(r)
			}
			w := httptest.NewRecorder()
			sc, err := Upgrade(w, r, tt.opts)
			if sc != nil {
				t.Fatalf("Upgrade returned a connection")
			}
			if !errors.Is(err, tt.err) {
				t.Errorf("error %v, want errors.Is %v", err, tt.err)
			}
			var re *RequestError
			if !errors.As(err, &re) {
				t.Fatalf("error %T, want *RequestError", err)
			}
			if re.Status != tt.status || w.Code != tt.status {
				t.Errorf("status: error says %d, wrote %d; want %d", re.Status, w.Code, tt.status)
			}
			if diff := cmp.Diff(tt.body+"\n", w.Body.String()); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
			if re.Detail != tt.body {
				t.Errorf("Detail %q, want %q", re.Detail, tt.body)
			}
			if got := w.Header().Get("Content-Type"); !strings.HasPrefix(got, "text/plain") {
				t.Errorf("Content-Type %q, want text/plain", got)
			}
			for k, v := range tt.header {
				if diff := cmp.Diff(v, w.Header()[k]); diff != "" {
					t.Errorf("header %s (-want +got):\n%s", k, diff)
				}
			}
		})
	}
}

// TestUpgradeRequestBody sends handshakes that announce a body over TCP,
// to Upgrade behind net/http and to UpgradeConn. Both must refuse them
// alike, for a body taken as WebSocket data is a smuggled request, and
// both must upgrade one whose Content-Length is 0.
func TestUpgradeRequestBody(t *testing.T) {
	const head = "GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + sampleKey + "\r\nSec-WebSocket-Version: 13\r\n"
	const frame = "\x81\x81abcd\x08" // a masked text frame "i", 7 bytes
	type outcome struct {
		Status   int   // of the response
		Upgraded bool  // Upgrade returned a connection
		Err      error // Upgrade's error
	}
	refused := outcome{http.StatusBadRequest, false, ErrBadRequest}
	requests := []struct {
		name    string
		request string
		want    outcome
	}{
		{"Content-Length 7", head + "Content-Length: 7\r\n\r\n" + frame, refused},
		{"chunked", head + "Transfer-Encoding: chunked\r\n\r\n7\r\n" + frame + "\r\n0\r\n\r\n", refused},
		{"chunked and Content-Length", head + "Content-Length: 7\r\nTransfer-Encoding: chunked\r\n\r\n7\r\n" + frame + "\r\n0\r\n\r\n", refused},
		{"Content-Length 0", head + "Content-Length: 0\r\n\r\n", outcome{http.StatusSwitchingProtocols, true, nil}},
	}
	// Each server returns its address and a function that waits for the
	// outcome of its one handshake.
	servers := []struct {
		name  string
		start func(t *testing.T) (string, func() (*ServerConn, error))
	}{
		{"net/http", func(t *testing.T) (string, func() (*ServerConn, error)) {
			type result struct {
				sc  *ServerConn
				err error
			}
			done := make(chan result, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				sc, err := Upgrade(w, r, nil)
				done <- result{sc, err}
			}))
			t.Cleanup(srv.Close)
			return srv.Listener.Addr().String(), func() (*ServerConn, error) { res := <-done; return res.sc, res.err }
		}},
		{"UpgradeConn", func(t *testing.T) (string, func() (*ServerConn, error)) {
			addr, errs, conns := serveConn(t, context.Background(), nil)
			return addr, func() (*ServerConn, error) {
				if err := <-errs; err != nil {
					return nil, err
				}
				return <-conns, nil
			}
		}},
	}
	for _, srv := range servers {
		for _, tt := range requests {
			t.Run(srv.name+"/"+tt.name, func(t *testing.T) {
				addr, served := srv.start(t)
				nc, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				defer nc.Close()
				nc.SetDeadline(time.Now().Add(5 * time.Second))
				if _, err := io.WriteString(nc, tt.request); err != nil {
					t.Fatal(err)
				}
				resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				sc, err := served()
				if sc != nil {
					sc.Conn.Close()
				}
				var re *RequestError
				if err != nil && !errors.As(err, &re) {
					t.Errorf("error %v, want a *RequestError", err)
				}
				got := outcome{resp.StatusCode, sc != nil, err}
				if diff := cmp.Diff(tt.want, got, cmpopts.EquateErrors()); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
			})
		}
	}
}

func TestRequestErrorMessage(t *testing.T) {
	e := &RequestError{Status: 403, Err: ErrBadOrigin, Detail: `Origin "x" is not allowed`}
	want := `websocket: refused handshake with 403 Forbidden: Origin "x" is not allowed`
	if e.Error() != want {
		t.Errorf("Error() = %q, want %q", e.Error(), want)
	}
}

func TestUpgradeAcceptsVariants(t *testing.T) {
	tests := []struct {
		name string
		edit func(r *http.Request)
	}{
		{"tokens in other case", func(r *http.Request) {
			r.Header.Set("Upgrade", "WebSocket")
			r.Header.Set("Connection", "keep-alive, UPGRADE")
		}},
		{"tokens across repeated headers", func(r *http.Request) {
			r.Header["Upgrade"] = []string{"h2c", "websocket"}
			r.Header["Connection"] = []string{"keep-alive", "Upgrade"}
		}},
		{"HTTP/1.2", func(r *http.Request) { r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/1.2", 1, 2 }},
		{"RFC example key with loose padding bits", func(r *http.Request) {
			r.Header.Set("Sec-WebSocket-Key", "AQIDBAUGBwgJCgsMDQ4PEC==")
		}},
		{"same origin", func(r *http.Request) { r.Header.Set("Origin", "http://example.com") }},
		{"empty subprotocol elements", func(r *http.Request) { r.Header.Set("Sec-WebSocket-Protocol", " , chat,,") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := upgradeRequest()
			tt.edit(r)
			w := newHijackWriter("")
			if _, err := Upgrade(w, r, nil); err != nil {
				t.Fatalf("Upgrade: %v", err)
			}
			if !strings.HasPrefix(w.conn.written.String(), "HTTP/1.1 101 ") {
				t.Errorf("wrote %q, want a 101 response", w.conn.written.String())
			}
		})
	}
}

func TestUpgradeResponse(t *testing.T) {
	r := upgradeRequest()
	r.Header.Set("Origin", "https://app.example.net")
	r.Header.Set("Sec-WebSocket-Protocol", "v1.chat, v2.chat")
	r.Header.Set("Sec-WebSocket-Extensions", "x-foo; a=1, x-bar, x-foo; a=2")
	foo := &serverExt{name: "x-foo", accept: func(e Extension) bool { return e.Params[0].Value == "2" }}
	bar := &serverExt{name: "X-BAR", respond: &Extension{Name: "x-bar", Params: []ExtensionParam{{"q", ""}}}}
	unused := &serverExt{name: "x-unused"}
	opts := &ServerOptions{
		Subprotocols:   []string{"v2.chat", "v1.chat"},
		OriginPatterns: []string{"*.example.net"},
		Extensions:     []ServerExtension{foo, unused, bar},
		Header:         http.Header{"Set-Cookie": {"a=1", "b=2"}, "X-Server": {"test"}},
	}
	w := newHijackWriter("\x81\x05early")
	sc, err := Upgrade(wrappedWriter{w}, r, opts)
	if err != nil {
		t.Fatalf("Upgrade: %v", err)
	}
	want := "HTTP/1.1 101 Switching Protocols\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: " + sampleAccept + "\r\n" +
		"Sec-WebSocket-Protocol: v2.chat\r\n" +
		"Sec-WebSocket-Extensions: x-bar; q, x-foo; a=2\r\n" +
		"Set-Cookie: a=1\r\n" +
		"Set-Cookie: b=2\r\n" +
		"X-Server: test\r\n" +
		"\r\n"
	if diff := cmp.Diff(want, w.conn.written.String()); diff != "" {
		t.Errorf("response (-want +got):\n%s", diff)
	}
	if w.conn.writes != 1 {
		t.Errorf("response took %d writes, want 1", w.conn.writes)
	}
	if !w.conn.deadline.IsZero() {
		t.Errorf("deadline %v left on the connection, want none", w.conn.deadline)
	}
	wantConn := &ServerConn{
		Conn:        w.conn,
		Buffered:    []byte("\x81\x05early"),
		Subprotocol: "v2.chat",
		Extensions:  []Extension{ext("x-bar", "q", ""), ext("x-foo", "a", "2")},
	}
	if diff := cmp.Diff(wantConn, sc, cmp.Comparer(func(a, b *stubConn) bool { return a == b })); diff != "" {
		t.Errorf("ServerConn (-want +got):\n%s", diff)
	}
	// x-foo saw both of its offers in the client's order; x-bar one.
	if diff := cmp.Diff([]Extension{ext("x-foo", "a", "1"), ext("x-foo", "a", "2")}, foo.offers); diff != "" {
		t.Errorf("x-foo offers (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]Extension{ext("x-bar")}, bar.offers); diff != "" {
		t.Errorf("x-bar offers (-want +got):\n%s", diff)
	}
	if len(unused.offers) != 0 {
		t.Errorf("x-unused was offered %v", unused.offers)
	}
}

func TestUpgradeNoSubprotocolHeader(t *testing.T) {
	r := upgradeRequest()
	r.Header.Set("Sec-WebSocket-Protocol", "chat")
	w := newHijackWriter("")
	sc, err := Upgrade(w, r, &ServerOptions{Subprotocols: []string{"other"}})
	if err != nil {
		t.Fatal(err)
	}
	if sc.Subprotocol != "" || sc.Buffered != nil || sc.Extensions != nil {
		t.Errorf("ServerConn = %+v, want no subprotocol, buffered bytes or extensions", sc)
	}
	// RFC 6455 §4.2.2: no agreement means no Sec-WebSocket-Protocol.
	if resp := w.conn.written.String(); strings.Contains(resp, "Sec-WebSocket-Protocol") || strings.Contains(resp, "Sec-WebSocket-Extensions") {
		t.Errorf("response %q has a Sec-WebSocket-Protocol or -Extensions header", resp)
	}
}

func TestOriginPolicy(t *testing.T) {
	tests := []struct {
		origin   string // "" for none
		host     string
		patterns []string
		skip     bool
		allowed  bool
	}{
		{origin: "", host: "example.com", allowed: true},
		{origin: "http://example.com", host: "example.com", allowed: true},
		{origin: "https://EXAMPLE.com", host: "example.COM", allowed: true},
		{origin: "http://example.com", host: "example.com:80", allowed: true},
		{origin: "https://example.com", host: "example.com:443", allowed: true},
		{origin: "http://example.com:8080", host: "example.com:8080", allowed: true},
		{origin: "https://example.com", host: "example.com:80", allowed: false},
		{origin: "http://example.com:8080", host: "example.com", allowed: false},
		{origin: "http://example.com", host: "example.com:8080", allowed: false},
		{origin: "http://evil.com", host: "example.com", allowed: false},
		{origin: "http://example.com.evil.com", host: "example.com", allowed: false},
		{origin: "http://example.com@evil.com", host: "example.com", allowed: false},
		{origin: "null", host: "example.com", allowed: false},
		{origin: "null", host: "example.com", patterns: []string{"*"}, allowed: true},
		{origin: "null", host: "example.com", patterns: []string{"null"}, allowed: true},
		{origin: "https://chat.example.com", host: "api.example.org", patterns: []string{"*.example.com"}, allowed: true},
		{origin: "https://example.com", host: "api.example.org", patterns: []string{"*.example.com"}, allowed: false},
		{origin: "https://chat.example.com:8443", host: "api.example.org", patterns: []string{"*.example.com"}, allowed: false},
		{origin: "http://localhost:3000", host: "127.0.0.1:8080", patterns: []string{"localhost:*"}, allowed: true},
		{origin: "http://localhost", host: "127.0.0.1:8080", patterns: []string{"localhost:*"}, allowed: false},
		{origin: "http://Example.ORG", host: "api.example.com", patterns: []string{"example.org"}, allowed: true},
		{origin: "http://app.example.org", host: "api.example.com", patterns: []string{"EXAMPLE.org", "*.Example.Org"}, allowed: true},
		{origin: "https://anything.test", host: "example.com", patterns: []string{"*"}, allowed: true},
		{origin: "https://evil.test", host: "example.com", skip: true, allowed: true},
	}
	for _, tt := range tests {
		r := upgradeRequest()
		r.Host = tt.host
		if tt.origin != "" {
			r.Header.Set("Origin", tt.origin)
		}
		w := newHijackWriter("")
		_, err := Upgrade(w, r, &ServerOptions{OriginPatterns: tt.patterns, InsecureSkipOriginCheck: tt.skip})
		switch {
		case tt.allowed && err != nil:
			t.Errorf("Origin %q, Host %q, patterns %q: refused (%v), want allowed", tt.origin, tt.host, tt.patterns, err)
		case !tt.allowed && !errors.Is(err, ErrBadOrigin):
			t.Errorf("Origin %q, Host %q, patterns %q: error %v, want ErrBadOrigin", tt.origin, tt.host, tt.patterns, err)
		case !tt.allowed && w.status != http.StatusForbidden:
			t.Errorf("Origin %q, Host %q, patterns %q: status %d, want 403", tt.origin, tt.host, tt.patterns, w.status)
		}
	}
}

// TestCheckOrigin checks that CheckOrigin replaces the pattern policy,
// for requests with an Origin and without.
func TestCheckOrigin(t *testing.T) {
	onlyApp := func(r *http.Request) bool { return r.Header.Get("Origin") == "https://app.test" }
	for _, tt := range []struct {
		origin  string
		allowed bool
	}{
		{"https://app.test", true},
		{"https://example.com", false}, // same-origin, but the function says no
		{"", false},                    // not a browser, and the function says no
	} {
		r := upgradeRequest()
		r.Host = "example.com"
		if tt.origin != "" {
			r.Header.Set("Origin", tt.origin)
		}
		w := newHijackWriter("")
		_, err := Upgrade(w, r, &ServerOptions{CheckOrigin: onlyApp, OriginPatterns: []string{"*"}})
		if got := err == nil; got != tt.allowed || (!got && (!errors.Is(err, ErrBadOrigin) || w.status != http.StatusForbidden)) {
			t.Errorf("Origin %q: allowed=%v, err %v, status %d; want allowed=%v (403 otherwise)", tt.origin, got, err, w.status, tt.allowed)
		}
	}
}

// TestIsUpgradeRequest checks which requests ask for a WebSocket.
func TestIsUpgradeRequest(t *testing.T) {
	for _, tt := range []struct {
		name   string
		change func(r *http.Request)
		want   bool
	}{
		{"handshake", func(*http.Request) {}, true},
		{"tokens in lists, any case", func(r *http.Request) {
			r.Header.Set("Connection", "keep-alive, Upgrade")
			r.Header.Set("Upgrade", "WebSocket")
		}, true},
		{"a page", func(r *http.Request) { r.Header.Del("Upgrade"); r.Header.Del("Connection") }, false},
		{"another upgrade", func(r *http.Request) { r.Header.Set("Upgrade", "h2c") }, false},
		{"POST", func(r *http.Request) { r.Method = http.MethodPost }, false},
	} {
		r := upgradeRequest()
		tt.change(r)
		if got := IsUpgradeRequest(r); got != tt.want {
			t.Errorf("%s: IsUpgradeRequest = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestSubprotocolSelection(t *testing.T) {
	pickLast := func(_ *http.Request, offered []string) string { return offered[len(offered)-1] }
	var seen []string
	record := func(_ *http.Request, offered []string) string { seen = offered; return "" }
	tests := []struct {
		name    string
		offered []string // Sec-WebSocket-Protocol headers
		server  []string
		sel     func(*http.Request, []string) string
		want    string
	}{
		{name: "nothing offered", server: []string{"chat"}, want: ""},
		{name: "nothing supported", offered: []string{"chat"}, want: ""},
		{name: "server preference wins", offered: []string{"a, b, c"}, server: []string{"c", "b"}, want: "c"},
		{name: "across headers", offered: []string{"a", "b"}, server: []string{"b"}, want: "b"},
		{name: "no overlap", offered: []string{"a, b"}, server: []string{"c"}, want: ""},
		{name: "case-sensitive", offered: []string{"Chat"}, server: []string{"chat"}, want: ""},
		{name: "selector", offered: []string{"a, b, c"}, server: []string{"a"}, sel: pickLast, want: "c"},
		{name: "selector declines", offered: []string{"a"}, sel: record, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := upgradeRequest()
			r.Header["Sec-Websocket-Protocol"] = tt.offered
			w := newHijackWriter("")
			sc, err := Upgrade(w, r, &ServerOptions{Subprotocols: tt.server, SelectSubprotocol: tt.sel})
			if err != nil {
				t.Fatal(err)
			}
			if sc.Subprotocol != tt.want {
				t.Errorf("Subprotocol %q, want %q", sc.Subprotocol, tt.want)
			}
		})
	}
	if diff := cmp.Diff([]string{"a"}, seen); diff != "" {
		t.Errorf("SelectSubprotocol offered (-want +got):\n%s", diff)
	}
}

func TestUpgradeRealServerBuffered(t *testing.T) {
	type result struct {
		sc   *ServerConn
		rest []byte
		err  error
	}
	done := make(chan result, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sc, err := Upgrade(w, r, nil)
		if err != nil {
			done <- result{err: err}
			return
		}
		defer sc.Conn.Close()
		// The client half-closes after its frame bytes, so this ends.
		rest := make([]byte, 0, 64)
		buf := make([]byte, 64)
		for {
			n, err := sc.Conn.Read(buf)
			rest = append(rest, buf[:n]...)
			if err != nil {
				break
			}
		}
		done <- result{sc: sc, rest: rest}
	}))
	defer srv.Close()

	conn, err := dialTCP(t, srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const early = "frame bytes sent before the response"
	req := "GET /chat HTTP/1.1\r\nHost: " + srv.Listener.Addr().String() + "\r\n" +
		"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + sampleKey + "\r\n" +
		"Sec-WebSocket-Version: 13\r\n\r\n" + early
	if _, err := conn.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	if err := conn.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	res := <-done
	if res.err != nil {
		t.Fatalf("Upgrade: %v", res.err)
	}
	// Whatever net/http had buffered must come first in Buffered; the
	// two together must be exactly what the client sent.
	if got := string(res.sc.Buffered) + string(res.rest); got != early {
		t.Errorf("Buffered %q + Conn %q = %q, want %q", res.sc.Buffered, res.rest, got, early)
	}
	if len(res.sc.Buffered) == 0 {
		t.Logf("net/http had buffered nothing past the request; only the order was checked")
	}
}
