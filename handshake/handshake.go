// Package handshake implements the HTTP part of opening a WebSocket
// connection (RFC 6455 §4): the server side with [Upgrade], the client
// side with [Dial], and the Sec-WebSocket-Extensions grammar of §9.1
// with [ParseExtensions].
//
// Both sides stop at the end of the opening handshake. They hand back
// the raw [net.Conn] together with any bytes that were read past the
// handshake (ServerConn.Buffered, ClientConn.Buffered); those bytes
// belong to the first WebSocket frames and must be consumed before
// reading from the connection.
//
// The package is for programs that frame the connection themselves, with
// package frame or their own code, and for package conn, which is built
// on it. Applications that want a WebSocket connection use conn, whose
// Accept and Dial run this handshake and then the framing.
//
// Extensions are negotiated through [ServerExtension] and
// [ClientExtension], but an extension is more than its negotiation: its
// effect on frames is the framing code's. So the hooks serve those
// programs with framing of their own; conn does not take them, and offers
// the one extension it implements, permessage-deflate (RFC 7692), through
// its CompressionOptions.
package handshake

import (
	"crypto/sha1"
	"encoding/base64"
	"errors"
)

// Sentinel errors. Errors returned by this package wrap one of them, so
// callers can test the reason with [errors.Is]. Where the same rule
// applies to both sides (for example a malformed Sec-WebSocket-Extensions
// header) the same sentinel is used by [Upgrade] and [Dial].
var (
	// ErrMethod: the request method is not GET (RFC 6455 §4.2.1 item 1).
	ErrMethod = errors.New("websocket: handshake method is not GET")
	// ErrBadRequest: the request is not a valid HTTP/1.1 request, for
	// example HTTP/1.0 or no Host header (RFC 6455 §4.2.1 items 1-2).
	ErrBadRequest = errors.New("websocket: handshake is not a valid HTTP/1.1 request")
	// ErrMissingUpgrade: the "Upgrade: websocket" or "Connection: Upgrade"
	// header is missing from the request or the response.
	ErrMissingUpgrade = errors.New("websocket: missing Upgrade: websocket or Connection: Upgrade")
	// ErrVersion: Sec-WebSocket-Version is missing or not 13.
	ErrVersion = errors.New("websocket: unsupported Sec-WebSocket-Version")
	// ErrBadKey: Sec-WebSocket-Key is missing, repeated, or not the
	// base64 form of 16 bytes.
	ErrBadKey = errors.New("websocket: bad Sec-WebSocket-Key")
	// ErrBadOrigin: the Origin is not allowed by the server's policy.
	ErrBadOrigin = errors.New("websocket: origin not allowed")
	// ErrBadSubprotocol: a Sec-WebSocket-Protocol header is malformed, or
	// the server chose a subprotocol the client did not offer.
	ErrBadSubprotocol = errors.New("websocket: bad Sec-WebSocket-Protocol")
	// ErrBadExtension: a Sec-WebSocket-Extensions header is malformed, or
	// the extensions answered do not match those offered.
	ErrBadExtension = errors.New("websocket: bad Sec-WebSocket-Extensions")
	// ErrHijack: the http.ResponseWriter cannot hand over its connection
	// (for example a writer that does not support hijacking).
	ErrHijack = errors.New("websocket: cannot take over the HTTP connection")
	// ErrBadOptions: ServerOptions or ClientOptions are invalid, for
	// example a reserved header in Header or a subprotocol that is not a
	// token. Upgrade answers 500 then.
	ErrBadOptions = errors.New("websocket: invalid options")

	// ErrBadStatus: the server answered with something other than
	// "101 Switching Protocols".
	ErrBadStatus = errors.New("websocket: server did not switch protocols")
	// ErrBadAccept: Sec-WebSocket-Accept is missing, repeated or wrong.
	ErrBadAccept = errors.New("websocket: bad Sec-WebSocket-Accept")
	// ErrBadURL: the URL given to Dial cannot be used.
	ErrBadURL = errors.New("websocket: bad URL")
	// ErrProxy: the proxy could not be used or refused the tunnel.
	ErrProxy = errors.New("websocket: proxy failed")
)

// keyGUID is appended to Sec-WebSocket-Key before hashing (RFC 6455 §1.3).
const keyGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// keyLen is the length of a valid Sec-WebSocket-Key: 16 bytes in base64.
const keyLen = 24

// acceptLen is the length of Sec-WebSocket-Accept: 20 bytes in base64.
const acceptLen = 28

// AcceptKey returns the Sec-WebSocket-Accept value that answers the
// Sec-WebSocket-Key key: the base64 of the SHA-1 of key followed by the
// protocol GUID (RFC 6455 §4.2.2 item 5.4).
func AcceptKey(key string) string {
	return string(appendAcceptKey(make([]byte, 0, acceptLen), key))
}

// appendAcceptKey appends the Sec-WebSocket-Accept value for key to dst.
// For keys of the usual length it hashes from a stack buffer with keySum,
// so it does not allocate when dst has room and stays shallow.
func appendAcceptKey(dst []byte, key string) []byte {
	var sum [sha1.Size]byte
	if len(key) == keyLen {
		var buf [keyLen + len(keyGUID)]byte
		copy(buf[:], key)
		copy(buf[keyLen:], keyGUID)
		sum = keySum(&buf)
	} else {
		sum = sha1.Sum([]byte(key + keyGUID))
	}
	return base64.StdEncoding.AppendEncode(dst, sum[:])
}
