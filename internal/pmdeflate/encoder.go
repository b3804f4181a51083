package pmdeflate

import (
	"encoding/binary"
	"io"
	"math"
	"math/bits"
	"slices"
)

// This file is a DEFLATE encoder (RFC 1951) made for WebSocket messages
// of up to a few KiB whose window the caller keeps between messages. It
// differs from klauspost's fast levels in one way that matters here:
// priming it with a dictionary only hashes the dictionary's positions into
// its table, with no output to compute and discard, so starting a message
// from a kept window costs a hash per byte of the window.
//
// It finds matches greedily with a single-probe hash table of 4-byte
// sequences, and emits each block with dynamic Huffman codes, the fixed
// codes or stored, whichever its histograms say is smallest.

const (
	encMaxWindow = 1 << maxWindowBits           // the largest distance DEFLATE allows
	encMaxBlock  = 16 << 10                     // input bytes in one block at most
	encBufSize   = encMaxWindow + 2*encMaxBlock // slides every 16 to 32 KiB
	// encTableBits sizes the hash table: 8 KiB of 16-bit positions in
	// buf. Priming stores into it at random, and in a busy server the
	// table is cold by the next message, so its cache lines, not the
	// hashes, are what priming costs; a 64 KiB table cost eight times the
	// misses for 1.7% better compression of chat events.
	encTableBits  = 12
	encMinMatch   = 4    // bytes a match needs to be found
	encMinDynamic = 64   // tokens a block needs to be tried with dynamic codes
	encGiveUp     = 1024 // bytes without a match after which match may give up
	encMaxMatch   = 258  // RFC 1951 §3.2.5
	hashMul       = 0x9E3779B1

	numLitLen    = 286 // literal/length codes in use, RFC 1951 §3.2.5
	numDistCodes = 30
	numCodeLen   = 19
	endOfBlock   = 256
	maxCodeBits  = 15 // RFC 1951 §3.2.7
	maxCLBits    = 7
)

// encoder is the working state of a message's compression: the window and
// the message's bytes, the hash table, the tokens of a block and the
// Huffman scratch. It is pooled and taken for one message at a time, or
// kept by a busy Compressor between messages; what a connection keeps
// while idle is only its window, in a history.
type encoder struct {
	// buf[:n] is the window followed by the input not yet compressed,
	// buf[pend:n]. The window is what back-references may reach, at most
	// window bytes back.
	buf    []byte
	n      int
	pend   int
	window int

	// table maps the hash of 4 bytes to where they last occurred, as an
	// index into buf. Entries may be stale, left by earlier messages of
	// this or other connections: a candidate counts only if it is before
	// the current position and within the window, and is always compared
	// with the bytes it stands for, which are this connection's.
	table [1 << encTableBits]uint16

	tokens   []token
	litFreq  [numLitLen]uint32
	distFreq [numDistCodes]uint32
	out      bitWriter
	dst      io.Writer
	huff     huffScratch
}

// The table holds positions in buf as 16-bit numbers.
var _ [1<<16 - encBufSize]struct{}

// token is a literal byte (below 256) or a match. A match holds the codes
// and extra bits of its length and distance, which match has at hand, so
// that writeTokens has only to look up their Huffman codes. From the low
// bits up:
//
//	13 bits  the distance's extra bits
//	 5 bits  its code
//	 5 bits  the length's extra bits
//	 3 bits  how many they are
//	 5 bits  the length's symbol less 256
//	 1 bit   matchFlag
type token uint32

const (
	matchFlag    token = 1 << 31
	tokDistCode        = 13
	tokLenExtra        = 18
	tokLenBits         = 23
	tokLenSymbol       = 26
)

func newEncoder() *encoder {
	return &encoder{
		buf:    make([]byte, encBufSize),
		tokens: make([]token, 0, encMaxBlock),
	}
}

// reset starts a message with back-references of at most window bytes,
// primed with dict: the end of what the connection sent before, which the
// peer still holds (nil without context takeover). The table keeps its
// stale entries: clearing it would cost more than checking them.
func (e *encoder) reset(window int, dict []byte) {
	e.window = window
	if len(dict) > window {
		dict = dict[len(dict)-window:]
	}
	e.n = copy(e.buf, dict)
	e.pend = e.n
	e.out.reset()
	dense := max(e.n-primeDense, 0) &^ 7
	e.indexSparse(dense)
	e.index(dense, e.n)
}

// primeDense is how many of a dictionary's last bytes priming enters at
// every position; before them it enters every fourth (see indexSparse).
// With 100 connections taking turns most messages start from a kept
// window, and entering all of its 4 KiB was 12% of an echo server's CPU.
// On chat events with an idle spell before every event (BenchmarkChatRatio
// idle, the worst case), entering every position came out at a ratio of
// 0.275 and 4.6 µs an event, every second one 0.280 and 3.7 µs, every
// fourth 0.291 and 2.8 µs; the last 1 KiB at every position and every
// fourth before it 0.284 and 3.2 µs: the nearest bytes, which repeat
// most, keep all their matches.
const primeDense = 1 << 10

// indexSparse enters into the table every fourth position of buf[:end],
// end a multiple of 8. A match that begins between two entered positions
// is still found if it runs on to the next one: match extends matches
// backwards. So a fourth of the hashes loses only matches shorter than 7
// bytes, and some that a later collision in the table would have lost
// anyway.
func (e *encoder) indexSparse(end int) {
	t := &e.table
	b := e.buf[:end]
	for i := 0; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		p := uint16(i)
		t[uint32(x)*hashMul>>(32-encTableBits)] = p
		t[uint32(x>>32)*hashMul>>(32-encTableBits)] = p + 4
	}
}

// index enters into the table every position of buf[start:end] at which
// 4 bytes begin: a hash per byte, and nothing more.
func (e *encoder) index(start, end int) {
	t := &e.table
	b := e.buf[:end]
	i := start
	// Four positions from each 8 bytes loaded.
	for ; i+8 <= len(b); i += 4 {
		x := binary.LittleEndian.Uint64(b[i:])
		p := uint16(i)
		t[uint32(x)*hashMul>>(32-encTableBits)] = p
		t[uint32(x>>8)*hashMul>>(32-encTableBits)] = p + 1
		t[uint32(x>>16)*hashMul>>(32-encTableBits)] = p + 2
		t[uint32(x>>24)*hashMul>>(32-encTableBits)] = p + 3
	}
	for ; i+encMinMatch <= len(b); i++ {
		t[hash4(b[i:])] = uint16(i)
	}
}

func hash4(b []byte) uint32 {
	return binary.LittleEndian.Uint32(b) * hashMul >> (32 - encTableBits)
}

// write takes p into the current message, compressing a block whenever a
// block's worth of input is pending.
func (e *encoder) write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if e.pend+encMaxBlock > len(e.buf) {
			e.slide()
		}
		k := copy(e.buf[e.n:e.pend+encMaxBlock], p)
		e.n += k
		p = p[k:]
		if e.n-e.pend == encMaxBlock {
			e.block(e.n)
			if err := e.drain(); err != nil {
				return n - len(p), err
			}
		}
	}
	return n, nil
}

// slide drops the bytes the window no longer needs from the front of buf.
func (e *encoder) slide() {
	s := e.pend - encMaxWindow
	copy(e.buf, e.buf[s:e.n])
	e.n -= s
	e.pend -= s
	for k, v := range e.table {
		// Entries before the window point at 0: stale, but harmless.
		e.table[k] = uint16(max(int(v)-s, 0))
	}
}

// finish compresses what is pending and ends the message with a sync flush:
// an empty stored block, whose LEN and NLEN, 00 00 ff ff, it leaves out
// (RFC 7692 §7.2.1). An empty message thus becomes the byte 00
// (§7.2.3.6).
func (e *encoder) finish() error {
	if e.pend < e.n {
		e.block(e.n)
	}
	e.out.writeBits(0, 3) // BFINAL 0, BTYPE 00
	e.out.align()
	return e.drain()
}

// drain hands the whole bytes written so far to dst.
func (e *encoder) drain() error {
	b := e.out.take()
	if len(b) == 0 {
		return nil
	}
	_, err := e.dst.Write(b)
	return err
}

// block compresses buf[pend:end] into one DEFLATE block.
func (e *encoder) block(end int) {
	e.tokens = e.tokens[:0]
	clear(e.litFreq[:])
	clear(e.distFreq[:])
	if e.match(e.pend, end) {
		e.litFreq[endOfBlock]++
		e.emit(e.buf[e.pend:end])
	} else {
		e.store(e.buf[e.pend:end])
	}
	e.pend = end
}

// match turns buf[start:end] into tokens, greedily taking the match the
// hash table offers at each position if it is at least encMinMatch long.
// Where it keeps finding nothing it skips ahead faster, so incompressible
// input costs little.
//
// It gives up, reporting false, when it has gone encGiveUp bytes without
// a match and matches cover less than a sixteenth of what it has seen:
// the block is then taken to be incompressible, and sent stored.
func (e *encoder) match(start, end int) bool {
	buf := e.buf[:end]
	lit := start // the first byte not yet in a token
	i := start
	matched := 0
	for i+encMinMatch <= end {
		if i-lit > encGiveUp && matched*16 < i-start {
			return false
		}
		cur := binary.LittleEndian.Uint32(buf[i:])
		h := cur * hashMul >> (32 - encTableBits)
		cand := int(e.table[h])
		e.table[h] = uint16(i)
		if dist := i - cand; dist > e.window || dist <= 0 ||
			binary.LittleEndian.Uint32(buf[cand:]) != cur {
			i += 1 + (i-lit)>>5
			continue
		}
		length := encMinMatch + matchLen(buf[cand+encMinMatch:], buf[i+encMinMatch:])
		// Extend backwards over literals that match too.
		for i > lit && cand > 0 && buf[i-1] == buf[cand-1] && length < encMaxMatch {
			i--
			cand--
			length++
		}
		length = min(length, encMaxMatch)
		e.literals(buf[lit:i])
		e.addMatch(length, i-cand)
		// Index a few positions inside the match, so that the next
		// repetition of its end can be found.
		next := i + length
		for j := max(i+1, next-3); j < next && j+encMinMatch <= end; j++ {
			e.table[hash4(buf[j:])] = uint16(j)
		}
		matched += length
		i = next
		lit = i
	}
	e.literals(buf[lit:end])
	return true
}

// matchLen returns how many bytes a and b have in common at their start,
// up to the shorter length and no more than encMaxMatch.
func matchLen(a, b []byte) int {
	n := min(len(a), len(b), encMaxMatch-encMinMatch)
	i := 0
	for ; i+8 <= n; i += 8 {
		if x := binary.LittleEndian.Uint64(a[i:]) ^ binary.LittleEndian.Uint64(b[i:]); x != 0 {
			return i + bits.TrailingZeros64(x)>>3
		}
	}
	for ; i < n && a[i] == b[i]; i++ {
	}
	return i
}

func (e *encoder) literals(p []byte) {
	for _, b := range p {
		e.litFreq[b]++
		e.tokens = append(e.tokens, token(b))
	}
}

func (e *encoder) addMatch(length, dist int) {
	lt := lengthToken[length-3]
	d := dist - 1
	dc := distCode(d)
	e.litFreq[256+lt>>tokLenSymbol]++
	e.distFreq[dc]++
	e.tokens = append(e.tokens, matchFlag|lt|token(dc)<<tokDistCode|token(dist-int(distBase[dc])))
}

// Length and distance codes, RFC 1951 §3.2.5.
var (
	lengthBase  [29]uint16
	lengthExtra [29]uint8
	lengthToken [256]token // by length-3, the length's part of a token
	distBase    [numDistCodes]uint16
	distExtra   [numDistCodes]uint8
)

func init() {
	// Lengths: codes 257..264 stand for 3..10; from 265 each group of
	// four codes has one extra bit more than the group before; 285 is
	// 258 alone.
	length := 3
	for c := range 28 {
		extra := 0
		if c >= 8 {
			extra = c/4 - 1
		}
		lengthBase[c], lengthExtra[c] = uint16(length), uint8(extra)
		for range 1 << extra {
			if length-3 < 255 {
				lengthToken[length-3] = token(c+1)<<tokLenSymbol | token(extra)<<tokLenBits |
					token(length-int(lengthBase[c]))<<tokLenExtra
			}
			length++
		}
	}
	lengthBase[28], lengthExtra[28] = 258, 0
	lengthToken[255] = 29 << tokLenSymbol
	// Distances: codes 0..3 stand for 1..4; from 4 each pair of codes
	// has one extra bit more than the pair before.
	dist := 1
	for c := range numDistCodes {
		extra := 0
		if c >= 4 {
			extra = c/2 - 1
		}
		distBase[c], distExtra[c] = uint16(dist), uint8(extra)
		dist += 1 << extra
	}
}

// distCode returns the code of the distance d+1.
func distCode(d int) int {
	if d < 4 {
		return d
	}
	top := bits.Len(uint(d)) - 1
	return 2*top + (d>>(top-1))&1
}

// The fixed Huffman codes, RFC 1951 §3.2.6.
var fixedLit, fixedDist huffCode

// fixedLitLengths returns the code lengths of the fixed literal/length
// code (RFC 1951 §3.2.6), which the encoder and the inflater share.
func fixedLitLengths() [288]uint8 {
	var lens [288]uint8
	for i := range lens {
		switch {
		case i < 144:
			lens[i] = 8
		case i < 256:
			lens[i] = 9
		case i < 280:
			lens[i] = 7
		default:
			lens[i] = 8
		}
	}
	return lens
}

func init() {
	lens := fixedLitLengths()
	fixedLit.setLengths(lens[:])
	var dlens [30]uint8
	for i := range dlens {
		dlens[i] = 5
	}
	fixedDist.setLengths(dlens[:])
}

// Block kinds, the BTYPE of RFC 1951 §3.2.3.
const (
	btypeStored  = 0
	btypeFixed   = 1
	btypeDynamic = 2
)

// emit writes the block of the tokens made from raw, in whichever form
// comes out smallest.
func (e *encoder) emit(raw []byte) {
	extra := 0 // extra bits of lengths and distances, the same in every form
	for c, f := range e.litFreq[257:] {
		extra += int(f) * int(lengthExtra[c])
	}
	for c, f := range e.distFreq {
		extra += int(f) * int(distExtra[c])
	}
	stored := 0
	for rest := len(raw); ; rest -= 0xffff {
		stored += 3 + 7 + 32 + 8*min(rest, 0xffff) // at most 7 bits to align
		if rest <= 0xffff {
			break
		}
	}

	// A dynamic block's header takes some 30 to 80 bytes: a block of few
	// tokens is not worth building its codes for. Nor is one that is
	// nearly all literals whose entropy, which no Huffman code beats,
	// says it would not come out smaller than stored: incompressible
	// data, which would otherwise pay for a code of 256 symbols.
	h := &e.huff
	fixed, dynamic, numLit, numDist, numCL := 0, math.MaxInt, 0, 0, 0
	if len(e.tokens) >= encMinDynamic && !e.incompressible(stored-extra) {
		litCost := h.lit.build(e.litFreq[:], maxCodeBits, &h.sort)
		distCost := h.dist.build(e.distFreq[:], maxCodeBits, &h.sort)
		// Symbols that do not occur cost nothing in the fixed code
		// either: only those with a dynamic code need summing.
		lits, dists := h.lit.used[:h.lit.nused], h.dist.used[:h.dist.nused]
		fixed = 3 + fixedLit.costOf(e.litFreq[:], lits) + fixedDist.costOf(e.distFreq[:], dists) + extra
		numLit = max(257, int(lits[len(lits)-1])+1)
		numDist = int(dists[len(dists)-1]) + 1
		clCost := h.codeLengths(numLit, numDist)
		numCL = numCodeLen
		for numCL > 4 && h.cl.lens[codeLengthOrder[numCL-1]] == 0 {
			numCL--
		}
		dynamic = 3 + 5 + 5 + 4 + 3*numCL + clCost + int(2*h.clFreq[16]+3*h.clFreq[17]+7*h.clFreq[18]) +
			litCost + distCost + extra
	} else {
		fixed = 3 + fixedLit.cost(e.litFreq[:]) + fixedDist.cost(e.distFreq[:]) + extra
	}
	w := &e.out
	switch {
	case stored < fixed && stored < dynamic:
		e.store(raw)
		return
	case fixed <= dynamic:
		w.writeBits(btypeFixed<<1, 3)
		e.writeTokens(&fixedLit, &fixedDist)
	default:
		w.writeBits(btypeDynamic<<1, 3)
		w.writeBits(uint64(numLit-257), 5)
		w.writeBits(uint64(numDist-1), 5)
		w.writeBits(uint64(numCL-4), 4)
		for _, s := range codeLengthOrder[:numCL] {
			w.writeBits(uint64(h.cl.lens[s]), 3)
		}
		h.writeRuns(w)
		e.writeTokens(&h.lit, &h.dist)
	}
}

// incompressible reports whether the block's tokens are nearly all
// literals and a dynamic block of them would take at least limit bits:
// their entropy, which no Huffman code beats, and about 2 bits of header
// for each symbol that occurs.
func (e *encoder) incompressible(limit int) bool {
	matches := 0
	for _, f := range e.litFreq[257:] {
		matches += int(f)
	}
	if matches*8 > len(e.tokens) {
		return false
	}
	bits, used := entropy(e.litFreq[:])
	dbits, dused := entropy(e.distFreq[:])
	return bits+dbits+2*float64(used+dused) >= float64(limit)
}

// entropy returns the bits the symbols counted in freq need at least, the
// sum of f·log2(total/f), and how many symbols occur.
func entropy(freq []uint32) (bits float64, used int) {
	total, sum := 0.0, 0.0
	for _, f := range freq {
		if f > 0 {
			x := float64(f)
			total += x
			sum += x * math.Log2(x)
			used++
		}
	}
	if total == 0 {
		return 0, 0
	}
	return total*math.Log2(total) - sum, used
}

// store writes raw as stored blocks (RFC 1951 §3.2.4).
func (e *encoder) store(raw []byte) {
	w := &e.out
	for {
		k := min(len(raw), 0xffff)
		w.writeBits(btypeStored<<1, 3)
		w.align()
		w.writeBits(uint64(k)|uint64(^uint16(k))<<16, 32)
		w.writeBytes(raw[:k])
		raw = raw[k:]
		if len(raw) == 0 {
			return
		}
	}
}

// writeTokens writes the block's tokens and its end with the given codes.
// The bit writer's state is kept in locals through the loop (a pointer's
// fields would be stored and reloaded for every symbol), and after each
// token its whole bytes go out in one 8-byte store, whose bytes past them
// the next store overwrites: no branch per token on whether a word is
// full. Fewer than 8 bits are left after a store, and a token takes at
// most 48, so the 64 bits never overflow.
func (e *encoder) writeTokens(lit, dist *huffCode) {
	// Tokens go out in chunks, each written into room made beforehand:
	// at most 6 bytes a token, and 8 for the last store's overrun. The
	// room is a power of two so that a store's offset into it, masked,
	// needs no bounds check.
	const chunk = 256
	const room = 2048
	var _ [room - 6*chunk - 8]struct{}
	w := &e.out
	acc, n := w.bits, w.nbits
	b := w.b
	i := len(b)
	// The codes of symbols 256 to 287, which a token's 5 bits index
	// with no bounds check.
	llens, lcodes := (*[32]uint8)(lit.lens[256:]), (*[32]uint16)(lit.codes[256:])
	for tokens := e.tokens; ; {
		b = slices.Grow(b[:i], room+8)
		dst := (*[room + 8]byte)(b[i : i+room+8])
		// Flush first: the writer may hold up to 31 bits.
		binary.LittleEndian.PutUint64(dst[:], acc)
		j := int(n >> 3)
		acc >>= n & 56
		n &= 7
		k := min(len(tokens), chunk)
		for _, t := range tokens[:k] {
			// Shifts are masked to 63, which they never reach, so
			// that the compiler need not make those beyond 63 zero.
			if t&matchFlag == 0 {
				acc |= uint64(lit.codes[uint8(t)]) << (n & 63)
				n += uint(lit.lens[uint8(t)])
			} else {
				ls := t >> tokLenSymbol & 31
				l := uint(llens[ls])
				acc |= (uint64(lcodes[ls]) | uint64(t>>tokLenExtra&31)<<(l&63)) << (n & 63)
				n += l + uint(t>>tokLenBits&7)
				dc := t >> tokDistCode & 31
				l = uint(dist.lens[dc])
				acc |= (uint64(dist.codes[dc]) | uint64(t&(1<<tokDistCode-1))<<(l&63)) << (n & 63)
				n += l + uint(distExtra[dc])
			}
			binary.LittleEndian.PutUint64(dst[j&(room-1):], acc)
			j += int(n >> 3)
			acc >>= n & 56
			n &= 7
		}
		i += j
		b = b[:i]
		tokens = tokens[k:]
		if len(tokens) == 0 {
			break
		}
	}
	acc |= uint64(lit.codes[endOfBlock]) << n
	n += uint(lit.lens[endOfBlock])
	w.bits, w.nbits, w.b = acc, n, b
}

// clExtra is the extra bits of each code length symbol, RFC 1951 §3.2.7,
// in as many entries as its 5 bits in a run can index.
var clExtra = [32]uint8{16: 2, 17: 3, 18: 7}

// writeRuns writes the run-length encoded code lengths in the code length
// code: a symbol and its extra bits at once, the bit writer's state in
// locals, as writeTokens does.
func (h *huffScratch) writeRuns(w *bitWriter) {
	acc, n, b := w.bits, w.nbits, w.b
	for _, r := range h.runs {
		s := r & 0x1f
		l := uint(h.cl.lens[s])
		acc |= (uint64(h.cl.codes[s]) | uint64(r>>5)<<(l&63)) << (n & 63)
		n += l + uint(clExtra[s])
		if n >= 32 {
			b = binary.LittleEndian.AppendUint32(b, uint32(acc))
			acc >>= 32
			n -= 32
		}
	}
	w.bits, w.nbits, w.b = acc, n, b
}

// codeLengthOrder is the order in which a dynamic block's header gives
// the lengths of the code length code, RFC 1951 §3.2.7.
var codeLengthOrder = [numCodeLen]uint8{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}

// huffScratch is the Huffman work of one block.
type huffScratch struct {
	lit, dist, cl huffCode
	// runs is the code lengths of lit and dist run-length encoded
	// (RFC 1951 §3.2.7): each a code length symbol in its low 5 bits
	// and the value of its extra bits above them.
	runs   []uint16
	clFreq [numCodeLen]uint32
	sort   sortScratch
}

// codeLengths run-length encodes the lengths of the first numLit literal
// and numDist distance codes, which build has just made, builds the code
// length code and returns the bits the run-length encoded lengths take in
// it, without their extra bits. It goes through the symbols with a code
// alone, the zeros between them being runs already.
func (h *huffScratch) codeLengths(numLit, numDist int) int {
	h.runs = h.runs[:0]
	clear(h.clFreq[:])
	// A run of run lengths v, not yet encoded, ends at pos in the
	// lengths of lit followed by those of dist.
	v, run, pos := uint8(0), 0, 0
	zerosTo := func(at int) {
		if at > pos {
			if v != 0 {
				h.addRun(v, run)
				v, run = 0, 0
			}
			run += at - pos
			pos = at
		}
	}
	for _, s := range h.lit.used[:h.lit.nused] {
		zerosTo(int(s))
		if l := h.lit.lens[s]; l != v {
			h.addRun(v, run)
			v, run = l, 0
		}
		run++
		pos++
	}
	for _, s := range h.dist.used[:h.dist.nused] {
		zerosTo(numLit + int(s))
		if l := h.dist.lens[s]; l != v {
			h.addRun(v, run)
			v, run = l, 0
		}
		run++
		pos++
	}
	zerosTo(numLit + numDist)
	h.addRun(v, run)
	return h.cl.build(h.clFreq[:], maxCLBits, &h.sort)
}

// addRun encodes run code lengths of v (RFC 1951 §3.2.7).
func (h *huffScratch) addRun(v uint8, run int) {
	add := func(sym, extra int) {
		h.runs = append(h.runs, uint16(sym|extra<<5))
		h.clFreq[sym]++
	}
	if run == 0 {
		return
	}
	if v == 0 {
		for run >= 11 {
			k := min(run, 138)
			add(18, k-11)
			run -= k
		}
		if run >= 3 {
			add(17, run-3)
			run = 0
		}
	} else {
		add(int(v), 0)
		run--
		for run >= 3 {
			k := min(run, 6)
			add(16, k-3)
			run -= k
		}
	}
	for ; run > 0; run-- {
		add(int(v), 0)
	}
}

// huffCode is a canonical Huffman code: each symbol's code length and its
// code, bit-reversed so that it can be written least significant bit
// first (RFC 1951 §3.1.1).
type huffCode struct {
	lens  [288]uint8
	codes [288]uint16
	// used[:nused] are the symbols with a code, in order, as build
	// leaves them (setLengths does not), so that what follows build
	// need not pass over every symbol.
	used  [288]uint16
	nused int
}

// cost returns the bits freq's symbols take in this code.
func (c *huffCode) cost(freq []uint32) int {
	n := 0
	for s, f := range freq {
		n += int(f) * int(c.lens[s])
	}
	return n
}

// costOf returns the bits freq's symbols take in this code, given syms,
// all the symbols of freq that occur.
func (c *huffCode) costOf(freq []uint32, syms []uint16) int {
	n := 0
	for _, s := range syms {
		n += int(freq[s]) * int(c.lens[s])
	}
	return n
}

// setLengths sets the codes from the lengths of the symbols, in order, as
// RFC 1951 §3.2.2 assigns them. Symbols past lens get no code.
func (c *huffCode) setLengths(lens []uint8) {
	if &c.lens[0] != &lens[0] {
		copy(c.lens[:], lens)
	}
	clear(c.lens[len(lens):])
	c.assign(len(lens))
}

// assign sets the codes of the first n symbols from their lengths.
func (c *huffCode) assign(n int) {
	var count [maxCodeBits + 1]uint16
	for _, l := range c.lens[:n] {
		count[l]++
	}
	count[0] = 0
	var next [maxCodeBits + 1]uint16
	code := uint16(0)
	for l := 1; l <= maxCodeBits; l++ {
		code = (code + count[l-1]) << 1
		next[l] = code
	}
	for s, l := range c.lens[:n] {
		if l != 0 {
			c.codes[s] = bits.Reverse16(next[l]) >> (16 - l)
			next[l]++
		}
	}
}

// sortScratch is the room build needs.
type sortScratch struct {
	leaves [288]uint32 // frequency<<16 | symbol, sorted
	tmp    [288]uint32
	freq   [2 * 288]uint32 // the leaves', then the nodes'
	parent [2 * 288]uint16
	depth  [2 * 288]uint8
}

// build makes c a Huffman code for the symbols of freq that occur, with
// no code longer than limit bits, and returns the bits freq's symbols
// take in it. The code is complete, as inflaters require: if fewer than
// two symbols occur, unused ones get codes too. Frequencies must be below
// 1<<16, as a block's are.
//
// Only the symbols that occur are sorted and given codes: a block of a
// small message uses few of the 286 literal/length symbols, and the codes
// of the others, whose lengths are 0, are never written.
func (c *huffCode) build(freq []uint32, limit int, s *sortScratch) (cost int) {
	lens := c.lens[:]
	clear(lens)
	n := 0
	var all uint32
	for sym, f := range freq {
		// Stored whether it occurs or not, and counted only if it
		// does: a branch here would be mispredicted all the time.
		s.leaves[n] = f<<16 | uint32(sym)
		all |= f
		used := 0
		if f != 0 {
			used = 1
		}
		n += used
	}
	// The leaves are in the order of their symbols until sorted.
	for i, l := range s.leaves[:n] {
		c.used[i] = uint16(l)
	}
	if n < 2 {
		// One code of one bit is all an inflater accepts as incomplete;
		// give a second symbol the other.
		other := 0
		if n == 1 && c.used[0] == 0 {
			other = 1
		}
		lens[other] = 1
		if n == 1 {
			lens[c.used[0]] = 1
			cost = int(s.leaves[0] >> 16)
		}
		c.nused = 0
		for sym, l := range lens[:len(freq)] {
			if l != 0 {
				c.used[c.nused] = uint16(sym)
				c.nused++
			}
		}
		c.assign(len(freq))
		return cost
	}
	leaves := sortLeaves(s.leaves[:n], s.tmp[:n], bits.Len32(all))

	// Two queues: the leaves in order of frequency, and the internal
	// nodes, which are made in order of frequency too. Which queue the
	// next least frequent is in is data, a branch on it mispredicted
	// half the time, so it is chosen with conditional moves, reading an
	// empty queue's next as a frequency nothing reaches.
	weight := s.freq[:2*n]
	for i, l := range leaves {
		weight[i] = l >> 16
	}
	const never = math.MaxUint32
	leaf, node := 0, n
	for next := n; next < 2*n-1; next++ {
		var sum uint32
		for range 2 {
			fl, fn := weight[leaf], weight[node]
			if leaf == n {
				fl = never
			}
			if node == next {
				fn = never
			}
			pick, f, dl := node, fn, 0
			if fl <= fn {
				pick, f, dl = leaf, fl, 1
			}
			s.parent[pick] = uint16(next)
			sum += f
			leaf += dl
			node += 1 - dl
		}
		weight[next] = sum
	}
	root := 2*n - 2
	s.depth[root] = 0
	var count [maxCodeBits + 1]uint16
	over := false
	for i := root - 1; i >= 0; i-- {
		d := s.depth[s.parent[i]] + 1
		s.depth[i] = d
		if i < n {
			if int(d) > limit {
				d = uint8(limit)
				over = true
			}
			count[d]++
		}
	}
	if over {
		limitCounts(count[:limit+1], limit)
	}
	// The least frequent leaves, first, get the longest codes.
	i := 0
	for l := limit; l >= 1; l-- {
		for range count[l] {
			x := leaves[i]
			lens[x&0xffff] = uint8(l)
			cost += int(x>>16) * l
			i++
		}
	}
	c.nused = n
	c.assignUsed(c.used[:n], &count)
	return cost
}

// assignUsed sets the codes of syms, the symbols with a code in order,
// from their lengths, of which count[l] are l bits long: the codes of
// RFC 1951 §3.2.2 without a pass over the symbols that have none.
func (c *huffCode) assignUsed(syms []uint16, count *[maxCodeBits + 1]uint16) {
	var next [maxCodeBits + 1]uint16
	code := uint16(0)
	for l := 1; l <= maxCodeBits; l++ {
		next[l] = code
		code = (code + count[l]) << 1
	}
	for _, s := range syms {
		l := c.lens[s]
		c.codes[s] = bits.Reverse16(next[l]) >> (16 - l)
		next[l]++
	}
}

// limitCounts makes the code lengths count[l] of each length l, some of
// which were cut to limit, a complete prefix code again: it lengthens the
// longest codes below limit until the Kraft sum is no more than one, then
// shortens codes of the limit until it is one exactly.
func limitCounts(count []uint16, limit int) {
	full := 1 << limit
	sum := 0
	for l := 1; l <= limit; l++ {
		sum += int(count[l]) << (limit - l)
	}
	for sum > full {
		l := limit - 1
		for count[l] == 0 {
			l--
		}
		count[l]--
		count[l+1]++
		sum -= 1 << (limit - l - 1)
	}
	for sum < full {
		count[limit]--
		count[limit-1]++
		sum++
	}
}

// sortLeaves sorts leaves by frequency, their upper 16 bits, keeping
// symbols of equal frequency in order, and returns them sorted: in a or
// in tmp, which must be as long. No frequency is fbits bits or longer.
//
// They are radix sorted, in as few passes of at most 8 bits as fbits
// allows, unless there are many more digits than leaves: then insertion
// sort is quicker. The frequencies of a small message's block are few
// bits long (those of a 1 KiB JSON message's below 64), so its dozens of
// symbols are sorted in a single pass over a few dozen counts.
func sortLeaves(a, tmp []uint32, fbits int) []uint32 {
	passes := (fbits + 7) / 8
	digit := uint((fbits + passes - 1) / passes)
	if len(a) <= 48 && 1<<digit > 4*len(a) {
		for i := 1; i < len(a); i++ {
			v := a[i]
			j := i
			for j > 0 && a[j-1] > v {
				a[j] = a[j-1]
				j--
			}
			a[j] = v
		}
		return a
	}
	mask := uint32(1)<<digit - 1
	var count [257]uint16
	for shift := uint(16); shift < 16+uint(fbits); shift += digit {
		c := count[:mask+2]
		clear(c)
		for _, v := range a {
			c[(v>>shift)&mask+1]++
		}
		// The sum is kept in a register: summing in place would
		// wait on the store of each count to load it back.
		sum := uint16(0)
		for d, k := range c {
			sum += k
			c[d] = sum
		}
		for _, v := range a {
			d := (v >> shift) & mask
			tmp[c[d]] = v
			c[d]++
		}
		a, tmp = tmp, a
	}
	return a
}

// bitWriter packs bits least significant first (RFC 1951 §3.1.1) into a
// byte slice it keeps.
type bitWriter struct {
	bits  uint64
	nbits uint
	b     []byte
}

func (w *bitWriter) reset() {
	w.bits, w.nbits = 0, 0
	w.b = w.b[:0]
}

// writeBits appends the n low bits of v, n at most 32.
func (w *bitWriter) writeBits(v uint64, n uint) {
	w.bits |= v << w.nbits
	w.nbits += n
	if w.nbits >= 32 {
		w.b = binary.LittleEndian.AppendUint32(w.b, uint32(w.bits))
		w.bits >>= 32
		w.nbits -= 32
	}
}

// align pads with zero bits to a byte boundary and moves every whole byte
// to the slice.
func (w *bitWriter) align() {
	for w.nbits > 0 {
		w.b = append(w.b, byte(w.bits))
		w.bits >>= 8
		w.nbits -= min(w.nbits, 8)
	}
	w.bits = 0
}

// writeBytes appends p; the writer must be aligned.
func (w *bitWriter) writeBytes(p []byte) { w.b = append(w.b, p...) }

// take returns the whole bytes written since the last take, which stay
// valid until the next write.
func (w *bitWriter) take() []byte {
	b := w.b
	w.b = w.b[:0]
	return b
}
