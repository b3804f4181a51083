package rawpeer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"syscall"
	"time"
)

// MaxPayload is the largest frame payload ReadFrame accepts, a bound on
// the memory a garbled length can make it allocate.
const MaxPayload = 1 << 30

// Peer is one end of a WebSocket connection, played by a script. Its
// methods do exactly what they say and nothing more: a Peer never answers
// pings or Close frames by itself.
type Peer struct {
	nc     net.Conn
	client bool
	header http.Header // the other side's handshake headers

	rbuf []byte // read but not yet decoded: rbuf[rpos:]
	rpos int
}

// New makes a Peer of an established connection, without a handshake: for
// tests and benchmarks that connect an endpoint to a peer directly.
func New(nc net.Conn, client bool) *Peer { return newPeer(nc, client, nil, nil) }

func newPeer(nc net.Conn, client bool, header http.Header, buffered []byte) *Peer {
	return &Peer{nc: nc, client: client, header: header, rbuf: append([]byte{}, buffered...)}
}

// IsClient reports whether p is the client of the connection, and so masks
// what it sends.
func (p *Peer) IsClient() bool { return p.client }

// HandshakeHeader returns the headers the other side sent in the opening
// handshake: the server's response headers for a client Peer, the client's
// request headers for a server Peer.
func (p *Peer) HandshakeHeader() http.Header { return p.header }

// NetConn returns the TCP connection.
func (p *Peer) NetConn() net.Conn { return p.nc }

// Encode returns f as p's role sends it: a client masks with a fresh
// random key (RFC 6455 §5.3) and a server does not mask. To send other
// masking, set f.Masked and f.Key and send f.Encode() with SendRaw.
func (p *Peer) Encode(f Frame) []byte {
	f.Masked = p.client
	if p.client {
		binary.LittleEndian.PutUint32(f.Key[:], rand.Uint32())
	} else {
		f.Key = [4]byte{}
	}
	return f.Encode()
}

// SendFrame sends f, masked as p's role requires, in one write.
func (p *Peer) SendFrame(f Frame) error { return p.SendRaw(p.Encode(f)) }

// SendFrames sends frames back to back in a single write, so that they
// arrive together as far as TCP allows.
func (p *Peer) SendFrames(frames ...Frame) error {
	var b []byte
	for _, f := range frames {
		b = append(b, p.Encode(f)...)
	}
	return p.SendRaw(b)
}

// SendRaw writes b as it is.
func (p *Peer) SendRaw(b []byte) error {
	_, err := p.nc.Write(b)
	if err != nil {
		return fmt.Errorf("rawpeer: write: %w", err)
	}
	return nil
}

// SendChopped writes b in pieces of chop bytes (the last may be shorter),
// one write each. TCP_NODELAY is on, so each piece usually travels in a
// segment of its own and the other side sees the frames arrive a little at
// a time.
func (p *Peer) SendChopped(b []byte, chop int) error {
	if chop <= 0 {
		return errors.New("rawpeer: chop size must be positive")
	}
	for len(b) > 0 {
		n := min(chop, len(b))
		if err := p.SendRaw(b[:n]); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// ReadFrame reads the next frame, waiting at most timeout (0 means no
// limit). It returns io.EOF when the connection ended between frames,
// io.ErrUnexpectedEOF when it ended inside one, and an error matching
// os.ErrDeadlineExceeded on timeout; a timeout loses nothing, and the next
// call reads on from where this one stopped. Frames are returned as they
// came, whatever they hold.
func (p *Peer) ReadFrame(timeout time.Duration) (Frame, error) {
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	if err := p.nc.SetReadDeadline(deadline); err != nil {
		return Frame{}, fmt.Errorf("rawpeer: %w", err)
	}
	for {
		b := p.rbuf[p.rpos:]
		f, n, err := Decode(b)
		if err == nil {
			p.rpos += n
			if p.rpos == len(p.rbuf) {
				p.rbuf, p.rpos = p.rbuf[:0], 0
			}
			return f, nil
		}
		need := 14 // the largest header
		if size, length, ok := headerSize(b); ok {
			if length > MaxPayload {
				return Frame{}, fmt.Errorf("rawpeer: frame declares %d bytes of payload, more than %d", length, MaxPayload)
			}
			need = size + int(length)
		}
		p.reserve(need)
		m, err := p.nc.Read(p.rbuf[len(p.rbuf):cap(p.rbuf)])
		p.rbuf = p.rbuf[:len(p.rbuf)+m]
		if m > 0 {
			continue
		}
		switch {
		case err == io.EOF && p.rpos < len(p.rbuf):
			return Frame{}, io.ErrUnexpectedEOF
		case err == io.EOF:
			return Frame{}, io.EOF
		case err != nil:
			return Frame{}, fmt.Errorf("rawpeer: read: %w", err)
		}
	}
}

// reserve makes room for a frame of need bytes, and for some more reading.
func (p *Peer) reserve(need int) {
	if p.rpos > 0 {
		n := copy(p.rbuf, p.rbuf[p.rpos:])
		p.rbuf, p.rpos = p.rbuf[:n], 0
	}
	want := max(need, len(p.rbuf)+4096)
	if cap(p.rbuf) < want {
		nb := make([]byte, len(p.rbuf), max(want, 2*cap(p.rbuf)))
		copy(nb, p.rbuf)
		p.rbuf = nb
	}
}

// Closing is how the other side ended the connection, as ExpectClose saw it.
type Closing struct {
	Frames []Frame // frames read before the Close frame
	Close  *Frame  // the Close frame; nil when the connection ended without one

	// Code and Reason are parsed from Close; Code is 0 when the payload
	// was empty. BadPayload holds why the payload could not be parsed.
	Code       uint16
	Reason     string
	BadPayload error

	// EOF reports that the TCP connection ended (EOF or reset) before a
	// Close frame came.
	EOF bool
}

// ExpectClose reads frames until a Close frame or the end of the
// connection, for at most timeout, and reports what it saw. It does not
// answer the Close frame. It returns an error on timeout, and for a frame
// cut short by the end of the connection.
func (p *Peer) ExpectClose(timeout time.Duration) (Closing, error) {
	var c Closing
	deadline := time.Now().Add(timeout)
	for {
		f, err := p.ReadFrame(max(time.Until(deadline), time.Nanosecond))
		if err != nil {
			if IsConnectionEnd(err) && !errors.Is(err, io.ErrUnexpectedEOF) {
				c.EOF = true
				return c, nil
			}
			return c, err
		}
		if f.Opcode != OpClose {
			c.Frames = append(c.Frames, f)
			continue
		}
		c.Close = &f
		c.Code, c.Reason, c.BadPayload = ParseClose(f.Payload)
		return c, nil
	}
}

// ExpectEOF reads until the other side ends the TCP connection, for at
// most timeout. Bytes arriving first are an error: a WebSocket endpoint
// sends nothing after its Close frame (RFC 6455 §5.5.1).
func (p *Peer) ExpectEOF(timeout time.Duration) error {
	f, err := p.ReadFrame(timeout)
	switch {
	case err == nil:
		return fmt.Errorf("rawpeer: got %v, want the end of the connection", f)
	case IsConnectionEnd(err) && !errors.Is(err, io.ErrUnexpectedEOF):
		return nil
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("rawpeer: got part of a frame, want the end of the connection")
	}
	return err
}

// IsConnectionEnd reports whether err, from a read or write, means that
// the TCP connection is over: the other side closed or reset it, or p was
// closed.
func IsConnectionEnd(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, net.ErrClosed)
}

// IsTimeout reports whether err is a read timeout.
func IsTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }

// CloseWrite shuts down the sending half of the TCP connection: the other
// side reads EOF while p can still read.
func (p *Peer) CloseWrite() error {
	if tc, ok := p.nc.(interface{ CloseWrite() error }); ok {
		return tc.CloseWrite()
	}
	return errors.New("rawpeer: connection cannot half-close")
}

// Close closes the TCP connection at once.
func (p *Peer) Close() error { return p.nc.Close() }
