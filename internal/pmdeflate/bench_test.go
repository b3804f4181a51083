package pmdeflate

import (
	"bytes"
	"fmt"
	"io"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/twoway/websocket/internal/cputime"
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
	start := cputime.Process()
	for i := 0; b.Loop(); i++ {
		m := msgs[i%len(msgs)]
		c.Begin(&out)
		c.Write(m)
		if err := c.Finish(); err != nil {
			b.Fatal(err)
		}
		in += len(m)
	}
	b.ReportMetric(float64(cputime.Process()-start)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(out.n)/float64(in), "ratio")
}

// BenchmarkDecompress measures throughput in inflated bytes, of messages
// compressed at the default level.
func BenchmarkDecompress(b *testing.B) {
	for _, p := range benchPayloads {
		for _, size := range benchSizes {
			for _, takeover := range []bool{true, false} {
				for _, whole := range []bool{false, true} {
					name := fmt.Sprintf("%s/%s/takeover=%t/whole=%t", p.name, size.name, takeover, whole)
					b.Run(name, func(b *testing.B) {
						benchDecompress(b, benchMessages(p.gen, size.n), takeover, whole)
					})
				}
			}
		}
	}
}

// benchDecompress inflates msgs in turn. With whole, each payload comes
// from a FrameSource, as from a connection reading a message of one
// frame, so that the fast path may take it.
func benchDecompress(b *testing.B, msgs [][]byte, takeover, whole bool) {
	c := NewCompressor(0, 15, takeover)
	payloads := make([][]byte, len(msgs))
	for i, m := range msgs {
		payloads[i] = compressMessage(b, c, m, 0)
	}
	c.Release()

	d := NewDecompressor(15, takeover)
	defer d.Release()
	src := new(wholeReader)
	buf := make([]byte, 16<<10)
	b.SetBytes(int64(len(msgs[0])))
	b.ReportAllocs()
	start := cputime.Process()
	// With takeover the messages must be inflated in order; going round
	// again works because the first was compressed with an empty window.
	for i := 0; b.Loop(); i++ {
		p := payloads[i%len(payloads)]
		src.b, src.n = p, len(p)
		if whole {
			d.Begin(src)
		} else {
			d.Begin(&src.frameReader)
		}
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
	reportCPU(b, start)
}

// BenchmarkChatRatio compresses a stream of JSON chat events with each
// kind of compressor a connection may have, and reports the compressed
// size over the original (ratio) beside what an idle connection's
// Compressor keeps (idle-bytes). busy sends the events back to back, so the
// Compressor keeps its encoder and its whole window; idle has an idle
// spell before every event, so each starts from the kept dictionary.
func BenchmarkChatRatio(b *testing.B) {
	events := chatEvents(4096, 1)
	for _, tc := range []struct {
		name     string
		bits     int
		takeover bool
		idle     bool
	}{
		{"takeover/bits=15/busy", 15, true, false},
		{"takeover/bits=15/idle", 15, true, true},
		{"takeover/bits=13/busy", 13, true, false},
		{"takeover/bits=12/busy", 12, true, false},
		{"takeover/bits=12/idle", 12, true, true},
		{"takeover/bits=10/busy", 10, true, false},
		{"no-takeover", 15, false, false},
	} {
		b.Run(tc.name, func(b *testing.B) {
			c := NewCompressor(0, tc.bits, tc.takeover)
			defer c.Release()
			var out countWriter
			in := 0
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				m := events[i%len(events)]
				if tc.idle {
					b.StopTimer()
					idle(c)
					b.StartTimer()
				}
				c.Begin(&out)
				c.Write(m)
				if err := c.Finish(); err != nil {
					b.Fatal(err)
				}
				in += len(m)
			}
			b.ReportMetric(float64(out.n)/float64(in), "ratio")
			b.ReportMetric(float64(c.hist.size()), "idle-bytes")
		})
	}
}

// BenchmarkPrime measures what starting a message after an idle spell
// costs: priming a pooled encoder with a dictionary of dict bytes, then
// compressing a 1 KiB message. dict=0 is a busy Compressor's message.
// cpu-ns/op is the process's CPU time per message.
func BenchmarkPrime(b *testing.B) {
	msgs := benchMessages(jsonText, 1<<10)
	history := jsonText(32<<10, 9)
	for _, dict := range []int{0, 2 << 10, 4 << 10, 8 << 10, 32 << 10} {
		b.Run(fmt.Sprintf("dict=%d", dict), func(b *testing.B) {
			kind := encKind
			d := getDeflater(kind)
			defer putDeflater(kind, d)
			d.reset(1<<maxWindowBits, nil)
			var out countWriter
			b.SetBytes(1 << 10)
			b.ReportAllocs()
			in := 0
			start := cputime.Process()
			for i := 0; b.Loop(); i++ {
				if dict > 0 {
					d.reset(1<<maxWindowBits, history[len(history)-dict:])
				}
				d.begin(&out)
				d.write(msgs[i%len(msgs)])
				if err := d.finish(); err != nil {
					b.Fatal(err)
				}
				in += 1 << 10
			}
			reportCPU(b, start)
			b.ReportMetric(float64(out.n)/float64(in), "ratio")
		})
	}
}

// BenchmarkParked compresses 1 KiB JSON messages for 1,000 connections
// with context takeover, as an echo server does under pipelined load:
// each connection in turn sends a burst of burst messages back to back.
// With places=0 no Compressor parks its flate state, so every message of
// a connection that is not warm primes a pooled encoder; with the default
// places, only the first of each burst does.
func BenchmarkParked(b *testing.B) {
	msgs := benchMessages(jsonText, 1<<10)
	within := parkWithin
	for _, burst := range []int{1, 8} {
		for _, places := range []int{0, maxParked} {
			b.Run(fmt.Sprintf("burst=%d/places=%d", burst, places), func(b *testing.B) {
				withParking(b, places, func() {
					maxWarm, parkWithin = int32(4*runtime.GOMAXPROCS(0)), within
					cs := make([]*Compressor, 1000)
					for i := range cs {
						cs[i] = NewCompressor(0, 15, true)
						defer cs[i].Release()
					}
					var out countWriter
					b.SetBytes(1 << 10)
					b.ReportAllocs()
					start := cputime.Process()
					for i := 0; b.Loop(); i++ {
						c := cs[i/burst%len(cs)]
						c.Begin(&out)
						c.Write(msgs[i%len(msgs)])
						if err := c.Finish(); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64(cputime.Process()-start)/float64(b.N), "cpu-ns/op")
				})
			})
		}
	}
}

// reportCPU reports the process's CPU time per op since start: on a
// shared machine wall time per op swings with the load, CPU time much
// less.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cputime.Process()-start)/float64(b.N), "cpu-ns/op")
}

// BenchmarkEmit measures emit alone, the choice of a block's form, its
// Huffman codes and the writing of its tokens, on the blocks a Compressor
// with context takeover makes of JSON messages of each size (a 64 KiB
// message's are 16 KiB), taken in turn.
func BenchmarkEmit(b *testing.B) {
	for _, size := range []int{1 << 10, 64 << 10} {
		b.Run(fmt.Sprintf("text/%dKiB", size>>10), func(b *testing.B) {
			type block struct {
				raw      []byte
				tokens   []token
				litFreq  [numLitLen]uint32
				distFreq [numDistCodes]uint32
			}
			var blocks []block
			e := newEncoder()
			e.reset(encMaxWindow, nil)
			e.dst = new(countWriter)
			for _, m := range benchMessages(jsonText, size) {
				for p := m; len(p) > 0; {
					// As write and block do, keeping what emit needs.
					k := min(len(p), encMaxBlock)
					if e.pend+encMaxBlock > len(e.buf) {
						e.slide()
					}
					e.n += copy(e.buf[e.n:], p[:k])
					e.tokens = e.tokens[:0]
					clear(e.litFreq[:])
					clear(e.distFreq[:])
					if e.match(e.pend, e.n) {
						e.litFreq[endOfBlock]++
						blocks = append(blocks, block{bytes.Clone(e.buf[e.pend:e.n]), slices.Clone(e.tokens), e.litFreq, e.distFreq})
					}
					e.pend = e.n
					p = p[k:]
				}
			}
			b.SetBytes(int64(len(blocks[0].raw)))
			b.ReportAllocs()
			start := cputime.Process()
			for i := 0; b.Loop(); i++ {
				k := &blocks[i%len(blocks)]
				e.tokens = append(e.tokens[:0], k.tokens...)
				e.litFreq, e.distFreq = k.litFreq, k.distFreq
				e.out.reset()
				e.emit(k.raw)
			}
			reportCPU(b, start)
		})
	}
}
