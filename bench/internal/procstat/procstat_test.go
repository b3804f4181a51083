package procstat

import (
	"os"
	"testing"
	"time"
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
	if _, _, err := CPUTimes(-1); err == nil {
		t.Fatal("CPUTimes(-1) succeeded")
	}
	if _, err := CPUTime(-1); err == nil {
		t.Fatal("CPUTime(-1) succeeded")
	}
	if _, err := RSS(-1); err == nil {
		t.Fatal("RSS(-1) succeeded")
	}
}

// TestCPUTimesUser checks that a loop that never enters the kernel shows
// as user time: with utime and stime swapped it would spin to its bound.
func TestCPUTimesUser(t *testing.T) {
	pid := os.Getpid()
	user0, sys0, err := CPUTimes(pid)
	if err != nil {
		t.Fatal(err)
	}
	x := 0
	for range 200 { // at most about 10 s of CPU
		for i := range 20_000_000 {
			x += i
		}
		user, _, err := CPUTimes(pid)
		if err != nil {
			t.Fatal(err)
		}
		if user-user0 >= 100*time.Millisecond {
			break
		}
	}
	_ = x
	user, sys, _ := CPUTimes(pid)
	if user-user0 < 100*time.Millisecond || sys-sys0 > (user-user0)/2 {
		t.Fatalf("after a user-space loop: user %v, system %v; want user >= 100ms and system below half of it", user-user0, sys-sys0)
	}
}
