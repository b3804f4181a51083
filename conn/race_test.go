//go:build race

package conn

// raceEnabled lets tests of stack layout skip under the race detector,
// which changes it.
const raceEnabled = true
