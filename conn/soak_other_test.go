//go:build !linux

package conn

// openFDs cannot tell the open file descriptors outside Linux.
func openFDs() map[int]string { return nil }

// countFDs cannot count the open file descriptors outside Linux.
func countFDs() int { return -1 }

// raiseFDLimit leaves the limit as it is: Go raises the soft limit to the
// hard one at start-up on Unix systems.
func raiseFDLimit(want int) (int, func()) { return want, func() {} }
