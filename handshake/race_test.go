//go:build race

package handshake

// raceEnabled reports a build with the race detector, which allocates
// where a plain build does not.
const raceEnabled = true
