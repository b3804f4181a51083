package utf8check

import (
	"bytes"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// byteRange is an inclusive range of byte values.
type byteRange struct{ lo, hi byte }

// wellFormed lists the well-formed UTF-8 byte sequences of RFC 3629 §4 as
// ranges per position. It is the test's own statement of the rules,
// independent of the automaton in the package.
var wellFormed = [][]byteRange{
	{{0x00, 0x7F}},
	{{0xC2, 0xDF}, {0x80, 0xBF}},
	{{0xE0, 0xE0}, {0xA0, 0xBF}, {0x80, 0xBF}},
	{{0xE1, 0xEC}, {0x80, 0xBF}, {0x80, 0xBF}},
	{{0xED, 0xED}, {0x80, 0x9F}, {0x80, 0xBF}},
	{{0xEE, 0xEF}, {0x80, 0xBF}, {0x80, 0xBF}},
	{{0xF0, 0xF0}, {0x90, 0xBF}, {0x80, 0xBF}, {0x80, 0xBF}},
	{{0xF1, 0xF3}, {0x80, 0xBF}, {0x80, 0xBF}, {0x80, 0xBF}},
	{{0xF4, 0xF4}, {0x80, 0x8F}, {0x80, 0xBF}, {0x80, 0xBF}},
}

// byLead maps each lead byte to its row of wellFormed, or nil.
var byLead = func() (m [256][]byteRange) {
	for _, seq := range wellFormed {
		for b := int(seq[0].lo); b <= int(seq[0].hi); b++ {
			m[b] = seq
		}
	}
	return m
}()

// refFailIndex is a slow reference decoder: it returns the index of the
// first byte of p that no well-formed sequence allows in its place, or -1 if
// p is valid or a valid prefix cut inside a character.
func refFailIndex(p []byte) int {
	i := 0
	for i < len(p) {
		seq := byLead[p[i]]
		if seq == nil {
			return i
		}
		for k := 1; k < len(seq); k++ {
			if i+k >= len(p) {
				return -1
			}
			if c := p[i+k]; c < seq[k].lo || seq[k].hi < c {
				return i + k
			}
		}
		i += len(seq)
	}
	return -1
}

// completionBytes holds one byte from each class of continuation bytes
// that the rules tell apart (80..8F, 90..9F, A0..BF); every rule accepts
// either all of a class or none of it.
var completionBytes = []byte{0x8F, 0x90, 0xBF}

// extendable reports whether some valid UTF-8 string has q as a prefix,
// asking only utf8.Valid: a character cut short needs at most 3 more
// continuation bytes.
func extendable(q []byte) bool {
	if utf8.Valid(q) {
		return true
	}
	buf := append(q[:len(q):len(q)], 0, 0, 0)
	n := len(q)
	for _, a := range completionBytes {
		buf[n] = a
		if utf8.Valid(buf[:n+1]) {
			return true
		}
		for _, b := range completionBytes {
			buf[n+1] = b
			if utf8.Valid(buf[:n+2]) {
				return true
			}
			for _, c := range completionBytes {
				buf[n+2] = c
				if utf8.Valid(buf[:n+3]) {
					return true
				}
			}
		}
	}
	return false
}

// oracleFailIndex returns the smallest i such that no valid UTF-8 string has
// p[:i+1] as a prefix, or -1. Extendable prefixes are closed under taking
// prefixes, so a binary search finds the boundary.
func oracleFailIndex(p []byte) int {
	if extendable(p) {
		return -1
	}
	lo, hi := 0, len(p) // p[:lo] extendable, p[:hi] not
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if extendable(p[:mid]) {
			lo = mid
		} else {
			hi = mid
		}
	}
	return hi - 1
}

// feedChunks feeds p to a fresh Validator split at the given increasing
// points. It returns the absolute index of the first invalid byte (or -1)
// and Complete's answer, and checks that feeds after a failure return 0.
func feedChunks(t *testing.T, p []byte, splits ...int) (fail int, complete bool) {
	t.Helper()
	var v Validator
	fail = -1
	prev := 0
	for _, s := range append(splits, len(p)) {
		got := v.Feed(p[prev:s])
		switch {
		case fail >= 0 && got != 0:
			t.Errorf("Feed(% x) after failure at %d in % x = %d, want 0", p[prev:s], fail, p, got)
		case fail < 0 && got >= 0:
			if got >= s-prev {
				t.Fatalf("Feed(% x) = %d, out of range", p[prev:s], got)
			}
			fail = prev + got
		}
		prev = s
	}
	return fail, v.Complete()
}

// kosme is the Greek word κόσμε as the Autobahn test suite spells it, with
// U+1F79 (3 bytes) for the accented omicron: 11 bytes in all.
const kosme = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"

func TestFeed(t *testing.T) {
	type result struct {
		Feeds    []int
		Complete bool
	}
	tests := []struct {
		name   string
		chunks []string
		want   result
	}{
		{"empty stream", nil, result{nil, true}},
		{"empty feed", []string{""}, result{[]int{-1}, true}},
		{"ascii", []string{"Hello, world"}, result{[]int{-1}, true}},
		{"long ascii", []string{"0123456789abcdefghijklmnopqrstuvwxyz"}, result{[]int{-1}, true}},
		{"kosme", []string{kosme}, result{[]int{-1}, true}},
		{"kosme per byte", []string{"\xce", "\xba", "\xe1", "\xbd", "\xb9"}, result{[]int{-1, -1, -1, -1, -1}, true}},
		{"cut in 2-byte", []string{"a\xc3"}, result{[]int{-1}, false}},
		{"cut 2-byte completed", []string{"a\xc3", "\xa9b"}, result{[]int{-1, -1}, true}},
		{"cut in 4-byte", []string{"\xf0\x9f", "\x98"}, result{[]int{-1, -1}, false}},
		{"4-byte across 4 feeds", []string{"\xf0", "\x9f", "\x98", "\x80"}, result{[]int{-1, -1, -1, -1}, true}},
		{"max code point", []string{"\xf4\x8f\xbf\xbf"}, result{[]int{-1}, true}},
		{"above max fails at second byte", []string{"\xf4\x90\x80\x80"}, result{[]int{1}, false}},
		{"above max split", []string{"\xf4", "\x90\x80\x80"}, result{[]int{-1, 0}, false}},
		{"surrogate fails at second byte", []string{"ab\xed\xa0\x80"}, result{[]int{3}, false}},
		{"last before surrogates", []string{"\xed\x9f\xbf"}, result{[]int{-1}, true}},
		{"first after surrogates", []string{"\xee\x80\x80"}, result{[]int{-1}, true}},
		{"overlong 3-byte", []string{"\xe0\x80\x80"}, result{[]int{1}, false}},
		{"overlong 4-byte", []string{"\xf0\x8f\xbf\xbf"}, result{[]int{1}, false}},
		{"C0 immediately", []string{"\xc0"}, result{[]int{0}, false}},
		{"C1 immediately", []string{"x\xc1"}, result{[]int{1}, false}},
		{"F5 immediately", []string{"\xf5"}, result{[]int{0}, false}},
		{"FF immediately", []string{"abc", "\xff"}, result{[]int{-1, 0}, false}},
		{"lone continuation", []string{"\x80"}, result{[]int{0}, false}},
		{"continuation after complete", []string{"\xc3\xa9\xa9"}, result{[]int{2}, false}},
		{"ascii inside sequence", []string{"\xe2\x82A"}, result{[]int{2}, false}},
		{"5-byte form", []string{"\xf8\x88\x80\x80\x80"}, result{[]int{0}, false}},
		{"stays failed", []string{"\xff", "abc", ""}, result{[]int{0, 0, 0}, false}},
		{"fail after fast path", []string{"0123456789abcdefghijklmnopqrstu\x80"}, result{[]int{31}, false}},
		{"fail late in block", []string{"\xc3\xa9" + "0123456789abcd\xc0"}, result{[]int{16}, false}},
		{"autobahn 6.4.1", []string{kosme + "\xf4\x90\x80\x80edited"}, result{[]int{12}, false}},
		{"autobahn 6.4.2", []string{kosme + "\xf4", "\x90", "\x80\x80edited"}, result{[]int{-1, 0, 0}, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v Validator
			var got result
			for _, c := range tt.chunks {
				got.Feeds = append(got.Feeds, v.Feed([]byte(c)))
			}
			got.Complete = v.Complete()
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Feed(%q) mismatch (-want +got):\n%s", tt.chunks, diff)
			}
		})
	}
}

func TestReset(t *testing.T) {
	var v Validator
	if got := v.Feed([]byte("\xe2\x82")); got != -1 {
		t.Fatalf("Feed(e2 82) = %d, want -1", got)
	}
	v.Reset()
	if !v.Complete() {
		t.Error("Complete() after Reset = false, want true")
	}
	if got := v.Feed([]byte("\xac")); got != 0 {
		t.Errorf("Feed(ac) after Reset = %d, want 0 (a lone continuation byte)", got)
	}
	v.Reset()
	if got := v.Feed([]byte("ok")); got != -1 || !v.Complete() {
		t.Errorf("Feed(ok) after Reset of failed validator = %d, Complete %v; want -1, true", got, v.Complete())
	}
}

// autobahnSequences are the byte sequences of the Autobahn test suite's
// section 6 (UTF-8 handling) and other edge cases: first and last code
// points of every length, boundaries around surrogates and U+10FFFF,
// overlongs, 5- and 6-byte forms, truncations and impossible bytes.
var autobahnSequences = []string{
	"",
	kosme,
	kosme + "\xed\xa0\x80edited",
	kosme + "\xf4\x90\x80\x80edited",
	// First possible sequence of each length.
	"\x00", "\xc2\x80", "\xe0\xa0\x80", "\xf0\x90\x80\x80",
	"\xf8\x88\x80\x80\x80", "\xfc\x84\x80\x80\x80\x80",
	// Last possible sequence of each length.
	"\x7f", "\xdf\xbf", "\xef\xbf\xbf", "\xf7\xbf\xbf\xbf",
	"\xfb\xbf\xbf\xbf\xbf", "\xfd\xbf\xbf\xbf\xbf\xbf",
	// Other boundaries.
	"\xed\x9f\xbf", "\xee\x80\x80", "\xef\xbf\xbd",
	"\xf4\x8f\xbf\xbf", "\xf4\x90\x80\x80",
	"\xf0\x8f\xbf\xbf", "\xf3\xbf\xbf\xbf",
	// Unexpected continuation bytes.
	"\x80", "\xbf", "\x80\xbf", "\x80\xbf\x80", "\x80\xbf\x80\xbf",
	"\x80\xbf\x80\xbf\x80", "\x80\xbf\x80\xbf\x80\xbf", "\x80\xbf\x80\xbf\x80\xbf\x80",
	// Lonely start bytes followed by a space.
	"\xc0 \xc1 \xc2 \xdf ", "\xe0 \xef ", "\xf0 \xf7 ", "\xf8 \xfb ", "\xfc \xfd ",
	// Every lead byte class cut after each possible length.
	"\xe0", "\xe0\xa0", "\xe1", "\xe1\xbf", "\xed", "\xed\x9f", "\xee", "\xee\x80",
	"\xf0", "\xf0\x90", "\xf0\x90\x80", "\xf1", "\xf1\x80", "\xf3\xbf\xbf",
	"\xf4", "\xf4\x80", "\xf4\x8f\x80",
	// Sequences with the last continuation byte missing.
	"\xc0", "\xe0\x80", "\xf0\x80\x80", "\xf8\x80\x80\x80", "\xfc\x80\x80\x80\x80",
	"\xdf", "\xef\xbf", "\xf7\xbf\xbf", "\xfb\xbf\xbf\xbf", "\xfd\xbf\xbf\xbf\xbf",
	"\xc2", "\xe1\x80", "\xf1\x80\x80", "\xf4\x8f\xbf",
	// Concatenated incomplete sequences.
	"\xc0\xe0\x80\xf0\x80\x80\xf8\x80\x80\x80\xfc\x80\x80\x80\x80\xdf\xef\xbf\xf7\xbf\xbf\xfb\xbf\xbf\xbf\xfd\xbf\xbf\xbf\xbf",
	// Impossible bytes.
	"\xfe", "\xff", "\xfe\xfe\xff\xff",
	// Overlong ASCII '/'.
	"\xc0\xaf", "\xe0\x80\xaf", "\xf0\x80\x80\xaf", "\xf8\x80\x80\x80\xaf", "\xfc\x80\x80\x80\x80\xaf",
	// Maximum overlong sequences.
	"\xc1\xbf", "\xe0\x9f\xbf", "\xf0\x8f\xbf\xbf", "\xf8\x87\xbf\xbf\xbf", "\xfc\x83\xbf\xbf\xbf\xbf",
	// Overlong NUL.
	"\xc0\x80", "\xe0\x80\x80", "\xf0\x80\x80\x80", "\xf8\x80\x80\x80\x80", "\xfc\x80\x80\x80\x80\x80",
	// Single and paired UTF-16 surrogates.
	"\xed\xa0\x80", "\xed\xad\xbf", "\xed\xae\x80", "\xed\xaf\xbf",
	"\xed\xb0\x80", "\xed\xbe\x80", "\xed\xbf\xbf",
	"\xed\xa0\x80\xed\xb0\x80", "\xed\xaf\xbf\xed\xbf\xbf",
	// Noncharacters are valid.
	"\xef\xbf\xbe", "\xef\xbf\xbf", "\xf0\x9f\xbf\xbe", "\xf4\x8f\xbf\xbe", "\xef\xb7\x90",
	// Assorted valid text.
	"\xef\xbb\xbf", "Hello-µ@ßöäüàá-UTF-8!!", "日本語", "😀🙏🏽", "\U0010FFFF\U00010000",
}

// corpus returns the Autobahn sequences embedded at every offset within the
// automaton's 16-byte blocks, with and without a leading non-ASCII
// character (which keeps the ASCII fast path from moving the block
// boundaries) and followed by ASCII runs long enough for the fast path.
func corpus() [][]byte {
	const pad = "0123456789abcdefghijklmnopqrstuvwxyz"
	var out [][]byte
	for _, s := range autobahnSequences {
		for n := range 34 {
			out = append(out, []byte(pad[:n]+s))
			out = append(out, []byte("é"+pad[:n]+s+pad))
		}
	}
	return out
}

// TestReferences checks the test's two references against each other and
// against utf8.Valid, so that they cannot both be wrong in the same way
// unnoticed.
func TestReferences(t *testing.T) {
	for _, p := range corpus() {
		ref, oracle := refFailIndex(p), oracleFailIndex(p)
		if ref != oracle {
			t.Errorf("% x: refFailIndex = %d, oracleFailIndex = %d", p, ref, oracle)
		}
		if valid := utf8.Valid(p); valid && ref != -1 {
			t.Errorf("% x: valid, but refFailIndex = %d", p, ref)
		}
	}
}

func TestSplitsAgree(t *testing.T) {
	for _, p := range corpus() {
		want := oracleFailIndex(p)
		wantComplete := utf8.Valid(p)
		check := func(splits ...int) {
			t.Helper()
			fail, complete := feedChunks(t, p, splits...)
			if fail != want || complete != wantComplete {
				t.Errorf("% x split at %v: fail %d, Complete %v; want %d, %v", p, splits, fail, complete, want, wantComplete)
			}
		}
		for s := 0; s <= len(p); s++ {
			check(s)
		}
		bytewise := make([]int, len(p))
		for i := range bytewise {
			bytewise[i] = i
		}
		check(bytewise...)
		if testing.Short() || len(p) > 40 {
			continue
		}
		for s1 := 0; s1 <= len(p); s1++ {
			for s2 := s1; s2 <= len(p); s2++ {
				check(s1, s2)
			}
		}
	}
}

// TestExhaustive checks every 1-, 2- and 3-byte input fed byte by byte, and
// every 4-byte input whose last byte is taken from a fixed set of
// representatives of every byte class.
func TestExhaustive(t *testing.T) {
	// Every prefix of up to 2 bytes against the utf8.Valid-only oracle.
	for b0 := range 256 {
		for b1 := -1; b1 < 256; b1++ {
			p := []byte{byte(b0)}
			if b1 >= 0 {
				p = append(p, byte(b1))
			}
			want, wantComplete := oracleFailIndex(p), utf8.Valid(p)
			if got, complete := feedChunks(t, p, 1); got != want || complete != wantComplete {
				t.Fatalf("% x: fail %d, Complete %v; want %d, %v", p, got, complete, want, wantComplete)
			}
		}
	}
	if testing.Short() || raceEnabled {
		t.Skip("3- and 4-byte inputs skipped in short mode and under the race detector")
	}
	// Every 3-byte input, each extended by a fourth byte taken from both
	// sides of every boundary between byte classes. Once a prefix has failed,
	// every extension fails at the same index (the definition takes the
	// smallest), so the reference is consulted only for live prefixes and
	// the validator must keep returning 0.
	tails := []byte{0x00, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC1, 0xC2, 0xF4, 0xF5}
	var p [4]byte
	check := func(v *Validator, n, prevFail int) (Validator, int) {
		next := *v
		got := next.Feed(p[n-1 : n])
		if prevFail >= 0 {
			if got != 0 || next.Complete() {
				t.Fatalf("% x: Feed after failure = %d, Complete %v; want 0, false", p[:n], got, next.Complete())
			}
			return next, prevFail
		}
		switch got {
		case -1:
		case 0:
			got = n - 1 // the absolute index of the byte just fed
		default:
			t.Fatalf("% x: Feed of one byte = %d, want -1 or 0", p[:n], got)
		}
		want := refFailIndex(p[:n])
		if got != want || next.Complete() != utf8.Valid(p[:n]) {
			t.Fatalf("% x: fail %d, Complete %v; want %d, %v", p[:n], got, next.Complete(), want, utf8.Valid(p[:n]))
		}
		return next, want
	}
	var start Validator
	for b0 := range 256 {
		p[0] = byte(b0)
		v0, f0 := check(&start, 1, -1)
		for b1 := range 256 {
			p[1] = byte(b1)
			v1, f1 := check(&v0, 2, f0)
			for b2 := range 256 {
				p[2] = byte(b2)
				v2, f2 := check(&v1, 3, f1)
				for _, b3 := range tails {
					p[3] = b3
					check(&v2, 4, f2)
					if f2 >= 0 {
						break // one extension of a failed prefix is enough
					}
				}
			}
		}
	}
}

func TestValid(t *testing.T) {
	for _, p := range corpus() {
		if got, want := Valid(p), utf8.Valid(p); got != want {
			t.Errorf("Valid(% x) = %v, want %v", p, got, want)
		}
	}
}

func TestFeedAllocs(t *testing.T) {
	p := mixedText(4096)
	var v Validator
	allocs := testing.AllocsPerRun(100, func() {
		v.Reset()
		v.Feed(p)
	})
	if allocs != 0 {
		t.Errorf("Feed allocates %v times per call, want 0", allocs)
	}
}

func FuzzValidator(f *testing.F) {
	for _, s := range autobahnSequences {
		f.Add([]byte(s), uint16(1), uint16(3))
	}
	f.Add(bytes.Repeat([]byte("abcdefg\xc3\xa9"), 10), uint16(8), uint16(40))
	f.Add([]byte("0123456789abcdefghij\xf4\x90"), uint16(21), uint16(21))
	f.Fuzz(func(t *testing.T, p []byte, a, b uint16) {
		s1, s2 := int(a)%(len(p)+1), int(b)%(len(p)+1)
		if s1 > s2 {
			s1, s2 = s2, s1
		}
		want := refFailIndex(p)
		if len(p) <= 256 {
			if oracle := oracleFailIndex(p); oracle != want {
				t.Fatalf("% x: refFailIndex = %d, oracleFailIndex = %d", p, want, oracle)
			}
		}
		wantComplete := utf8.Valid(p)
		fail, complete := feedChunks(t, p, s1, s2)
		if fail != want || complete != wantComplete {
			t.Errorf("% x split at %d, %d: fail %d, Complete %v; want %d, %v", p, s1, s2, fail, complete, want, wantComplete)
		}
		if whole, _ := feedChunks(t, p); whole != want {
			t.Errorf("% x whole: fail %d, want %d", p, whole, want)
		}
	})
}

// mixedText returns n bytes of multilingual text: mostly ASCII with Latin,
// Greek, Cyrillic, CJK and emoji characters, cut to end on a boundary.
func mixedText(n int) []byte {
	const sample = "The quick brown fox — Ça va? Übermäßig schön. Καλημέρα κόσμε! " +
		"Привет, мир. 你好，世界。こんにちは。안녕하세요 🌍🚀✨ naïve café résumé. "
	var buf []byte
	for len(buf) < n {
		buf = append(buf, sample...)
	}
	buf = buf[:n]
	for !utf8.Valid(buf) {
		buf = buf[:len(buf)-1]
	}
	return buf
}

func BenchmarkFeed(b *testing.B) {
	inputs := []struct {
		name string
		p    []byte
	}{
		{"ascii-16", bytes.Repeat([]byte("a"), 16)},
		{"ascii-1K", bytes.Repeat([]byte("abcdefgh"), 128)},
		{"ascii-64K", bytes.Repeat([]byte("abcdefgh"), 8192)},
		{"mixed-1K", mixedText(1024)},
		{"mixed-64K", mixedText(64 << 10)},
		{"cjk-64K", bytes.Repeat([]byte("世界你好日本語"), 64<<10/21)},
	}
	for _, in := range inputs {
		b.Run(in.name+"/Validator", func(b *testing.B) {
			b.SetBytes(int64(len(in.p)))
			b.ReportAllocs()
			var v Validator
			for b.Loop() {
				v.Reset()
				if v.Feed(in.p) >= 0 || !v.Complete() {
					b.Fatal("invalid")
				}
			}
		})
		b.Run(in.name+"/utf8.Valid", func(b *testing.B) {
			b.SetBytes(int64(len(in.p)))
			b.ReportAllocs()
			for b.Loop() {
				if !utf8.Valid(in.p) {
					b.Fatal("invalid")
				}
			}
		})
	}
}
