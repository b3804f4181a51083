package pmdeflate

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"runtime"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// testMessages is a conversation that exercises the window: empty
// messages, repeats of earlier messages (which context takeover should
// shrink), incompressible data, and messages longer than the window.
func testMessages() [][]byte {
	text := jsonText(40000, 1)
	return [][]byte{
		{},
		[]byte("a"),
		[]byte("hello, hello, hello, hello"),
		text[:1000],
		text[:1000], // a repeat: found in the window with takeover
		{},
		randomBytes(3000, 2),
		text[1000:5000],
		jsonText(200, 3),
		text, // longer than every window
		randomBytes(40000, 4),
		text[500:1500],
		{0},
		periodic(), // matches that overlap what they copy
	}
}

// periodic returns runs of bytes repeating with each period from 1 to 24,
// 200 bytes each, so that matches overlap what they copy at every
// distance that is not a multiple of 8 and at those that are.
func periodic() []byte {
	var b []byte
	for p := 1; p <= 24; p++ {
		for i := range 200 {
			b = append(b, byte('a'+(i%p)+p))
		}
	}
	return b
}

type codecCase struct {
	name       string
	level      int
	windowBits int
	takeover   bool
}

func codecCases() []codecCase {
	var cases []codecCase
	for _, takeover := range []bool{true, false} {
		for _, level := range []int{0, flate.HuffmanOnly, flate.BestSpeed, flate.DefaultCompression, flate.BestCompression} {
			for _, bits := range []int{8, 9, 10, 12, 15} {
				if bits < 15 && level != 0 {
					continue // the level is replaced for small windows
				}
				cases = append(cases, codecCase{
					name:       fmt.Sprintf("takeover=%t/level=%d/bits=%d", takeover, level, bits),
					level:      level,
					windowBits: bits,
					takeover:   takeover,
				})
			}
		}
	}
	return cases
}

// TestRoundTrip sends a conversation through a Compressor and a
// Decompressor with the same parameters, in many Write and frame sizes.
func TestRoundTrip(t *testing.T) {
	for _, tc := range codecCases() {
		t.Run(tc.name, func(t *testing.T) {
			c := NewCompressor(tc.level, tc.windowBits, tc.takeover)
			d := NewDecompressor(tc.windowBits, tc.takeover)
			defer c.Release()
			defer d.Release()
			splits := []int{0, 1, 7, 4096}
			frames := []int{0, 1, 3, 1000}
			for i, msg := range testMessages() {
				split, frame := splits[i%len(splits)], frames[i%len(frames)]
				if len(msg) > 10000 { // keep -race runs short
					split, frame = split+333, frame+333
				}
				payload := compressMessage(t, c, msg, split)
				got, err := decompressMessage(d, payload, frame)
				if err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
				if !bytes.Equal(got, msg) {
					t.Fatalf("message %d: got %d bytes, want %d: %s", i, len(got), len(msg), cmp.Diff(msg, got))
				}
			}
		})
	}
}

// TestCompressorOutput checks our output with two independent decoders:
// compress/flate used directly, and refInflate, which also reports how far
// back the output refers, which must stay inside the negotiated window.
func TestCompressorOutput(t *testing.T) {
	for _, tc := range codecCases() {
		t.Run(tc.name, func(t *testing.T) {
			c := NewCompressor(tc.level, tc.windowBits, tc.takeover)
			defer c.Release()
			ref := &refInflater{takeover: tc.takeover}
			var hist []byte // for refInflate
			for i, msg := range testMessages() {
				payload := compressMessage(t, c, msg, 0)
				got, err := ref.message(payload)
				if err != nil {
					t.Fatalf("message %d: compress/flate: %v", i, err)
				}
				if !bytes.Equal(got, msg) {
					t.Fatalf("message %d: compress/flate inflated %d bytes, want %d", i, len(got), len(msg))
				}

				if !tc.takeover {
					hist = nil
				}
				got, dist, err := refInflate(hist, append(bytes.Clone(payload), syncMarker[:]...))
				if err != nil {
					t.Fatalf("message %d: refInflate: %v", i, err)
				}
				if !bytes.Equal(got, msg) {
					t.Fatalf("message %d: refInflate inflated %d bytes, want %d", i, len(got), len(msg))
				}
				if dist > 1<<tc.windowBits {
					t.Fatalf("message %d: a back-reference reaches %d bytes back; window is %d", i, dist, 1<<tc.windowBits)
				}
				hist = append(hist, got...)
			}
		})
	}
}

// TestCompressorTakeover checks that context takeover is used, and only
// when allowed: a repeated message must shrink with it.
func TestCompressorTakeover(t *testing.T) {
	msg := jsonText(2000, 5)
	for _, tc := range []struct {
		level      int
		windowBits int
		takeover   bool
		shrinks    bool
	}{
		{0, 15, true, true},
		{flate.DefaultCompression, 15, true, true},
		{0, 12, true, true},
		{0, 15, false, false},
		{flate.DefaultCompression, 15, false, false},
		{0, 12, false, false},
		{0, 8, true, false}, // a 256-byte window does not reach the repeat
	} {
		c := NewCompressor(tc.level, tc.windowBits, tc.takeover)
		first := len(compressMessage(t, c, msg, 0))
		second := len(compressMessage(t, c, msg, 0))
		c.Release()
		if shrinks := second < first/4; shrinks != tc.shrinks {
			t.Errorf("level %d, %d bits, takeover %t: repeat compressed to %d bytes after %d; want shrink %t",
				tc.level, tc.windowBits, tc.takeover, second, first, tc.shrinks)
		}
	}
}

// TestCompressorEmpty checks RFC 7692 §7.2.3.6: an empty message compresses
// to the single byte 00.
func TestCompressorEmpty(t *testing.T) {
	for _, tc := range codecCases() {
		c := NewCompressor(tc.level, tc.windowBits, tc.takeover)
		got := compressMessage(t, c, nil, 0)
		c.Release()
		if diff := cmp.Diff([]byte{0}, got); diff != "" {
			t.Errorf("%s: empty message (-want +got):\n%s", tc.name, diff)
		}
	}
}

// TestDecompressorInterop inflates messages compressed by compress/flate
// used directly, as another implementation would send them.
func TestDecompressorInterop(t *testing.T) {
	for _, takeover := range []bool{true, false} {
		for _, level := range []int{flate.NoCompression, flate.HuffmanOnly, flate.BestSpeed, flate.DefaultCompression, flate.BestCompression} {
			t.Run(fmt.Sprintf("takeover=%t/level=%d", takeover, level), func(t *testing.T) {
				ref := newRefDeflater(level, takeover)
				d := NewDecompressor(15, takeover)
				defer d.Release()
				for i, msg := range testMessages() {
					got, err := decompressMessage(d, ref.message(t, msg), 1+i*37)
					if err != nil {
						t.Fatalf("message %d: %v", i, err)
					}
					if !bytes.Equal(got, msg) {
						t.Fatalf("message %d: got %d bytes, want %d", i, len(got), len(msg))
					}
				}
			})
		}
	}
}

// TestDecompressorFinalBlock accepts messages that end with a final
// (BFINAL) block instead of a sync flush, RFC 7692 §7.2.3.4, with the
// window still carried over to the next message.
func TestDecompressorFinalBlock(t *testing.T) {
	closed := func(dict, p []byte) []byte {
		var buf bytes.Buffer
		w, _ := flate.NewWriterDict(&buf, flate.BestCompression, dict)
		w.Write(p)
		w.Close()
		return buf.Bytes()
	}
	text := jsonText(3000, 7)
	d := NewDecompressor(15, true)
	defer d.Release()
	for i, m := range []struct{ payload, want []byte }{
		{closed(nil, text), text},
		{closed(nil, nil), nil},
		{closed(text, text), text}, // refers back into the first message
	} {
		got, err := decompressMessage(d, m.payload, 0)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if !bytes.Equal(got, m.want) {
			t.Fatalf("message %d: got %d bytes, want %d", i, len(got), len(m.want))
		}
	}
	if n := len(closed(text, text)); n > 100 {
		t.Errorf("the last message is %d bytes: it does not exercise the window", n)
	}
}

// TestDecompressorCorrupt checks that invalid payloads are errors that wrap
// ErrCorrupt, and that without context takeover the next message is fine.
func TestDecompressorCorrupt(t *testing.T) {
	valid := newRefDeflater(flate.BestSpeed, false).message(t, []byte("hello"))
	for _, tc := range []struct {
		name    string
		payload []byte
	}{
		{"reserved block type", []byte{0x07, 0x00}},
		{"stored length mismatch", []byte{0x00, 0x05, 0x00, 0x00, 0x00, 'a'}},
		{"distance before start", []byte{0x03, 0x02}}, // fixed block: length 3 at distance 1, no output yet
		{"bad huffman table", []byte{0xed, 0xff, 0xff, 0xff, 0xff, 0xff}},
		{"truncated stored block", []byte{0x00, 0x0a, 0x00, 0xf5, 0xff, 'a', 'b'}},
		{"data after final block", append(append([]byte{0x03, 0x00}, valid...), 1, 2, 3)},
		{"all ones", bytes.Repeat([]byte{0xff}, 64)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDecompressor(15, false)
			defer d.Release()
			_, err := decompressMessage(d, tc.payload, 0)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("got %v, want an error wrapping ErrCorrupt", err)
			}
			if n, err2 := d.Read(make([]byte, 10)); n != 0 || err2 != err {
				t.Errorf("Read after the error = %d, %v; want 0, %v", n, err2, err)
			}
			got, err := decompressMessage(d, valid, 0)
			if err != nil || string(got) != "hello" {
				t.Errorf("next message = %q, %v; want hello", got, err)
			}
		})
	}
}

// TestDecompressorSourceError passes errors of the payload reader through
// unchanged rather than reporting corrupt data.
func TestDecompressorSourceError(t *testing.T) {
	errLimit := errors.New("message too big")
	payload := newRefDeflater(flate.BestSpeed, false).message(t, jsonText(10000, 1))
	d := NewDecompressor(15, false)
	defer d.Release()
	d.Begin(io.MultiReader(bytes.NewReader(payload[:100]), &errReader{errLimit}))
	_, err := io.ReadAll(d)
	if err != errLimit {
		t.Fatalf("got %v, want %v", err, errLimit)
	}
}

type errReader struct{ err error }

func (r *errReader) Read([]byte) (int, error) { return 0, r.err }

// TestDecompressorAbandoned checks that with context takeover a message
// abandoned before its end makes later messages fail rather than inflate
// against a wrong window, and that without takeover it does no harm.
func TestDecompressorAbandoned(t *testing.T) {
	msg := jsonText(5000, 1)
	for _, takeover := range []bool{true, false} {
		ref := newRefDeflater(flate.BestSpeed, takeover)
		d := NewDecompressor(15, takeover)
		d.Begin(bytes.NewReader(ref.message(t, msg)))
		if _, err := d.Read(make([]byte, 100)); err != nil {
			t.Fatal(err)
		}
		got, err := decompressMessage(d, ref.message(t, msg), 0)
		if takeover {
			if !errors.Is(err, errAbandoned) {
				t.Errorf("takeover: next message = %d bytes, %v; want errAbandoned", len(got), err)
			}
		} else if err != nil || !bytes.Equal(got, msg) {
			t.Errorf("no takeover: next message = %d bytes, %v; want %d bytes", len(got), err, len(msg))
		}
		d.Release()
	}
}

// TestDecompressorWindowLimit refuses a reference further back than the
// negotiated window into an earlier message: only that much history is
// kept.
func TestDecompressorWindowLimit(t *testing.T) {
	text := jsonText(2000, 9)
	for _, tc := range []struct {
		windowBits int
		wantErr    bool
	}{{15, false}, {11, false}, {10, true}} {
		ref := newRefDeflater(flate.BestSpeed, true)
		d := NewDecompressor(tc.windowBits, true)
		if _, err := decompressMessage(d, ref.message(t, text), 0); err != nil {
			t.Fatal(err)
		}
		// The repeat of text refers about 2000 bytes back.
		got, err := decompressMessage(d, ref.message(t, text), 0)
		if gotErr := err != nil; gotErr != tc.wantErr {
			t.Errorf("%d bits: got %d bytes, %v; want error %t", tc.windowBits, len(got), err, tc.wantErr)
		}
		if !tc.wantErr && !bytes.Equal(got, text) {
			t.Errorf("%d bits: repeat inflated wrongly", tc.windowBits)
		}
		d.Release()
	}
}

// bombReader yields a message made of n sync-flushed chunks of compressed
// zeros, made up on the fly: a decompression bomb of any size. The last
// chunk lacks its 00 00 ff ff, as RFC 7692 §7.2.1 has the sender remove it.
type bombReader struct {
	chunk []byte // ends with 00 00 ff ff
	n     int
	off   int // in the whole message
}

func (r *bombReader) Read(p []byte) (int, error) {
	size := r.n*len(r.chunk) - len(syncMarker)
	if r.off == size {
		return 0, io.EOF
	}
	i := r.off % len(r.chunk)
	k := copy(p[:min(len(p), size-r.off)], r.chunk[i:])
	r.off += k
	return k, nil
}

// TestDecompressionBomb reads 1 MiB of a message that inflates to 1.25 GiB
// from 1.3 MiB of input, and checks that this allocates no more than the
// flate state: Read inflates only as far as asked.
func TestDecompressionBomb(t *testing.T) {
	const chunkOut = 1 << 20
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestCompression)
	w.Write(make([]byte, chunkOut))
	w.Flush()
	bomb := &bombReader{chunk: buf.Bytes(), n: 1280}
	t.Logf("input %d KiB, output %d MiB", len(bomb.chunk)*bomb.n>>10, chunkOut*bomb.n>>20)

	d := NewDecompressor(15, true)
	defer d.Release()
	p := make([]byte, 32<<10)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	d.Begin(bomb)
	total := 0
	for total < 1<<20 {
		n, err := d.Read(p)
		if err != nil {
			t.Fatalf("after %d bytes: %v", total, err)
		}
		total += n
	}
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 2<<20 {
		t.Errorf("reading 1 MiB of the bomb allocated %d KiB", alloc>>10)
	}
	if testing.Short() || raceEnabled {
		return // the rest takes a second, or a minute with -race
	}
	n, err := io.CopyBuffer(io.Discard, d, p)
	if err != nil || int(n)+total != chunkOut*bomb.n {
		t.Errorf("read %d more bytes, %v; want %d in all", n, err, chunkOut*bomb.n)
	}
}

// TestZeroAllocs checks that a warmed-up Compressor and Decompressor
// allocate nothing per message. compress/flate's inflater allocates link
// tables for each dynamic Huffman block with codes longer than 9 bits, so
// the Decompressor is checked on stored and short blocks only.
func TestZeroAllocs(t *testing.T) {
	if testing.CoverMode() != "" || raceEnabled {
		t.Skip("instrumentation allocates")
	}
	for _, tc := range []struct {
		level, bits int
		takeover    bool
	}{
		{0, 15, true}, {0, 15, false}, {flate.DefaultCompression, 15, false}, {0, 12, true}, {0, 12, false}, {0, 8, true},
	} {
		c := NewCompressor(tc.level, tc.bits, tc.takeover)
		d := NewDecompressor(tc.bits, tc.takeover)
		var payload bytes.Buffer
		payload.Grow(8192)
		src := new(bytes.Reader)
		out := make([]byte, 8192)
		var msg []byte
		compress := func() {
			payload.Reset()
			c.Begin(&payload)
			c.Write(msg)
			if err := c.Finish(); err != nil {
				t.Fatal(err)
			}
		}
		decompress := func() {
			src.Reset(payload.Bytes())
			d.Begin(src)
			n, err := io.ReadFull(d, out[:len(msg)])
			if err != nil || !bytes.Equal(out[:n], msg) {
				t.Fatalf("round trip: %d bytes, %v", n, err)
			}
			if n, err := d.Read(out); n != 0 || err != io.EOF {
				t.Fatalf("end of message: %d, %v", n, err)
			}
		}
		for _, m := range []struct {
			name       string
			msg        []byte
			decompress bool
		}{
			{"text", jsonText(4096, 1), false},
			{"short text", jsonText(100, 2), true},
			{"random", randomBytes(4096, 3), true},
		} {
			msg = m.msg
			for range 3 {
				compress()
				decompress()
			}
			if allocs := testing.AllocsPerRun(50, compress); allocs != 0 {
				t.Errorf("level %d, %d bits, takeover %t: %v allocations per %s message compressed",
					tc.level, tc.bits, tc.takeover, allocs, m.name)
			}
			if !m.decompress {
				continue
			}
			compress()
			if allocs := testing.AllocsPerRun(50, decompress); allocs != 0 {
				t.Errorf("level %d, %d bits, takeover %t: %v allocations per %s message decompressed",
					tc.level, tc.bits, tc.takeover, allocs, m.name)
			}
		}
		c.Release()
		d.Release()
	}
}

// TestTailWriter checks that everything but the last four bytes reaches
// the destination, whatever the sizes of the writes.
func TestTailWriter(t *testing.T) {
	data := randomBytes(100, 3)
	for _, sizes := range [][]int{{100}, {1, 1, 1, 1, 96}, {3, 2, 5, 90}, {4, 4, 92}, {2, 97, 1}, {96, 1, 1, 1, 1}, {50, 3, 47}} {
		var out bytes.Buffer
		var tw tailWriter
		tw.begin(&out)
		p := data
		for _, n := range sizes {
			tw.Write(p[:n])
			p = p[n:]
		}
		if diff := cmp.Diff(data[:96], out.Bytes()); diff != "" {
			t.Errorf("writes %v: passed on (-want +got):\n%s", sizes, diff)
		}
		if diff := cmp.Diff(data[96:], tw.held[:tw.n]); diff != "" {
			t.Errorf("writes %v: held (-want +got):\n%s", sizes, diff)
		}
	}
}

// TestParamsCodecs checks which side's parameters each endpoint's
// Compressor and Decompressor get.
func TestParamsCodecs(t *testing.T) {
	p := Params{ServerNoContextTakeover: true, ServerMaxWindowBits: 10, ClientMaxWindowBits: 12}
	type state struct {
		Window   int
		Keep     bool
		Takeover bool
		Hist     int
	}
	for _, tc := range []struct {
		name         string
		server       bool
		cfg          Config
		comp, decomp state
	}{
		{"server", true, Config{}, state{Window: 1 << 10}, state{Takeover: true, Hist: 1 << 12}},
		{"client", false, Config{}, state{Window: 1 << 12, Keep: true}, state{Hist: 1 << 10}},
		{"client keeps its own limits", false, Config{ClientNoContextTakeover: true, ClientMaxWindowBits: 9}, state{Window: 1 << 9}, state{Hist: 1 << 10}},
	} {
		c := p.Compressor(tc.server, tc.cfg)
		d := p.Decompressor(tc.server)
		if diff := cmp.Diff(tc.comp, state{Window: c.window, Keep: c.keep}); diff != "" {
			t.Errorf("%s: compressor (-want +got):\n%s", tc.name, diff)
		}
		if diff := cmp.Diff(tc.decomp, state{Takeover: d.takeover, Hist: d.hist.max}); diff != "" {
			t.Errorf("%s: decompressor (-want +got):\n%s", tc.name, diff)
		}
	}
}
