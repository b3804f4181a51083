package pmdeflate

import (
	"fmt"
	"testing"

	"github.com/klauspost/compress/flate"
)

// BenchmarkPrimeStateless is BenchmarkPrime's work done by
// klauspost/compress's StatelessDeflate, which keeps no encoder at all
// and takes up to 8 KiB of dictionary: the candidate for a cheaper
// dictionary encoder with context takeover. Its output ends with the sync
// marker as a Flush does. With a dictionary it allocates the dictionary
// and the message joined, on every call.
func BenchmarkPrimeStateless(b *testing.B) {
	msgs := benchMessages(jsonText, 1<<10)
	history := jsonText(32<<10, 9)
	for _, dict := range []int{0, 2 << 10, 4 << 10, 8 << 10} {
		b.Run(fmt.Sprintf("dict=%d", dict), func(b *testing.B) {
			var out countWriter
			b.SetBytes(1 << 10)
			b.ReportAllocs()
			in := 0
			for i := 0; b.Loop(); i++ {
				if err := flate.StatelessDeflate(&out, msgs[i%len(msgs)], false, history[len(history)-dict:]); err != nil {
					b.Fatal(err)
				}
				in += 1 << 10
			}
			b.ReportMetric(float64(out.n)/float64(in), "ratio")
		})
	}
}
