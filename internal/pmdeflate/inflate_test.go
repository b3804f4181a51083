package pmdeflate

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestDecompressorWhole inflates messages compressed by compress/flate at
// every level, each all there at once (a FrameSource), into a first
// buffer large enough, which the fast path must fill in one Read, or
// smaller, when the streaming inflater takes over.
func TestDecompressorWhole(t *testing.T) {
	for _, takeover := range []bool{true, false} {
		for _, level := range []int{flate.NoCompression, flate.HuffmanOnly, flate.BestSpeed, flate.DefaultCompression, flate.BestCompression} {
			for _, room := range []int{0, -1} {
				t.Run(fmt.Sprintf("takeover=%t/level=%d/room=%d", takeover, level, room), func(t *testing.T) {
					ref := newRefDeflater(level, takeover)
					d := NewDecompressor(15, takeover)
					defer d.Release()
					for i, msg := range testMessages() {
						payload := ref.message(t, msg)
						d.Begin(&wholeReader{frameReader{b: payload, n: len(payload)}})
						buf := make([]byte, max(len(msg)+room, 0))
						n, err := d.Read(buf)
						fast := err == io.EOF
						if fast != (len(buf) >= len(msg) && len(payload) <= 4096-len(messageEnd)) {
							t.Errorf("message %d (%d bytes, %d compressed): first Read = %d, %v", i, len(msg), len(payload), n, err)
						}
						if err != nil && err != io.EOF {
							t.Fatalf("message %d: %v", i, err)
						}
						got := buf[:n]
						if !fast {
							rest, err := io.ReadAll(d)
							if err != nil {
								t.Fatalf("message %d: %v", i, err)
							}
							got = append(got, rest...)
						}
						if !bytes.Equal(got, msg) {
							t.Fatalf("message %d: got %d bytes, want %d", i, len(got), len(msg))
						}
					}
				})
			}
		}
	}
}

// TestFastInflateErrors checks the errors of the fast path on payloads
// compress/flate refuses too, or, for data after a final block, ignores.
func TestFastInflateErrors(t *testing.T) {
	valid := newRefDeflater(flate.BestSpeed, false).message(t, []byte("hello"))
	for _, tc := range []struct {
		name    string
		payload []byte
		dict    []byte
		want    error
	}{
		{"reserved block type", []byte{0x07, 0x00}, nil, errBlockType},
		{"stored length mismatch", []byte{0x00, 0x05, 0x00, 0x00, 0x00, 'a'}, nil, errStoredLen},
		{"distance before the window", []byte{0x03, 0x02}, nil, errDistance},
		// The same back-reference, length 3 at distance 1, with a window.
		{"distance within the window", []byte{0x03, 0x02}, []byte("a"), nil},
		// Fixed codes: 'a', then length 3 at distance code 30.
		{"distance code 30", []byte{0x4b, 0x04, 0x3e, 0x00}, nil, errSymbol},
		// Fixed codes: 'a', then length code 286.
		{"length code 286", []byte{0x4b, 0x1c, 0x03, 0x00}, nil, errSymbol},
		// The 10 bytes of the stored block run into messageEnd, whose
		// last byte then starts a block of the reserved type.
		{"truncated stored block", []byte{0x00, 0x0a, 0x00, 0xf5, 0xff, 'a', 'b'}, nil, errBlockType},
		{"data after final block", append(append([]byte{0x03, 0x00}, valid...), 1, 2, 3), nil, errTrailingData},
		// A dynamic block whose code length code has four codes of 1 bit.
		{"over-subscribed code lengths", []byte{0x05, 0x00, 0x92, 0x04}, nil, errCodes},
		{"all ones", bytes.Repeat([]byte{0xff}, 64), nil, errBlockType},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var f fastInflater
			in := append(bytes.Clone(tc.payload), messageEnd[:]...)
			_, err := f.inflate(make([]byte, 100), window2{new: tc.dict}, in, len(tc.payload))
			if err != tc.want {
				t.Errorf("got %v, want %v", err, tc.want)
			}
			_, ferr := io.ReadAll(flate.NewReaderDict(bytes.NewReader(in), tc.dict))
			if (ferr != nil) != (tc.want != nil && tc.want != errTrailingData) {
				t.Errorf("compress/flate: %v", ferr)
			}
		})
	}
}

// FuzzInflate checks the fast path against compress/flate on arbitrary
// payloads, windows and output sizes: whatever it inflates, compress/flate
// inflates alike; what it refuses as invalid, compress/flate refuses too.
func FuzzInflate(f *testing.F) {
	text := jsonText(3000, 1)
	add := func(p, dict []byte, size uint16) { f.Add(p, dict, size) }
	add(newRefDeflater(flate.BestSpeed, false).message(f, text), nil, 4000)
	add(newRefDeflater(flate.BestCompression, false).message(f, text), nil, 1000)
	add(newRefDeflater(flate.HuffmanOnly, false).message(f, text), nil, 3000)
	add(newRefDeflater(flate.NoCompression, false).message(f, text[:300]), nil, 300)
	ref := newRefDeflater(flate.BestSpeed, true)
	ref.message(f, text[:2000])
	add(ref.message(f, text[1000:2500]), text[:2000], 2000)
	add([]byte{0x03, 0x02}, []byte("a"), 10)
	add([]byte{0x00}, nil, 0)
	add([]byte{0x05, 0x00, 0x92, 0x04}, nil, 10)
	add([]byte{0x4b, 0x04, 0x3e, 0x00}, nil, 10)
	add(bytes.Repeat([]byte{0xff}, 20), []byte("xyz"), 100)
	f.Fuzz(func(t *testing.T, payload, dict []byte, size uint16) {
		var fi fastInflater
		in := append(bytes.Clone(payload), messageEnd[:]...)
		out := make([]byte, size)
		// The window in two parts, as a ring that has wrapped holds it.
		cut := int(size) % (len(dict) + 1)
		n, err := fi.inflate(out, window2{dict[:cut], dict[cut:]}, in, len(payload))
		want, ferr := io.ReadAll(io.LimitReader(flate.NewReaderDict(bytes.NewReader(in), dict), 1<<20))
		switch err {
		case nil:
			if ferr != nil {
				t.Fatalf("inflated %d bytes; compress/flate: %v", n, ferr)
			}
			if diff := cmp.Diff(want, out[:n]); diff != "" {
				t.Fatalf("output differs from compress/flate's (-flate +fast):\n%s", diff)
			}
		case errShortOutput, errTrailingData:
			if !bytes.HasPrefix(want, out[:n]) {
				t.Fatalf("%v after %d bytes that compress/flate does not give", err, n)
			}
			if err == errShortOutput && ferr == nil && len(want) <= int(size) {
				t.Fatalf("%v at %d bytes; compress/flate inflated %d", err, n, len(want))
			}
		default:
			if ferr == nil {
				t.Fatalf("%v; compress/flate inflated %d bytes", err, len(want))
			}
		}
	})
}

// TestFastInflateAllocs checks that the fast path allocates nothing.
func TestFastInflateAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	payload := newRefDeflater(flate.BestSpeed, false).message(t, jsonText(1000, 1))
	d := NewDecompressor(15, true)
	defer d.Release()
	buf := make([]byte, 1000)
	src := &wholeReader{}
	run := func() {
		src.b, src.n = payload, len(payload)
		d.Begin(src)
		if n, err := d.Read(buf); n != len(buf) || err != io.EOF {
			t.Fatalf("Read = %d, %v", n, err)
		}
	}
	run()
	if allocs := testing.AllocsPerRun(100, run); allocs != 0 {
		t.Errorf("%v allocations per message", allocs)
	}
}
