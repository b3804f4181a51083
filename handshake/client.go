package handshake

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ClientOptions configure [Dial]. The zero value is useful: no
// subprotocol, no extension, proxies from the environment.
type ClientOptions struct {
	// Header holds extra request headers such as Origin, Cookie or
	// Authorization. A Host entry replaces the Host header derived from
	// the URL. It must not set the headers Dial writes itself (Upgrade,
	// Connection and the Sec-WebSocket-* headers).
	Header http.Header

	// Subprotocols are offered in order of preference.
	Subprotocols []string

	// Extensions are offered in order of preference. The caller applies
	// what the server accepts to the frames; see the package doc.
	Extensions []ClientExtension

	// TLSConfig is used for wss:// URLs and for https:// proxies. It is
	// cloned, never modified. ServerName defaults to the host being
	// contacted, and NextProtos is always "http/1.1" since the handshake
	// is an HTTP/1.1 request.
	TLSConfig *tls.Config

	// Proxy returns the proxy to use for a request, or nil for none.
	// The request's URL has the scheme http for ws:// and https for
	// wss://, so that [http.ProxyFromEnvironment] picks HTTP_PROXY or
	// HTTPS_PROXY as it does for net/http. Supported proxy schemes are
	// http and https (a CONNECT tunnel, authenticated with Basic when the
	// proxy URL has a user) and socks5 and socks5h (RFC 1928; in both,
	// the proxy resolves host names). nil means
	// http.ProxyFromEnvironment; use [NoProxy] to connect directly.
	Proxy func(*http.Request) (*url.URL, error)

	// NetDialContext opens TCP connections, to the server or to the
	// proxy. nil means a zero net.Dialer.
	NetDialContext func(ctx context.Context, network, addr string) (net.Conn, error)

	// HTTP2, if set, opens the connection as a stream of an HTTP/2
	// connection with an extended CONNECT (RFC 8441) sent through it,
	// instead of an HTTP/1.1 upgrade. It is typically a
	// *golang.org/x/net/http2.Transport, which keeps one TCP connection
	// per server for all its streams; in Go 1.26, net/http's Transport
	// refuses to send the :protocol pseudo-header. The server must have announced
	// SETTINGS_ENABLE_CONNECT_PROTOCOL. TLSConfig, Proxy and
	// NetDialContext do not apply: the transport has its own.
	HTTP2 http.RoundTripper
}

// NoProxy is a ClientOptions.Proxy function that never uses a proxy.
func NoProxy(*http.Request) (*url.URL, error) { return nil, nil }

// ClientConn is a connection whose client handshake has completed.
type ClientConn struct {
	// Conn is the connection to the server, a *tls.Conn for wss. It has
	// no deadlines set.
	Conn net.Conn
	// Buffered holds bytes the server sent after its 101 response that
	// were read along with it; they precede what Conn returns.
	Buffered []byte
	// Subprotocol is the subprotocol chosen by the server, or "".
	Subprotocol string
	// Extensions are the server's accepted extension responses, in the
	// order the server listed them.
	Extensions []Extension
	// Response is the 101 response. Its Body is empty.
	Response *http.Response
}

// ResponseError reports that the server refused the handshake or
// answered it wrongly. Err is one of the sentinel errors (ErrBadStatus,
// ErrMissingUpgrade, ErrBadAccept, ErrBadSubprotocol, ErrBadExtension).
type ResponseError struct {
	StatusCode int
	Header     http.Header
	Body       []byte // the start of the response body, at most 1 KiB
	Err        error  // sentinel error
	Detail     string // what was wrong, for a person
	// Cause is the error behind Err, if any, such as the one returned
	// by ClientExtension.Accept.
	Cause error
	// Response is the response read. Its Body reads the bytes in Body.
	Response *http.Response
}

// Error says what was wrong with the server's answer.
func (e *ResponseError) Error() string {
	return "websocket: handshake failed: " + e.Detail
}

// Unwrap returns Err and Cause, for [errors.Is] and [errors.As].
func (e *ResponseError) Unwrap() []error {
	if e.Cause == nil {
		return []error{e.Err}
	}
	return []error{e.Err, e.Cause}
}

const (
	// maxHeaderBytes bounds the response headers, like net/http's
	// Transport does, so a hostile server cannot exhaust memory.
	maxHeaderBytes = 1 << 20
	// maxErrorBody bounds the body kept from a refusal.
	maxErrorBody = 1 << 10
	// readBufferSize is the size of the buffer used to read the response.
	readBufferSize = 4 << 10
)

// Dial opens a connection to a ws:// or wss:// URL (http:// and https://
// are accepted as aliases) and performs the client side of the opening
// handshake (RFC 6455 §4.1).
//
// ctx bounds the dial, the proxy, the TLS handshake and the HTTP
// exchange; if it ends first, Dial returns an error wrapping ctx.Err().
// The returned connection has no deadline set.
//
// The server's answer is verified: status 101, the Upgrade and
// Connection tokens, the exact Sec-WebSocket-Accept, a subprotocol only
// from those offered, and extensions only as offered, each accepted by
// its ClientExtension. A wrong answer is a *[ResponseError], which holds
// the response read (status, header, start of the body); Dial returns a
// nil *ClientConn with it and closes the connection.
func Dial(ctx context.Context, rawURL string, opts *ClientOptions) (*ClientConn, error) {
	if opts == nil {
		opts = &ClientOptions{}
	}
	t, err := parseTarget(rawURL)
	if err != nil {
		return nil, err
	}
	hr, err := newHandshakeRequest(t, opts)
	if err != nil {
		return nil, err
	}
	if opts.HTTP2 != nil {
		cc, err := dialStream(ctx, t, hr.req.Header, opts)
		if err != nil {
			return nil, dialError(ctx, t, err)
		}
		return cc, nil
	}
	proxyFunc := opts.Proxy
	if proxyFunc == nil {
		proxyFunc = http.ProxyFromEnvironment
	}
	proxyURL, err := proxyFunc(hr.req)
	if err != nil {
		return nil, fmt.Errorf("%w: choosing a proxy for %s: %w", ErrProxy, t.display, err)
	}

	conn, err := dialConn(ctx, t, proxyURL, opts)
	if err != nil {
		return nil, dialError(ctx, t, err)
	}
	// Interrupt any blocked read or write once ctx ends. Because this
	// runs only after ctx is done, an error it causes always comes with a
	// non-nil ctx.Err().
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(aLongTimeAgo) })
	cc, err := hr.run(ctx, conn, t, proxyURL, opts)
	if !stop() && err == nil {
		err = ctx.Err()
	}
	if err != nil {
		conn.Close()
		return nil, dialError(ctx, t, err)
	}
	if err := conn.SetDeadline(time.Time{}); err != nil {
		conn.Close()
		return nil, dialError(ctx, t, err)
	}
	return cc, nil
}

// dialError adds the URL to err and, when ctx has ended, ctx.Err(). The
// server's refusal, a *ResponseError, is returned as it is: it says what
// the server answered, which is more than the URL.
func dialError(ctx context.Context, t *target, err error) error {
	var re *ResponseError
	if errors.As(err, &re) && ctx.Err() == nil {
		return err
	}
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("websocket: dial %s: %w: %w", t.display, cerr, err)
	}
	return fmt.Errorf("websocket: dial %s: %w", t.display, err)
}

// target is a parsed WebSocket URL.
type target struct {
	u          *url.URL // with scheme http or https, no fragment
	display    string   // the URL as given, password hidden, for messages
	secure     bool
	addr       string // host:port to connect to
	hostHeader string // value of the Host header
	serverName string // host name for TLS
}

// parseTarget parses and checks a WebSocket URL (RFC 6455 §3).
func parseTarget(rawURL string) (*target, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadURL, err)
	}
	t := &target{display: u.Redacted()}
	switch strings.ToLower(u.Scheme) {
	case "ws", "http":
		u.Scheme = "http"
	case "wss", "https":
		u.Scheme, t.secure = "https", true
	default:
		return nil, fmt.Errorf("%w: %q has scheme %q; use ws:// or wss://", ErrBadURL, rawURL, u.Scheme)
	}
	if u.Opaque != "" || u.Host == "" {
		return nil, fmt.Errorf("%w: %q has no host; write it as ws://host/path", ErrBadURL, rawURL)
	}
	// RFC 6455 §3: fragments MUST NOT be used; "#" must be escaped.
	if strings.Contains(rawURL, "#") {
		return nil, fmt.Errorf("%w: %q has a fragment, which WebSocket URLs cannot have; escape \"#\" as %%23", ErrBadURL, rawURL)
	}
	host := u.Hostname()
	for i := 0; i < len(host); i++ {
		if host[i] >= 0x80 {
			// RFC 6455 §3 asks for IDNA; it needs tables this package
			// does not carry.
			return nil, fmt.Errorf("%w: host %q is not ASCII; convert it to its punycode form (golang.org/x/net/idna.ToASCII)", ErrBadURL, host)
		}
	}
	port := u.Port()
	defaultPort := "80"
	if t.secure {
		defaultPort = "443"
	}
	if port == "" {
		port = defaultPort
	} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return nil, fmt.Errorf("%w: %q has port %q, which is not in 1-65535", ErrBadURL, rawURL, port)
	}
	t.addr = net.JoinHostPort(host, port)
	// The Host header and the TLS server name carry no IPv6 zone.
	name, _, _ := strings.Cut(host, "%")
	t.serverName = name
	if strings.Contains(name, ":") {
		name = "[" + name + "]"
	}
	if port != defaultPort {
		name += ":" + port
	}
	t.hostHeader = name
	u.Fragment, u.RawFragment = "", ""
	t.u = u
	return t, nil
}

// handshakeRequest is a prepared opening handshake.
type handshakeRequest struct {
	req  *http.Request // for the Proxy function and ClientConn.Response
	wire []byte        // the request as sent
	key  string
	opts *ClientOptions
}

// reservedRequestHeaders are written by Dial itself.
var reservedRequestHeaders = [...]string{hdrUpgrade, hdrConnection, hdrKey, hdrVersion, hdrProtocol, hdrExtensions, "Content-Length", "Transfer-Encoding"}

// newHandshakeRequest checks opts and builds the request for t
// (RFC 6455 §4.1).
func newHandshakeRequest(t *target, opts *ClientOptions) (*handshakeRequest, error) {
	h := make(http.Header, len(opts.Header)+8)
	hostHeader := t.hostHeader
	for name, values := range opts.Header {
		if !isToken(name) {
			return nil, fmt.Errorf("%w: ClientOptions.Header has invalid name %q", ErrBadOptions, name)
		}
		for _, reserved := range reservedRequestHeaders {
			if strings.EqualFold(name, reserved) {
				return nil, fmt.Errorf("%w: ClientOptions.Header must not set %s; Dial writes it (use ClientOptions.Subprotocols or Extensions to offer those)", ErrBadOptions, name)
			}
		}
		for _, v := range values {
			if !validHeaderValue(v) {
				return nil, fmt.Errorf("%w: ClientOptions.Header %s has invalid value %q", ErrBadOptions, name, v)
			}
		}
		if strings.EqualFold(name, "Host") {
			if len(values) != 1 || values[0] == "" {
				return nil, fmt.Errorf("%w: ClientOptions.Header Host must have one non-empty value", ErrBadOptions)
			}
			hostHeader = values[0]
			continue
		}
		key := http.CanonicalHeaderKey(name)
		h[key] = append(h[key], values...)
	}
	if u := t.u.User; u != nil && h.Get("Authorization") == "" {
		pass, _ := u.Password()
		h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(u.Username()+":"+pass)))
	}

	// RFC 6455 §4.1 item 10: tokens, all unique.
	for i, p := range opts.Subprotocols {
		if !isToken(p) {
			return nil, fmt.Errorf("%w: ClientOptions.Subprotocols[%d] %q is not a token", ErrBadOptions, i, p)
		}
		if slices.Contains(opts.Subprotocols[:i], p) {
			return nil, fmt.Errorf("%w: ClientOptions.Subprotocols lists %q twice", ErrBadOptions, p)
		}
	}
	var offers []Extension
	for i, ce := range opts.Extensions {
		eo := ce.Offers()
		if len(eo) == 0 {
			return nil, fmt.Errorf("%w: ClientOptions.Extensions[%d] offers nothing", ErrBadOptions, i)
		}
		for _, o := range eo {
			if detail := checkExtension(o); detail != "" {
				return nil, fmt.Errorf("%w: ClientOptions.Extensions[%d]: %s", ErrBadOptions, i, detail)
			}
			if !strings.EqualFold(o.Name, eo[0].Name) {
				return nil, fmt.Errorf("%w: ClientOptions.Extensions[%d] offers both %s and %s; one ClientExtension offers one name", ErrBadOptions, i, eo[0].Name, o.Name)
			}
		}
		// Each name belongs to one ClientExtension, so that a response
		// element can be handed to the right one.
		for j, prev := range opts.Extensions[:i] {
			if strings.EqualFold(prev.Offers()[0].Name, eo[0].Name) {
				return nil, fmt.Errorf("%w: ClientOptions.Extensions[%d] and [%d] both offer %s", ErrBadOptions, j, i, eo[0].Name)
			}
		}
		offers = append(offers, eo...)
	}

	var rawKey [16]byte
	rand.Read(rawKey[:])
	key := base64.StdEncoding.EncodeToString(rawKey[:])

	h.Set("Upgrade", "websocket")
	h.Set("Connection", "Upgrade")
	h.Set("Sec-WebSocket-Key", key)
	h.Set("Sec-WebSocket-Version", "13")
	if len(opts.Subprotocols) > 0 {
		h.Set("Sec-WebSocket-Protocol", strings.Join(opts.Subprotocols, ", "))
	}
	if len(offers) > 0 {
		h.Set("Sec-WebSocket-Extensions", string(appendExtensionList(nil, offers)))
	}

	wire := make([]byte, 0, 512)
	wire = append(wire, "GET "...)
	wire = append(wire, t.u.RequestURI()...)
	wire = append(wire, " HTTP/1.1\r\nHost: "...)
	wire = append(wire, hostHeader...)
	wire = append(wire, "\r\n"...)
	wire = appendHeader(wire, h)
	wire = append(wire, "\r\n"...)

	req := &http.Request{
		Method:     http.MethodGet,
		URL:        t.u,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     h,
		Host:       hostHeader,
	}
	return &handshakeRequest{req: req, wire: wire, key: key, opts: opts}, nil
}

// run performs everything after the TCP (or SOCKS) connection is open:
// the CONNECT tunnel, TLS, and the HTTP exchange.
func (hr *handshakeRequest) run(ctx context.Context, conn net.Conn, t *target, proxyURL *url.URL, opts *ClientOptions) (*ClientConn, error) {
	if proxyURL != nil && (proxyURL.Scheme == "http" || proxyURL.Scheme == "https") {
		if proxyURL.Scheme == "https" {
			tc := tls.Client(conn, tlsConfig(opts.TLSConfig, proxyURL.Hostname()))
			if err := tc.HandshakeContext(ctx); err != nil {
				return nil, proxyError(err, "TLS handshake with proxy %s", proxyURL.Redacted())
			}
			conn = tc
		}
		if err := connectTunnel(conn, proxyURL, t.addr); err != nil {
			return nil, err
		}
	}
	if t.secure {
		tc := tls.Client(conn, tlsConfig(opts.TLSConfig, t.serverName))
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, fmt.Errorf("TLS handshake: %w", err)
		}
		conn = tc
	}
	if _, err := conn.Write(hr.wire); err != nil {
		return nil, fmt.Errorf("writing the handshake request: %w", err)
	}
	br := bufio.NewReaderSize(&limitedReader{r: conn, n: maxHeaderBytes}, readBufferSize)
	cc, err := readResponse(br, hr.req, hr.key, opts)
	if err != nil {
		return nil, err
	}
	cc.Conn = conn
	return cc, nil
}

// tlsConfig returns a copy of base for a connection to serverName.
func tlsConfig(base *tls.Config, serverName string) *tls.Config {
	cfg := base.Clone()
	if cfg == nil {
		cfg = &tls.Config{}
	}
	if cfg.ServerName == "" {
		cfg.ServerName = serverName // RFC 6455 §4.1: clients MUST use SNI.
	}
	cfg.NextProtos = []string{"http/1.1"}
	return cfg
}

// readResponse reads the server's handshake response from br and
// verifies it (RFC 6455 §4.1, second list). The returned ClientConn has
// no Conn.
func readResponse(br *bufio.Reader, req *http.Request, key string, opts *ClientOptions) (*ClientConn, error) {
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return nil, fmt.Errorf("reading the handshake response: %w", err)
	}
	cc, err := checkResponse(resp, key, opts)
	if err != nil {
		return nil, err
	}
	if n := br.Buffered(); n > 0 {
		b, _ := br.Peek(n)
		cc.Buffered = slices.Clone(b)
	}
	return cc, nil
}

// checkResponse verifies the server's answer to the handshake. key is
// the Sec-WebSocket-Key sent, or "" for an extended CONNECT (RFC 8441 §5),
// which is answered with 200 and no key.
func checkResponse(resp *http.Response, key string, opts *ClientOptions) (*ClientConn, error) {
	fail := func(sentinel error, cause error, format string, args ...any) *ResponseError {
		e := &ResponseError{
			StatusCode: resp.StatusCode,
			Header:     resp.Header,
			Err:        sentinel,
			Cause:      cause,
			Detail:     fmt.Sprintf(format, args...),
			Response:   resp,
		}
		if resp.Body != nil && resp.Body != http.NoBody {
			e.Body, _ = io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
			resp.Body.Close()
		}
		resp.Body = io.NopCloser(bytes.NewReader(e.Body))
		return e
	}

	want := http.StatusSwitchingProtocols
	if key == "" {
		want = http.StatusOK
	}
	if resp.StatusCode != want {
		e := fail(ErrBadStatus, nil, "server answered %s", resp.Status)
		if loc := resp.Header.Get("Location"); loc != "" && resp.StatusCode/100 == 3 {
			e.Detail += fmt.Sprintf(" redirecting to %q, which Dial does not follow", loc)
		}
		if body := bytes.TrimSpace(e.Body); len(body) > 0 {
			const show = 200
			if len(body) > show {
				e.Detail += fmt.Sprintf(": %q...", body[:show])
			} else {
				e.Detail += fmt.Sprintf(": %q", body)
			}
		}
		return nil, e
	}
	if key == "" {
		return checkAgreement(resp, opts, fail)
	}
	if !resp.ProtoAtLeast(1, 1) {
		return nil, fail(ErrBadStatus, nil, "server answered 101 over %s; WebSocket needs HTTP/1.1", resp.Proto)
	}
	// RFC 6455 §4.1 response items 2 and 3.
	if up := resp.Header.Values("Upgrade"); !allTokensAre(up, "websocket") {
		if len(up) == 0 {
			return nil, fail(ErrMissingUpgrade, nil, `response lacks "Upgrade: websocket"`)
		}
		return nil, fail(ErrMissingUpgrade, nil, `response has "Upgrade: %s", want "websocket"`, strings.Join(up, ", "))
	}
	if !headerHasToken(resp.Header[hdrConnection], "upgrade") {
		return nil, fail(ErrMissingUpgrade, nil, `response lacks "Connection: Upgrade"`)
	}
	// Item 4, and §11.3.3: exactly one Sec-WebSocket-Accept.
	switch acc := resp.Header[hdrAccept]; {
	case len(acc) == 0:
		return nil, fail(ErrBadAccept, nil, "response lacks Sec-WebSocket-Accept")
	case len(acc) > 1:
		return nil, fail(ErrBadAccept, nil, "response has %d Sec-WebSocket-Accept headers", len(acc))
	default:
		if want := AcceptKey(key); strings.TrimSpace(acc[0]) != want {
			return nil, fail(ErrBadAccept, nil, "Sec-WebSocket-Accept is %q, want %q for the key sent", acc[0], want)
		}
	}

	return checkAgreement(resp, opts, fail)
}

// checkAgreement checks the subprotocol and extensions the server chose.
func checkAgreement(resp *http.Response, opts *ClientOptions, fail func(sentinel, cause error, format string, args ...any) *ResponseError) (*ClientConn, error) {
	cc := &ClientConn{Response: resp}
	// Item 6, and §11.3.4: at most one Sec-WebSocket-Protocol, holding
	// one of the offered subprotocols.
	switch p := resp.Header[hdrProtocol]; {
	case len(p) > 1:
		return nil, fail(ErrBadSubprotocol, nil, "response has %d Sec-WebSocket-Protocol headers", len(p))
	case len(p) == 1:
		if !slices.Contains(opts.Subprotocols, p[0]) {
			if len(opts.Subprotocols) == 0 {
				return nil, fail(ErrBadSubprotocol, nil, "server chose subprotocol %q, but none was offered", p[0])
			}
			return nil, fail(ErrBadSubprotocol, nil, "server chose subprotocol %q, which is not among those offered: %s", p[0], strings.Join(opts.Subprotocols, ", "))
		}
		cc.Subprotocol = p[0]
	}

	// Item 5. RFC 6455 §11.3.2 forbids repeating this header in a
	// response while §4.2.2 allows splitting it; accept both.
	var exts []Extension
	for _, v := range resp.Header[hdrExtensions] {
		var detail string
		if exts, detail = appendParsedExtensions(exts, v); detail != "" {
			return nil, fail(ErrBadExtension, nil, "malformed Sec-WebSocket-Extensions: %s", detail)
		}
	}
	answered := make([]bool, len(opts.Extensions))
	for _, e := range exts {
		i := slices.IndexFunc(opts.Extensions, func(ce ClientExtension) bool {
			offers := ce.Offers()
			return len(offers) > 0 && strings.EqualFold(offers[0].Name, e.Name)
		})
		switch {
		case i < 0:
			return nil, fail(ErrBadExtension, nil, "server accepted extension %q, which was not offered", e.Name)
		case answered[i]:
			return nil, fail(ErrBadExtension, nil, "server answered extension %q twice", e.Name)
		}
		answered[i] = true
		if err := opts.Extensions[i].Accept(e); err != nil {
			return nil, fail(ErrBadExtension, err, "extension %s refused the server's response %q: %v", e.Name, e.String(), err)
		}
	}
	cc.Extensions = exts
	return cc, nil
}

// allTokensAre reports whether values hold at least one token and all
// of them equal want, ASCII case-insensitively.
func allTokensAre(values []string, want string) bool {
	n := 0
	for _, v := range values {
		for s, more := v, true; more; {
			var elem string
			elem, s, more = nextListElement(s)
			if elem == "" {
				continue
			}
			if !strings.EqualFold(elem, want) {
				return false
			}
			n++
		}
	}
	return n > 0
}

// errHeaderTooLarge is reported when a handshake response exceeds
// maxHeaderBytes.
var errHeaderTooLarge = errors.New("response header larger than 1 MiB")

// limitedReader is io.LimitedReader with an error that says what
// happened instead of io.EOF.
type limitedReader struct {
	r io.Reader
	n int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errHeaderTooLarge
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}
