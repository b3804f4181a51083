//go:build !race

package event

import "testing"

// TestGrowBufferAllocs checks that once the pool classes are warm,
// growing a buffer allocates nothing. Not under the race detector, which
// makes sync.Pool drop items at random.
func TestGrowBufferAllocs(t *testing.T) {
	allocs := testing.AllocsPerRun(100, func() {
		p := getBuffer(256)
		*p = append(*p, make([]byte, 200)...)
		p = growBuffer(p, 1000)
		putBuffer(p)
	})
	if allocs != 0 {
		t.Errorf("growing a buffer: %v allocations, want 0", allocs)
	}
}
