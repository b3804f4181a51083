package handshake

import (
	"fmt"
	"net/http"
	"strings"
)

// Extension is one offer or response element of Sec-WebSocket-Extensions
// (RFC 6455 §9.1), such as "permessage-deflate; client_max_window_bits".
type Extension struct {
	Name   string
	Params []ExtensionParam
}

// ExtensionParam is one parameter of an [Extension]. Value is "" for a
// parameter without a value; quoted-string values are stored unquoted.
type ExtensionParam struct {
	Name, Value string
}

// String returns e in wire form, quoting parameter values that are not
// tokens.
func (e Extension) String() string {
	return string(appendExtension(nil, e))
}

// ServerExtension negotiates one extension on the server.
type ServerExtension interface {
	// Name returns the extension token, e.g. "permessage-deflate".
	Name() string
	// Negotiate is called with the client's offers for this extension,
	// in the client's order, until it accepts one. It returns the
	// response element to send and true to accept the offer.
	Negotiate(offer Extension) (response Extension, ok bool)
}

// ClientExtension offers one extension from the client and checks the
// server's answer.
type ClientExtension interface {
	// Offers returns one or more offers with the same name, in
	// preference order.
	Offers() []Extension
	// Accept checks the server's response element for this extension.
	// An error fails the handshake.
	Accept(response Extension) error
}

// ParseExtensions parses every Sec-WebSocket-Extensions header in h,
// in order. Several headers are equivalent to one comma-separated list
// (RFC 6455 §9.1). Malformed syntax is an error wrapping
// [ErrBadExtension]; RFC 6455 §9.1 requires failing the connection then.
// A header without any extension is malformed too (the grammar is
// 1#extension). Empty list elements ("a, , b") are skipped as RFC 9110
// §5.6.1 asks of recipients.
func ParseExtensions(h http.Header) ([]Extension, error) {
	var exts []Extension
	for _, v := range h["Sec-Websocket-Extensions"] {
		var detail string
		if exts, detail = appendParsedExtensions(exts, v); detail != "" {
			return nil, fmt.Errorf("%w: %s", ErrBadExtension, detail)
		}
	}
	return exts, nil
}

// appendParsedExtensions parses the header value v and appends its
// elements to dst. On a syntax error it returns a non-empty description
// that names the problem and where it is.
func appendParsedExtensions(dst []Extension, v string) ([]Extension, string) {
	p := extParser{s: v}
	n := 0
	for {
		p.skipSpace()
		if p.done() {
			break
		}
		if p.peek() == ',' { // empty list element
			p.i++
			continue
		}
		name := p.token()
		if name == "" {
			return dst, p.fail("expected an extension name")
		}
		e := Extension{Name: name}
		p.skipSpace()
		for !p.done() && p.peek() == ';' {
			p.i++
			p.skipSpace()
			param := ExtensionParam{Name: p.token()}
			if param.Name == "" {
				return dst, p.fail("expected a parameter name after \";\"")
			}
			p.skipSpace()
			if !p.done() && p.peek() == '=' {
				p.i++
				p.skipSpace()
				var ok bool
				if param.Value, ok = p.value(); !ok {
					return dst, p.fail("expected a token or quoted string after \"=\"")
				}
				// RFC 6455 §9.1: the unescaped quoted-string must be a token.
				if !isToken(param.Value) {
					return dst, fmt.Sprintf("parameter %s has value %q, which is not a token, in %q", param.Name, param.Value, v)
				}
				p.skipSpace()
			}
			e.Params = append(e.Params, param)
		}
		if !p.done() && p.peek() != ',' {
			return dst, p.fail("expected \",\" or \";\"")
		}
		dst = append(dst, e)
		n++
	}
	if n == 0 {
		return dst, "header has no extension"
	}
	return dst, ""
}

// extParser scans one Sec-WebSocket-Extensions header value.
type extParser struct {
	s string
	i int
}

func (p *extParser) done() bool { return p.i >= len(p.s) }
func (p *extParser) peek() byte { return p.s[p.i] }

// skipSpace skips the "implied *LWS" that RFC 6455 §9.1 allows between
// the words and separators of the grammar.
func (p *extParser) skipSpace() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *extParser) token() string {
	start := p.i
	for p.i < len(p.s) && isTokenChar(p.s[p.i]) {
		p.i++
	}
	return p.s[start:p.i]
}

// value reads a token or a quoted-string (RFC 9110 §5.6.4) and returns
// its unescaped contents.
func (p *extParser) value() (string, bool) {
	if p.done() {
		return "", false
	}
	if p.peek() != '"' {
		t := p.token()
		return t, t != ""
	}
	start := p.i
	p.i++
	var b []byte // nil until an escape makes copying necessary
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '"':
			p.i++
			if b == nil {
				return p.s[start+1 : p.i-1], true
			}
			return string(b), true
		case c == '\\':
			if p.i+1 >= len(p.s) || !isQuotedPairChar(p.s[p.i+1]) {
				p.i = start
				return "", false
			}
			if b == nil {
				b = append([]byte(nil), p.s[start+1:p.i]...)
			}
			b = append(b, p.s[p.i+1])
			p.i += 2
		case isQDText(c):
			if b != nil {
				b = append(b, c)
			}
			p.i++
		default:
			p.i = start
			return "", false
		}
	}
	p.i = start // unterminated
	return "", false
}

func (p *extParser) fail(what string) string {
	if p.done() {
		return fmt.Sprintf("%s at the end of %q", what, p.s)
	}
	return fmt.Sprintf("%s at byte %d (%q) of %q", what, p.i, p.s[p.i], p.s)
}

// appendExtension appends the wire form of e to dst.
func appendExtension(dst []byte, e Extension) []byte {
	dst = append(dst, e.Name...)
	for _, p := range e.Params {
		dst = append(dst, "; "...)
		dst = append(dst, p.Name...)
		if p.Value == "" {
			continue
		}
		dst = append(dst, '=')
		if isToken(p.Value) {
			dst = append(dst, p.Value...)
			continue
		}
		dst = append(dst, '"')
		for i := 0; i < len(p.Value); i++ {
			if c := p.Value[i]; c == '"' || c == '\\' {
				dst = append(dst, '\\')
			}
			dst = append(dst, p.Value[i])
		}
		dst = append(dst, '"')
	}
	return dst
}

// appendExtensionList appends exts comma-separated to dst.
func appendExtensionList(dst []byte, exts []Extension) []byte {
	for i, e := range exts {
		if i > 0 {
			dst = append(dst, ", "...)
		}
		dst = appendExtension(dst, e)
	}
	return dst
}

// checkExtension reports, as a non-empty description, why e cannot be
// sent: RFC 6455 §9.1 only allows tokens as names and values.
func checkExtension(e Extension) string {
	if !isToken(e.Name) {
		return fmt.Sprintf("extension name %q is not a token", e.Name)
	}
	for _, p := range e.Params {
		if !isToken(p.Name) {
			return fmt.Sprintf("extension %s: parameter name %q is not a token", e.Name, p.Name)
		}
		if p.Value != "" && !isToken(p.Value) {
			return fmt.Sprintf("extension %s: parameter %s has value %q, which is not a token", e.Name, p.Name, p.Value)
		}
	}
	return ""
}

// isTokenChar reports whether c is a tchar (RFC 9110 §5.6.2), the same
// set as RFC 2616's token characters used by RFC 6455.
func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// isToken reports whether s is a token (RFC 9110 §5.6.2).
func isToken[T string | []byte](s T) bool {
	if len(s) == 0 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTokenChar(s[i]) {
			return false
		}
	}
	return true
}

// isQDText reports whether c may appear unescaped in a quoted-string
// (RFC 9110 §5.6.4: HTAB, SP, VCHAR except '"' and '\', obs-text).
func isQDText(c byte) bool {
	return c == '\t' || c == ' ' || c == '!' || ('#' <= c && c <= '[') || (']' <= c && c <= '~') || c >= 0x80
}

// isQuotedPairChar reports whether c may follow '\' in a quoted-string.
func isQuotedPairChar(c byte) bool {
	return c == '\t' || (' ' <= c && c <= '~') || c >= 0x80
}

// nextListElement splits the first element off a comma-separated header
// value and trims the optional whitespace around it. Empty elements are
// returned as "" so callers can skip them.
func nextListElement(s string) (elem, rest string, more bool) {
	elem, rest, more = strings.Cut(s, ",")
	return trimOWS(elem), rest, more
}

// trimOWS removes optional whitespace, spaces and tabs, from both ends of s
// (RFC 9110 §5.6.3). It is strings.Trim(s, " \t") without the frame that
// builds a character set, which would deepen the handshake's stack.
func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// headerHasToken reports whether any of the comma-separated header
// values holds token, compared ASCII case-insensitively.
func headerHasToken(values []string, token string) bool {
	for _, v := range values {
		for s, more := v, true; more; {
			var elem string
			elem, s, more = nextListElement(s)
			if strings.EqualFold(elem, token) {
				return true
			}
		}
	}
	return false
}

// validHeaderValue reports whether v may be sent as a header field value
// (RFC 9110 §5.5): no control characters other than HTAB, so that a
// value cannot end the header line early.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}
