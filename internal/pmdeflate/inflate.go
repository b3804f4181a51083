package pmdeflate

import (
	"encoding/binary"
	"errors"
	"math/bits"
)

// This file is a DEFLATE decoder (RFC 1951) for a message whose whole
// compressed payload is in memory and whose output fits the caller's
// buffer: the common case of small messages. It inflates straight into
// the caller's buffer, with back-references reaching into the kept window,
// and so skips what klauspost/compress's streaming inflater pays on every
// message: a Reset that copies the window into its own, a bufio layer, and
// the decoding of each symbol from a byte reader. Anything else goes to
// klauspost's (see Decompressor.Read).

// errShortOutput reports a message that inflates to more than the output
// has room for; nothing is lost, as the input is still in memory.
var errShortOutput = errors.New("pmdeflate: output too small")

var (
	errBlockType = errors.New("invalid block type")
	errCodes     = errors.New("invalid Huffman code lengths")
	errSymbol    = errors.New("invalid literal/length or distance symbol")
	errDistance  = errors.New("back-reference before the window")
	errStoredLen = errors.New("stored block length does not match its complement")
	errTruncated = errors.New("data ends inside a block")
)

// Root table sizes, in bits, of the decoders. Longer codes, rare by
// construction, are decoded bit by bit (see huffDecoder.slow).
const (
	litRootBits  = 9
	distRootBits = 7
	clRootBits   = maxCLBits // the code length code is never longer
)

// huffDecoder decodes one canonical Huffman code (RFC 1951 §3.2.2).
type huffDecoder struct {
	// table maps the next rootBits bits of input, least significant
	// first, to the symbol whose code they begin with, as sym<<4 | code
	// length; 0 where they begin a code longer than rootBits bits.
	table    [1 << litRootBits]uint16
	rootBits uint
	count    [maxCodeBits + 1]uint16 // codes of each length
	syms     [288]uint16             // the symbols in code order
}

// build sets the code from the code lengths of the symbols, in order. A
// code must be complete, except that it may be empty or have a single
// code of one bit (RFC 1951 leaves these open; zlib and compress/flate
// accept them, and reject the missing codes when they occur).
func (h *huffDecoder) build(lens []uint8, rootBits uint) error {
	h.rootBits = rootBits
	// Four sets of counts, so that runs of equal lengths do not wait for
	// each other's increments. Lengths are below 16 (see header).
	var c [4][maxCodeBits + 1]uint16
	i := 0
	for ; i+4 <= len(lens); i += 4 {
		c[0][lens[i]&15]++
		c[1][lens[i+1]&15]++
		c[2][lens[i+2]&15]++
		c[3][lens[i+3]&15]++
	}
	for ; i < len(lens); i++ {
		c[0][lens[i]&15]++
	}
	for l := range h.count {
		h.count[l] = c[0][l] + c[1][l] + c[2][l] + c[3][l]
	}
	h.count[0] = 0
	left, total := 1, 0
	for l := 1; l <= maxCodeBits; l++ {
		left = left<<1 - int(h.count[l])
		if left < 0 {
			return errCodes // over-subscribed
		}
		total += int(h.count[l])
	}
	if left > 0 && total > 0 && !(total == 1 && h.count[1] == 1) {
		return errCodes // incomplete
	}
	var offs [maxCodeBits + 2]uint16
	for l := 1; l <= maxCodeBits; l++ {
		offs[l+1] = offs[l] + h.count[l]
	}
	for s, l := range lens {
		if l != 0 {
			h.syms[offs[l]] = uint16(s)
			offs[l]++
		}
	}
	tbl := h.table[:1<<rootBits]
	if left > 0 {
		// Empty, or one code: most entries stay 0, as no code has them.
		clear(tbl)
	}
	// The table is filled a length at a time: the codes of length l,
	// each once, into its first 2^l entries, which are then doubled for
	// length l+1. An entry at i holds for every index whose low l bits
	// are i, so doubling puts it wherever it belongs in the larger table.
	// Entries no code of at most rootBits bits fills begin longer codes;
	// they are cleared at the end.
	code := 0 // the next code of length l, most significant bit first
	i = 0
	for l := uint(1); l <= rootBits; l++ {
		if l > 1 {
			copy(tbl[1<<(l-1):1<<l], tbl[:1<<(l-1)])
		}
		for range h.count[l] {
			tbl[bits.Reverse16(uint16(code))>>(16-l)] = h.syms[i]<<4 | uint16(l)
			code++
			i++
		}
		code <<= 1
	}
	// code is now the first code of length rootBits+1; each pair of
	// codes from there on shares a prefix of rootBits bits.
	for ; code < 1<<(rootBits+1) && left == 0; code += 2 {
		tbl[bits.Reverse16(uint16(code>>1))>>(16-rootBits)] = 0
	}
	return nil
}

// slow decodes a code longer than rootBits from the next n bits of b,
// least significant first, one bit at a time through the canonical
// order. It reports false if no code of at most n bits matches.
func (h *huffDecoder) slow(b uint64, n uint) (sym int, length uint, ok bool) {
	code, first, index := 0, 0, 0
	for l := uint(1); l <= maxCodeBits && l <= n; l++ {
		code |= int(b & 1)
		b >>= 1
		c := int(h.count[l])
		if code-first < c {
			return int(h.syms[index+code-first]), l, true
		}
		index += c
		first = (first + c) << 1
		code <<= 1
	}
	return 0, 0, false
}

// fixedLitDec and fixedDistDec decode the fixed codes (RFC 1951 §3.2.6).
// The distance code has 32 symbols, 30 and 31 invalid, so that it is
// complete.
var fixedLitDec, fixedDistDec huffDecoder

func init() {
	lens := fixedLitLengths()
	if fixedLitDec.build(lens[:], litRootBits) != nil {
		panic("pmdeflate: fixed literal code")
	}
	for i := range 32 {
		lens[i] = 5
	}
	if fixedDistDec.build(lens[:32], distRootBits) != nil {
		panic("pmdeflate: fixed distance code")
	}
}

// bitReader reads bits least significant first (RFC 1951 §3.1.1) from a
// byte slice. Bits above the n held in b are zero.
type bitReader struct {
	in  []byte
	pos int    // next byte of in to load
	b   uint64 // bits loaded, not yet consumed
	n   uint
}

// refill loads whole bytes until at least 56 bits are held or the input
// runs out.
func (r *bitReader) refill() {
	if r.pos+8 <= len(r.in) {
		r.b |= binary.LittleEndian.Uint64(r.in[r.pos:]) << r.n
		r.pos += int(63-r.n) >> 3
		r.n |= 56
		return
	}
	for r.n <= 56 && r.pos < len(r.in) {
		r.b |= uint64(r.in[r.pos]) << r.n
		r.pos++
		r.n += 8
	}
}

func (r *bitReader) consume(k uint) {
	r.b >>= k
	r.n -= k
}

// window2 is a window in two parts, old before new, as a ring holds it.
type window2 struct{ old, new []byte }

// fastInflater is the state of an inflation: the decoders of a dynamic
// block and the code lengths they are built from.
type fastInflater struct {
	lit, dist, cl huffDecoder
	lens          [numLitLen + numDistCodes]uint8
}

// inflate inflates in, which is a message's whole payload followed by
// messageEnd, into out. dict is the window before the message, which
// back-references may reach: dict.old and then dict.new. payload is the payload's length: nothing of
// it may follow a final block. It returns how many bytes it wrote; with
// errShortOutput, the message needs more than len(out).
func (f *fastInflater) inflate(out []byte, dict window2, in []byte, payload int) (int, error) {
	r := bitReader{in: in}
	o := 0
	for {
		r.refill()
		if r.n < 3 {
			return o, errTruncated
		}
		final := r.b&1 != 0
		typ := (r.b >> 1) & 3
		r.consume(3)
		var err error
		switch typ {
		case btypeStored:
			o, err = stored(&r, out, o)
		case btypeFixed:
			o, err = f.codes(&r, &fixedLitDec, &fixedDistDec, out, o, dict)
		case btypeDynamic:
			if err = f.header(&r); err == nil {
				o, err = f.codes(&r, &f.lit, &f.dist, out, o, dict)
			}
		default:
			err = errBlockType
		}
		if err != nil {
			return o, err
		}
		if final {
			// Bytes begun by the blocks: the rest of the last is padding.
			if r.pos-int(r.n>>3) < payload {
				return o, errTrailingData
			}
			return o, nil
		}
	}
}

// stored copies a stored block's bytes (RFC 1951 §3.2.4).
func stored(r *bitReader, out []byte, o int) (int, error) {
	r.consume(r.n & 7)
	// Give back the whole bytes held, and read LEN and NLEN from in.
	r.pos -= int(r.n >> 3)
	r.b, r.n = 0, 0
	if r.pos+4 > len(r.in) {
		return o, errTruncated
	}
	length := int(binary.LittleEndian.Uint16(r.in[r.pos:]))
	if uint16(length) != ^binary.LittleEndian.Uint16(r.in[r.pos+2:]) {
		return o, errStoredLen
	}
	r.pos += 4
	if r.pos+length > len(r.in) {
		return o, errTruncated
	}
	if o+length > len(out) {
		return o, errShortOutput
	}
	copy(out[o:], r.in[r.pos:r.pos+length])
	r.pos += length
	return o + length, nil
}

// header reads the code lengths of a dynamic block (RFC 1951 §3.2.7) and
// builds its decoders.
func (f *fastInflater) header(r *bitReader) error {
	r.refill()
	if r.n < 14 {
		return errTruncated
	}
	nlit := int(r.b&31) + 257
	ndist := int(r.b>>5&31) + 1
	ncl := int(r.b>>10&15) + 4
	r.consume(14)
	if nlit > numLitLen || ndist > numDistCodes {
		return errCodes
	}
	var cl [numCodeLen]uint8
	for _, s := range codeLengthOrder[:ncl] {
		if r.n < 3 {
			r.refill()
			if r.n < 3 {
				return errTruncated
			}
		}
		cl[s] = uint8(r.b & 7)
		r.consume(3)
	}
	if err := f.cl.build(cl[:], clRootBits); err != nil {
		return err
	}
	lens := f.lens[:nlit+ndist]
	for i := 0; i < len(lens); {
		if r.n < maxCLBits+7 {
			r.refill()
		}
		e := f.cl.table[r.b&(1<<clRootBits-1)]
		l := uint(e & 15)
		if e == 0 || l > r.n {
			if e == 0 {
				return errCodes
			}
			return errTruncated
		}
		r.consume(l)
		sym := e >> 4
		if sym < 16 {
			lens[i] = uint8(sym)
			i++
			continue
		}
		var v uint8
		var rep int
		var extra uint
		switch sym {
		case 16:
			if i == 0 {
				return errCodes
			}
			v, rep, extra = lens[i-1], 3, 2
		case 17:
			rep, extra = 3, 3
		default:
			rep, extra = 11, 7
		}
		if extra > r.n {
			return errTruncated
		}
		rep += int(r.b & (1<<extra - 1))
		r.consume(extra)
		if i+rep > len(lens) {
			return errCodes
		}
		for k := range rep {
			lens[i+k] = v
		}
		i += rep
	}
	if lens[endOfBlock] == 0 {
		return errCodes
	}
	if err := f.lit.build(lens[:nlit], litRootBits); err != nil {
		return err
	}
	return f.dist.build(lens[nlit:], distRootBits)
}

// codes inflates the symbols of a Huffman-coded block into out from o,
// up to and including its end of block.
//
// The bit reader's state is kept in locals for the loop, where the
// compiler holds it in registers, and put back into r on the way out: a
// load and a store through r for every symbol cost about a third of the
// loop.
func (f *fastInflater) codes(r *bitReader, lit, dist *huffDecoder, out []byte, o int, dict window2) (int, error) {
	const litMask, distMask = 1<<litRootBits - 1, 1<<distRootBits - 1
	in, pos, b, n := r.in, r.pos, r.b, r.n
	var err error
	for {
		// At most 15+5 bits of length and 15+13 of distance: 48.
		if n < 48 {
			if pos+8 <= len(in) {
				b |= binary.LittleEndian.Uint64(in[pos:]) << n
				pos += int(63-n) >> 3
				n |= 56
			} else {
				for n <= 56 && pos < len(in) {
					b |= uint64(in[pos]) << n
					pos++
					n += 8
				}
			}
		}
		var sym int
		var l uint
		if e := uint(lit.table[b&litMask]); e != 0 {
			sym, l = int(e>>4), e&15
		} else {
			var ok bool
			if sym, l, ok = lit.slow(b, n); !ok {
				err = noCode(n)
				break
			}
		}
		if l > n {
			err = errTruncated
			break
		}
		b >>= l
		n -= l
		if sym < endOfBlock {
			if o == len(out) {
				err = errShortOutput
				break
			}
			out[o] = byte(sym)
			o++
			continue
		}
		if sym == endOfBlock {
			break
		}
		sym -= endOfBlock + 1
		if sym >= len(lengthBase) {
			err = errSymbol
			break
		}
		extra := uint(lengthExtra[sym])
		if extra > n {
			err = errTruncated
			break
		}
		length := int(lengthBase[sym]) + int(b&(1<<extra-1))
		b >>= extra
		n -= extra

		if e := uint(dist.table[b&distMask]); e != 0 {
			sym, l = int(e>>4), e&15
		} else {
			var ok bool
			if sym, l, ok = dist.slow(b, n); !ok {
				err = noCode(n)
				break
			}
		}
		if l > n {
			err = errTruncated
			break
		}
		b >>= l
		n -= l
		if sym >= numDistCodes {
			err = errSymbol
			break
		}
		extra = uint(distExtra[sym])
		if extra > n {
			err = errTruncated
			break
		}
		d := int(distBase[sym]) + int(b&(1<<extra-1))
		b >>= extra
		n -= extra

		if o+length > len(out) {
			err = errShortOutput
			break
		}
		switch {
		case d <= o && d >= 8 && o+length+8 <= len(out):
			// Eight bytes at a time: each load ends at or before the
			// store before it, so overlapping copies repeat correctly.
			// Up to 7 bytes past the match are written, and later
			// overwritten or past the end of the message: out is
			// scratch beyond what is returned.
			for k := o; k < o+length; k += 8 {
				binary.LittleEndian.PutUint64(out[k:], binary.LittleEndian.Uint64(out[k-d:]))
			}
		case d <= o:
			// Short distance, or near the end of out: the copy repeats
			// what it writes.
			dst := out[o : o+length]
			src := out[o-d:]
			src = src[:len(dst)]
			for k := range dst {
				dst[k] = src[k]
			}
		default:
			back := d - o
			if back > len(dict.old)+len(dict.new) {
				err = errDistance
				break
			}
			dst := out[o : o+length]
			k := 0
			if back > len(dict.new) {
				k = copy(dst, dict.old[len(dict.old)-(back-len(dict.new)):])
				back -= k
			}
			if k < length && back <= len(dict.new) {
				k += copy(dst[k:], dict.new[len(dict.new)-back:])
			}
			for ; k < length; k++ {
				out[o+k] = out[o+k-d]
			}
		}
		if err != nil {
			break
		}
		o += length
	}
	r.pos, r.b, r.n = pos, b, n
	return o, err
}

// noCode tells why no code matched the n bits held: the input ran out,
// or the bits are a code that a degenerate Huffman code lacks.
func noCode(n uint) error {
	if n < maxCodeBits {
		return errTruncated
	}
	return errSymbol
}
