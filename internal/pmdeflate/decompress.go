package pmdeflate

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/flate"
)

// messageEnd is appended to every message's payload before inflating: the
// removed sync marker (RFC 7692 §7.2.2), then an empty final stored block
// so that the inflater reports io.EOF exactly at the message's end.
var messageEnd = [...]byte{0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff}

var (
	errTrailingData = errors.New("data after the final block")
	errAbandoned    = errors.New("pmdeflate: a message was abandoned before its end, so the shared window is lost")
	errReleased     = errors.New("pmdeflate: Decompressor used after Release")
)

// inflater is the flate state a Decompressor borrows for one message.
// The inflater reads through a bufio.Reader because klauspost/compress
// decodes Huffman codes from one with a loop of its own, without an
// interface call per byte: 1 KiB JSON messages took 0.95x the CPU time
// that they took read from source directly (BenchmarkDecompress, 200,000
// messages without takeover, four runs of each).
type inflater struct {
	fr   io.ReadCloser
	br   *bufio.Reader
	src  source
	fast fastInflater
	// started is set once fr has been Reset for the message: at the
	// first Read, unless the message takes the fast path.
	started bool
}

// inflaterReadSize is the size of an inflater's bufio.Reader buffer.
const inflaterReadSize = 4096

// inflaterPool holds idle inflaters. Their windows need not be cleared:
// every message starts with a Reset that installs the right dictionary.
var inflaterPool sync.Pool

func getInflater() *inflater {
	if in, ok := inflaterPool.Get().(*inflater); ok {
		return in
	}
	in := new(inflater)
	in.br = bufio.NewReaderSize(&in.src, inflaterReadSize)
	in.fr = flate.NewReader(in.br)
	return in
}

func putInflater(in *inflater) {
	in.src.reset(nil)
	in.br.Reset(&in.src)
	inflaterPool.Put(in)
}

// Decompressor inflates the incoming messages of one connection
// (RFC 7692 §7.2.2). It borrows flate state from a shared pool for the
// length of each message; with context takeover it keeps only the last
// 2^windowBits bytes of output between messages, which become the
// dictionary of the next.
//
// A message from a [FrameSource] whose payload is in one frame of at most
// 4 KiB and whose inflated bytes fit the first Read's buffer is inflated
// in one go by this package's decoder (inflate.go); any other message by
// klauspost/compress's streaming inflater.
//
// Read returns at most len(p) bytes and buffers no more than the inflater's
// 32 KiB window and a small input buffer, so a caller that limits the
// message size as it reads is safe from decompression bombs.
//
// A Decompressor is not safe for concurrent use.
type Decompressor struct {
	takeover bool
	hist     history // the peer's window, with context takeover
	in       *inflater
	err      error // returned by Read when in is nil; io.EOF after a message
}

// NewDecompressor returns a Decompressor for a peer whose window is
// 2^windowBits bytes, windowBits in 8..15, and that keeps its window across
// messages if contextTakeover is true.
func NewDecompressor(windowBits int, contextTakeover bool) *Decompressor {
	windowBits = min(max(windowBits, minWindowBits), maxWindowBits)
	return &Decompressor{
		takeover: contextTakeover,
		hist:     newHistory(1 << windowBits),
		err:      io.EOF,
	}
}

// Begin starts a message. src yields its compressed payload, unmasked and
// with frames joined, and then io.EOF. The previous message should have
// been read to its end: with context takeover, abandoning one loses the
// window the peer still refers to, and every later Read fails.
func (d *Decompressor) Begin(src io.Reader) {
	if d.in != nil {
		putInflater(d.in)
		d.in = nil
		if d.takeover {
			d.err = errAbandoned
		}
	}
	if d.takeover && d.err != io.EOF {
		return // the window is lost for good
	}
	in := getInflater()
	in.src.reset(src)
	in.started = false
	d.in = in
	d.err = nil
}

// start resets the streaming inflater for the message, whose payload
// source yields from its start.
func (d *Decompressor) start() {
	in := d.in
	in.br.Reset(&in.src)
	var dict []byte
	if d.takeover {
		dict = d.hist.bytes()
	}
	// Reset cannot fail: a bufio.Reader is an io.ByteReader, so no buffer
	// is allocated either.
	_ = in.fr.(flate.Resetter).Reset(in.br, dict)
	in.started = true
}

// FrameSource is a message source that knows when the rest of the
// message's payload is all in the frame it is reading. A Decompressor
// given one reads a small message's payload to its end at the first Read,
// which waits at most for the rest of that frame, and inflates it in one
// go with a decoder of its own.
type FrameSource interface {
	io.Reader
	// Rest returns how many bytes of payload are left if they all belong
	// to the current frame, and -1 if a later frame brings more.
	Rest() int
}

// readWhole is the first Read of a message: if the rest of the message's
// payload is in the source's current frame and fits the input buffer, it
// reads it and inflates it into p at once. It reports false if the
// message must be inflated by the streaming inflater, having left
// whatever it read of the payload for it in the input buffer.
func (d *Decompressor) readWhole(p []byte) (int, bool, error) {
	s := &d.in.src
	fs, ok := s.r.(FrameSource)
	if !ok {
		return 0, false, nil
	}
	left := fs.Rest()
	if left < 0 || left > len(s.buf)-len(messageEnd) {
		return 0, false, nil
	}
	n := 0
	for n < left {
		k, err := s.r.Read(s.buf[n:left])
		n += k
		if err != nil || k == 0 {
			break
		}
	}
	s.pos, s.end = 0, n
	// The source should be at its end now; a last Read learns it without
	// waiting, as the frame was the message's last.
	if n != left {
		return 0, false, nil
	}
	if k, err := s.r.Read(s.buf[n:]); err != io.EOF || k != 0 {
		s.end += k
		return 0, false, nil
	}
	s.r = nil
	var dict window2
	if d.takeover {
		dict.old, dict.new = d.hist.parts()
	}
	in := s.buf[:n+copy(s.buf[n:], messageEnd[:])]
	m, err := d.in.fast.inflate(p, dict, in, n)
	if err == errShortOutput {
		return 0, false, nil // s holds the payload, and then messageEnd
	}
	if err == nil {
		if d.takeover {
			d.hist.write(p[:m])
		}
		err = io.EOF
	} else {
		m, err = 0, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	putInflater(d.in)
	d.in = nil
	d.err = err
	return m, true, err
}

// Read inflates the current message into p. It returns io.EOF at the end
// of the message, an error wrapping [ErrCorrupt] if the payload is not
// valid DEFLATE data, and an error of src unchanged.
func (d *Decompressor) Read(p []byte) (int, error) {
	if d.in == nil {
		return 0, d.err
	}
	if !d.in.started {
		if n, ok, err := d.readWhole(p); ok {
			return n, err
		}
		d.start()
	}
	n, err := d.in.fr.Read(p)
	if d.takeover {
		d.hist.write(p[:n])
	}
	if err == nil {
		return n, nil
	}
	switch {
	case err == io.EOF:
		err = d.in.checkEnd()
		if err == nil {
			err = io.EOF
		}
	case d.in.src.err != nil:
		err = d.in.src.err
	default:
		err = fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	putInflater(d.in)
	d.in = nil
	d.err = err
	return n, err
}

// Release returns the flate state to the pool and drops the window, for
// instance when the connection closes. The Decompressor must not be used
// afterwards.
func (d *Decompressor) Release() {
	if d.in != nil {
		putInflater(d.in)
		d.in = nil
	}
	d.hist.release()
	d.err = errReleased
}

// source feeds the inflater: the message's payload from r, then
// messageEnd, then io.EOF. It implements io.ByteReader so that flate reads
// it without a bufio.Reader of its own.
type source struct {
	r        io.Reader // nil after r's io.EOF
	err      error     // sticky error of r
	buf      [4096]byte
	pos, end int
	ended    bool // messageEnd is in buf or consumed
}

func (s *source) reset(r io.Reader) {
	s.r, s.err = r, nil
	s.pos, s.end = 0, 0
	s.ended = false
}

// fill refills buf, which is empty.
func (s *source) fill() error {
	if s.err != nil {
		return s.err
	}
	for empty := 0; s.r != nil; empty++ {
		n, err := s.r.Read(s.buf[:])
		if err == io.EOF {
			s.r = nil
		} else if err != nil {
			s.err = err
		}
		if n > 0 {
			s.pos, s.end = 0, n
			return nil
		}
		if s.err != nil {
			return s.err
		}
		if empty == 100 {
			s.err = io.ErrNoProgress
			return s.err
		}
	}
	if s.ended {
		return io.EOF
	}
	s.pos, s.end = 0, copy(s.buf[:], messageEnd[:])
	s.ended = true
	return nil
}

func (s *source) ReadByte() (byte, error) {
	if s.pos == s.end {
		if err := s.fill(); err != nil {
			return 0, err
		}
	}
	b := s.buf[s.pos]
	s.pos++
	return b, nil
}

func (s *source) Read(p []byte) (int, error) {
	if s.pos == s.end {
		if err := s.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, s.buf[s.pos:s.end])
	s.pos += n
	return n, nil
}

// checkEnd is called when the inflater has read a final block. The peer may
// end a message with one (RFC 7692 §7.2.3.4), but nothing of its payload
// may follow; what remains of messageEnd is ignored.
//
// The bufio.Reader asks source for more only when it has nothing left, and
// every source read is all payload or all messageEnd, so once source has
// handed out messageEnd whatever the bufio.Reader still holds is of it;
// before that, anything it holds is payload.
func (in *inflater) checkEnd() error {
	s := &in.src
	if s.ended {
		return nil
	}
	if in.br.Buffered() > 0 {
		return fmt.Errorf("%w: %w", ErrCorrupt, errTrailingData)
	}
	if s.pos == s.end {
		if err := s.fill(); err != nil {
			return err
		}
		if s.ended {
			return nil
		}
	}
	return fmt.Errorf("%w: %w", ErrCorrupt, errTrailingData)
}
