package event

import (
	"runtime"
	"testing"
	"time"
)

// CheckGoroutines fails t if more goroutines than before are left once
// those ending have had a few seconds to do so.
func CheckGoroutines(t testing.TB, before int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines after Shutdown, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}

// WorkersStarted returns how many goroutines s's pool has started.
func WorkersStarted(s *Server) int {
	s.pool.mu.Lock()
	defer s.pool.mu.Unlock()
	return s.pool.started
}
