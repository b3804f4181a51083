package procstat

import (
	"os"
	"testing"
)

func TestSelf(t *testing.T) {
	pid := os.Getpid()
	// Burn a little CPU so the counter is likely non-zero; only errors
	// and impossible values are checked, as the tick is coarse.
	x := 0
	for i := range 50_000_000 {
		x += i
	}
	_ = x
	cpu, err := CPUTime(pid)
	if err != nil || cpu < 0 {
		t.Fatalf("CPUTime = %v, %v", cpu, err)
	}
	rss, err := RSS(pid)
	if err != nil || rss < 1<<20 {
		t.Fatalf("RSS = %d, %v; want >= 1 MiB", rss, err)
	}
	n, err := RaiseNoFile()
	if err != nil || n < 64 {
		t.Fatalf("RaiseNoFile = %d, %v", n, err)
	}
	if _, err := CPUTime(-1); err == nil {
		t.Fatal("CPUTime(-1) succeeded")
	}
	if _, err := RSS(-1); err == nil {
		t.Fatal("RSS(-1) succeeded")
	}
}
