// Package procstat reads a process's CPU time and resident memory from
// Linux /proc, and raises the open-file limit of the calling process.
package procstat

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
)

// clockTick is USER_HZ, the unit of utime and stime in /proc/<pid>/stat.
// It is 100 on every Linux ABI Go supports.
const clockTick = 10 * time.Millisecond

// CPUTime returns the user plus system CPU time consumed so far by the
// process pid, summed over all its threads (proc(5): utime and stime).
func CPUTime(pid int) (time.Duration, error) {
	user, sys, err := CPUTimes(pid)
	return user + sys, err
}

// CPUTimes returns the user and the system CPU time consumed so far by
// the process pid, each summed over all its threads: what the process's
// own code cost apart from what the kernel did for it.
func CPUTimes(pid int) (user, sys time.Duration, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// The command name in parentheses may contain spaces; fields are
	// counted from the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, errors.New("procstat: malformed stat")
	}
	f := bytes.Fields(b[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, 0, errors.New("procstat: short stat")
	}
	utime, err := strconv.ParseInt(string(f[11]), 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("procstat: utime: %w", err)
	}
	stime, err := strconv.ParseInt(string(f[12]), 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("procstat: stime: %w", err)
	}
	return time.Duration(utime) * clockTick, time.Duration(stime) * clockTick, nil
}

// SelfCPUTime returns the user plus system CPU time consumed so far by
// the calling process (getrusage(2)), at microsecond resolution rather
// than the clock ticks of /proc.
func SelfCPUTime() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, err
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}

// RSS returns the resident set size in bytes of the process pid (VmRSS in
// /proc/<pid>/status).
func RSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		v, ok := bytes.CutPrefix(line, []byte("VmRSS:"))
		if !ok {
			continue
		}
		f := bytes.Fields(v)
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0, fmt.Errorf("procstat: malformed VmRSS line %q", line)
		}
		kb, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("procstat: VmRSS: %w", err)
		}
		return kb << 10, nil
	}
	return 0, errors.New("procstat: no VmRSS in status")
}

// RaiseNoFile raises the soft RLIMIT_NOFILE of the calling process to its
// hard limit and returns the new soft limit.
func RaiseNoFile() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return 0, err
		}
	}
	return lim.Cur, nil
}
