//go:build race

package event_test

// raceEnabled reports a build with the race detector, whose shadow memory
// makes resident sizes meaningless.
const raceEnabled = true
