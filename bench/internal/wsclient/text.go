package wsclient

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"

	"github.com/klauspost/compress/flate"
)

// This file is the compressed text mode of a Conn: with a Payload made by
// NewTextPayload, every message is JSON-like text sent compressed
// (permessage-deflate, RFC 7692), and every echo must come back as text,
// compressed or not, equal to it once inflated. The server may take over
// its context: the client then keeps the server's window, as a browser
// does. The client itself compresses each message on its own (always
// allowed, §7.1.1.1), so it keeps no compressor between messages.

// BrowserOffer is the permessage-deflate offer of a browser: context
// takeover both ways allowed, and any client window the server asks for.
const BrowserOffer = "permessage-deflate; client_max_window_bits"

// seqHex is the length of the text sequence number: 16 hexadecimal digits.
const seqHex = 16

// textSeqAt is where the sequence number sits in a text message, inside
// the first JSON string.
const textSeqAt = len(`{"seq":"`)

// NewTextPayload makes a JSON-like text message of size bytes (at least
// 128): a sequence number, then chat events drawn from a seeded generator
// until the size is reached, padded with spaces. Its few distinct words,
// users and rooms make it compress well, as chat traffic does. A connection
// with a text Payload offers BrowserOffer and sends every message
// compressed; if the server declines compression, it sends the same text
// uncompressed, the baseline of the compressed workloads.
func NewTextPayload(size int, seed uint64) (*Payload, error) {
	if size < 128 || size > bigMessage {
		return nil, fmt.Errorf("wsclient: text message size %d out of range [128, %d]", size, bigMessage)
	}
	p, err := NewPayload(size, seed)
	if err != nil {
		return nil, err
	}
	p.text = true
	p.plain = ChatText(size, seed)
	return p, nil
}

// ChatText returns size bytes of JSON: {"seq":"<16 digits>","events":[...]},
// the events being chat messages from a few users in a few rooms.
func ChatText(size int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, seed^0x5bd1e995))
	words := strings.Fields("the a to and of is in it you that for on was with he as I his they be at one have this from " +
		"or had by hot word but what some we can out other were all there when up use your how said an each she " +
		"ok thanks deploy tonight lunch meeting review merge build green red ship it looks good see you soon")
	users := []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"}
	b := []byte(`{"seq":"` + strings.Repeat("0", seqHex) + `","events":[`)
	closing := `]}`
	var ev []byte
	for i := 0; ; i++ {
		ev = ev[:0]
		if i > 0 {
			ev = append(ev, ',')
		}
		ev = append(ev, `{"type":"message","room":"room-`...)
		ev = strconv.AppendInt(ev, int64(rng.IntN(4)), 10)
		ev = append(ev, `","user":"`...)
		ev = append(ev, users[rng.IntN(len(users))]...)
		ev = append(ev, `","ts":`...)
		ev = strconv.AppendInt(ev, 1764590000000+int64(i)*1375+int64(rng.IntN(1000)), 10)
		ev = append(ev, `,"text":"`...)
		for w := range 3 + rng.IntN(12) {
			if w > 0 {
				ev = append(ev, ' ')
			}
			ev = append(ev, words[rng.IntN(len(words))]...)
		}
		ev = append(ev, `"}`...)
		if len(b)+len(ev)+len(closing) > size {
			break
		}
		b = append(b, ev...)
	}
	for len(b)+len(closing) < size {
		b = append(b, ' ')
	}
	return append(b, closing...)
}

// textState is what a Conn in text mode keeps.
type textState struct {
	plain          bool   // the server declined compression: text goes both ways uncompressed
	serverTakeover bool   // the server's messages use its window
	serverWindow   int    // 1 << server_max_window_bits
	clientWindow   int    // 1 << client_max_window_bits: no back-reference may reach further
	win            []byte // the server's window: the end of what it sent, decompressed
	out            []byte // the last echo, decompressed
	msg            []byte // a message being built, plain then compressed
	zbuf           bytes.Buffer
	src            bytes.Reader
}

// parseDeflate reads the server's permessage-deflate answer to
// BrowserOffer (RFC 7692 §7.1).
func parseDeflate(v string) (*textState, error) {
	params := strings.Split(v, ";")
	if strings.TrimSpace(params[0]) != "permessage-deflate" {
		return nil, fmt.Errorf("wsclient: handshake: unrequested extension %q", v)
	}
	z := &textState{serverTakeover: true, serverWindow: 1 << 15, clientWindow: 1 << 15}
	for _, p := range params[1:] {
		name, val, _ := strings.Cut(strings.TrimSpace(p), "=")
		bits := 0
		if val != "" {
			n, err := strconv.Atoi(strings.Trim(strings.TrimSpace(val), `"`))
			if err != nil || n < 8 || n > 15 {
				return nil, fmt.Errorf("wsclient: handshake: bad %s in %q", name, v)
			}
			bits = n
		}
		switch strings.TrimSpace(name) {
		case "server_no_context_takeover":
			z.serverTakeover = false
		case "client_no_context_takeover":
			// The client takes over nothing anyway.
		case "server_max_window_bits":
			if bits == 0 {
				return nil, fmt.Errorf("wsclient: handshake: server_max_window_bits without a value in %q", v)
			}
			z.serverWindow = 1 << bits
		case "client_max_window_bits":
			if bits != 0 {
				z.clientWindow = 1 << bits
			}
		default:
			return nil, fmt.Errorf("wsclient: handshake: unknown permessage-deflate parameter in %q", v)
		}
	}
	return z, nil
}

var (
	compressors   = sync.Pool{New: func() any { w, _ := flate.NewWriter(nil, flate.BestSpeed); return w }}
	decompressors = sync.Pool{New: func() any { return flate.NewReader(nil) }}
)

// syncMarker ends every flushed DEFLATE block run; RFC 7692 §7.2.1 has the
// sender drop it from the end of a message.
var syncMarker = []byte{0x00, 0x00, 0xff, 0xff}

// sendText writes n compressed text messages with the next n sequence
// numbers in a single write.
func (c *Conn) sendText(n int) error {
	z := c.text
	c.out = c.out[:0]
	for range n {
		z.msg = append(z.msg[:0], c.p.plain...)
		putSeq(z.msg, c.sent)
		c.sent++
		if z.plain {
			c.appendFrame(0x81, z.msg) // FIN, text
			continue
		}
		// Compressed in pieces no longer than the client window, each
		// afresh, so that no back-reference reaches past it.
		z.zbuf.Reset()
		w := compressors.Get().(*flate.Writer)
		for rest := z.msg; len(rest) > 0; {
			piece := rest[:min(len(rest), z.clientWindow)]
			rest = rest[len(piece):]
			w.Reset(&z.zbuf)
			w.Write(piece)
			if err := w.Flush(); err != nil {
				compressors.Put(w)
				return err
			}
		}
		compressors.Put(w)
		// FIN, RSV1 (compressed, RFC 7692 §6), text.
		c.appendFrame(0xc1, bytes.TrimSuffix(z.zbuf.Bytes(), syncMarker))
	}
	_, err := c.nc.Write(c.out)
	return err
}

// appendFrame appends to c.out a masked frame whose first byte is b0.
func (c *Conn) appendFrame(b0 byte, body []byte) {
	// RFC 6455 §5.2: the MASK bit and the 7-, 16- or 64-bit length.
	h := []byte{b0, 0x80}
	switch {
	case len(body) <= 125:
		h[1] |= byte(len(body))
	case len(body) <= 0xffff:
		h[1] |= 126
		h = binary.BigEndian.AppendUint16(h, uint16(len(body)))
	default:
		h[1] |= 127
		h = binary.BigEndian.AppendUint64(h, uint64(len(body)))
	}
	c.out = append(append(c.out, h...), c.p.key[:]...)
	start := len(c.out)
	c.out = append(c.out, body...)
	mask(c.out[start:], c.p.key)
}

func mask(b []byte, key [4]byte) {
	k := binary.LittleEndian.Uint32(key[:])
	k8 := uint64(k) | uint64(k)<<32
	for len(b) >= 8 {
		binary.LittleEndian.PutUint64(b, binary.LittleEndian.Uint64(b)^k8)
		b = b[8:]
	}
	for i := range b {
		b[i] ^= key[i&3]
	}
}

// putSeq writes seq as 16 hexadecimal digits where a text message has it.
func putSeq(msg []byte, seq uint64) {
	var s [8]byte
	binary.BigEndian.PutUint64(s[:], seq)
	hex.Encode(msg[textSeqAt:textSeqAt+seqHex], s[:])
}

// recvText reads the next echo, inflates it if it came compressed, and
// checks it against the message with the same sequence number.
func (c *Conn) recvText() error {
	if c.recvd >= c.sent {
		return errors.New("wsclient: Recv with no message in flight")
	}
	z := c.text
	m, err := c.Next()
	if err != nil {
		return err
	}
	if !m.Text {
		return fmt.Errorf("%w: binary echo of a text message", ErrMismatch)
	}
	got := m.Payload
	if m.Compressed {
		if z.out, err = z.inflate(m.Payload); err != nil {
			return err
		}
		got = z.out
	}
	if z.serverTakeover {
		z.remember(got)
	}
	z.msg = append(z.msg[:0], c.p.plain...)
	putSeq(z.msg, c.recvd)
	if !bytes.Equal(got, z.msg) {
		return fmt.Errorf("%w: text echo %d (%d bytes, compressed %v)", ErrMismatch, c.recvd, len(got), m.Compressed)
	}
	c.recvd++
	return nil
}

// inflate decompresses one message with the server's window as its
// dictionary, bounded by the message size the client expects.
func (z *textState) inflate(p []byte) ([]byte, error) {
	z.msg = append(append(z.msg[:0], p...), deflateTail...)
	z.src.Reset(z.msg)
	fr := decompressors.Get().(io.ReadCloser)
	defer decompressors.Put(fr)
	var dict []byte
	if z.serverTakeover {
		dict = z.window()
	}
	if err := fr.(flate.Resetter).Reset(&z.src, dict); err != nil {
		return nil, err
	}
	out := z.out[:0]
	for {
		if len(out) == cap(out) {
			out = append(out, 0)[:len(out)]
		}
		n, err := fr.Read(out[len(out):cap(out)])
		out = out[:len(out)+n]
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("wsclient: inflating: %w", err)
		}
		if len(out) > maxMessage {
			return out, fmt.Errorf("wsclient: message inflates to over %d bytes", maxMessage)
		}
	}
}

// remember appends a message to the server's window. The buffer holds
// twice the window, so that the window moves to its front only once in a
// while.
func (z *textState) remember(m []byte) {
	if len(m) >= z.serverWindow {
		z.win = append(z.win[:0], m[len(m)-z.serverWindow:]...)
		return
	}
	if cap(z.win) < 2*z.serverWindow {
		z.win = append(make([]byte, 0, 2*z.serverWindow), z.win...)
	}
	if len(z.win)+len(m) > cap(z.win) {
		keep := z.serverWindow - len(m)
		z.win = z.win[:copy(z.win, z.win[len(z.win)-keep:])]
	}
	z.win = append(z.win, m...)
}

// window returns the server's window: the last serverWindow bytes it sent.
func (z *textState) window() []byte {
	return z.win[max(0, len(z.win)-z.serverWindow):]
}
