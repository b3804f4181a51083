// Package frameio reads and writes WebSocket frames one at a time over a
// byte stream, putting together the building blocks of package frame:
// Reader applies every receiving rule of RFC 6455 §5 as it reads, and
// Writer fragments, masks and writes messages and control frames.
//
// It is for tests and small tools inside this repository. It answers no
// pings, reassembles no messages and implements no extension, so it is no
// connection; applications use package conn, and programs with framing of
// their own build it from package frame.
package frameio

import "errors"

// Errors returned by Writer for misuse by the caller.
var (
	ErrWriteOpcode    = errors.New("frameio: opcode not valid for this write")
	ErrControlPayload = errors.New("frameio: control frame payload longer than 125 bytes")
)
