package handshake

import (
	"encoding/binary"
	"math/bits"
)

// keySum returns the SHA-1 digest (FIPS 180-4 §6.1) of a 60-byte message:
// a Sec-WebSocket-Key of the usual length followed by keyGUID.
//
// crypto/sha1 computes the same, but through layers whose frames add up to
// some 600 bytes of stack. The server's handshake runs on the goroutine
// that then serves the connection for its whole life, and Go grows that
// goroutine's stack to twice its size the first time any call goes past
// it, and does not shrink it back while the connection waits in a read:
// a deep handshake would double the memory of every idle connection. This
// one works in one frame of about 150 bytes. RFC 6455 uses SHA-1 only to
// show that the server read the key (§1.3), not for security.
func keySum(msg *[keyLen + len(keyGUID)]byte) [20]byte {
	h := [5]uint32{0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0}
	var w [16]uint32
	// The padded message is two 64-byte blocks (§5.1.1): the 60 bytes and
	// a 1 bit; then zeros and the length in bits.
	for i := range 15 {
		w[i] = binary.BigEndian.Uint32(msg[4*i:])
	}
	w[15] = 0x80000000
	keyBlock(&h, &w)
	w = [16]uint32{15: 8 * uint32(len(msg))}
	keyBlock(&h, &w)
	var sum [20]byte
	for i, v := range h {
		binary.BigEndian.PutUint32(sum[4*i:], v)
	}
	return sum
}

// keyBlock applies the SHA-1 compression function (FIPS 180-4 §6.1.2) to
// the block w, using w for the message schedule in place.
func keyBlock(h *[5]uint32, w *[16]uint32) {
	a, b, c, d, e := h[0], h[1], h[2], h[3], h[4]
	// next returns the schedule's word for round i (§6.1.2 step 1).
	next := func(i int) uint32 {
		if i >= 16 {
			x := w[(i-3)&15] ^ w[(i-8)&15] ^ w[(i-14)&15] ^ w[i&15]
			w[i&15] = bits.RotateLeft32(x, 1)
		}
		return w[i&15]
	}
	i := 0
	for ; i < 20; i++ {
		t := bits.RotateLeft32(a, 5) + (b&c | ^b&d) + e + 0x5A827999 + next(i)
		a, b, c, d, e = t, a, bits.RotateLeft32(b, 30), c, d
	}
	for ; i < 40; i++ {
		t := bits.RotateLeft32(a, 5) + (b ^ c ^ d) + e + 0x6ED9EBA1 + next(i)
		a, b, c, d, e = t, a, bits.RotateLeft32(b, 30), c, d
	}
	for ; i < 60; i++ {
		t := bits.RotateLeft32(a, 5) + (b&c | b&d | c&d) + e + 0x8F1BBCDC + next(i)
		a, b, c, d, e = t, a, bits.RotateLeft32(b, 30), c, d
	}
	for ; i < 80; i++ {
		t := bits.RotateLeft32(a, 5) + (b ^ c ^ d) + e + 0xCA62C1D6 + next(i)
		a, b, c, d, e = t, a, bits.RotateLeft32(b, 30), c, d
	}
	h[0] += a
	h[1] += b
	h[2] += c
	h[3] += d
	h[4] += e
}
