//go:build unix

package cputime

import (
	"testing"
	"time"
)

// TestProcessCounts checks that a loop that burns CPU shows in Process.
func TestProcessCounts(t *testing.T) {
	start := Process()
	x := 0
	for range 200 { // at most a few seconds of CPU
		for i := range 10_000_000 {
			x += i
		}
		if Process()-start >= 50*time.Millisecond {
			return
		}
	}
	t.Fatalf("after a busy loop Process went from %v to %v (x=%d)", start, Process(), x)
}
