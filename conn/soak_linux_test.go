package conn

import (
	"os"
	"strconv"
	"syscall"
)

// openFDs returns the file descriptors the process has open, by number,
// each with what it refers to, or nil where that cannot be told.
func openFDs() map[int]string {
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return nil
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return nil
	}
	fds := make(map[int]string, len(names))
	for _, name := range names {
		fd, err := strconv.Atoi(name)
		if err != nil {
			continue
		}
		// The directory's own descriptor is listed too, and is gone by
		// now: its link cannot be read.
		if target, err := os.Readlink("/proc/self/fd/" + name); err == nil {
			fds[fd] = target
		}
	}
	return fds
}

// countFDs returns how many file descriptors the process has open, or -1
// where that cannot be told. It is cheaper than openFDs.
func countFDs() int {
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return -1
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return -1
	}
	return len(names) - 1 // less the directory's own
}

// raiseFDLimit raises the soft limit on open files to want if it is lower
// and the hard limit allows, and returns the limit now in force and a
// function that restores the old one.
func raiseFDLimit(want int) (int, func()) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return want, func() {}
	}
	if lim.Cur >= uint64(want) {
		return int(min(lim.Cur, 1<<30)), func() {}
	}
	old := lim
	lim.Cur = min(uint64(want), lim.Max)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return int(old.Cur), func() {}
	}
	return int(lim.Cur), func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old) }
}
