// Package wsclient is the benchmark's own minimal client: just enough
// WebSocket (RFC 6455) to open a connection, send masked binary frames and
// check the server's unmasked echo byte for byte, or receive whatever the
// server sends (inflating permessage-deflate messages, RFC 7692, for a
// server that compresses without context takeover), plus a length-prefixed
// raw TCP protocol as the physical limit. It deliberately shares no code
// with any library under test, so every server faces the same client.
package wsclient

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"time"
)

// Proto selects the wire protocol of a Conn.
type Proto int

const (
	// WebSocket speaks RFC 6455 after an HTTP/1.1 upgrade at /ws.
	WebSocket Proto = iota
	// RawTCP frames each message as a 4-byte big-endian length and the
	// payload, in both directions.
	RawTCP
)

// seqLen is the length of the sequence number that starts every message,
// so that a reordered, dropped or duplicated echo is caught.
const seqLen = 8

// bigMessage is the size above which a message is written with writev
// straight from the shared template instead of being copied into the
// connection's output buffer.
const bigMessage = 64 << 10

// Payload is the content shared by every connection of a run: a fixed
// random pattern of Size bytes whose first 8 bytes are replaced by the
// message's sequence number. It is read-only once made.
type Payload struct {
	size   int
	plain  []byte  // what the echo must equal, apart from the sequence number
	masked []byte  // plain XOR key, the client frame body
	key    [4]byte // masking key of every client frame (RFC 6455 §5.3)
	wsHdr  []byte  // client frame header, mask key included
	rawHdr []byte  // 4-byte length prefix
	text   bool    // JSON-like text sent compressed (NewTextPayload)
}

// NewPayload makes the pattern for messages of size bytes (at least 8)
// from a seeded generator, so runs are reproducible.
func NewPayload(size int, seed uint64) (*Payload, error) {
	if size < seqLen || size > 1<<30 {
		return nil, fmt.Errorf("wsclient: message size %d out of range [%d, 1 GiB]", size, seqLen)
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	p := &Payload{size: size, plain: make([]byte, size), masked: make([]byte, size)}
	for i := range p.plain {
		p.plain[i] = byte(rng.Uint32())
	}
	for p.key == [4]byte{} { // a zero key would make masking a no-op
		binary.LittleEndian.PutUint32(p.key[:], rng.Uint32())
	}
	for i, b := range p.plain {
		p.masked[i] = b ^ p.key[i&3]
	}
	// RFC 6455 §5.2: FIN + binary opcode, MASK bit + 7/16/64-bit length.
	h := []byte{0x82, 0x80}
	switch {
	case size <= 125:
		h[1] |= byte(size)
	case size <= 0xffff:
		h[1] |= 126
		h = binary.BigEndian.AppendUint16(h, uint16(size))
	default:
		h[1] |= 127
		h = binary.BigEndian.AppendUint64(h, uint64(size))
	}
	p.wsHdr = append(h, p.key[:]...)
	p.rawHdr = binary.BigEndian.AppendUint32(nil, uint32(size))
	return p, nil
}

// Size returns the message size.
func (p *Payload) Size() int { return p.size }

// Conn is one client connection. It is not safe for concurrent use.
type Conn struct {
	nc    net.Conn
	proto Proto
	p     *Payload
	out   []byte      // reused output buffer
	bufs  net.Buffers // reused vector for writev
	in    []byte      // read buffer; unread data is in[r:w]
	r, w  int
	sent  uint64 // sequence number of the next message to send
	recvd uint64 // sequence number of the next echo expected

	deflate bool       // permessage-deflate was agreed
	msg     []byte     // Next's message when it does not fit in one frame in the buffer
	text    *textState // compressed text mode (text.go), with a text Payload
}

// Dialer opens connections.
type Dialer struct {
	// Net dials TCP; the zero value dials from the default source address.
	Net net.Dialer
	// ReadBufferSize is the size of each connection's read buffer;
	// 0 means 16 KiB, and values below 4 KiB are raised to it.
	ReadBufferSize int
	// Deflate offers permessage-deflate (RFC 7692) with
	// server_no_context_takeover, so that every compressed message can be
	// inflated on its own. Whether the server agreed is Conn.Deflate.
	// The client sends nothing compressed.
	Deflate bool
}

// Dial connects to addr and, for WebSocket, performs the opening
// handshake at /ws. Messages sent on the connection are drawn from p.
func (d *Dialer) Dial(ctx context.Context, addr string, proto Proto, p *Payload) (*Conn, error) {
	nc, err := d.Net.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c := &Conn{nc: nc, proto: proto, p: p, in: make([]byte, readBufferSize(d.ReadBufferSize))}
	if proto == WebSocket {
		if err := c.handshake(ctx, addr, d.Deflate || p.text); err != nil {
			c.Abort()
			return nil, err
		}
	}
	return c, nil
}

// readBufferSize applies the defaults of Dialer.ReadBufferSize.
func readBufferSize(n int) int {
	if n == 0 {
		n = 16 << 10
	}
	return max(n, 4<<10)
}

// offer returns the Sec-WebSocket-Extensions offer of a connection with
// payload p ("" for none) and the function that judges the server's
// answer, which records the agreement in c.
func (c *Conn) offer(deflate bool) (string, func(string) error) {
	switch {
	case c.p.text:
		return BrowserOffer, func(v string) (err error) {
			c.text, err = parseDeflate(v)
			return err
		}
	case deflate:
		return deflateOffer, checkDeflateResponse
	}
	return "", nil
}

func (c *Conn) handshake(ctx context.Context, addr string, deflate bool) error {
	if dl, ok := ctx.Deadline(); ok {
		c.nc.SetDeadline(dl)
		defer c.nc.SetDeadline(time.Time{})
	}
	ext, judge := c.offer(deflate)
	var accept [acceptLen]byte
	req := newRequest(addr, ext).next(nil, &accept)
	if _, err := c.nc.Write(req); err != nil {
		return fmt.Errorf("%w: %w", errHandshake, err)
	}
	end := -1
	for end < 0 {
		if c.w == len(c.in) {
			return fmt.Errorf("%w: response too long", errHandshake)
		}
		n, err := c.nc.Read(c.in[c.w:])
		c.w += n
		if end = headEnd(c.in[:c.w]); end < 0 && err != nil {
			return fmt.Errorf("%w: %w", errHandshake, err)
		}
	}
	return c.accepted(end, accept[:], judge)
}

// accepted checks the response head that fills c.in[:end] and, if the
// server accepted, leaves what follows it for the first Recv.
func (c *Conn) accepted(end int, accept []byte, judge func(string) error) error {
	agreed, err := checkHead(c.in[:end-4], accept, judge)
	if err != nil {
		return err
	}
	c.r = end
	c.deflate = agreed
	if c.p.text && c.text == nil {
		c.text = &textState{plain: true}
	}
	return nil
}

// checkDeflateResponse accepts a permessage-deflate response that our
// client can follow: the server must not take over its context, since the
// client inflates each message on its own (RFC 7692 §7.1.1.1). Any window
// size is fine, as the inflater keeps the whole 32 KiB.
func checkDeflateResponse(v string) error {
	params := strings.Split(v, ";")
	if strings.TrimSpace(params[0]) != "permessage-deflate" {
		return fmt.Errorf("wsclient: handshake: unrequested extension %q", v)
	}
	noTakeover := false
	for _, p := range params[1:] {
		name, val, _ := strings.Cut(strings.TrimSpace(p), "=")
		switch strings.TrimSpace(name) {
		case "server_no_context_takeover":
			noTakeover = true
		case "client_no_context_takeover", "client_max_window_bits":
			// We send nothing compressed.
		case "server_max_window_bits":
			if n, err := strconv.Atoi(strings.Trim(strings.TrimSpace(val), `"`)); err != nil || n < 8 || n > 15 {
				return fmt.Errorf("wsclient: handshake: bad server_max_window_bits in %q", v)
			}
		default:
			return fmt.Errorf("wsclient: handshake: unknown permessage-deflate parameter in %q", v)
		}
	}
	if !noTakeover {
		return fmt.Errorf("wsclient: handshake: %q lacks server_no_context_takeover", v)
	}
	return nil
}

// Send writes n messages with the next n sequence numbers in a single
// write (writev for big messages, whose bodies are not copied).
func (c *Conn) Send(n int) error {
	if c.text != nil {
		return c.sendText(n)
	}
	bufs := c.prepare(n)
	_, err := bufs.WriteTo(c.nc)
	return err
}

// SendAsync is like Send but writes in a new goroutine, so that the caller
// can Recv meanwhile: a server that echoes a big message as it streams in
// would otherwise block on a full socket while this side blocks writing.
// The caller must receive from the channel before the next Send or
// SendAsync.
func (c *Conn) SendAsync(n int) <-chan error {
	bufs := c.prepare(n)
	done := make(chan error, 1)
	go func() {
		_, err := bufs.WriteTo(c.nc)
		done <- err
	}()
	return done
}

// prepare numbers the next n messages and returns their bytes. Small
// messages are copied into one buffer; big ones share the template body.
func (c *Conn) prepare(n int) net.Buffers {
	hdr, body := c.p.wsHdr, c.p.masked
	if c.proto == RawTCP {
		hdr, body = c.p.rawHdr, c.p.plain
	}
	big := c.p.size > bigMessage
	c.out = c.out[:0]
	for range n {
		var seq [seqLen]byte
		binary.BigEndian.PutUint64(seq[:], c.sent)
		c.sent++
		if c.proto == WebSocket {
			for i := range seq {
				seq[i] ^= c.p.key[i&3]
			}
		}
		c.out = append(append(c.out, hdr...), seq[:]...)
		if !big {
			c.out = append(c.out, body[seqLen:]...)
		}
	}
	c.bufs = c.bufs[:0]
	if !big {
		return append(c.bufs, c.out)
	}
	hl := len(hdr) + seqLen
	for i := range n {
		c.bufs = append(c.bufs, c.out[i*hl:(i+1)*hl], body[seqLen:])
	}
	return c.bufs
}

// Sent returns the number of messages sent so far.
func (c *Conn) Sent() uint64 { return c.sent }

// Received returns the number of echoes received and checked so far.
func (c *Conn) Received() uint64 { return c.recvd }

// ErrMismatch reports an echo that differs from the message sent.
var ErrMismatch = errors.New("wsclient: echo differs from message sent")

// fill reads until at least need bytes are buffered.
func (c *Conn) fill(need int) error {
	if c.w-c.r >= need {
		return nil
	}
	if c.r > 0 {
		c.w = copy(c.in, c.in[c.r:c.w])
		c.r = 0
	}
	if need > len(c.in) {
		return fmt.Errorf("wsclient: need %d buffered bytes, buffer is %d", need, len(c.in))
	}
	for c.w < need {
		n, err := c.nc.Read(c.in[c.w:])
		c.w += n
		if err != nil && c.w < need {
			return err
		}
	}
	return nil
}

// check compares b, found at offset off of the echo being received, with
// what was sent.
func (c *Conn) check(b []byte, off int) error {
	if off < seqLen {
		var seq [seqLen]byte
		binary.BigEndian.PutUint64(seq[:], c.recvd)
		m := min(seqLen-off, len(b))
		if !bytes.Equal(b[:m], seq[off:off+m]) {
			return fmt.Errorf("%w: sequence number %x at offset %d, want %x", ErrMismatch, b[:m], off, seq[off:off+m])
		}
		b, off = b[m:], off+m
	}
	if !bytes.Equal(b, c.p.plain[off:off+len(b)]) {
		return fmt.Errorf("%w: message %d, %d bytes at offset %d", ErrMismatch, c.recvd, len(b), off)
	}
	return nil
}

// consume checks the next n payload bytes of the echo, starting at offset
// off, streaming them through the read buffer.
func (c *Conn) consume(off, n int) error {
	for n > 0 {
		if c.r == c.w {
			if err := c.fill(1); err != nil {
				return err
			}
		}
		k := min(n, c.w-c.r)
		if err := c.check(c.in[c.r:c.r+k], off); err != nil {
			return err
		}
		c.r += k
		off += k
		n -= k
	}
	return nil
}

// frameHeader parses the frame header at the start of the buffer. It
// returns ok == false if the buffer does not hold the whole header. RSV1
// is allowed, and reported by rsv1, only when permessage-deflate was
// agreed; the caller checks that it marks the first frame of a message.
func (c *Conn) frameHeader() (fin bool, op byte, length int64, hlen int, ok bool, err error) {
	fin, rsv1, op, length, hlen, ok, err := c.frameHeaderRSV()
	if rsv1 {
		return false, 0, 0, 0, false, errors.New("wsclient: compressed echo") // echoes are never compressed
	}
	return fin, op, length, hlen, ok, err
}

func (c *Conn) frameHeaderRSV() (fin, rsv1 bool, op byte, length int64, hlen int, ok bool, err error) {
	b := c.in[c.r:c.w]
	if len(b) < 2 {
		return false, false, 0, 0, 2, false, nil
	}
	fin, rsv1, op = b[0]&0x80 != 0, b[0]&0x40 != 0, b[0]&0x0f
	if b[0]&0x30 != 0 || rsv1 && !c.deflate {
		return false, false, 0, 0, 0, false, fmt.Errorf("wsclient: reserved bits set in frame header %#x", b[0])
	}
	if b[1]&0x80 != 0 {
		return false, false, 0, 0, 0, false, errors.New("wsclient: masked server frame") // RFC 6455 §5.1
	}
	switch l := b[1] & 0x7f; l {
	case 126:
		hlen = 4
		if len(b) >= hlen {
			length = int64(binary.BigEndian.Uint16(b[2:]))
		}
	case 127:
		hlen = 10
		if len(b) >= hlen {
			length = int64(binary.BigEndian.Uint64(b[2:]))
			if length < 0 {
				return false, false, 0, 0, 0, false, errors.New("wsclient: frame length with the top bit set")
			}
		}
	default:
		hlen, length = 2, int64(l)
	}
	return fin, rsv1, op, length, hlen, len(b) >= hlen, nil
}

// Recv reads the next echo, which may arrive in several frames, and checks
// it byte for byte against the message with the same sequence number.
func (c *Conn) Recv() error {
	if c.recvd >= c.sent {
		return errors.New("wsclient: Recv with no message in flight")
	}
	if c.text != nil {
		return c.recvText()
	}
	if c.proto == RawTCP {
		if err := c.fill(4); err != nil {
			return err
		}
		n := binary.BigEndian.Uint32(c.in[c.r:])
		if int64(n) != int64(c.p.size) {
			return fmt.Errorf("%w: length %d, want %d", ErrMismatch, n, c.p.size)
		}
		c.r += 4
		if err := c.consume(0, c.p.size); err != nil {
			return err
		}
		c.recvd++
		return nil
	}
	total, dataFrames := 0, 0
	for {
		fin, op, length, hlen, ok, err := c.frameHeader()
		for !ok && err == nil {
			if err = c.fill(hlen); err == nil {
				fin, op, length, hlen, ok, err = c.frameHeader()
			}
		}
		if err != nil {
			return err
		}
		c.r += hlen
		if op >= 8 { // control frame, RFC 6455 §5.5
			if !fin || length > 125 {
				return errors.New("wsclient: malformed control frame")
			}
			if err := c.fill(int(length)); err != nil {
				return err
			}
			body := c.in[c.r : c.r+int(length)]
			c.r += int(length)
			if op == 8 {
				code := 0
				if len(body) >= 2 {
					code = int(binary.BigEndian.Uint16(body))
				}
				return fmt.Errorf("wsclient: server sent close %d %q", code, body[min(2, len(body)):])
			}
			continue // ping or pong: servers here send none unasked; skip it
		}
		want := byte(2) // binary first, then continuation frames (RFC 6455 §5.4)
		if dataFrames > 0 {
			want = 0
		}
		dataFrames++
		if op != want {
			return fmt.Errorf("%w: opcode %d, want %d", ErrMismatch, op, want)
		}
		if length > int64(c.p.size-total) {
			return fmt.Errorf("%w: echo longer than %d bytes", ErrMismatch, c.p.size)
		}
		if err := c.consume(total, int(length)); err != nil {
			return err
		}
		total += int(length)
		if fin {
			break
		}
	}
	if total != c.p.size {
		return fmt.Errorf("%w: echo of %d bytes, want %d", ErrMismatch, total, c.p.size)
	}
	c.recvd++
	return nil
}

// Buffered reports whether a whole single-frame echo is already in the
// read buffer, so that Recv will not block.
func (c *Conn) Buffered() bool {
	if c.recvd >= c.sent {
		return false
	}
	if c.proto == RawTCP {
		return c.w-c.r >= 4+c.p.size
	}
	fin, op, length, hlen, ok, err := c.frameHeader()
	want := byte(2)
	if c.text != nil {
		want = 1
	}
	return ok && err == nil && fin && op == want && int64(c.w-c.r-hlen) >= length
}

// SetDeadline sets the read and write deadline of the connection.
func (c *Conn) SetDeadline(t time.Time) error { return c.nc.SetDeadline(t) }

// Abort closes the connection with a TCP reset, so that no TIME_WAIT
// state is left to exhaust ephemeral ports across runs.
func (c *Conn) Abort() error {
	if tc, ok := c.nc.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	return c.nc.Close()
}
