package hist

import (
	"testing"
	"time"
)

func TestIndexRoundTrip(t *testing.T) {
	// Every value lands in a bucket whose bounds contain it, and bucket
	// widths stay within the promised relative precision.
	for _, v := range []uint64{0, 1, 31, 63, 64, 65, 127, 128, 1000, 12345, 1 << 20, 1<<20 + 12345, 1 << 40, 1<<41 - 1} {
		i := index(v)
		lo, hi := lowest(i), lowest(i+1)
		if v < lo || v >= hi {
			t.Errorf("index(%d) = %d with bounds [%d, %d)", v, i, lo, hi)
		}
		if lo > 2*sub && float64(hi-lo)/float64(lo) > 1.0/sub {
			t.Errorf("bucket %d [%d, %d) wider than 1/%d", i, lo, hi, sub)
		}
	}
	if i := index(1 << 62); i != nBuckets-1 {
		t.Errorf("huge value maps to %d, want last bucket %d", i, nBuckets-1)
	}
}

func TestQuantile(t *testing.T) {
	var h Histogram
	if got := h.Quantile(0.5); got != 0 {
		t.Errorf("empty median = %v", got)
	}
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	var m Histogram
	m.Merge(&h)
	if m.Count() != 1000 {
		t.Fatalf("Count = %d", m.Count())
	}
	tests := []struct {
		q    float64
		want time.Duration
	}{
		{0, time.Microsecond},
		{0.5, 500 * time.Microsecond},
		{0.99, 990 * time.Microsecond},
		{1, 1000 * time.Microsecond},
	}
	for _, tt := range tests {
		got := m.Quantile(tt.q)
		if d := float64(got-tt.want) / float64(tt.want); d < -0.04 || d > 0.04 {
			t.Errorf("Quantile(%v) = %v, want %v within 4%%", tt.q, got, tt.want)
		}
	}
}
