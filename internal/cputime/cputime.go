// Package cputime reports the CPU time of the running process, for
// benchmarks that report CPU per operation: on a shared machine wall time
// per operation swings with the load, CPU time much less.
package cputime

import "time"

// Process returns the CPU time, user and system, that the process has
// used so far, or 0 where the system does not say.
func Process() time.Duration { return process() }
