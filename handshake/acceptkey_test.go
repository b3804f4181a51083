package handshake

import (
	"crypto/sha1"
	"math/rand/v2"
	"testing"
)

// TestKeySum compares keySum with crypto/sha1 on the RFC's sample key and
// on random 60-byte messages.
func TestKeySum(t *testing.T) {
	var msg [keyLen + len(keyGUID)]byte
	copy(msg[:], "dGhlIHNhbXBsZSBub25jZQ==")
	copy(msg[keyLen:], keyGUID)
	check := func() {
		t.Helper()
		if got, want := keySum(&msg), sha1.Sum(msg[:]); got != want {
			t.Fatalf("keySum(%q) = %x, want %x", msg, got, want)
		}
	}
	check()
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		for i := range msg {
			msg[i] = byte(rng.Uint32())
		}
		check()
	}
}

// FuzzKeySum compares keySum with crypto/sha1 on any 60 bytes.
func FuzzKeySum(f *testing.F) {
	f.Add([]byte("dGhlIHNhbXBsZSBub25jZQ==" + keyGUID))
	f.Add(make([]byte, keyLen+len(keyGUID)))
	f.Fuzz(func(t *testing.T, b []byte) {
		var msg [keyLen + len(keyGUID)]byte
		copy(msg[:], b)
		if got, want := keySum(&msg), sha1.Sum(msg[:]); got != want {
			t.Fatalf("keySum(%x) = %x, want %x", msg, got, want)
		}
	})
}

func BenchmarkKeySum(b *testing.B) {
	var msg [keyLen + len(keyGUID)]byte
	copy(msg[:], "dGhlIHNhbXBsZSBub25jZQ=="+keyGUID)
	b.ReportAllocs()
	for b.Loop() {
		keySum(&msg)
	}
}

func BenchmarkSHA1Sum(b *testing.B) {
	var msg [keyLen + len(keyGUID)]byte
	copy(msg[:], "dGhlIHNhbXBsZSBub25jZQ=="+keyGUID)
	b.ReportAllocs()
	for b.Loop() {
		sha1.Sum(msg[:])
	}
}
