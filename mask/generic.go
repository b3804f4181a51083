package mask

import (
	"encoding/binary"
	"math/bits"
)

// keyWord returns key as a little-endian word rotated so that its low
// byte is key[pos&3]. XORing it over any 4-byte-aligned run of b (counted
// from the start of b) applies the key with the right phase.
func keyWord(key [4]byte, pos int) uint32 {
	return bits.RotateLeft32(binary.LittleEndian.Uint32(key[:]), -8*(pos&3))
}

// applyGeneric is the portable implementation of Apply. It is used on
// architectures without assembly, under the purego build tag, and for
// payloads shorter than one vector on amd64.
func applyGeneric(b []byte, key [4]byte, pos int) int {
	xorWords(b, keyWord(key, pos))
	return (pos + len(b)) & 3
}

// xorWords XORs b with the repeating little-endian key word k, eight bytes
// at a time. encoding/binary loads and stores compile to single unaligned
// moves on amd64, arm64, ppc64le and the like, so no alignment prologue is
// needed there; on strict-alignment targets they fall back to byte moves,
// which stay correct.
func xorWords(b []byte, k uint32) {
	k64 := uint64(k)<<32 | uint64(k)
	for len(b) >= 64 {
		// One bounds check for the whole block, then eight word XORs.
		w := b[:64]
		binary.LittleEndian.PutUint64(w[0:], binary.LittleEndian.Uint64(w[0:])^k64)
		binary.LittleEndian.PutUint64(w[8:], binary.LittleEndian.Uint64(w[8:])^k64)
		binary.LittleEndian.PutUint64(w[16:], binary.LittleEndian.Uint64(w[16:])^k64)
		binary.LittleEndian.PutUint64(w[24:], binary.LittleEndian.Uint64(w[24:])^k64)
		binary.LittleEndian.PutUint64(w[32:], binary.LittleEndian.Uint64(w[32:])^k64)
		binary.LittleEndian.PutUint64(w[40:], binary.LittleEndian.Uint64(w[40:])^k64)
		binary.LittleEndian.PutUint64(w[48:], binary.LittleEndian.Uint64(w[48:])^k64)
		binary.LittleEndian.PutUint64(w[56:], binary.LittleEndian.Uint64(w[56:])^k64)
		b = b[64:]
	}
	for len(b) >= 8 {
		binary.LittleEndian.PutUint64(b, binary.LittleEndian.Uint64(b)^k64)
		b = b[8:]
	}
	// Every block consumed so far was a multiple of 4 long, so the key
	// phase still starts at the low byte of k.
	if len(b) >= 4 {
		binary.LittleEndian.PutUint32(b, binary.LittleEndian.Uint32(b)^k)
		b = b[4:]
	}
	for i := range b {
		b[i] ^= byte(k >> (8 * i))
	}
}
