package mask

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
)

// impl is one implementation of the Apply contract under test.
type impl struct {
	name string
	fn   func(b []byte, key [4]byte, pos int) int
}

// impls lists Apply and the portable path, so that the latter is checked
// even where Apply uses assembly.
func impls() []impl {
	return []impl{
		{"Apply", Apply},
		{"generic", applyGeneric},
	}
}

// reference is the byte-by-byte transform of RFC 6455 §5.3.
func reference(b []byte, key [4]byte, pos int) int {
	for i := range b {
		b[i] ^= key[(pos+i)&3]
	}
	return (pos + len(b)) & 3
}

// firstDiff returns the first index at which a and b differ, or -1.
func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}

func randomBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// TestRFCExample checks the masked "Hello" frame of RFC 6455 §5.7
// independently of the reference implementation.
func TestRFCExample(t *testing.T) {
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	want := []byte{0x7f, 0x9f, 0x4d, 0x51, 0x58}
	for _, im := range impls() {
		got := []byte("Hello")
		if next := im.fn(got, key, 0); next != 1 {
			t.Errorf("%s: returned %d, want 1", im.name, next)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: masked % x, want % x", im.name, got, want)
		}
	}
}

// TestPattern checks each implementation against a hand-computed pattern:
// masking zeros yields the key itself, repeated from pos.
func TestPattern(t *testing.T) {
	key := [4]byte{0x01, 0x02, 0x04, 0x08}
	for _, im := range impls() {
		for pos := range 4 {
			for _, n := range []int{0, 1, 3, 4, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 1000} {
				b := make([]byte, n)
				im.fn(b, key, pos)
				for i, c := range b {
					if want := key[(pos+i)%4]; c != want {
						t.Fatalf("%s: len %d pos %d: byte %d = %#x, want %#x", im.name, n, pos, i, c, want)
					}
				}
			}
		}
	}
}

// TestEquivalence compares every implementation with reference for every
// length 0..300, key offset 0..3, and start offset 0..31 within a larger
// buffer, and checks that the bytes around the slice are left untouched.
func TestEquivalence(t *testing.T) {
	const maxLen, maxAlign, guard = 300, 32, 16
	r := rand.New(rand.NewPCG(1, 2))
	src := randomBytes(r, maxAlign+maxLen+guard)
	key := [4]byte{0xa5, 0x3c, 0x0f, 0xe1}
	got := make([]byte, len(src))
	want := make([]byte, len(src))
	for _, im := range impls() {
		for n := 0; n <= maxLen; n++ {
			for pos := range 4 {
				for align := range maxAlign {
					copy(got, src)
					copy(want, src)
					next := im.fn(got[align:align+n], key, pos)
					wantNext := reference(want[align:align+n], key, pos)
					if next != wantNext {
						t.Fatalf("%s: len %d pos %d align %d: returned %d, want %d", im.name, n, pos, align, next, wantNext)
					}
					if i := firstDiff(got, want); i >= 0 {
						t.Fatalf("%s: len %d pos %d align %d: buffer byte %d = %#x, want %#x",
							im.name, n, pos, align, i, got[i], want[i])
					}
				}
			}
		}
	}
}

// TestPosHighBits checks that only the low two bits of pos matter.
func TestPosHighBits(t *testing.T) {
	key := [4]byte{1, 2, 3, 4}
	src := []byte("abcdefghijklmnopqrstuvwxyz0123456789")
	for _, im := range impls() {
		for _, pos := range []int{5, 6, 7, 1 << 20, -1} {
			got := bytes.Clone(src)
			want := bytes.Clone(src)
			next := im.fn(got, key, pos)
			wantNext := reference(want, key, pos&3)
			if next != wantNext || !bytes.Equal(got, want) {
				t.Errorf("%s: pos %d: got % x, next %d; want % x, next %d", im.name, pos, got, next, want, wantNext)
			}
		}
	}
}

// TestChunked checks that masking in chunks, threading the returned key
// index through, equals masking the whole payload at once.
func TestChunked(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	key := [4]byte{0xde, 0xad, 0xbe, 0xef}
	tests := []struct {
		name   string
		chunks []int
	}{
		{"empty", nil},
		{"single", []int{1000}},
		{"bytes", []int{1, 1, 1, 1, 1, 1, 1}},
		{"odd", []int{3, 5, 7, 11, 13, 17, 19, 23}},
		{"vector edges", []int{15, 16, 17, 31, 32, 33, 127, 128, 129}},
		{"empty chunks", []int{0, 5, 0, 0, 9, 0}},
		{"large", []int{1, 4095, 2, 65537}},
	}
	for _, tt := range tests {
		total := 0
		for _, n := range tt.chunks {
			total += n
		}
		src := randomBytes(r, total)
		for _, im := range impls() {
			for start := range 4 {
				want := bytes.Clone(src)
				wantNext := reference(want, key, start)

				got := bytes.Clone(src)
				pos, off := start, 0
				for _, n := range tt.chunks {
					pos = im.fn(got[off:off+n], key, pos)
					off += n
				}
				if pos != wantNext {
					t.Errorf("%s/%s start %d: final index %d, want %d", tt.name, im.name, start, pos, wantNext)
				}
				if i := firstDiff(got, want); i >= 0 {
					t.Errorf("%s/%s start %d: byte %d = %#x, want %#x", tt.name, im.name, start, i, got[i], want[i])
				}
			}
		}
	}
}

// TestInvolution checks that applying the mask twice restores the input.
func TestInvolution(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	src := randomBytes(r, 5000)
	key := [4]byte{0x12, 0x34, 0x56, 0x78}
	for _, im := range impls() {
		b := bytes.Clone(src)
		im.fn(b, key, 2)
		if bytes.Equal(b, src) {
			t.Fatalf("%s: masking left the input unchanged", im.name)
		}
		im.fn(b, key, 2)
		if i := firstDiff(b, src); i >= 0 {
			t.Fatalf("%s: byte %d = %#x after masking twice, want %#x", im.name, i, b[i], src[i])
		}
	}
}

func TestAllocs(t *testing.T) {
	b := make([]byte, 4096)
	key := [4]byte{1, 2, 3, 4}
	for _, im := range impls() {
		if n := testing.AllocsPerRun(100, func() { im.fn(b, key, 1) }); n != 0 {
			t.Errorf("%s: %v allocs per run, want 0", im.name, n)
		}
	}
}

func FuzzApply(f *testing.F) {
	f.Add([]byte("Hello"), uint32(0x3d21fa37), uint8(0), uint16(2))
	f.Add([]byte{}, uint32(0), uint8(3), uint16(0))
	f.Add(bytes.Repeat([]byte{0xff}, 200), uint32(0xdeadbeef), uint8(1), uint16(37))
	f.Add(bytes.Repeat([]byte("0123456789abcdef"), 17), uint32(0x01020304), uint8(2), uint16(129))
	f.Fuzz(func(t *testing.T, data []byte, k uint32, pos uint8, split uint16) {
		key := [4]byte{byte(k), byte(k >> 8), byte(k >> 16), byte(k >> 24)}
		p := int(pos & 3)
		cut := 0
		if len(data) > 0 {
			cut = int(split) % (len(data) + 1)
		}
		want := bytes.Clone(data)
		wantNext := reference(want, key, p)
		for _, im := range impls() {
			got := bytes.Clone(data)
			mid := im.fn(got[:cut], key, p)
			next := im.fn(got[cut:], key, mid)
			if next != wantNext {
				t.Errorf("%s: final index %d, want %d", im.name, next, wantNext)
			}
			if i := firstDiff(got, want); i >= 0 {
				t.Errorf("%s: len %d cut %d: byte %d = %#x, want %#x", im.name, len(data), cut, i, got[i], want[i])
			}
		}
	})
}

var benchSizes = []int{16, 125, 1 << 10, 16 << 10, 1 << 20}

func benchmarkSizes(b *testing.B, fn func(dst, src []byte)) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			src := make([]byte, n)
			dst := make([]byte, n)
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				fn(dst, src)
			}
		})
	}
}

func BenchmarkApply(b *testing.B) {
	key := [4]byte{1, 2, 3, 4}
	benchmarkSizes(b, func(dst, _ []byte) { Apply(dst, key, 1) })
}

func BenchmarkGeneric(b *testing.B) {
	key := [4]byte{1, 2, 3, 4}
	benchmarkSizes(b, func(dst, _ []byte) { applyGeneric(dst, key, 1) })
}

// BenchmarkApplyUnaligned masks a buffer that starts one byte past an
// allocation boundary, the worst case for vector loads and stores.
func BenchmarkApplyUnaligned(b *testing.B) {
	key := [4]byte{1, 2, 3, 4}
	benchmarkSizes(b, func(dst, _ []byte) {
		if len(dst) > 1 {
			Apply(dst[1:], key, 1)
		}
	})
}

// BenchmarkCopy is the yardstick: copy reads and writes as many bytes as
// Apply does, at the speed of the runtime's tuned memmove.
func BenchmarkCopy(b *testing.B) {
	benchmarkSizes(b, func(dst, src []byte) { copy(dst, src) })
}
