// Package utf8check validates UTF-8 incrementally, reporting the first byte
// at which a stream can no longer be valid.
//
// A WebSocket endpoint must fail a connection carrying an invalid text
// message (RFC 6455 §8.1), and it may do so before the whole message has
// arrived. A [Validator] is fed the message as it is read, in chunks that may
// split a character anywhere, and reports an invalid byte as soon as that
// byte is seen rather than at the end of the message.
//
// Valid means exactly what [unicode/utf8.Valid] accepts: the well-formed byte
// sequences of RFC 3629 §4 (no overlong forms, no surrogates U+D800..U+DFFF,
// nothing above U+10FFFF).
package utf8check

import (
	"encoding/binary"
	"unicode/utf8"
)

// The validator is a deterministic finite automaton over bytes. Each state is
// stored as a bit offset (a multiple of 6) into a 64-bit row, and each byte
// value has one row holding, for every state, the 6-bit next state. A step
// is therefore a single table load and shift:
//
//	next = rows[b] >> (state & 63)
//
// where only the low 6 bits of the result are meaningful. The load does not
// depend on the current state, so the loop-carried dependency is one shift.
const (
	accept  = 0 * 6 // at a character boundary
	reject  = 1 * 6 // invalid; absorbing
	tail1   = 2 * 6 // one more byte in 80..BF completes the character
	tail2   = 3 * 6 // two more bytes in 80..BF
	tail3   = 4 * 6 // three more bytes in 80..BF
	afterE0 = 5 * 6 // after E0: next byte in A0..BF (excludes overlongs)
	afterED = 6 * 6 // after ED: next byte in 80..9F (excludes surrogates)
	afterF0 = 7 * 6 // after F0: next byte in 90..BF (excludes overlongs)
	afterF4 = 8 * 6 // after F4: next byte in 80..8F (nothing above U+10FFFF)

	stateMask = 63
)

// rows holds the transition row of every byte value. It is built once and
// never modified.
var rows = buildRows()

// buildRows encodes the table of well-formed byte sequences from RFC 3629 §4
// (equivalently, Unicode Table 3-7):
//
//	00..7F
//	C2..DF 80..BF
//	E0     A0..BF 80..BF
//	E1..EC 80..BF 80..BF
//	ED     80..9F 80..BF
//	EE..EF 80..BF 80..BF
//	F0     90..BF 80..BF 80..BF
//	F1..F3 80..BF 80..BF 80..BF
//	F4     80..8F 80..BF 80..BF
//
// Any transition not set below leads to reject.
func buildRows() *[256]uint64 {
	var next [256][9]uint8
	for b := range next {
		for s := range next[b] {
			next[b][s] = reject
		}
	}
	set := func(lo, hi byte, from, to uint8) {
		for b := int(lo); b <= int(hi); b++ {
			next[b][from/6] = to
		}
	}

	// Lead bytes, accepted only at a character boundary.
	set(0x00, 0x7F, accept, accept)
	set(0xC2, 0xDF, accept, tail1)
	set(0xE0, 0xE0, accept, afterE0)
	set(0xE1, 0xEC, accept, tail2)
	set(0xED, 0xED, accept, afterED)
	set(0xEE, 0xEF, accept, tail2)
	set(0xF0, 0xF0, accept, afterF0)
	set(0xF1, 0xF3, accept, tail3)
	set(0xF4, 0xF4, accept, afterF4)

	// Continuation bytes.
	set(0x80, 0xBF, tail1, accept)
	set(0x80, 0xBF, tail2, tail1)
	set(0x80, 0xBF, tail3, tail2)
	set(0xA0, 0xBF, afterE0, tail1)
	set(0x80, 0x9F, afterED, tail1)
	set(0x90, 0xBF, afterF0, tail2)
	set(0x80, 0x8F, afterF4, tail2)

	var r [256]uint64
	for b := range r {
		for s, to := range next[b] {
			r[b] |= uint64(to) << (6 * s)
		}
	}
	return &r
}

// Validator checks a byte stream for UTF-8 validity incrementally. Its zero
// value is ready to use, at the start of a stream.
type Validator struct {
	state uint8
}

// asciiMask has the high bit of each of 8 bytes set.
const asciiMask = 0x8080808080808080

// blockSize is how many bytes the automaton consumes between checks for
// failure and for a return to the ASCII fast path. Because reject is
// absorbing, checking once per block is enough; the exact failing byte is
// located only when a block fails.
const blockSize = 16

// Feed validates p as the continuation of the stream. It returns -1 while
// the stream is still valid (possibly ending inside a multi-byte sequence),
// or the index in p of the first byte at which the stream became invalid.
// After an invalid byte the validator stays failed (further Feed calls
// return 0) until Reset.
func (v *Validator) Feed(p []byte) int {
	s := uint64(v.state)
	if s == reject {
		return 0
	}
	r := rows
	i := 0
	for {
		if s == accept {
			i = skipASCII(p, i)
		}
		start, startState := i, s
		if len(p)-i >= blockSize {
			b := (*[blockSize]byte)(p[i:])
			s = r[b[0]] >> (s & stateMask)
			s = r[b[1]] >> (s & stateMask)
			s = r[b[2]] >> (s & stateMask)
			s = r[b[3]] >> (s & stateMask)
			s = r[b[4]] >> (s & stateMask)
			s = r[b[5]] >> (s & stateMask)
			s = r[b[6]] >> (s & stateMask)
			s = r[b[7]] >> (s & stateMask)
			s = r[b[8]] >> (s & stateMask)
			s = r[b[9]] >> (s & stateMask)
			s = r[b[10]] >> (s & stateMask)
			s = r[b[11]] >> (s & stateMask)
			s = r[b[12]] >> (s & stateMask)
			s = r[b[13]] >> (s & stateMask)
			s = r[b[14]] >> (s & stateMask)
			s = r[b[15]] >> (s & stateMask)
			i += blockSize
		} else {
			for _, c := range p[i:] {
				s = r[c] >> (s & stateMask)
			}
			i = len(p)
		}
		s &= stateMask
		if s == reject {
			v.state = reject
			return start + firstReject(r, p[start:i], startState)
		}
		if i == len(p) {
			break
		}
	}
	v.state = uint8(s)
	return -1
}

// skipASCII returns the end of a run of ASCII bytes starting at p[i]. It
// advances 8 bytes at a time, so it stops at the first 8-byte word holding a
// non-ASCII byte, or with fewer than 8 bytes left; the automaton handles the
// rest. At a character boundary, every ASCII byte is a complete character.
func skipASCII(p []byte, i int) int {
	q := p[i:len(p):len(p)]
	// Comparing with > rather than >= keeps q from being resliced to its
	// very end, which would cost a pointer fixup on every iteration.
	for len(q) > 32 && (le64(q)|le64(q[8:])|le64(q[16:])|le64(q[24:]))&asciiMask == 0 {
		q = q[32:]
	}
	for len(q) > 8 && le64(q)&asciiMask == 0 {
		q = q[8:]
	}
	if len(q) == 8 && le64(q)&asciiMask == 0 {
		q = q[:0]
	}
	return len(p) - len(q)
}

// le64 loads 8 bytes; byte order does not matter to the ASCII test.
func le64(b []byte) uint64 {
	return binary.LittleEndian.Uint64(b)
}

// firstReject returns the index in p of the byte that moves the automaton,
// started in state s, to reject. p must contain such a byte.
func firstReject(r *[256]uint64, p []byte, s uint64) int {
	for i, b := range p {
		s = r[b] >> (s & stateMask) & stateMask
		if s == reject {
			return i
		}
	}
	panic("utf8check: block failed but no rejecting byte found")
}

// Complete reports whether the stream so far is valid and ends on a
// character boundary (call at the end of a message).
func (v *Validator) Complete() bool {
	return v.state == accept
}

// Reset returns v to the start of a stream.
func (v *Validator) Reset() {
	v.state = accept
}

// Valid reports whether p is entirely valid UTF-8.
func Valid(p []byte) bool {
	return utf8.Valid(p)
}
