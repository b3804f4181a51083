package wsclient

import (
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	mrand "math/rand/v2"
)

const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11" // RFC 6455 §1.3

// keyLen and acceptLen are the base64 lengths of the 16-byte nonce and of
// the 20-byte SHA-1 digest.
const (
	keyLen    = 24
	acceptLen = 28
)

// AcceptKey returns the Sec-WebSocket-Accept value for key (RFC 6455 §4.2.2).
func AcceptKey(key string) string {
	var a [acceptLen]byte
	acceptFor(&a, []byte(key))
	return string(a[:])
}

// acceptFor writes the Sec-WebSocket-Accept value for key into dst
// without allocating, for keys of the usual 24 bytes.
func acceptFor(dst *[acceptLen]byte, key []byte) {
	var in [keyLen + len(acceptGUID)]byte
	b := append(append(in[:0], key...), acceptGUID...)
	sum := sha1.Sum(b)
	base64.StdEncoding.Encode(dst[:], sum[:])
}

// deflateOffer asks for permessage-deflate without server context
// takeover; client_no_context_takeover is offered too, as the client keeps
// no compressor, so that the server need not keep a window for it.
const deflateOffer = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"

// request is the opening handshake of one Opener or Dial, built once: each
// connection copies it with a fresh key in place (RFC 6455 §4.1).
type request struct {
	tmpl  []byte // the whole request, key bytes zero
	keyAt int    // offset of the base64 key in tmpl
	// The nonce must be random for every connection (RFC 6455 §4.1); it
	// proves that the server read this handshake, not that anything is
	// secret. ChaCha8 seeded from the operating system is a
	// cryptographically strong generator, so the keys are as unpredictable
	// as crypto/rand's, without a system call or a lock for each one.
	rng *mrand.ChaCha8
}

// newRequest builds the GET /ws request for host, offering ext in
// Sec-WebSocket-Extensions unless it is empty.
func newRequest(host, ext string) *request {
	var seed [32]byte
	rand.Read(seed[:]) // never fails (crypto/rand docs, Go 1.24)
	b := []byte("GET /ws HTTP/1.1\r\nHost: " + host +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ")
	at := len(b)
	b = append(b, make([]byte, keyLen)...)
	b = append(b, "\r\n"...)
	if ext != "" {
		b = append(b, "Sec-WebSocket-Extensions: "+ext+"\r\n"...)
	}
	b = append(b, "\r\n"...)
	return &request{tmpl: b, keyAt: at, rng: mrand.NewChaCha8(seed)}
}

// next copies the request into dst (reusing its capacity) with a fresh
// key, and writes the Sec-WebSocket-Accept the server must answer with
// into accept.
func (r *request) next(dst []byte, accept *[acceptLen]byte) []byte {
	var nonce [16]byte
	r.rng.Read(nonce[:])
	dst = append(dst[:0], r.tmpl...)
	key := dst[r.keyAt : r.keyAt+keyLen]
	base64.StdEncoding.Encode(key, nonce[:])
	acceptFor(accept, key)
	return dst
}

// headEnd returns the length of the response head in b, through its
// blank line, or -1 if b does not hold all of it yet.
func headEnd(b []byte) int {
	if i := bytes.Index(b, []byte("\r\n\r\n")); i >= 0 {
		return i + 4
	}
	return -1
}

// errHandshake is wrapped by every handshake failure.
var errHandshake = errors.New("wsclient: handshake")

// checkHead validates an upgrade response head (without its final blank
// line) as RFC 6455 §4.1 asks of a client: status 101, Upgrade
// websocket, a Connection header with the token Upgrade, and exactly the
// expected Sec-WebSocket-Accept. Sec-WebSocket-Extensions is allowed
// only when offered, and only once: ext, nil when nothing was offered,
// judges its value. agreed reports whether the server named an extension.
// It allocates only to report an error or to hand ext the value.
func checkHead(head, accept []byte, ext func(string) error) (agreed bool, err error) {
	line, rest, _ := bytes.Cut(head, []byte("\r\n"))
	if !bytes.HasPrefix(line, []byte("HTTP/1.1 101 ")) {
		return false, fmt.Errorf("%w: status %q", errHandshake, line)
	}
	var upgrade, connection, gotAccept bool
	for len(rest) > 0 {
		line, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		name, value, found := bytes.Cut(line, []byte(":"))
		if !found {
			return false, fmt.Errorf("%w: bad header line %q", errHandshake, line)
		}
		value = bytes.Trim(value, " \t")
		switch {
		case bytes.EqualFold(name, []byte("Upgrade")):
			upgrade = bytes.EqualFold(value, []byte("websocket"))
		case bytes.EqualFold(name, []byte("Connection")):
			connection = connection || hasToken(value, []byte("Upgrade"))
		case bytes.EqualFold(name, []byte("Sec-WebSocket-Accept")):
			if gotAccept {
				return false, fmt.Errorf("%w: two Sec-WebSocket-Accept lines", errHandshake)
			}
			if !bytes.Equal(value, accept) {
				return false, fmt.Errorf("%w: Sec-WebSocket-Accept %q, want %q", errHandshake, value, accept)
			}
			gotAccept = true
		case bytes.EqualFold(name, []byte("Sec-WebSocket-Extensions")):
			// Only what was offered may be used (RFC 6455 §9.1).
			if ext == nil || agreed {
				return false, fmt.Errorf("%w: unrequested extensions %q", errHandshake, value)
			}
			if err := ext(string(value)); err != nil {
				return false, err
			}
			agreed = true
		}
	}
	if !upgrade || !connection || !gotAccept {
		return false, fmt.Errorf("%w: missing or bad Upgrade, Connection or Sec-WebSocket-Accept in %q", errHandshake, head)
	}
	return agreed, nil
}

// hasToken reports whether the comma-separated list v holds token, in any
// case (RFC 9110 §7.6.1).
func hasToken(v, token []byte) bool {
	for len(v) > 0 {
		var t []byte
		t, v, _ = bytes.Cut(v, []byte(","))
		if bytes.EqualFold(bytes.Trim(t, " \t"), token) {
			return true
		}
	}
	return false
}
