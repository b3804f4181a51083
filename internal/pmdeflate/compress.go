package pmdeflate

import (
	"errors"
	"io"
	"sync"

	"github.com/klauspost/compress/flate"
)

// defaultLevel is the level Config.Level 0 selects. BestSpeed is several
// times faster than the hash-chain levels on both small and large messages
// (see BenchmarkCompress) and its Reset is cheap, which matters without
// context takeover. With context takeover and a 32 KiB window it is this
// package's encoder (encoder.go).
const defaultLevel = flate.BestSpeed

// idleDictBits bounds the dictionary a Compressor with context takeover
// keeps while idle: 2^idleDictBits bytes, or its window if that is smaller.
// A busy Compressor refers as far back as its window allows; one that
// starts again after an idle spell refers back only this far, and pays for
// priming its encoder with that many bytes. On a stream of JSON chat
// events with an idle spell before every event, a 4 KiB dictionary came
// out 10% larger than a busy Compressor's whole 32 KiB window, 8% if
// priming entered every position of it (see BenchmarkChatRatio and
// primeDense), and priming with it adds about 15% to what a 1 KiB
// message costs to compress (see BenchmarkPrime). Each KiB kept costs 1
// KiB on every idle connection, and about as much again in the garbage
// the collector lets accumulate in proportion to the live heap.
const idleDictBits = 12

// syncMarker ends every flush of a DEFLATE stream: the LEN and NLEN of an
// empty stored block. RFC 7692 §7.2.1 has the sender remove it.
var syncMarker = [4]byte{0x00, 0x00, 0xff, 0xff}

var errNoMarker = errors.New("pmdeflate: flush did not end with 00 00 ff ff")

// deflater is the flate state a Compressor borrows. With context takeover
// at BestSpeed with a 32 KiB window, the default, it is this package's
// encoder, about 200 KiB; otherwise a klauspost flate writer, about
// 0.8 MiB, 1 MiB for a window below 32 KiB, and the writer it emits into,
// which holds back the last four bytes.
type deflater struct {
	enc   *encoder
	fw    *flate.Writer
	tail  tailWriter
	dirty bool // fw has been written to since its last reset
}

// Deflater pools, by kind: a compress/flate level with a 32 KiB window
// (flate.HuffmanOnly to flate.BestCompression), then a window of 2^bits
// bytes for bits minWindowBits..maxWindowBits-1, then this package's
// encoder.
const (
	levelKinds = flate.BestCompression - flate.HuffmanOnly + 1
	encKind    = levelKinds + maxWindowBits - minWindowBits
	kinds      = encKind + 1
)

// deflaterPools holds idle deflaters, fresh from a Reset, by kind.
var deflaterPools [kinds]sync.Pool

func getDeflater(kind int) *deflater {
	if d, ok := deflaterPools[kind].Get().(*deflater); ok {
		return d
	}
	d := new(deflater)
	switch {
	case kind == encKind:
		d.enc = newEncoder()
	case kind < levelKinds:
		d.fw, _ = flate.NewWriter(&d.tail, kind+flate.HuffmanOnly) // a valid level
	default:
		d.fw, _ = flate.NewWriterWindow(&d.tail, 1<<(kind-levelKinds+minWindowBits)) // a valid size
	}
	return d
}

// putDeflater resets d, dropping its window and any dictionary it was
// primed with, and pools it.
func putDeflater(kind int, d *deflater) {
	if d.enc != nil {
		d.enc.dst = nil
	} else {
		d.tail = tailWriter{}
		d.fw.ResetDict(&d.tail, nil)
		d.dirty = false
	}
	deflaterPools[kind].Put(d)
}

// reset starts d afresh with a window of window bytes primed with dict.
// A klauspost writer still fresh from the pool needs it only with a dict.
func (d *deflater) reset(window int, dict []byte) {
	switch {
	case d.enc != nil:
		d.enc.reset(window, dict)
	case d.dirty || len(dict) > 0:
		d.fw.ResetDict(&d.tail, dict)
		d.dirty = false
	}
}

func (d *deflater) begin(dst io.Writer) {
	if d.enc != nil {
		d.enc.dst = dst
	} else {
		d.tail.begin(dst)
		d.dirty = true
	}
}

func (d *deflater) write(p []byte) (int, error) {
	if d.enc != nil {
		return d.enc.write(p)
	}
	return d.fw.Write(p)
}

// finish ends the message with a sync flush whose final 00 00 ff ff it
// leaves out (RFC 7692 §7.2.1).
func (d *deflater) finish() error {
	if d.enc != nil {
		err := d.enc.finish()
		d.enc.dst = nil
		return err
	}
	if err := d.fw.Flush(); err != nil {
		return err
	}
	if !d.tail.endsWithMarker() {
		return errNoMarker
	}
	d.tail.end()
	return nil
}

// Compressor compresses the outgoing messages of one connection
// (RFC 7692 §7.2.1). It borrows its flate state from a shared pool.
//
// Without context takeover each message starts afresh and the flate state
// goes back to the pool after every message, so an idle connection holds
// none.
//
// With context takeover it keeps the last bytes it compressed, up to its
// window or 4 KiB, whichever is smaller, and primes pooled flate state with
// them for the next message: at the default level priming with 4 KiB adds
// about 30% to what a 1 KiB message costs to compress, at other levels and
// smaller windows it about doubles it. So the flate state goes back to the
// pool after a message only if the connection is not busy: if the previous
// message ended a second or more before. A busy connection's Compressor
// keeps its flate state and compresses the next message with its whole
// window, without priming, until it has been idle for a second or two, when
// a sweep takes the state back. Only a few Compressors keep their state at
// once (see maxWarm); those of other busy connections prime for every
// message, except that one whose messages come in a burst keeps its state
// from one to the next while its place lasts (see maxParked). An idle
// connection holds only the kept bytes.
//
// A Compressor is not safe for concurrent use. After an error from Write
// or Finish it must not be used again except for Release.
type Compressor struct {
	level  int  // flate level, normalized; BestSpeed for windows below 32 KiB
	window int  // bytes a back-reference may reach
	kind   int  // which deflaterPools entry
	keep   bool // context takeover with LZ77 state
	hist   history

	mu     sync.Mutex // guards what follows against the sweep (with keep only)
	d      *deflater
	active bool  // between Begin and Finish; the sweep leaves d alone
	last   int64 // clock reading at the end of the previous message, 0 for none
	warm   bool  // d is kept between messages, and counted in warmCount
	parked bool  // d is kept between messages until another takes its place (park)
	listed bool  // on the sweep's list
}

// NewCompressor returns a Compressor at the compress/flate level (0 or an
// invalid level selects the package default, flate.BestSpeed) whose output
// references at most 2^windowBits bytes back, windowBits in 8..15, and that
// keeps its window across messages if contextTakeover is true.
//
// With context takeover at flate.BestSpeed with a 32 KiB window the
// Compressor uses this package's encoder, whose priming with a kept window
// costs a hash per byte; it compresses a message without a window about
// 1.15x (1 KiB of JSON) to 1.45x (64 KiB) slower than klauspost's
// BestSpeed (BenchmarkCompress's messages), so other levels, and BestSpeed
// without takeover, use klauspost/compress's. Those
// all use a 32 KiB window, so for windowBits below 15 the level is ignored
// and the Compressor uses klauspost/compress's windowed encoder
// (NewWriterWindow), a level-5-like encoder that limits its matches to the
// window; on chat events it compressed 11% smaller there than this
// package's greedy one (BenchmarkChatRatio). flate.HuffmanOnly makes no
// back-references, so such a Compressor keeps nothing between messages even
// with context takeover.
func NewCompressor(level, windowBits int, contextTakeover bool) *Compressor {
	if level == 0 || level < flate.HuffmanOnly || level > flate.BestCompression {
		level = defaultLevel
	}
	windowBits = min(max(windowBits, minWindowBits), maxWindowBits)
	c := &Compressor{level: level, window: 1 << windowBits, kind: level - flate.HuffmanOnly}
	if windowBits < maxWindowBits {
		c.level = flate.BestSpeed
		c.kind = levelKinds + windowBits - minWindowBits
	}
	c.keep = contextTakeover && c.level != flate.HuffmanOnly
	if c.keep {
		c.hist = newHistory(min(c.window, 1<<idleDictBits))
		if c.kind == flate.BestSpeed-flate.HuffmanOnly {
			c.kind = encKind
		}
	}
	return c
}

// Begin starts a message whose compressed bytes go to dst. The bytes reach
// dst in pieces, during Write and Finish, and never include the final
// 00 00 ff ff of the message's DEFLATE data.
func (c *Compressor) Begin(dst io.Writer) {
	if !c.keep {
		if c.d == nil {
			c.d = getDeflater(c.kind)
		}
		c.d.reset(c.window, nil) // a no-op but after an abandoned message
		c.d.begin(dst)
		return
	}
	c.mu.Lock()
	if c.active {
		// The previous message was abandoned: its bytes are in the window
		// but the peer never saw them. Start afresh.
		c.dropLocked()
	}
	c.active = true
	c.mu.Unlock()
	// From here to Finish the sweep keeps off d.
	if c.d == nil {
		c.d = getDeflater(c.kind)
		c.d.reset(c.window, c.hist.bytes())
	}
	c.d.begin(dst)
}

// Write compresses p into the current message.
func (c *Compressor) Write(p []byte) (int, error) {
	n, err := c.d.write(p)
	if c.keep {
		c.hist.write(p[:n])
	}
	return n, err
}

// Finish ends the message with a sync flush and passes everything but the
// flush's final 00 00 ff ff to dst (RFC 7692 §7.2.1). An empty message
// becomes the single byte 00 (§7.2.3.6).
func (c *Compressor) Finish() error {
	d := c.d
	if err := d.finish(); err != nil {
		return err
	}
	if !c.keep {
		c.d = nil
		putDeflater(c.kind, d)
		return nil
	}
	now := clock()
	c.mu.Lock()
	warm := c.last != 0 && now-c.last < int64(idleAfter) && c.warmLocked()
	c.parked = !warm && c.last != 0 && now-c.last < int64(parkWithin)
	c.active, c.last = false, now
	parked := c.parked
	switch {
	case !warm && !parked:
		c.coolLocked()
	case !c.listed:
		c.listed = true
		listBusy(c)
	}
	c.mu.Unlock()
	switch {
	case parked:
		park(c)
	case !warm:
		putDeflater(c.kind, d)
	}
	return nil
}

// warmLocked reports whether c may keep its flate state between messages:
// whether it does already, or fewer than maxWarm Compressors do. c.mu is
// held.
func (c *Compressor) warmLocked() bool {
	if c.warm {
		return true
	}
	if warmCount.Add(1) > maxWarm {
		warmCount.Add(-1)
		return false
	}
	c.warm = true
	return true
}

// coolLocked forgets c's flate state, which the caller returns to the
// pool. c.mu is held.
func (c *Compressor) coolLocked() {
	c.d = nil
	c.parked = false
	if c.warm {
		c.warm = false
		warmCount.Add(-1)
	}
}

// Release drops the flate state and the window, returning them to their
// pools, for instance when the connection closes. With context takeover,
// the next message starts with an empty window, which the peer accepts:
// taking over the window is allowed, never required.
func (c *Compressor) Release() {
	if !c.keep {
		if c.d != nil {
			putDeflater(c.kind, c.d)
			c.d = nil
		}
		return
	}
	c.mu.Lock()
	c.dropLocked()
	c.active = false
	c.mu.Unlock()
}

// dropLocked drops the flate state and the window. c.mu is held.
func (c *Compressor) dropLocked() {
	if d := c.d; d != nil {
		c.coolLocked()
		putDeflater(c.kind, d)
	}
	c.hist.release()
	c.last = 0
}

// idleSweep returns c's flate state to the pool if c has not finished a
// message in the idleAfter before now, and reports whether c stays on the
// sweep's list: whether it still holds flate state between messages.
func (c *Compressor) idleSweep(now int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.active:
		// Finish lists it again if it keeps the state.
	case c.d == nil:
	case now-c.last < int64(idleAfter):
		return true
	default:
		d := c.d
		c.coolLocked()
		putDeflater(c.kind, d)
	}
	c.listed = false
	return false
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
	return (c.level-flate.HuffmanOnly)<<4 | bitsOf(c.window), true
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
