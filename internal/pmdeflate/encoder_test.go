package pmdeflate

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// encStream compresses messages with an encoder the way a Compressor with
// context takeover does: each message primed with the last keep bytes of
// what came before (keep 0: no takeover), or, with warm, one encoder kept
// for the whole stream. Every message is written in pieces of at most
// split bytes.
type encStream struct {
	window, keep, split int
	warm                bool
	hist                []byte
	d                   *deflater
}

func (s *encStream) message(t testing.TB, m []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	if s.d == nil {
		// Pooled state, as a Compressor takes it: its table holds
		// positions of earlier streams.
		s.d = getDeflater(encKind)
		s.d.reset(s.window, s.hist[max(0, len(s.hist)-min(s.keep, s.window)):])
	}
	s.d.begin(&out)
	split := s.split
	if split <= 0 {
		split = max(len(m), 1)
	}
	for p := m; len(p) > 0; {
		k := min(split, len(p))
		if n, err := s.d.write(p[:k]); n != k || err != nil {
			t.Fatalf("write(%d bytes) = %d, %v", k, n, err)
		}
		p = p[k:]
	}
	if err := s.d.finish(); err != nil {
		t.Fatalf("finish: %v", err)
	}
	if !s.warm {
		putDeflater(encKind, s.d)
		s.d = nil
	}
	if s.keep > 0 {
		s.hist = append(s.hist, m...)
		s.hist = s.hist[max(0, len(s.hist)-encMaxWindow):]
	}
	return out.Bytes()
}

func (s *encStream) release() {
	if s.d != nil {
		putDeflater(encKind, s.d)
		s.d = nil
	}
}

// checkStream compresses msgs with s and checks that compress/flate and
// refInflate inflate each to itself, with back-references no longer than
// the window.
func checkStream(t *testing.T, s *encStream, msgs [][]byte) (compressed int) {
	t.Helper()
	defer s.release()
	var hist []byte // the inflater's window
	for i, m := range msgs {
		payload := s.message(t, m)
		compressed += len(payload)
		in := append(bytes.Clone(payload), syncMarker[:]...)
		got, err := io.ReadAll(flate.NewReaderDict(bytes.NewReader(in), hist))
		if err != io.ErrUnexpectedEOF {
			t.Fatalf("message %d: compress/flate ended with %v, want io.ErrUnexpectedEOF", i, err)
		}
		if !bytes.Equal(got, m) {
			t.Fatalf("message %d: compress/flate inflated %d bytes, want %d:\n%s", i, len(got), len(m), cmp.Diff(m, got))
		}
		ref, dist, err := refInflate(hist, in)
		if err != nil || !bytes.Equal(ref, m) {
			t.Fatalf("message %d: refInflate: %d bytes, %v", i, len(ref), err)
		}
		if dist > s.window {
			t.Fatalf("message %d: a back-reference reaches %d bytes back; window is %d", i, dist, s.window)
		}
		if s.keep > 0 || s.warm {
			hist = append(hist, m...)
			hist = hist[max(0, len(hist)-encMaxWindow):]
		}
	}
	return compressed
}

func TestEncoderRoundTrip(t *testing.T) {
	fib := fibonacciText()
	for _, tc := range []struct {
		name string
		msgs [][]byte
	}{
		{"empty", [][]byte{{}, {}}},
		{"one byte", [][]byte{{'x'}, {'x'}, {0}}},
		{"four bytes", [][]byte{[]byte("abcd"), []byte("abcd")}},
		{"run", [][]byte{bytes.Repeat([]byte{'a'}, 1000)}},
		{"run of 258+4", [][]byte{bytes.Repeat([]byte{'z'}, 263)}},
		{"text", [][]byte{jsonText(1<<10, 1), jsonText(1<<10, 2), jsonText(3<<10, 3)}},
		{"repeated", [][]byte{jsonText(1<<10, 1), jsonText(1<<10, 1), jsonText(1<<10, 1)}},
		{"random", [][]byte{randomBytes(1<<10, 1), randomBytes(40<<10, 2)}},
		{"large text", [][]byte{jsonText(100<<10, 4), jsonText(70<<10, 5)}},
		{"large random", [][]byte{randomBytes(200<<10, 3)}},
		{"chat", chatEvents(300, 1)},
		{"fibonacci", [][]byte{fib, fib[:len(fib)/3]}},
		{"all bytes", [][]byte{allBytes(3), allBytes(1)}},
	} {
		for _, window := range []int{1 << 8, 1 << 12, 1 << 15} {
			for _, mode := range []struct {
				name  string
				keep  int
				warm  bool
				split int
			}{
				{"no-takeover", 0, false, 0},
				{"primed", 4 << 10, false, 0},
				{"primed-32k", 32 << 10, false, 0},
				{"warm", 32 << 10, true, 0},
				{"warm-split", 32 << 10, true, 777},
			} {
				t.Run(fmt.Sprintf("%s/window=%d/%s", tc.name, window, mode.name), func(t *testing.T) {
					s := &encStream{window: window, keep: mode.keep, warm: mode.warm, split: mode.split}
					checkStream(t, s, tc.msgs)
				})
			}
		}
	}
}

// TestEncoderOutput pins the bytes of simple messages.
func TestEncoderOutput(t *testing.T) {
	for _, tc := range []struct {
		name string
		msgs []string
		want [][]byte
	}{
		// RFC 7692 §7.2.3.6: an empty message is the byte 00.
		{"empty", []string{""}, [][]byte{{0x00}}},
		// RFC 7692 §7.2.3.1 has "Hello" in one fixed block as
		// f2 48 cd c9 c9 07 00. §7.2.3.2 has it again, taking over the
		// context, as f2 00 11 00 00; here it is one byte shorter, a
		// fixed block with a single match of 5 bytes at distance 5.
		{"hello twice", []string{"Hello", "Hello"}, [][]byte{
			{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00},
			{0x02, 0x13, 0x00, 0x00},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &encStream{window: 1 << 15, keep: 4 << 10}
			defer s.release()
			var got [][]byte
			inflater := &refInflater{takeover: true}
			for _, m := range tc.msgs {
				payload := s.message(t, []byte(m))
				got = append(got, payload)
				if back, err := inflater.message(payload); err != nil || string(back) != m {
					t.Errorf("message %q inflated to %q, %v", m, back, err)
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("payloads (-want +got):\n%s", diff)
			}
		})
	}
}

// TestEncoderStored checks that incompressible input goes out stored:
// no more than the 5 bytes of a stored block's header bigger.
func TestEncoderStored(t *testing.T) {
	m := randomBytes(5000, 7)
	s := &encStream{window: 1 << 15}
	if n := checkStream(t, s, [][]byte{m}); n > len(m)+6 {
		t.Errorf("%d random bytes compressed to %d", len(m), n)
	}
}

// TestEncoderMatchCodes writes a block of matches of every length, each
// at distances of every distance code, its first and last, with fixed
// and with dynamic codes, and checks that it inflates to what the matches
// copy: every length and distance code with all its extra bits.
func TestEncoderMatchCodes(t *testing.T) {
	var dists []int
	for c := range numDistCodes {
		dists = append(dists, int(distBase[c]), int(distBase[c])+1<<distExtra[c]-1)
	}
	dict := randomBytes(encMaxWindow, 9)
	for _, btype := range []int{btypeFixed, btypeDynamic} {
		t.Run(fmt.Sprint("btype=", btype), func(t *testing.T) {
			e := newEncoder()
			e.reset(encMaxWindow, dict)
			var out bytes.Buffer
			e.dst = &out
			want := bytes.Clone(dict)
			for length := 3; length <= encMaxMatch; length++ {
				for k := range 2 {
					d := dists[(2*length+k)%len(dists)]
					e.addMatch(length, d)
					for range length {
						want = append(want, want[len(want)-d])
					}
				}
				e.literals(want[len(want)-1:]) // a literal between matches
				want = append(want, want[len(want)-1])
			}
			e.litFreq[endOfBlock]++
			if btype == btypeFixed {
				e.out.writeBits(btypeFixed<<1, 3)
				e.writeTokens(&fixedLit, &fixedDist)
			} else {
				e.emit(want[len(dict):])
			}
			if err := e.finish(); err != nil {
				t.Fatal(err)
			}
			if got := int(out.Bytes()[0]>>1) & 3; got != btype {
				t.Fatalf("block type %d, want %d", got, btype)
			}
			got, _, err := refInflate(dict, append(out.Bytes(), syncMarker[:]...))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want[len(dict):]) {
				t.Errorf("inflated %d bytes, want %d; first difference at %d", len(got), len(want)-len(dict), firstDiff(got, want[len(dict):]))
			}
		})
	}
}

func firstDiff(a, b []byte) int {
	i := 0
	for i < min(len(a), len(b)) && a[i] == b[i] {
		i++
	}
	return i
}

// TestHuffmanLimit builds codes for frequencies that an unlimited Huffman
// code would give lengths beyond the limit, and checks that every symbol
// that occurs gets a code within it and that the code is complete.
func TestHuffmanLimit(t *testing.T) {
	fib := make([]uint32, 30)
	fib[0], fib[1] = 1, 1
	for i := 2; i < len(fib); i++ {
		fib[i] = fib[i-1] + fib[i-2]
	}
	ones := make([]uint32, numLitLen)
	for i := range ones {
		ones[i] = 1
	}
	skew := make([]uint32, numCodeLen)
	for i := range skew {
		skew[i] = 1 << i
	}
	for _, tc := range []struct {
		name  string
		freq  []uint32
		limit int
	}{
		{"fibonacci/15", fib, 15},
		{"fibonacci/7", fib[:19], 7},
		{"powers/7", skew, 7},
		{"flat/15", ones, 15},
		{"one symbol", []uint32{0, 0, 5, 0}, 15},
		{"symbol 0 only", []uint32{9, 0, 0}, 7},
		{"none", []uint32{0, 0, 0}, 15},
		{"two", []uint32{1, 0, 100}, 15},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c huffCode
			var s sortScratch
			c.build(tc.freq, tc.limit, &s)
			kraft, used := 0, 0
			for sym, f := range tc.freq {
				l := int(c.lens[sym])
				if f > 0 && l == 0 {
					t.Errorf("symbol %d occurs %d times but has no code", sym, f)
				}
				if l > tc.limit {
					t.Errorf("symbol %d: length %d over the limit %d", sym, l, tc.limit)
				}
				if l > 0 {
					kraft += 1 << (maxCodeBits - l)
					used++
				}
			}
			// A single code of one bit is the one incomplete code allowed.
			if kraft != 1<<maxCodeBits && !(used == 1 && kraft == 1<<(maxCodeBits-1)) {
				t.Errorf("Kraft sum %d/%d: the code is not complete", kraft, 1<<maxCodeBits)
			}
		})
	}
}

// TestHuffmanBuild builds codes for histograms of every size and spread a
// block may have, and checks them against what build promises: the cost
// it returns is the code's, which is optimal (a Huffman code's, found by
// merging the two least frequent in a plain loop) where no length reached
// the limit; a code for exactly the symbols that occur; and the canonical
// codes of RFC 1951 §3.2.2, as setLengths assigns them.
func TestHuffmanBuild(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	type histogram struct {
		name string
		freq []uint32
	}
	var hists []histogram
	for _, n := range []int{2, 3, 19, 30, 48, 49, 100, 286} {
		for _, fbits := range []int{1, 4, 8, 9, 12, 15, 16} {
			for _, zeros := range []int{0, 5, 9} {
				// Two symbols at least occur: TestHuffmanLimit has
				// the codes of fewer.
				freq := make([]uint32, n)
				for i := range freq {
					if i < 2 || r.IntN(10) >= zeros {
						freq[i] = 1 + r.Uint32N(1<<fbits-1)
					}
				}
				hists = append(hists, histogram{fmt.Sprintf("n=%d/bits=%d/zeros=%d", n, fbits, zeros), freq})
			}
		}
	}
	text := jsonText(16<<10, 3)
	freq := make([]uint32, numLitLen)
	for _, b := range text {
		freq[b]++
	}
	hists = append(hists, histogram{"text", freq})

	for _, h := range hists {
		for _, limit := range []int{maxCLBits, maxCodeBits} {
			if 1<<limit < len(h.freq) {
				continue // not every symbol can have a code
			}
			t.Run(fmt.Sprintf("%s/limit=%d", h.name, limit), func(t *testing.T) {
				var c huffCode
				var s sortScratch
				cost := c.build(h.freq, limit, &s)
				want, longest := 0, 0
				for sym, f := range h.freq {
					l := int(c.lens[sym])
					want += int(f) * l
					longest = max(longest, l)
					if (f > 0) != (l > 0) {
						t.Errorf("symbol %d occurs %d times; its code is %d bits", sym, f, l)
					}
				}
				if cost != want {
					t.Errorf("build returned a cost of %d bits; its lengths make %d", cost, want)
				}
				if opt := huffmanCost(h.freq); longest < limit && cost != opt {
					t.Errorf("cost %d bits, longest code %d bits; a Huffman code takes %d", cost, longest, opt)
				}
				if longest > limit {
					t.Errorf("a code of %d bits; the limit is %d", longest, limit)
				}
				var ref huffCode
				ref.setLengths(c.lens[:len(h.freq)])
				var got, wantCodes []uint16
				for sym, f := range h.freq {
					if f > 0 {
						got = append(got, c.codes[sym])
						wantCodes = append(wantCodes, ref.codes[sym])
					}
				}
				if diff := cmp.Diff(wantCodes, got); diff != "" {
					t.Errorf("codes of the symbols that occur (-canonical +got):\n%s", diff)
				}
			})
		}
	}
}

// TestCodeLengths run-length encodes the code lengths of histograms with
// runs of every kind, and checks that the runs decode to the lengths
// (RFC 1951 §3.2.7) and that clFreq counts them.
func TestCodeLengths(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	for i := range 200 {
		var lit [numLitLen]uint32
		var dist [numDistCodes]uint32
		lit[endOfBlock] = 1
		// Stretches of symbols that occur or not, some long, some of
		// equal frequencies so that equal lengths run.
		for sym := 0; sym < numLitLen; {
			k := 1 + r.IntN([]int{3, 12, 150}[i%3])
			f := uint32(r.IntN(2) * (1 + r.IntN(50)))
			for ; k > 0 && sym < numLitLen; k-- {
				lit[sym] = max(lit[sym], f)
				sym++
			}
		}
		for sym := range dist {
			if r.IntN(3) > 0 {
				dist[sym] = uint32(1 + r.IntN(4))
			}
		}
		if i%10 == 0 {
			clear(dist[:]) // no distances: one code of one bit
		}
		var h huffScratch
		h.lit.build(lit[:], maxCodeBits, &h.sort)
		h.dist.build(dist[:], maxCodeBits, &h.sort)
		numLit := max(257, int(h.lit.used[h.lit.nused-1])+1)
		numDist := int(h.dist.used[h.dist.nused-1]) + 1
		h.codeLengths(numLit, numDist)

		want := append(slices.Clone(h.lit.lens[:numLit]), h.dist.lens[:numDist]...)
		var got []uint8
		var freq [numCodeLen]uint32
		for _, x := range h.runs {
			sym, extra := int(x&0x1f), int(x>>5)
			freq[sym]++
			if limit := map[int]int{16: 3, 17: 7, 18: 127}[sym]; extra > limit {
				t.Fatalf("histogram %d: symbol %d with extra bits %d", i, sym, extra)
			}
			switch sym {
			case 16:
				for range 3 + extra {
					got = append(got, got[len(got)-1])
				}
			case 17:
				got = append(got, make([]uint8, 3+extra)...)
			case 18:
				got = append(got, make([]uint8, 11+extra)...)
			default:
				got = append(got, uint8(sym))
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("histogram %d: runs decode to (-want +got):\n%s", i, diff)
		}
		if freq != h.clFreq {
			t.Fatalf("histogram %d: clFreq %v, the runs have %v", i, h.clFreq, freq)
		}
	}
}

// huffmanCost returns the bits freq's symbols take in a Huffman code for
// them: the sum of the weights of the merged nodes.
func huffmanCost(freq []uint32) int {
	var w []int
	for _, f := range freq {
		if f > 0 {
			w = append(w, int(f))
		}
	}
	cost := 0
	for len(w) > 1 {
		slices.Sort(w)
		m := w[0] + w[1]
		cost += m
		w = append(w[2:], m)
	}
	return cost
}

// TestSortLeaves checks sortLeaves against slices.Sort, by insertion and
// by each number of radix passes, and that it leaves the keys it was given.
func TestSortLeaves(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 6))
	for _, n := range []int{0, 1, 2, 8, 16, 48, 49, 200, 288} {
		for _, fbits := range []int{1, 7, 8, 9, 11, 15, 16} {
			t.Run(fmt.Sprintf("n=%d/bits=%d", n, fbits), func(t *testing.T) {
				a := make([]uint32, n)
				for i := range a {
					a[i] = r.Uint32N(1<<fbits)<<16 | uint32(i)
				}
				if n > 0 {
					a[r.IntN(n)] |= 1 << (fbits + 15) // the largest frequency there is
				}
				want := slices.Clone(a)
				slices.Sort(want)
				got := sortLeaves(a, make([]uint32, n), fbits)
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("sorted (-want +got):\n%s", diff)
				}
			})
		}
	}
}

// fibonacciText returns bytes whose frequencies follow the Fibonacci
// numbers, so that their Huffman code would be deeper than 15 bits,
// arranged so that few 4-byte sequences repeat.
func fibonacciText() []byte {
	var b []byte
	a, c := 1, 1
	for sym := range 20 {
		b = append(b, bytes.Repeat([]byte{byte('A' + sym)}, a)...)
		a, c = c, a+c
	}
	// Interleave with a counter so that runs do not become matches.
	out := make([]byte, 0, 2*len(b))
	for i, x := range b {
		out = append(out, x, byte(i*7))
	}
	return out
}

// allBytes returns every byte value n times, in a scrambled order.
func allBytes(n int) []byte {
	b := make([]byte, 0, 256*n)
	for i := range 256 * n {
		b = append(b, byte(i*167+i/256))
	}
	return b
}

// FuzzEncoder compresses a sequence of messages cut from arbitrary input
// with every way a Compressor uses the encoder, and checks that
// compress/flate and refInflate inflate them, within the window.
func FuzzEncoder(f *testing.F) {
	f.Add([]byte("hello, hello, hello"), uint8(7), uint8(0), uint16(0), uint16(0))
	f.Add(jsonText(3000, 1), uint8(15), uint8(1), uint16(1000), uint16(100))
	f.Add(jsonText(600, 2), uint8(8), uint8(2), uint16(50), uint16(7))
	f.Add(randomBytes(3000, 3), uint8(12), uint8(3), uint16(300), uint16(0))
	f.Add([]byte(strings.Repeat("ab", 500)), uint8(9), uint8(1), uint16(0), uint16(3))
	f.Add(fibonacciText(), uint8(15), uint8(0), uint16(0), uint16(0))
	f.Fuzz(func(t *testing.T, in []byte, bits, mode uint8, cut, split uint16) {
		// Enough to slide the encoder's buffer (64 KiB); longer inputs
		// add only time.
		in = in[:min(len(in), 96<<10)]
		window := 1 << (8 + int(bits%8))
		s := &encStream{window: window, split: int(split)}
		switch mode % 4 {
		case 1:
			s.keep = 4 << 10
		case 2:
			s.keep = 32 << 10
		case 3:
			s.keep, s.warm = 32<<10, true
		}
		// Messages of cut+1 bytes, the last shorter, and the input again;
		// at most 64 of them and the input, each message checked against
		// two inflaters, so that a run takes milliseconds, not seconds,
		// and the fuzzer gets to explore.
		var msgs [][]byte
		size := max(int(cut)+1, len(in)/64)
		for p := in; len(p) > 0; {
			k := min(len(p), size)
			msgs = append(msgs, p[:k])
			p = p[k:]
		}
		msgs = append(msgs, in, nil)
		checkStream(t, s, msgs)
	})
}
