package handshake

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// This file reads the request head for UpgradeConn. net/http's
// ReadRequest would do, but it leaves about 2 KiB of garbage per request
// and a deep stack behind, and a server that accepts many connections pays
// for both in memory. A WebSocket handshake is a GET without a body, so
// the head is all there is to read, and it is parsed strictly by RFC 9112:
// what this parser accepts, net/http accepts with the same meaning
// (FuzzReadRequest checks that), but for a body, which it only notes for
// the handshake's checks to refuse.

// requestBufferSize is the buffer a request head is read into; a larger
// head grows it, up to maxRequestBytes.
const requestBufferSize = 4096

// requestBuffers hold request heads while they are read and parsed.
var requestBuffers = sync.Pool{New: func() any { b := make([]byte, requestBufferSize); return &b }}

// readHead reads from rd into *bufp, growing it as needed, until a whole
// request head has arrived. The head is (*bufp)[:headEnd], and the bytes
// after it, (*bufp)[headEnd:n].
func readHead(rd io.Reader, bufp *[]byte) (headEnd, n int, err error) {
	scan := 0
	for {
		if n == len(*bufp) {
			if err := growRequestBuffer(bufp); err != nil {
				return 0, 0, err
			}
		}
		m, err := rd.Read((*bufp)[n:])
		n += m
		if headEnd, scan = findHeadEnd((*bufp)[:n], scan); headEnd >= 0 {
			return headEnd, n, nil
		}
		if err != nil {
			if err == io.EOF && n > 0 {
				err = io.ErrUnexpectedEOF // the connection ended mid-request
			}
			return 0, 0, err
		}
	}
}

// growRequestBuffer doubles *bufp, up to maxRequestBytes.
//
//go:noinline
func growRequestBuffer(bufp *[]byte) error {
	if len(*bufp) >= maxRequestBytes {
		return tooLarge()
	}
	growRequestBufferTo(bufp, append(*bufp, make([]byte, len(*bufp))...))
	return nil
}

func tooLarge() *RequestError {
	return &RequestError{http.StatusRequestHeaderFieldsTooLarge, ErrBadRequest,
		fmt.Sprintf("request larger than %d bytes", maxRequestBytes)}
}

// findHeadEnd returns the offset just past the empty line that ends the
// head in b, or -1 and where to resume the search once more has arrived.
// Lines end in CRLF or, as RFC 9112 §2.2 allows a recipient to accept, LF.
func findHeadEnd(b []byte, from int) (end, resume int) {
	for {
		i := bytes.IndexByte(b[from:], '\n')
		if i < 0 {
			return -1, from
		}
		nl := from + i
		if nl >= 1 && b[nl-1] == '\n' || nl >= 2 && b[nl-1] == '\r' && b[nl-2] == '\n' {
			return nl + 1, nl + 1
		}
		from = nl + 1
	}
}

// badRequest is the error of a malformed request head.
func badRequest(format string, args ...any) *RequestError {
	return &RequestError{http.StatusBadRequest, ErrBadRequest, "malformed HTTP request: " + fmt.Sprintf(format, args...)}
}

// parseRequest parses a whole request head (RFC 9112 §2-5). It validates
// and canonicalizes header names in place, then copies the head into one
// string that the request's fields share.
func parseRequest(head []byte) (*http.Request, *RequestError) {
	// The steps are calls of their own, not inlined, so that their frames
	// do not add up on the stack of the goroutine that will serve the
	// connection (see UpgradeConn).
	fields, rerr := checkHead(head)
	if rerr != nil {
		return nil, rerr
	}
	// Second pass, over one string.
	pr := &parsedRequest{Request: http.Request{Body: http.NoBody}}
	r := &pr.Request
	reqLine, s := nextLineString(string(head))
	if rerr := parseRequestLine(pr, reqLine); rerr != nil {
		return nil, rerr
	}
	hosts := parseFields(r, s, fields)
	if rerr := settleFields(r, hosts); rerr != nil {
		return nil, rerr
	}
	return r, nil
}

// parsedRequest is a request and its URL in one allocation: every
// connection UpgradeConn accepts leaves them behind as garbage, unless
// the server keeps the request.
type parsedRequest struct {
	http.Request
	url url.URL
}

// checkHead checks every line of a request head, canonicalizing the
// field names in place, and counts the fields.
//
//go:noinline
func checkHead(head []byte) (fields int, rerr *RequestError) {
	line, rest := nextLine(head)
	if line == nil {
		return 0, badRequest("bare CR in the request line")
	}
	for {
		var l []byte
		l, rest = nextLine(rest)
		if l == nil {
			return 0, badRequest("bare CR in a header line")
		}
		if len(l) == 0 {
			return fields, nil
		}
		if _, err := checkField(l); err != nil {
			return 0, err
		}
		fields++
	}
}

// parseRequestLine sets pr's method, target, URL and version from the
// request line (RFC 9112 §3).
//
//go:noinline
func parseRequestLine(pr *parsedRequest, line string) *RequestError {
	r := &pr.Request
	var ok bool
	r.Method, r.RequestURI, r.Proto, ok = splitRequestLine(line)
	if !ok {
		return badRequestLine(line)
	}
	if r.ProtoMajor, r.ProtoMinor, ok = http.ParseHTTPVersion(r.Proto); !ok || r.ProtoMajor != 1 {
		return badVersion(r.Proto, ok)
	}
	if !parsePlainTarget(&pr.url, r.RequestURI) {
		if rerr := parseRequestTarget(&pr.url, r.Method, r.RequestURI); rerr != nil {
			return rerr
		}
	}
	r.URL = &pr.url
	return nil
}

// parseRequestTarget sets u to any request target (RFC 9112 §3.2), as net/http
// reads it: with url.ParseRequestURI, except that a CONNECT's
// authority-form target is a host and port, not a scheme and opaque.
//
//go:noinline
func parseRequestTarget(u *url.URL, method, target string) *RequestError {
	authority := method == http.MethodConnect && !strings.HasPrefix(target, "/")
	uri := target
	if authority {
		uri = "http://" + target
	}
	parsed, err := url.ParseRequestURI(uri)
	if err != nil {
		return badRequest("bad request target %q", target)
	}
	if authority {
		parsed.Scheme = ""
	}
	*u = *parsed
	return nil
}

// parsePlainTarget sets u, which is zero, to the origin-form target (RFC
// 9112 §3.2.1) when it is one that url.ParseRequestURI would take as it
// is: an absolute path of characters that need no escaping, and any query.
// It reports whether it did; other targets, such as one with a
// percent-encoded path, are left to url.ParseRequestURI. The caller has
// checked target for controls and spaces.
func parsePlainTarget(u *url.URL, target string) bool {
	path, query, hasQuery := strings.Cut(target, "?")
	if path == "" || path[0] != '/' {
		return false
	}
	for i := 0; i < len(path); i++ {
		if !plainPathChar(path[i]) {
			return false
		}
	}
	u.Path = path
	// As url.ParseRequestURI, a lone "?" at the end is kept as ForceQuery.
	if hasQuery && query == "" {
		u.ForceQuery = true
	} else {
		u.RawQuery = query
	}
	return true
}

// plainPathChar reports whether c stands for itself in a URL path, so that
// url.URL's EscapedPath gives the path back unchanged: the unreserved
// characters and the delimiters it does not escape (RFC 3986 §2, §3.3).
func plainPathChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-._~$&+,/:;=@", c) >= 0
}

//go:noinline
func badRequestLine(line string) *RequestError {
	return badRequest("request line %q is not \"METHOD target HTTP/x.y\"", line)
}

//go:noinline
func badVersion(proto string, parsed bool) *RequestError {
	if !parsed {
		return badRequest("bad HTTP version %q", proto)
	}
	return &RequestError{http.StatusHTTPVersionNotSupported, ErrBadRequest,
		fmt.Sprintf("%s request; a WebSocket handshake needs HTTP/1.1", proto)}
}

// parseFields sets r's Header from the n checked field lines in s, all but
// Host: as net/http does, the request carries Host in its Host field only.
// It sets r.Host to the last Host value and returns how many there were.
//
//go:noinline
func parseFields(r *http.Request, s string, n int) (hosts int) {
	h := make(http.Header, n)
	values := make([]string, n)
	for i := range n {
		var l string
		l, s = nextLineString(s)
		colon := strings.IndexByte(l, ':')
		name, value := l[:colon], trimOWS(l[colon+1:])
		if name == "Host" {
			r.Host = value
			hosts++
		} else if vs := h[name]; vs == nil {
			values[i] = value
			h[name] = values[i : i+1 : i+1]
		} else {
			h[name] = append(vs, value)
		}
	}
	r.Header = h
	return hosts
}

// settleFields applies the rules that involve particular fields, and sets
// r's Host and Close from them; the request had the given number of Host
// fields.
//
//go:noinline
func settleFields(r *http.Request, hosts int) *RequestError {
	h := r.Header
	// RFC 9112 §3.2: one Host field; an absolute-form target overrides it
	// (§3.2.2).
	switch {
	case hosts > 1:
		return badRequest("%d Host headers", hosts)
	case r.URL.Host != "":
		r.Host = r.URL.Host
	}
	// A body is announced in the fields where net/http puts it, for
	// checkUpgrade to refuse as it refuses one net/http has read (RFC 9112
	// §6.3). Its length is not parsed, since no body is read: -1, unknown,
	// stands for any but 0.
	if te, ok := h["Transfer-Encoding"]; ok {
		r.TransferEncoding, r.ContentLength = te, -1
	}
	if cl := h["Content-Length"]; cl != nil {
		for _, v := range cl {
			if v != "0" {
				r.ContentLength = -1
			}
		}
		if r.ContentLength == 0 {
			h["Content-Length"] = cl[:1] // as net/http folds repeated equal values
		}
	}
	// What net/http's ReadRequest adds, so that handlers see the same
	// request either way: RFC 9111 §5.4, and whether the client asked to
	// close (RFC 9112 §9.3).
	if p := h["Pragma"]; len(p) > 0 && p[0] == "no-cache" && h["Cache-Control"] == nil {
		h["Cache-Control"] = []string{"no-cache"}
	}
	conn := h[hdrConnection]
	r.Close = headerHasToken(conn, "close") || r.ProtoMinor == 0 && !headerHasToken(conn, "keep-alive")
	return nil
}

// nextLine splits off the first line of b, without its CRLF or LF. It
// returns a nil line for a line with a CR anywhere but at its end.
func nextLine(b []byte) (line, rest []byte) {
	i := bytes.IndexByte(b, '\n')
	line, rest = b[:i], b[i+1:]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	if bytes.IndexByte(line, '\r') >= 0 {
		return nil, rest
	}
	return line[:len(line):len(line)], rest
}

// nextLineString is nextLine on a head that has passed nextLine.
func nextLineString(s string) (line, rest string) {
	i := strings.IndexByte(s, '\n')
	line, rest = s[:i], s[i+1:]
	return strings.TrimSuffix(line, "\r"), rest
}

// splitRequestLine splits "METHOD target HTTP/x.y" (RFC 9112 §3), with
// single spaces, a token method and a target of visible characters.
func splitRequestLine(l string) (method, target, proto string, ok bool) {
	method, rest, ok1 := strings.Cut(l, " ")
	target, proto, ok2 := strings.Cut(rest, " ")
	if !ok1 || !ok2 || !isToken(method) || target == "" || !strings.HasPrefix(proto, "HTTP/") {
		return "", "", "", false
	}
	for i := 0; i < len(target); i++ {
		if c := target[i]; c <= ' ' || c == 0x7f {
			return "", "", "", false
		}
	}
	return method, target, proto, true
}

// checkField checks a header line, "name: value" (RFC 9112 §5), and
// canonicalizes its name in place, as net/textproto would. It returns
// where the colon is.
func checkField(l []byte) (colon int, rerr *RequestError) {
	if l[0] == ' ' || l[0] == '\t' {
		// RFC 9112 §5.2: obsolete line folding may be rejected.
		return 0, badRequest("folded header line")
	}
	colon = bytes.IndexByte(l, ':')
	if colon <= 0 {
		return 0, badRequest("header line %q has no name", l)
	}
	name := l[:colon]
	// RFC 9112 §5.1: no whitespace between the name and the colon.
	if !isToken(name) {
		return 0, badRequest("bad header name %q", name)
	}
	upper := true
	for i, c := range name {
		switch {
		case upper && 'a' <= c && c <= 'z':
			name[i] = c - ('a' - 'A')
		case !upper && 'A' <= c && c <= 'Z':
			name[i] = c + ('a' - 'A')
		}
		upper = c == '-'
	}
	// RFC 9110 §5.5: field values are visible characters, obs-text,
	// spaces and tabs.
	for _, c := range l[colon+1:] {
		if c < ' ' && c != '\t' || c == 0x7f {
			return 0, badRequest("control character in the value of %s", name)
		}
	}
	return colon, nil
}
