package pmdeflate

import (
	"bytes"
	"fmt"
	"io"
	"runtime"
	"testing"
)

var benchPayloads = []struct {
	name string
	gen  func(n int, seed uint64) []byte
}{
	{"text", jsonText},
	{"random", randomBytes},
}

var benchSizes = []struct {
	name string
	n    int
}{
	{"1KiB", 1 << 10},
	{"64KiB", 64 << 10},
}

// benchMessages returns different messages of n bytes, enough of them
// to fill several 32 KiB windows, so that context takeover finds similar
// but not identical earlier messages.
func benchMessages(gen func(int, uint64) []byte, n int) [][]byte {
	count := max(4, 128<<10/n)
	all := gen(count*n, 1)
	msgs := make([][]byte, count)
	for i := range msgs {
		msgs[i] = all[i*n : (i+1)*n]
	}
	return msgs
}

// countWriter counts and discards what it is given.
type countWriter struct{ n int64 }

func (w *countWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}

// BenchmarkCompress measures throughput in uncompressed bytes; the ratio
// metric is compressed over uncompressed size.
func BenchmarkCompress(b *testing.B) {
	for _, p := range benchPayloads {
		for _, size := range benchSizes {
			for _, takeover := range []bool{true, false} {
				for _, level := range []int{1, 6} {
					for _, bits := range []int{15, 10} {
						if bits < 15 && (level != 1 || size.n < 64<<10) {
							continue
						}
						name := fmt.Sprintf("%s/%s/takeover=%t/level=%d/bits=%d", p.name, size.name, takeover, level, bits)
						b.Run(name, func(b *testing.B) {
							benchCompress(b, benchMessages(p.gen, size.n), level, bits, takeover)
						})
					}
				}
			}
		}
	}
}

func benchCompress(b *testing.B, msgs [][]byte, level, bits int, takeover bool) {
	c := NewCompressor(level, bits, takeover)
	defer c.Release()
	var out countWriter
	in := 0
	b.SetBytes(int64(len(msgs[0])))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		m := msgs[i%len(msgs)]
		c.Begin(&out)
		c.Write(m)
		if err := c.Finish(); err != nil {
			b.Fatal(err)
		}
		in += len(m)
	}
	b.ReportMetric(float64(out.n)/float64(in), "ratio")
}

// BenchmarkDecompress measures throughput in inflated bytes, of messages
// compressed at the default level.
func BenchmarkDecompress(b *testing.B) {
	for _, p := range benchPayloads {
		for _, size := range benchSizes {
			for _, takeover := range []bool{true, false} {
				name := fmt.Sprintf("%s/%s/takeover=%t", p.name, size.name, takeover)
				b.Run(name, func(b *testing.B) {
					benchDecompress(b, benchMessages(p.gen, size.n), takeover)
				})
			}
		}
	}
}

func benchDecompress(b *testing.B, msgs [][]byte, takeover bool) {
	c := NewCompressor(0, 15, takeover)
	payloads := make([][]byte, len(msgs))
	for i, m := range msgs {
		payloads[i] = compressMessage(b, c, m, 0)
	}
	c.Release()

	d := NewDecompressor(15, takeover)
	defer d.Release()
	src := new(bytes.Reader)
	buf := make([]byte, 16<<10)
	b.SetBytes(int64(len(msgs[0])))
	b.ReportAllocs()
	// With takeover the messages must be inflated in order; going round
	// again works because the first was compressed with an empty window.
	for i := 0; b.Loop(); i++ {
		src.Reset(payloads[i%len(payloads)])
		d.Begin(src)
		n := 0
		for {
			k, err := d.Read(buf)
			n += k
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		if n != len(msgs[0]) {
			b.Fatalf("inflated %d bytes, want %d", n, len(msgs[0]))
		}
	}
}

// TestConnectionMemory measures the heap that one connection's Compressor
// and Decompressor keep between messages. Without context takeover it must
// be next to nothing; with takeover it is the flate writer and the peer's
// window.
func TestConnectionMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates about 100 MiB")
	}
	for _, tc := range []struct {
		name     string
		takeover bool
		keepC    bool // measure the Compressor
		keepD    bool // measure the Decompressor
		limit    uint64
	}{
		{"no takeover", false, true, true, 512},
		{"takeover", true, true, true, 2 << 20},
		{"takeover, compressor", true, true, false, 2 << 20},
		{"takeover, decompressor", true, false, true, 40 << 10},
	} {
		perConn := connectionMemory(t, tc.takeover, tc.keepC, tc.keepD)
		t.Logf("%s: %d bytes per idle connection", tc.name, perConn)
		if perConn > tc.limit {
			t.Errorf("%s: %d bytes per idle connection, want at most %d", tc.name, perConn, tc.limit)
		}
	}
}

func connectionMemory(t *testing.T, takeover, keepC, keepD bool) uint64 {
	const conns = 100
	msgs := [][]byte{jsonText(4096, 1), jsonText(1024, 2)}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.GC() // twice: pools keep their contents through one collection
	runtime.ReadMemStats(&before)
	kept := make([]any, 0, 2*conns)
	for range conns {
		c, d := NewCompressor(0, 15, takeover), NewDecompressor(15, takeover)
		for _, m := range msgs {
			payload := compressMessage(t, c, m, 0)
			if got, err := decompressMessage(d, payload, 0); err != nil || !bytes.Equal(got, m) {
				t.Fatalf("round trip: %v", err)
			}
		}
		if keepC {
			kept = append(kept, c)
		} else {
			c.Release()
		}
		if keepD {
			kept = append(kept, d)
		} else {
			d.Release()
		}
	}
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&after)
	perConn := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / conns
	for _, x := range kept {
		switch x := x.(type) {
		case *Compressor:
			x.Release()
		case *Decompressor:
			x.Release()
		}
	}
	return uint64(max(perConn, 0))
}
