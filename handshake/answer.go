package handshake

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
)

// AnswerUpgrade is [ParseUpgrade] for a server that has no use for the
// request, such as an event loop with no callback that takes it. It
// returns the same n, response and error as ParseUpgrade for every b,
// and in sc the subprotocol and extensions agreed (Conn and Buffered are
// unset).
//
// A request of the usual form (a GET of an origin-form target over
// HTTP/1.1, with one of each field the handshake reads) is checked where
// it lies in b, in one pass and with no http.Request built: it costs no
// allocation unless it offers a subprotocol or extensions, or has an
// Origin to check. Any other request, and every refusal, is answered by
// ParseUpgrade, and so is every request when opts has CheckOrigin or
// SelectSubprotocol, which take the request.
func AnswerUpgrade(dst, b []byte, opts *ServerOptions) (sc ServerConn, resp []byte, n int, err error) {
	var zero ServerOptions // on the stack, unlike zeroServerOptions's
	if opts == nil {
		opts = &zero
	}
	if opts.CheckOrigin == nil && opts.SelectSubprotocol == nil {
		if resp, n, ok := answerPlain(dst, b, opts, &sc); ok {
			return sc, resp, n, nil
		}
		sc = ServerConn{}
	}
	psc, _, resp, n, err := ParseUpgrade(dst, b, opts)
	if psc != nil {
		sc = *psc
	}
	return sc, resp, n, err
}

// span is where a field value lies in a request head.
type span struct{ start, end int }

// plainFields are the fields of a request head that the handshake reads,
// each with how often it appeared.
type plainFields struct {
	host, key, version, origin, protocol, extensions span
	hosts, keys, versions, origins, protocols, exts  int
	upgrade, connection                              bool // the tokens "websocket" and "upgrade" were found
}

// answerPlain appends the 101 response to a request of the usual form
// whose head b holds whole, sets sc's subprotocol and extensions, and
// returns the length of the head. It reports false for any b that it
// does not find acceptable by the rules ParseUpgrade applies, an
// incomplete head among them, so that false means only that ParseUpgrade
// is to decide, and true that ParseUpgrade would answer the same. It
// canonicalizes field names in place, as ParseUpgrade does; in a head it
// does not answer, some may be canonicalized that ParseUpgrade leaves,
// which changes none of their meaning.
func answerPlain(dst, b []byte, opts *ServerOptions, sc *ServerConn) (resp []byte, n int, ok bool) {
	rest := b
	var f plainFields
	for first := true; ; first = false {
		// The head ends at the first empty line, as findHeadEnd finds
		// it after a request line that is not empty.
		at := len(b) - len(rest)
		nl := bytes.IndexByte(rest, '\n')
		if nl < 0 || at+nl >= maxRequestBytes {
			return nil, 0, false // incomplete, or too large
		}
		l := rest[:nl]
		rest = rest[nl+1:]
		if len(l) > 0 && l[len(l)-1] == '\r' {
			l = l[:len(l)-1]
		}
		if first {
			// No CR, nor anything else checkHead refuses, passes.
			if !plainRequestLine(l) {
				return nil, 0, false
			}
			continue
		}
		if len(l) == 0 {
			n = len(b) - len(rest)
			break
		}
		// checkField refuses any other CR, as a control character, where
		// checkHead's nextLine would refuse it as a bare CR.
		colon, rerr := checkField(l)
		if rerr != nil {
			return nil, 0, false
		}
		vs, ve := colon+1, len(l)
		for vs < ve && (l[vs] == ' ' || l[vs] == '\t') {
			vs++
		}
		for ve > vs && (l[ve-1] == ' ' || l[ve-1] == '\t') {
			ve--
		}
		v, value := span{at + vs, at + ve}, l[vs:ve]
		switch string(l[:colon]) {
		case "Host":
			f.host, f.hosts = v, f.hosts+1
		case hdrUpgrade:
			f.upgrade = f.upgrade || listHasToken(value, "websocket")
		case hdrConnection:
			f.connection = f.connection || listHasToken(value, "upgrade")
		case hdrKey:
			f.key, f.keys = v, f.keys+1
		case hdrVersion:
			f.version, f.versions = v, f.versions+1
		case hdrOrigin:
			f.origin, f.origins = v, f.origins+1
		case hdrProtocol:
			f.protocol, f.protocols = v, f.protocols+1
		case hdrExtensions:
			f.extensions, f.exts = v, f.exts+1
		case "Transfer-Encoding":
			return nil, 0, false // a body: refused
		case "Content-Length":
			if string(value) != "0" {
				return nil, 0, false
			}
		}
	}
	// The rules of checkRequest, as they apply to a GET over HTTP/1.1.
	key := b[f.key.start:f.key.end]
	if f.hosts != 1 || f.host.start == f.host.end || !f.upgrade || !f.connection ||
		f.versions != 1 || string(b[f.version.start:f.version.end]) != "13" ||
		f.keys != 1 || len(key) != keyLen || !validKey(key) {
		return nil, 0, false
	}
	originCheck := !opts.InsecureSkipOriginCheck && f.origins > 0
	if originCheck && f.origins > 1 || f.protocols > 1 || f.exts > 1 {
		return nil, 0, false
	}
	if len(opts.Header) > 0 && checkResponseHeader(opts.Header) != nil {
		return nil, 0, false
	}
	if originCheck || f.protocols > 0 || f.exts > 0 {
		// These keep or compare strings: one copy of the head serves them.
		s := string(b[:n])
		if originCheck && checkOrigin([]string{s[f.origin.start:f.origin.end]}, s[f.host.start:f.host.end], opts.OriginPatterns) != nil {
			return nil, 0, false
		}
		var rerr *RequestError
		if f.protocols > 0 {
			if sc.Subprotocol, rerr = selectSubprotocol(nil, []string{s[f.protocol.start:f.protocol.end]}, opts); rerr != nil {
				return nil, 0, false
			}
		}
		if f.exts > 0 {
			if sc.Extensions, rerr = negotiateExtensions([]string{s[f.extensions.start:f.extensions.end]}, opts.Extensions); rerr != nil {
				return nil, 0, false
			}
		}
	}
	// crypto/sha1, in assembly, takes a third of keySum's time; its deeper
	// stack does not matter to a loop, which has one goroutine for many
	// connections.
	var msg [keyLen + len(keyGUID)]byte
	copy(msg[:], key)
	copy(msg[keyLen:], keyGUID)
	sum := sha1.Sum(msg[:])
	resp = append(dst, responseStart...)
	resp = base64.StdEncoding.AppendEncode(resp, sum[:])
	return appendResponseRest(resp, sc, opts.Header), n, true
}

// plainRequestLine reports whether line is "GET target HTTP/1.1" with a
// target that parseRequestLine takes as it is (parsePlainTarget).
func plainRequestLine(line []byte) bool {
	rest, ok := bytes.CutPrefix(line, []byte("GET "))
	if !ok {
		return false
	}
	target, proto, ok := bytes.Cut(rest, []byte(" "))
	if !ok || string(proto) != "HTTP/1.1" || len(target) == 0 || target[0] != '/' {
		return false
	}
	inPath := true
	for _, c := range target {
		switch {
		case c <= ' ' || c == 0x7f:
			return false
		case c == '?':
			inPath = false
		case inPath && !plainPathChar(c):
			return false
		}
	}
	return true
}

// listHasToken reports whether the comma-separated list v holds token,
// which is of lower-case ASCII letters, in any case: headerHasToken
// for one value in bytes. It may miss what headerHasToken finds through
// Unicode folding, never the reverse.
func listHasToken(v []byte, token string) bool {
	for more := true; more; {
		var elem []byte
		elem, v, more = bytes.Cut(v, []byte(","))
		for len(elem) > 0 && (elem[0] == ' ' || elem[0] == '\t') {
			elem = elem[1:]
		}
		for len(elem) > 0 && (elem[len(elem)-1] == ' ' || elem[len(elem)-1] == '\t') {
			elem = elem[:len(elem)-1]
		}
		if len(elem) != len(token) {
			continue
		}
		i := 0
		for i < len(elem) && elem[i]|0x20 == token[i] {
			i++
		}
		if i == len(elem) {
			return true
		}
	}
	return false
}
