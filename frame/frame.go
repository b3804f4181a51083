// Package frame implements the WebSocket framing layer of RFC 6455 §5:
// encoding and decoding of frame headers, the validity rules a receiver
// applies to them, the fragmentation rules of §5.4, and the payload of
// Close frames (§5.5.1, §7.4).
//
// It is for programs that do their own framing on top of a connection
// they manage, such as a proxy that inspects frames, a server with its
// own event loop or a test peer, and for package conn, which is built on
// it. Applications that want a WebSocket connection use conn instead.
// The close codes and the errors here are also what conn reports: its
// CloseCode is this package's, and a connection failed for a protocol
// violation ends with a *[ProtocolError].
//
// The building blocks are independent of each other so that a connection
// can combine them in its own read loop: [ParseHeader] and [AppendHeader]
// convert headers in byte slices, [ReadHeader] and [WriteHeader] on
// streams, [Rules.Check] validates one header, [Sequencer]
// tracks fragmented messages, and [ParseClosePayload] and
// [AppendClosePayload] decode and encode the payload of a Close frame.
// Masking is package mask's; validating text as UTF-8 (RFC 6455 §8.1) is
// the caller's, with [ErrInvalidUTF8] to report it.
//
// Violations found while reading are reported as *[ProtocolError] values
// that carry the close code to send to the peer. The errors for the
// common rules are package-level sentinels, so checking a header never
// allocates and the errors can be compared with errors.Is.
package frame

import (
	"encoding/binary"
	"errors"
	"io"
	"strconv"
	"sync"
)

// Opcode is the 4-bit opcode of a frame (RFC 6455 §5.2).
type Opcode uint8

// Opcodes defined by RFC 6455 §5.2. The values 0x3-0x7 and 0xB-0xF are
// reserved for extensions.
const (
	OpContinuation Opcode = 0x0
	OpText         Opcode = 0x1
	OpBinary       Opcode = 0x2
	OpClose        Opcode = 0x8
	OpPing         Opcode = 0x9
	OpPong         Opcode = 0xA
)

// IsControl reports whether o is a control opcode: its most significant
// bit is set (0x8-0xF, RFC 6455 §5.5).
func (o Opcode) IsControl() bool { return o&0x8 != 0 }

// IsReserved reports whether o is not defined by RFC 6455: 0x3-0x7 and
// 0xB-0xF. Values above 0xF, which cannot appear on the wire, are
// reserved too.
func (o Opcode) IsReserved() bool {
	switch o {
	case OpContinuation, OpText, OpBinary, OpClose, OpPing, OpPong:
		return false
	}
	return true
}

// String returns the lower-case name of o, such as "text", or
// "opcode(0x3)" for a reserved value.
func (o Opcode) String() string {
	switch o {
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
	return "opcode(0x" + strconv.FormatUint(uint64(o), 16) + ")"
}

// RSV bits as they sit in the first header byte.
const (
	RSV1 byte = 0x40
	RSV2 byte = 0x20
	RSV3 byte = 0x10
)

// Bits of the first two header bytes.
const (
	finBit    = 0x80
	rsvBits   = RSV1 | RSV2 | RSV3
	opBits    = 0x0F
	maskBit   = 0x80
	len7Bits  = 0x7F
	len16Mark = 126
	len64Mark = 127
)

// MaxHeaderSize is the size of the longest frame header: two fixed bytes,
// a 64-bit extended length and a masking key.
const MaxHeaderSize = 14

// MaxControlPayload is the largest payload of a control frame
// (RFC 6455 §5.5).
const MaxControlPayload = 125

// Header is a decoded frame header.
type Header struct {
	Fin    bool    // final fragment of a message
	RSV    byte    // any of RSV1|RSV2|RSV3, in their wire positions
	Opcode Opcode  // frame opcode
	Masked bool    // payload is masked with Key
	Key    [4]byte // masking key, meaningful when Masked
	Length int64   // payload length in bytes
}

// Size returns the number of bytes AppendHeader produces for h.
func (h Header) Size() int {
	n := 2
	switch {
	case h.Length < len16Mark:
	case h.Length <= 0xFFFF:
		n += 2
	default:
		n += 8
	}
	if h.Masked {
		n += 4
	}
	return n
}

// HeaderSize returns the total size of an encoded header from its second
// byte, which holds the mask bit and the 7-bit length. A reader that has
// two bytes of a header knows from them how many more it needs.
func HeaderSize(b1 byte) int {
	n := 2
	switch b1 & len7Bits {
	case len16Mark:
		n += 2
	case len64Mark:
		n += 8
	}
	if b1&maskBit != 0 {
		n += 4
	}
	return n
}

// AppendHeader appends the wire form of h to dst and returns the extended
// slice. The length is always written in its minimal encoding, as
// RFC 6455 §5.2 requires of senders. Only the RSV bits of h.RSV and the
// low four bits of h.Opcode are used. It does not allocate when dst has
// room for h.Size() more bytes.
//
// AppendHeader panics if h.Length is negative.
func AppendHeader(dst []byte, h Header) []byte {
	b0 := h.RSV&rsvBits | byte(h.Opcode)&opBits
	if h.Fin {
		b0 |= finBit
	}
	var b1 byte
	if h.Masked {
		b1 = maskBit
	}
	switch {
	case h.Length < 0:
		panic("frame: negative payload length")
	case h.Length < len16Mark:
		dst = append(dst, b0, b1|byte(h.Length))
	case h.Length <= 0xFFFF:
		dst = append(dst, b0, b1|len16Mark)
		dst = binary.BigEndian.AppendUint16(dst, uint16(h.Length))
	default:
		dst = append(dst, b0, b1|len64Mark)
		dst = binary.BigEndian.AppendUint64(dst, uint64(h.Length))
	}
	if h.Masked {
		dst = append(dst, h.Key[:]...)
	}
	return dst
}

// headerBufs holds scratch buffers for WriteHeader on writers that have no
// buffer of their own to write into. Passing a stack array to an arbitrary
// io.Writer would make it escape, so it would be allocated on every call.
var headerBufs = sync.Pool{New: func() any { return new([MaxHeaderSize]byte) }}

// WriteHeader writes the wire form of h to w in one Write call. It does
// not allocate: writers with an AvailableBuffer method, such as
// *bufio.Writer and *bytes.Buffer, get the header encoded straight into
// their buffer when it has room, and other writers get it from a pooled
// scratch buffer.
func WriteHeader(w io.Writer, h Header) error {
	if ab, ok := w.(interface{ AvailableBuffer() []byte }); ok {
		if b := ab.AvailableBuffer(); cap(b) >= MaxHeaderSize {
			_, err := w.Write(AppendHeader(b, h))
			return err
		}
	}
	buf := headerBufs.Get().(*[MaxHeaderSize]byte)
	_, err := w.Write(AppendHeader(buf[:0], h))
	headerBufs.Put(buf)
	return err
}

// ErrShortHeader is returned by ParseHeader when its input ends before the
// header does.
var ErrShortHeader = errors.New("frame: short header")

// ParseHeader decodes the header at the start of b without validating it
// against any Rules. It returns the header and the number of bytes it
// occupies. If b ends before the header does, it returns ErrShortHeader
// and n == 0; HeaderSize tells how long the header is once two bytes are
// there.
//
// A 64-bit length with the most significant bit set is reported as
// ErrLengthOverflow. Non-minimal length encodings are accepted: RFC 6455
// §5.2 requires senders to use the minimal one but gives receivers no
// duty to check it.
func ParseHeader(b []byte) (h Header, n int, err error) {
	if len(b) < 2 {
		return Header{}, 0, ErrShortHeader
	}
	n = HeaderSize(b[1])
	if len(b) < n {
		return Header{}, 0, ErrShortHeader
	}
	h.Fin = b[0]&finBit != 0
	h.RSV = b[0] & rsvBits
	h.Opcode = Opcode(b[0] & opBits)
	h.Masked = b[1]&maskBit != 0
	p := 2
	switch l := b[1] & len7Bits; l {
	case len16Mark:
		h.Length = int64(binary.BigEndian.Uint16(b[p:]))
		p += 2
	case len64Mark:
		l64 := binary.BigEndian.Uint64(b[p:])
		if l64>>63 != 0 {
			return h, 0, ErrLengthOverflow
		}
		h.Length = int64(l64)
		p += 8
	default:
		h.Length = int64(l)
	}
	if h.Masked {
		copy(h.Key[:], b[p:p+4])
	}
	return h, n, nil
}
