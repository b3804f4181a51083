package handshake

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"maps"
	"net"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"
)

// ServerOptions configure [Upgrade]. The zero value is useful: no
// subprotocol, same-origin policy, no extensions.
type ServerOptions struct {
	// Subprotocols lists the subprotocols the server speaks, in its
	// order of preference. The first one the client also offered is
	// chosen.
	Subprotocols []string

	// SelectSubprotocol, if set, chooses the subprotocol instead of
	// Subprotocols. offered is the client's list in its order of
	// preference. It returns one of offered, or "" for none.
	SelectSubprotocol func(r *http.Request, offered []string) string

	// OriginPatterns lists host patterns of cross-origin Origins to
	// allow, in path.Match syntax, matched case-insensitively against the
	// Origin's host[:port]: "example.com", "*.example.com", "localhost:*".
	// The pattern "*" allows every origin. An Origin whose host equals
	// the request's Host is always allowed.
	OriginPatterns []string

	// InsecureSkipOriginCheck turns the Origin check off. Browsers then
	// let any web page open connections to the server with the user's
	// cookies (RFC 6455 §10.2); set it only when the server does its own
	// checks or serves no browser.
	InsecureSkipOriginCheck bool

	// CheckOrigin, if set, decides instead of OriginPatterns whether the
	// request may connect, for every request, with an Origin header or
	// without: it returns false to refuse it with 403 Forbidden. It is for
	// servers with rules of their own; it must still refuse the Origins of
	// pages it does not trust (RFC 6455 §10.2).
	CheckOrigin func(r *http.Request) bool

	// Extensions are negotiated with the client's offers. The caller
	// applies what they agree to the frames; see the package doc.
	Extensions []ServerExtension

	// Header holds extra headers, such as Set-Cookie, to send with the
	// 101 response. It must not set the headers Upgrade writes itself
	// (Upgrade, Connection, Sec-WebSocket-Accept, Sec-WebSocket-Protocol,
	// Sec-WebSocket-Extensions) nor Content-Length or Transfer-Encoding.
	Header http.Header
}

// ServerConn is a connection whose server handshake has completed.
type ServerConn struct {
	// Conn is the hijacked connection. It has no deadlines set. For an
	// extended CONNECT over HTTP/2 it is the request's stream instead,
	// which ends when the handler returns.
	Conn net.Conn
	// Buffered holds bytes the client sent after its request that
	// net/http had already read; they precede what Conn returns.
	// It is usually nil.
	Buffered []byte
	// Subprotocol is the chosen subprotocol, or "" for none.
	Subprotocol string
	// Extensions are the accepted extensions as sent in the response,
	// in that order.
	Extensions []Extension
}

// RequestError reports why [Upgrade] refused a request. Upgrade has
// already written an HTTP response with Status and Detail as its body.
type RequestError struct {
	Status int    // HTTP status written
	Err    error  // one of the sentinel errors, e.g. ErrBadOrigin
	Detail string // what was wrong, for a person
}

// Error describes the refusal with its status and detail.
func (e *RequestError) Error() string {
	return fmt.Sprintf("websocket: refused handshake with %d %s: %s", e.Status, http.StatusText(e.Status), e.Detail)
}

// Unwrap returns the sentinel error, for [errors.Is].
func (e *RequestError) Unwrap() error { return e.Err }

// Canonical header keys, for direct map access without allocation.
const (
	hdrUpgrade    = "Upgrade"
	hdrConnection = "Connection"
	hdrKey        = "Sec-Websocket-Key"
	hdrVersion    = "Sec-Websocket-Version"
	hdrAccept     = "Sec-Websocket-Accept"
	hdrProtocol   = "Sec-Websocket-Protocol"
	hdrExtensions = "Sec-Websocket-Extensions"
	hdrOrigin     = "Origin"
)

// Upgrade performs the server side of the opening handshake on r.
//
// It validates the request (RFC 6455 §4.2.1), which must not announce a
// body, whether by Content-Length or Transfer-Encoding, checks the Origin
// (§10.2: by default a request whose Origin host differs from r.Host is
// refused with 403; a request without Origin passes, since browsers
// always send one), negotiates the subprotocol and extensions, hijacks
// the connection and writes the 101 Switching Protocols response in one
// write.
//
// On failure it writes the HTTP error itself and returns a
// *[RequestError]: 405 with "Allow: GET" for a method other than GET,
// 426 with "Sec-WebSocket-Version: 13" for a missing or other version,
// 403 for a refused origin, 500 for a ResponseWriter that cannot be
// hijacked ([ErrHijack]) or for invalid options, and 400 otherwise. The
// body is a short text naming the problem. An error after the
// connection was hijacked (writing the 101 failed) closes the connection
// and is not a *RequestError.
//
// An HTTP/2 request is a WebSocket handshake when it is an extended
// CONNECT with the :protocol "websocket" (RFC 8441 §5). Upgrade answers it
// with 200 and returns the stream as Conn, which lives only until the
// handler returns; after that its methods fail with net.ErrClosed. Go's
// HTTP/2 server lets clients send such requests only when the program runs
// with GODEBUG=http2xconnect=1.
func Upgrade(w http.ResponseWriter, r *http.Request, opts *ServerOptions) (*ServerConn, error) {
	if opts == nil {
		opts = &ServerOptions{}
	}
	sc, key, rerr := negotiate(r, opts)
	if rerr != nil {
		return nil, refuse(w, rerr)
	}
	if isExtendedConnect(r) {
		return acceptStream(w, r, sc, opts)
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return nil, refuse(w, &RequestError{http.StatusInternalServerError, ErrHijack,
			fmt.Sprintf("cannot take over the connection (%v); WebSocket needs an HTTP/1.1 server whose ResponseWriter supports hijacking", err)})
	}
	sc.Conn = conn
	if n := brw.Reader.Buffered(); n > 0 {
		b, _ := brw.Reader.Peek(n)
		sc.Buffered = slices.Clone(b)
	}

	// Build the response in the hijacked writer's free space so that it
	// costs no allocation and leaves in one write (with anything the
	// writer still held) when it fits.
	bw := brw.Writer
	if _, err = bw.Write(appendResponse(bw.AvailableBuffer(), key, sc, opts.Header)); err == nil {
		err = bw.Flush()
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("websocket: writing the 101 response: %w", err)
	}
	// net/http may have left its Read/WriteTimeout deadlines on the
	// connection; the WebSocket layer sets its own.
	if err := conn.SetDeadline(time.Time{}); err != nil {
		conn.Close()
		return nil, fmt.Errorf("websocket: clearing deadlines of the hijacked connection: %w", err)
	}
	// The hijacked buffers are ours now, but net/http keeps pointers to
	// them until the handler returns, and WebSocket handlers usually run
	// for the life of the connection. Dropping their 8 KiB here is most of
	// what an idle connection would otherwise cost.
	*brw.Reader = bufio.Reader{}
	*brw.Writer = bufio.Writer{}
	return sc, nil
}

// negotiate applies every rule of the handshake to r: it validates the
// request, checks the Origin and the options, and chooses the
// subprotocol and extensions. It returns the ServerConn to be, without
// Conn, and the Sec-WebSocket-Key.
func negotiate(r *http.Request, opts *ServerOptions) (*ServerConn, string, *RequestError) {
	var key string
	var rerr *RequestError
	if isExtendedConnect(r) {
		rerr = checkExtendedConnect(r)
	} else {
		key, rerr = checkRequest(r)
	}
	// Each step is called only when there is something to check: a call
	// takes its whole frame even when it returns at once, and these frames
	// are on the stack of the goroutine that will serve the connection
	// (see UpgradeConn).
	if rerr == nil && opts.CheckOrigin != nil {
		rerr = checkOriginFunc(r, opts.CheckOrigin)
	} else if rerr == nil && !opts.InsecureSkipOriginCheck && len(r.Header[hdrOrigin]) > 0 {
		rerr = checkOrigin(r.Header[hdrOrigin], r.Host, opts.OriginPatterns)
	}
	if rerr == nil && len(opts.Header) > 0 {
		rerr = checkResponseHeader(opts.Header)
	}
	var subprotocol string
	if rerr == nil && (len(r.Header[hdrProtocol]) > 0 || opts.SelectSubprotocol != nil) {
		subprotocol, rerr = selectSubprotocol(r, r.Header[hdrProtocol], opts)
	}
	var exts []Extension
	if offers := r.Header[hdrExtensions]; rerr == nil && len(offers) > 0 {
		exts, rerr = negotiateExtensions(offers, opts.Extensions)
	}
	if rerr != nil {
		return nil, "", rerr
	}
	return &ServerConn{Subprotocol: subprotocol, Extensions: exts}, key, nil
}

// responseStart is the 101 Switching Protocols response up to the
// Sec-WebSocket-Accept value.
const responseStart = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "

// appendResponse appends the 101 Switching Protocols response.
func appendResponse(buf []byte, key string, sc *ServerConn, header http.Header) []byte {
	buf = append(buf, responseStart...)
	buf = appendAcceptKey(buf, key)
	return appendResponseRest(buf, sc, header)
}

// appendResponseRest appends the 101 response after the
// Sec-WebSocket-Accept value.
func appendResponseRest(buf []byte, sc *ServerConn, header http.Header) []byte {
	buf = append(buf, "\r\n"...)
	if sc.Subprotocol != "" {
		buf = append(buf, "Sec-WebSocket-Protocol: "...)
		buf = append(buf, sc.Subprotocol...)
		buf = append(buf, "\r\n"...)
	}
	if len(sc.Extensions) > 0 {
		buf = append(buf, "Sec-WebSocket-Extensions: "...)
		buf = appendExtensionList(buf, sc.Extensions)
		buf = append(buf, "\r\n"...)
	}
	if len(header) > 0 {
		buf = appendHeader(buf, header)
	}
	return append(buf, "\r\n"...)
}

// checkUpgrade checks the method, version, Host and the Upgrade and
// Connection fields of a handshake request (RFC 6455 §4.2.1 items 1-4),
// and that it has no body.
// It is a call of its own so that the formatting of its refusals does not
// enlarge checkRequest's frame (see UpgradeConn).
//
//go:noinline
func checkUpgrade(r *http.Request) *RequestError {
	switch {
	case r.Method != http.MethodGet:
		return &RequestError{http.StatusMethodNotAllowed, ErrMethod,
			fmt.Sprintf("method %s not allowed; a WebSocket handshake uses GET", r.Method)}
	case !r.ProtoAtLeast(1, 1):
		return &RequestError{http.StatusBadRequest, ErrBadRequest,
			fmt.Sprintf("%s request; a WebSocket handshake needs HTTP/1.1", r.Proto)}
	case r.Host == "":
		return &RequestError{http.StatusBadRequest, ErrBadRequest, "request has no Host header"}
	case !headerHasToken(r.Header[hdrUpgrade], "websocket"):
		return &RequestError{http.StatusBadRequest, ErrMissingUpgrade,
			`request lacks "Upgrade: websocket"; this endpoint only serves WebSocket connections`}
	case !headerHasToken(r.Header[hdrConnection], "upgrade"):
		return &RequestError{http.StatusBadRequest, ErrMissingUpgrade, `request lacks "Connection: Upgrade"`}
	case hasBody(r):
		return errBody
	}
	return nil
}

// hasBody reports whether r announces a body, in the fields where net/http
// reports it and parseRequest too. The handshake is a GET (RFC 6455 §4.1),
// whose content has no meaning (RFC 9110 §9.3.1), and the bytes after its
// head are the WebSocket stream: a body would be taken for frames here
// while a proxy in front reads it as HTTP, the shape of request smuggling
// (RFC 9112 §11.2).
func hasBody(r *http.Request) bool {
	return r.ContentLength != 0 || len(r.TransferEncoding) > 0
}

var errBody = &RequestError{http.StatusBadRequest, ErrBadRequest, "handshake request has a body"}

// refuseKeys returns the refusal of a request with n Sec-WebSocket-Key
// fields, n != 1.
//
//go:noinline
func refuseKeys(n int) *RequestError {
	if n == 0 {
		return &RequestError{http.StatusBadRequest, ErrBadKey, "request lacks Sec-WebSocket-Key"}
	}
	// RFC 6455 §11.3.1: it MUST NOT appear more than once.
	return &RequestError{http.StatusBadRequest, ErrBadKey,
		fmt.Sprintf("Sec-WebSocket-Key appears %d times; send it once", n)}
}

// checkRequest validates the handshake request (RFC 6455 §4.2.1) and
// returns its Sec-WebSocket-Key.
func checkRequest(r *http.Request) (string, *RequestError) {
	if rerr := checkUpgrade(r); rerr != nil {
		return "", rerr
	}
	if rerr := checkVersion(r); rerr != nil {
		return "", rerr
	}
	v := r.Header[hdrKey]
	if len(v) != 1 {
		return "", refuseKeys(len(v))
	}
	if rerr := checkKey(v[0]); rerr != nil {
		return "", rerr
	}
	return v[0], nil
}

// checkKey checks a Sec-WebSocket-Key: RFC 6455 §4.2.1 item 5, base64 of
// exactly 16 bytes, which is 24 characters ending in "==". It is a call of
// its own, like checkUpgrade, to keep checkRequest's frame small.
//
//go:noinline
func checkKey(key string) *RequestError {
	// validKey's test, in this frame: a call more would deepen the
	// stack that UpgradeConn leaves to the connection's goroutine.
	var raw [18]byte
	if len(key) != keyLen {
		return badKey(key)
	}
	if n, err := base64.StdEncoding.Decode(raw[:], []byte(key)); err != nil || n != 16 {
		return badKey(key)
	}
	return nil
}

// validKey reports whether a key of keyLen bytes is the base64 of 16 bytes.
func validKey(key []byte) bool {
	var raw [18]byte
	n, err := base64.StdEncoding.Decode(raw[:], key)
	return err == nil && n == 16
}

// checkVersion checks Sec-WebSocket-Version (RFC 6455 §4.2.2 step 4
// /version/ and §4.4: answer 426 naming ours).
func checkVersion(r *http.Request) *RequestError {
	if v := r.Header[hdrVersion]; len(v) != 1 || v[0] != "13" {
		detail := "request lacks Sec-WebSocket-Version; this server speaks version 13"
		if len(v) > 0 {
			detail = fmt.Sprintf("Sec-WebSocket-Version %q not supported; this server speaks version 13", strings.Join(v, ", "))
		}
		return &RequestError{http.StatusUpgradeRequired, ErrVersion, detail}
	}
	return nil
}

func badKey(key string) *RequestError {
	return &RequestError{http.StatusBadRequest, ErrBadKey,
		fmt.Sprintf("Sec-WebSocket-Key %q is not the base64 encoding of 16 bytes", key)}
}

// refuse writes the error response for e and returns e.
func refuse(w http.ResponseWriter, e *RequestError) *RequestError {
	switch e.Status {
	case http.StatusMethodNotAllowed:
		w.Header().Set("Allow", http.MethodGet)
	case http.StatusUpgradeRequired:
		w.Header().Set("Sec-WebSocket-Version", "13")
	}
	http.Error(w, e.Detail, e.Status)
	return e
}

// checkOrigin applies the Origin policy described at
// ServerOptions.OriginPatterns (RFC 6455 §10.2) to the request's Origin
// fields and its Host.
func checkOrigin(origins []string, reqHost string, patterns []string) *RequestError {
	switch len(origins) {
	case 0:
		return nil // not a browser (RFC 6455 §4.2.1 item 7)
	case 1:
	default:
		return &RequestError{http.StatusForbidden, ErrBadOrigin, "request has several Origin headers"}
	}
	origin := origins[0]
	scheme, host, ok := strings.Cut(origin, "://")
	if !ok {
		// An opaque origin such as "null": match the whole value, so
		// only "*" or the pattern "null" allows it.
		host = origin
	}
	host = strings.ToLower(host)
	if ok && sameHost(scheme, host, reqHost) {
		return nil
	}
	for _, p := range patterns {
		matched, err := path.Match(strings.ToLower(p), host)
		if err != nil {
			return &RequestError{http.StatusInternalServerError, ErrBadOptions,
				fmt.Sprintf("server misconfigured: OriginPatterns entry %q is not a valid path.Match pattern", p)}
		}
		if matched {
			return nil
		}
	}
	return &RequestError{http.StatusForbidden, ErrBadOrigin,
		fmt.Sprintf("Origin %q is not allowed to connect to %s", origin, reqHost)}
}

// checkOriginFunc applies ServerOptions.CheckOrigin.
func checkOriginFunc(r *http.Request, allow func(*http.Request) bool) *RequestError {
	if allow(r) {
		return nil
	}
	return &RequestError{http.StatusForbidden, ErrBadOrigin,
		fmt.Sprintf("Origin %q is not allowed to connect to %s", r.Header.Get(hdrOrigin), r.Host)}
}

// IsUpgradeRequest reports whether r asks for a WebSocket connection: a
// GET with "Upgrade: websocket" and "Connection: Upgrade" (RFC 6455 §4.1),
// or an extended CONNECT for websocket over HTTP/2 (RFC 8441). It lets a
// handler serve a page and the WebSocket on one path; Upgrade still
// checks everything else.
func IsUpgradeRequest(r *http.Request) bool {
	if isExtendedConnect(r) {
		return true
	}
	return r.Method == http.MethodGet &&
		headerHasToken(r.Header[hdrUpgrade], "websocket") &&
		headerHasToken(r.Header[hdrConnection], "upgrade")
}

// sameHost reports whether the Origin's host[:port] names the same
// server as the Host header. A port that is the default for the
// Origin's scheme is ignored on both sides, since browsers omit it.
func sameHost(scheme, originHost, host string) bool {
	var def string
	switch strings.ToLower(scheme) {
	case "http", "ws":
		def = ":80"
	case "https", "wss":
		def = ":443"
	}
	if def != "" {
		originHost = strings.TrimSuffix(originHost, def)
		host = strings.TrimSuffix(host, def)
	}
	return originHost != "" && strings.EqualFold(originHost, host)
}

// reservedResponseHeaders are written by Upgrade itself or have no place
// in a 101 response (RFC 9110 §8.6, §6.1).
var reservedResponseHeaders = [...]string{hdrUpgrade, hdrConnection, hdrAccept, hdrProtocol, hdrExtensions, "Content-Length", "Transfer-Encoding"}

// checkResponseHeader checks the extra response header h.
func checkResponseHeader(h http.Header) *RequestError {
	for name, values := range h {
		if !isToken(name) {
			return misconfigured(fmt.Sprintf("ServerOptions.Header has invalid name %q", name))
		}
		for _, reserved := range reservedResponseHeaders {
			if strings.EqualFold(name, reserved) {
				return misconfigured(fmt.Sprintf("ServerOptions.Header must not set %s; the handshake writes it", name))
			}
		}
		for _, v := range values {
			if !validHeaderValue(v) {
				return misconfigured(fmt.Sprintf("ServerOptions.Header %s has invalid value %q", name, v))
			}
		}
	}
	return nil
}

func misconfigured(detail string) *RequestError {
	return &RequestError{http.StatusInternalServerError, ErrBadOptions, "server misconfigured: " + detail}
}

// appendHeader appends h in wire form, sorted by name for a stable output.
func appendHeader(dst []byte, h http.Header) []byte {
	for _, name := range slices.Sorted(maps.Keys(h)) {
		for _, v := range h[name] {
			dst = append(dst, name...)
			dst = append(dst, ": "...)
			dst = append(dst, v...)
			dst = append(dst, "\r\n"...)
		}
	}
	return dst
}

// selectSubprotocol parses the client's Sec-WebSocket-Protocol values
// and chooses one per opts. r is needed only for opts.SelectSubprotocol.
func selectSubprotocol(r *http.Request, values []string, opts *ServerOptions) (string, *RequestError) {
	if len(values) == 0 && opts.SelectSubprotocol == nil {
		return "", nil
	}
	// RFC 6455 §4.1 item 10: 1#token, all unique. A few offers fit the
	// stack array; offered is copied before it leaves this function.
	var arr [8]string
	offered := arr[:0]
	for _, v := range values {
		for s, more := v, true; more; {
			var p string
			p, s, more = nextListElement(s)
			if p == "" {
				continue
			}
			if !isToken(p) {
				return "", &RequestError{http.StatusBadRequest, ErrBadSubprotocol,
					fmt.Sprintf("Sec-WebSocket-Protocol %q is not a comma-separated list of tokens", v)}
			}
			if slices.Contains(offered, p) {
				return "", &RequestError{http.StatusBadRequest, ErrBadSubprotocol,
					fmt.Sprintf("Sec-WebSocket-Protocol offers %q twice", p)}
			}
			offered = append(offered, p)
		}
	}
	if opts.SelectSubprotocol != nil {
		offered := slices.Clone(offered)
		choice := opts.SelectSubprotocol(r, offered)
		if choice != "" && !slices.Contains(offered, choice) {
			return "", misconfigured(fmt.Sprintf("SelectSubprotocol chose %q, which the client did not offer", choice))
		}
		return choice, nil
	}
	for _, p := range opts.Subprotocols {
		if slices.Contains(offered, p) {
			return p, nil
		}
	}
	return "", nil
}

// negotiateExtensions parses the client's offers and lets each server
// extension accept at most one of them. Responses are ordered like the
// offers they accept, following the client's preference (RFC 6455 §9.1).
func negotiateExtensions(values []string, server []ServerExtension) ([]Extension, *RequestError) {
	var offers []Extension
	for _, v := range values {
		// RFC 6455 §9.1 requires failing on a malformed header even when
		// the server supports no extension.
		var detail string
		if offers, detail = appendParsedExtensions(offers, v); detail != "" {
			return nil, &RequestError{http.StatusBadRequest, ErrBadExtension, "malformed Sec-WebSocket-Extensions: " + detail}
		}
	}
	if len(offers) == 0 || len(server) == 0 {
		return nil, nil
	}
	var accepted []Extension
	done := make([]bool, len(server))
	for _, offer := range offers {
		for i, se := range server {
			if done[i] || !strings.EqualFold(offer.Name, se.Name()) {
				continue
			}
			resp, ok := se.Negotiate(offer)
			if !ok {
				break
			}
			if detail := checkExtension(resp); detail != "" {
				return nil, misconfigured(fmt.Sprintf("extension %s answered an invalid element: %s", se.Name(), detail))
			}
			if !strings.EqualFold(resp.Name, offer.Name) {
				return nil, misconfigured(fmt.Sprintf("extension %s answered with the name %q", se.Name(), resp.Name))
			}
			done[i] = true
			accepted = append(accepted, resp)
			break
		}
	}
	return accepted, nil
}
