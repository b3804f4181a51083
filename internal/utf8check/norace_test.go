//go:build !race

package utf8check

const raceEnabled = false
