// Package hist is a fixed-size log-linear histogram of durations, cheap
// enough to record every message of a benchmark.
package hist

import (
	"math/bits"
	"time"
)

// subBits sets the precision: each power of two is split into 1<<subBits
// buckets, so a quantile is within 1/32 (about 3%) of the true value.
const subBits = 5

const (
	sub      = 1 << subBits
	maxShift = 40 - subBits // values up to 2^41 ns (about 36 minutes)
	nBuckets = (maxShift+2)*sub + sub
)

// Histogram counts durations. The zero value is empty and ready to use.
type Histogram struct {
	counts [nBuckets]uint64
	n      uint64
}

func index(v uint64) int {
	if v < 2*sub {
		return int(v)
	}
	shift := bits.Len64(v) - 1 - subBits // >= 1
	if shift > maxShift {
		return nBuckets - 1
	}
	return shift*sub + int(v>>shift)
}

// lowest returns the smallest value that maps to bucket i.
func lowest(i int) uint64 {
	if i < 2*sub {
		return uint64(i)
	}
	shift := i/sub - 1
	return uint64(i%sub+sub) << shift
}

// Record adds one observation; negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	v := uint64(0)
	if d > 0 {
		v = uint64(d)
	}
	h.counts[index(v)]++
	h.n++
}

// Count returns the number of observations.
func (h *Histogram) Count() uint64 { return h.n }

// Merge adds all observations of o to h.
func (h *Histogram) Merge(o *Histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
}

// Quantile returns the q-quantile (0 <= q <= 1) as the midpoint of its
// bucket, or 0 for an empty histogram.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n-1)) + 1 // 1-based rank of the wanted observation
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, hi := lowest(i), lowest(i+1)
			return time.Duration(lo + (hi-lo)/2)
		}
	}
	return time.Duration(lowest(nBuckets - 1))
}
