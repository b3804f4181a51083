package wsclient

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
)

// maxMessage bounds what Next accepts, so that a broken server cannot make
// the load generator allocate without end.
const maxMessage = 64 << 20

// Message is a message received by Next.
type Message struct {
	// Text reports a text message; it is false for binary messages and
	// for raw TCP, which has no types.
	Text bool
	// Compressed reports a message sent compressed (permessage-deflate,
	// RSV1 set): Payload is its DEFLATE data, to be given to Inflate.
	Compressed bool
	// Payload is valid until the next call of Next.
	Payload []byte
}

// Next reads the next message the server sends, whatever it is: a text or
// binary message, in one frame or several, compressed or not; a ping or
// pong in between is skipped. It shares no state with Send, so one
// goroutine may call Next while another sends.
func (c *Conn) Next() (Message, error) {
	if c.proto == RawTCP {
		if err := c.fill(4); err != nil {
			return Message{}, err
		}
		n := int(binary.BigEndian.Uint32(c.in[c.r:]))
		c.r += 4
		p, err := c.payload(n)
		return Message{Payload: p}, err
	}
	var m Message
	for frames := 0; ; {
		fin, rsv1, op, length, hlen, ok, err := c.frameHeaderRSV()
		for !ok && err == nil {
			if err = c.fill(hlen); err == nil {
				fin, rsv1, op, length, hlen, ok, err = c.frameHeaderRSV()
			}
		}
		if err != nil {
			return Message{}, err
		}
		c.r += hlen
		if op >= 8 { // control frame, RFC 6455 §5.5
			if !fin || length > 125 || rsv1 {
				return Message{}, errors.New("wsclient: malformed control frame")
			}
			if err := c.fill(int(length)); err != nil {
				return Message{}, err
			}
			body := c.in[c.r : c.r+int(length)]
			c.r += int(length)
			if op == 8 {
				return Message{}, closeError(body)
			}
			continue // ping or pong: the servers here send none unasked
		}
		switch {
		case frames == 0 && (op == 1 || op == 2):
			m.Text, m.Compressed = op == 1, rsv1
		case frames > 0 && op == 0 && !rsv1: // RFC 7692 §6.1: RSV1 on the first frame only
		default:
			return Message{}, fmt.Errorf("wsclient: unexpected frame, opcode %d, RSV1 %v, after %d frames", op, rsv1, frames)
		}
		if length > maxMessage {
			return Message{}, fmt.Errorf("wsclient: message over %d bytes", maxMessage)
		}
		if frames == 0 && fin {
			m.Payload, err = c.payload(int(length))
			return m, err
		}
		if frames == 0 {
			c.msg = c.msg[:0]
		}
		frames++
		if err := c.appendPayload(int(length)); err != nil {
			return Message{}, err
		}
		if fin {
			m.Payload = c.msg
			return m, nil
		}
	}
}

// payload reads the next n bytes and returns them in the read buffer if
// they fit there, and otherwise in c.msg.
func (c *Conn) payload(n int) ([]byte, error) {
	if n > len(c.in) {
		c.msg = c.msg[:0]
		err := c.appendPayload(n)
		return c.msg, err
	}
	if err := c.fill(n); err != nil {
		return nil, err
	}
	c.r += n
	return c.in[c.r-n : c.r], nil
}

// appendPayload appends the next n bytes to c.msg.
func (c *Conn) appendPayload(n int) error {
	if n > maxMessage-len(c.msg) {
		return fmt.Errorf("wsclient: message over %d bytes", maxMessage)
	}
	for n > 0 {
		if c.r == c.w {
			if err := c.fill(1); err != nil {
				return err
			}
		}
		k := min(n, c.w-c.r)
		c.msg = append(c.msg, c.in[c.r:c.r+k]...)
		c.r += k
		n -= k
	}
	return nil
}

func closeError(body []byte) error {
	code := 0
	if len(body) >= 2 {
		code = int(binary.BigEndian.Uint16(body))
	}
	return fmt.Errorf("wsclient: server sent close %d %q", code, body[min(2, len(body)):])
}

// Deflate reports whether the server agreed to permessage-deflate.
func (c *Conn) Deflate() bool { return c.deflate }

// inflater is a flate reader with its input, kept in a pool: a message of
// a server without context takeover needs no state from the one before.
type inflater struct {
	in  []byte
	src bytes.Reader
	fr  io.ReadCloser
}

var inflaters sync.Pool

// deflateTail ends a message's DEFLATE data: the 00 00 ff ff the sender
// removed (RFC 7692 §7.2.2), then an empty final stored block, so that the
// reader ends with io.EOF rather than waiting for more.
var deflateTail = []byte{0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff}

// Inflate appends to dst the message whose compressed payload is p, for a
// server that takes over no context between messages.
func Inflate(dst, p []byte) ([]byte, error) {
	f, _ := inflaters.Get().(*inflater)
	if f == nil {
		f = new(inflater)
		f.fr = flate.NewReader(&f.src)
	}
	defer inflaters.Put(f)
	f.in = append(append(f.in[:0], p...), deflateTail...)
	f.src.Reset(f.in)
	if err := f.fr.(flate.Resetter).Reset(&f.src, nil); err != nil {
		return dst, err
	}
	for {
		if len(dst) == cap(dst) {
			dst = append(dst, 0)[:len(dst)]
		}
		n, err := f.fr.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, fmt.Errorf("wsclient: inflating: %w", err)
		}
		if len(dst) > maxMessage {
			return dst, fmt.Errorf("wsclient: message inflates to over %d bytes", maxMessage)
		}
	}
}
