//go:build race

package utf8check

// raceEnabled lets single-goroutine brute-force tests skip their slowest
// part, which the race detector would slow down tenfold for no benefit.
const raceEnabled = true
