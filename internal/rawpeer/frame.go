// Package rawpeer is a scripted WebSocket peer for tests.
//
// It speaks RFC 6455 by hand, with its own opening handshake, frame encoder
// and frame decoder, so that it shares no code with the packages it tests:
// a bug there cannot cancel out in a round trip. It sends whatever it is
// told to, including what a correct endpoint never would: reserved bits and
// opcodes, wrong masking, lengths that lie, frames cut into one-byte writes.
// What it reads it reports as it found it, without judging.
//
// A Peer is either a client, made by Dial, that talks to a server under
// test, or a server, made by a Listener's Accept, that a client under test
// dials. One goroutine may read from a Peer while another writes to it.
package rawpeer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"unicode/utf8"
)

// Opcodes (RFC 6455 §5.2). The other values of the 4-bit field are
// reserved, and a Frame may carry them all the same.
const (
	OpContinuation byte = 0x0
	OpText         byte = 0x1
	OpBinary       byte = 0x2
	OpClose        byte = 0x8
	OpPing         byte = 0x9
	OpPong         byte = 0xA
)

// Reserved bits, as values of Frame.RSV.
const (
	RSV1 byte = 4 // "compressed" under permessage-deflate (RFC 7692 §6)
	RSV2 byte = 2
	RSV3 byte = 1
)

// Frame is one WebSocket frame (RFC 6455 §5.2).
type Frame struct {
	Fin    bool
	RSV    byte // the three reserved bits as a number 0..7; RSV1 is 4
	Opcode byte // 0..15

	// Masked and Key are the masking of the frame on the wire. Frames read
	// report them; Encode uses them as they are, while Peer.Encode and the
	// Send methods replace them with what the peer's role requires.
	Masked bool
	Key    [4]byte

	// Payload is the application data, unmasked.
	Payload []byte
}

// IsControl reports whether f has a control opcode (RFC 6455 §5.5).
func (f Frame) IsControl() bool { return f.Opcode&0x8 != 0 }

// String describes f briefly, for test failures.
func (f Frame) String() string {
	s := opName(f.Opcode)
	if f.Fin {
		s += " fin"
	}
	if f.RSV != 0 {
		s += fmt.Sprintf(" rsv=%d", f.RSV)
	}
	if f.Masked {
		s += " masked"
	}
	s += fmt.Sprintf(" len=%d", len(f.Payload))
	const show = 32
	switch {
	case f.Opcode == OpClose && len(f.Payload) >= 2:
		code, reason, _ := ParseClose(f.Payload)
		s += fmt.Sprintf(" code=%d reason=%q", code, reason)
	case len(f.Payload) <= show:
		s += fmt.Sprintf(" %q", f.Payload)
	default:
		s += fmt.Sprintf(" %q...", f.Payload[:show])
	}
	return s
}

func opName(op byte) string {
	switch op {
	case OpContinuation:
		return "continuation"
	case OpText:
		return "text"
	case OpBinary:
		return "binary"
	case OpClose:
		return "close"
	case OpPing:
		return "ping"
	case OpPong:
		return "pong"
	}
	return fmt.Sprintf("opcode-%d", op)
}

// AppendHeader appends the header of f to b, declaring a payload of n
// bytes, which need not be len(f.Payload): a header that lies, or one whose
// payload follows in separate writes. The length is encoded in the shortest
// form (RFC 6455 §5.2).
func (f Frame) AppendHeader(b []byte, n uint64) []byte {
	b0 := f.RSV<<4&0x70 | f.Opcode&0x0F
	if f.Fin {
		b0 |= 0x80
	}
	var b1 byte
	if f.Masked {
		b1 = 0x80
	}
	switch {
	case n < 126:
		b = append(b, b0, b1|byte(n))
	case n <= 0xFFFF:
		b = append(b, b0, b1|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, b0, b1|127)
		b = binary.BigEndian.AppendUint64(b, n)
	}
	if f.Masked {
		b = append(b, f.Key[:]...)
	}
	return b
}

// Encode returns f as it goes on the wire: its header, then its payload,
// masked with f.Key when f.Masked is set.
func (f Frame) Encode() []byte {
	b := f.AppendHeader(make([]byte, 0, 14+len(f.Payload)), uint64(len(f.Payload)))
	start := len(b)
	b = append(b, f.Payload...)
	if f.Masked {
		Mask(b[start:], f.Key, 0)
	}
	return b
}

// ErrIncomplete is returned by Decode when the bytes end before the frame.
var ErrIncomplete = errors.New("rawpeer: incomplete frame")

// headerSize returns the size of the frame header at the start of b and
// the payload length it declares, or ok false when b is too short to tell.
func headerSize(b []byte) (size int, length uint64, ok bool) {
	if len(b) < 2 {
		return 0, 0, false
	}
	size = 2
	switch n := b[1] & 0x7F; n {
	case 126:
		size += 2
		if len(b) < size {
			return 0, 0, false
		}
		length = uint64(binary.BigEndian.Uint16(b[2:]))
	case 127:
		size += 8
		if len(b) < size {
			return 0, 0, false
		}
		length = binary.BigEndian.Uint64(b[2:])
	default:
		length = uint64(n)
	}
	if b[1]&0x80 != 0 {
		size += 4
		if len(b) < size {
			return 0, 0, false
		}
	}
	return size, length, true
}

// Decode reads one frame from the start of b and returns it with the number
// of bytes it took. The payload is copied and unmasked. Decode accepts any
// header, reserved bits and opcodes included, and non-minimal length
// encodings; it returns ErrIncomplete when b holds only part of a frame.
func Decode(b []byte) (Frame, int, error) {
	size, length, ok := headerSize(b)
	if !ok || uint64(len(b)-size) < length {
		return Frame{}, 0, ErrIncomplete
	}
	f := Frame{
		Fin:    b[0]&0x80 != 0,
		RSV:    b[0] >> 4 & 0x7,
		Opcode: b[0] & 0x0F,
		Masked: b[1]&0x80 != 0,
	}
	if f.Masked {
		copy(f.Key[:], b[size-4:size])
	}
	end := size + int(length)
	f.Payload = append([]byte{}, b[size:end]...)
	if f.Masked {
		Mask(f.Payload, f.Key, 0)
	}
	return f, end, nil
}

// Mask XORs p with key (RFC 6455 §5.3), as if p started pos bytes into the
// payload, and returns the position after p. Masking twice unmasks.
func Mask(p []byte, key [4]byte, pos int) int {
	k := bits.RotateLeft32(binary.LittleEndian.Uint32(key[:]), -8*(pos&3))
	k64 := uint64(k) | uint64(k)<<32
	i := 0
	for ; i+8 <= len(p); i += 8 {
		binary.LittleEndian.PutUint64(p[i:], binary.LittleEndian.Uint64(p[i:])^k64)
	}
	for ; i < len(p); i++ {
		p[i] ^= key[(pos+i)&3]
	}
	return pos + len(p)
}

// ClosePayload returns the payload of a Close frame: code in network byte
// order, then reason (RFC 6455 §5.5.1). A code of 0 gives an empty payload,
// whatever the reason.
func ClosePayload(code uint16, reason string) []byte {
	if code == 0 {
		return nil
	}
	return append(binary.BigEndian.AppendUint16(nil, code), reason...)
}

// ParseClose splits a Close frame's payload into its code and reason. An
// empty payload has code 0. It returns an error for a one-byte payload or a
// reason that is not UTF-8, together with whatever it could parse; it does
// not judge the code.
func ParseClose(payload []byte) (code uint16, reason string, err error) {
	switch len(payload) {
	case 0:
		return 0, "", nil
	case 1:
		return 0, "", errors.New("rawpeer: close payload of one byte")
	}
	code = binary.BigEndian.Uint16(payload)
	reason = string(payload[2:])
	if !utf8.ValidString(reason) {
		return code, reason, errors.New("rawpeer: close reason is not UTF-8")
	}
	return code, reason, nil
}
