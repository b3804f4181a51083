package pmdeflate

import (
	"errors"
	"github.com/klauspost/compress/flate"
	"io"
	"sync"
)

// defaultLevel is the level Config.Level 0 selects. BestSpeed is several
// times faster than the hash-chain levels on both small and large messages
// (see BenchmarkCompress) and its Reset is cheap, which matters without
// context takeover.
const defaultLevel = flate.BestSpeed

// chunkedMinBits is the smallest window for which restarting the LZ77
// encoder every window's worth of input compresses better than
// Huffman-only coding. On JSON-like text 512-byte chunks came out 13% (1
// KiB message) and 14% (64 KiB) smaller than Huffman-only, 256-byte chunks
// 6% and 10% larger: each restart costs a block header and a flush.
const chunkedMinBits = 9

// syncMarker ends every flush of a DEFLATE stream: the LEN and NLEN of an
// empty stored block. RFC 7692 §7.2.1 has the sender remove it.
var syncMarker = [4]byte{0x00, 0x00, 0xff, 0xff}

var errNoMarker = errors.New("pmdeflate: flush did not end with 00 00 ff ff")

// deflater is the flate state a Compressor borrows: the flate writer and
// the writer it emits into, which holds back the last four bytes.
type deflater struct {
	fw   *flate.Writer
	tail tailWriter
}

// deflaterPools holds idle deflaters, fresh from Reset, for each level
// from flate.HuffmanOnly (-2) to flate.BestCompression (9).
var deflaterPools [flate.BestCompression - flate.HuffmanOnly + 1]sync.Pool

func getDeflater(level int) *deflater {
	if d, ok := deflaterPools[level-flate.HuffmanOnly].Get().(*deflater); ok {
		return d
	}
	d := new(deflater)
	d.fw, _ = flate.NewWriter(&d.tail, level) // level was validated
	return d
}

// putDeflater resets d, dropping its window, and pools it.
func putDeflater(level int, d *deflater) {
	d.tail = tailWriter{}
	d.fw.Reset(&d.tail)
	deflaterPools[level-flate.HuffmanOnly].Put(d)
}

// Compressor compresses the outgoing messages of one connection
// (RFC 7692 §7.2.1). With context takeover it keeps its LZ77 window from
// one message to the next; without, each message starts afresh and the
// flate state goes back to a shared pool between messages, so an idle
// connection holds none.
//
// A Compressor is not safe for concurrent use. After an error from Write
// or Finish it must not be used again except for Release.
type Compressor struct {
	level  int
	window int  // bytes a back-reference may reach; 1<<15 means unlimited
	keep   bool // hold d between messages: context takeover with LZ77 state
	d      *deflater
	n      int // input bytes since the encoder last restarted, when window-limited
}

// NewCompressor returns a Compressor at the compress/flate level (0 or an
// invalid level selects the package default, flate.BestSpeed) whose output
// references at most 2^windowBits bytes back, windowBits in 8..15, and that
// keeps its window across messages if contextTakeover is true.
//
// compress/flate cannot shrink its 32 KiB window, so for windowBits 9..14
// the level is replaced by BestSpeed and the encoder restarts every
// 2^windowBits input bytes: a flush, then a reset, after which no match can
// reach back before the restart. BestSpeed is used because its reset is
// cheap; the other levels clear 640 KiB of hash tables. Each restart costs
// a few bytes. For windowBits 8 the level is replaced by flate.HuffmanOnly,
// which uses no back-references; such a Compressor holds no state between
// messages even with context takeover, as it has nothing to take over.
func NewCompressor(level, windowBits int, contextTakeover bool) *Compressor {
	if level == 0 || level < flate.HuffmanOnly || level > flate.BestCompression {
		level = defaultLevel
	}
	windowBits = min(max(windowBits, minWindowBits), maxWindowBits)
	c := &Compressor{level: level, window: 1 << windowBits}
	switch {
	case windowBits < chunkedMinBits:
		c.level = flate.HuffmanOnly
	case windowBits < maxWindowBits:
		c.level = flate.BestSpeed
	}
	c.keep = contextTakeover && c.level != flate.HuffmanOnly
	return c
}

// limited reports whether the encoder must restart every c.window bytes.
func (c *Compressor) limited() bool {
	return c.window < 1<<maxWindowBits && c.level != flate.HuffmanOnly
}

// Begin starts a message whose compressed bytes go to dst. The bytes reach
// dst in pieces, during Write and Finish, and never include the final
// 00 00 ff ff of the message's DEFLATE data.
func (c *Compressor) Begin(dst io.Writer) {
	if c.d == nil {
		c.d = getDeflater(c.level)
	}
	c.d.tail.begin(dst)
}

// Write compresses p into the current message.
func (c *Compressor) Write(p []byte) (int, error) {
	if !c.limited() {
		return c.d.fw.Write(p)
	}
	written := 0
	for len(p) > 0 {
		if c.n == c.window {
			if err := c.restart(); err != nil {
				return written, err
			}
		}
		chunk := p[:min(len(p), c.window-c.n)]
		n, err := c.d.fw.Write(chunk)
		written += n
		c.n += n
		if err != nil {
			return written, err
		}
		p = p[n:]
	}
	return written, nil
}

// restart ends the current run of blocks, byte-aligned by a sync flush, and
// resets the encoder so that later matches cannot reach before this point.
// The flushed 00 00 ff ff is not the message's last, so it is kept.
func (c *Compressor) restart() error {
	if err := c.d.fw.Flush(); err != nil {
		return err
	}
	c.d.fw.Reset(&c.d.tail)
	c.n = 0
	return nil
}

// Finish ends the message with a sync flush and passes everything but the
// flush's final 00 00 ff ff to dst (RFC 7692 §7.2.1). An empty message
// becomes the single byte 00 (§7.2.3.6).
func (c *Compressor) Finish() error {
	d := c.d
	if err := d.fw.Flush(); err != nil {
		return err
	}
	if !d.tail.endsWithMarker() {
		return errNoMarker
	}
	d.tail.end()
	if !c.keep {
		c.Release()
	}
	return nil
}

// Release drops the flate state, returning it to the pool, for instance
// when the connection closes. With context takeover, the next message
// starts with an empty window, which the peer accepts: taking over the
// window is allowed, never required.
func (c *Compressor) Release() {
	if c.d != nil {
		putDeflater(c.level, c.d)
		c.d = nil
		c.n = 0
	}
}

// tailWriter passes bytes on to dst but always holds back the last four
// written, so the sync marker of the final flush can be dropped.
type tailWriter struct {
	dst  io.Writer
	held [4]byte
	n    int // bytes in held
}

func (t *tailWriter) begin(dst io.Writer) {
	t.dst = dst
	t.n = 0
}

// endsWithMarker reports whether the held bytes are the sync marker.
func (t *tailWriter) endsWithMarker() bool {
	return t.n == len(t.held) && t.held == syncMarker
}

// end drops the held bytes and forgets dst.
func (t *tailWriter) end() {
	t.dst = nil
	t.n = 0
}

func (t *tailWriter) Write(p []byte) (int, error) {
	if len(p) >= len(t.held) {
		// Everything held, and all of p but its last four bytes, is
		// certain not to be the tail.
		if t.n > 0 {
			if _, err := t.dst.Write(t.held[:t.n]); err != nil {
				return 0, err
			}
		}
		cut := len(p) - len(t.held)
		if cut > 0 {
			if _, err := t.dst.Write(p[:cut]); err != nil {
				return 0, err
			}
		}
		t.n = copy(t.held[:], p[cut:])
		return len(p), nil
	}
	if over := t.n + len(p) - len(t.held); over > 0 {
		if _, err := t.dst.Write(t.held[:over]); err != nil {
			return 0, err
		}
		t.n = copy(t.held[:], t.held[over:t.n])
	}
	t.n += copy(t.held[t.n:], p)
	return len(p), nil
}

// Shared reports whether c keeps no state from one message to the next,
// so that a message compresses the same for every connection whose
// compressor has the same key, and returns that key for CompressMessage.
// A message can then be compressed once for many connections (RFC 7692
// §7.2.1: without context takeover each message stands alone).
func (c *Compressor) Shared() (key int, ok bool) {
	if c.keep {
		return 0, false
	}
	bits := minWindowBits
	for 1<<bits < c.window {
		bits++
	}
	return (c.level-flate.HuffmanOnly)<<4 | bits, true
}

// CompressMessage appends to dst the compressed payload of the message p,
// as a compressor whose Shared key is key sends it: without the final
// 00 00 ff ff (RFC 7692 §7.2.1).
func CompressMessage(dst, p []byte, key int) ([]byte, error) {
	c := NewCompressor(key>>4+flate.HuffmanOnly, key&0xf, false)
	w := appendWriter{dst}
	c.Begin(&w)
	if _, err := c.Write(p); err != nil {
		c.Release()
		return dst, err
	}
	if err := c.Finish(); err != nil {
		c.Release()
		return dst, err
	}
	return w.b, nil
}

// appendWriter appends what is written to b.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}
