package procstat

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"
)

// pageSize is the unit of the TCP mem field of /proc/net/sockstat.
var pageSize = int64(os.Getpagesize())

// Kernel is what the kernel holds for sockets, machine-wide (the network
// namespace's for the counts): other processes' sockets count too, so
// callers take differences over an interval in which their own sockets
// dominate.
type Kernel struct {
	TCPInUse  int64 // TCP sockets in use (sockstat "TCP: inuse")
	TCPMem    int64 // bytes of TCP buffers charged (sockstat "TCP: mem", in pages)
	SlabBytes int64 // kernel slab memory, every cache (meminfo "Slab")

	// SocketSlab is the part of the slab in the caches every TCP socket
	// of a Go program takes objects from (SocketCaches), as active
	// objects times object size; 0 where /proc/slabinfo is not readable
	// (it needs root).
	SocketSlab int64
}

// SocketCaches are the slab caches that hold one object for each TCP
// socket a Go program opens: the socket, its inode, its open file, and
// its entry in an epoll set (Go's poller, or the event server's loop).
// Each socket also has a dentry (192 bytes on x86-64), not counted here
// since the dentry cache changes with every file looked up.
var SocketCaches = []string{"TCP", "sock_inode_cache", "filp", "eventpoll_epi"}

// ReadKernel reads /proc/net/sockstat and /proc/meminfo.
func ReadKernel() (Kernel, error) {
	var k Kernel
	b, err := os.ReadFile("/proc/net/sockstat")
	if err != nil {
		return k, err
	}
	line, ok := lineWithPrefix(b, "TCP:")
	if !ok {
		return k, errors.New("procstat: no TCP line in sockstat")
	}
	// "inuse N orphan N tw N alloc N mem N": name and value pairs.
	f := bytes.Fields(line)
	found := 0
	for i := 0; i+1 < len(f); i += 2 {
		v, err := strconv.ParseInt(string(f[i+1]), 10, 64)
		if err != nil {
			return k, fmt.Errorf("procstat: sockstat %s: %w", f[i], err)
		}
		switch string(f[i]) {
		case "inuse":
			k.TCPInUse = v
			found++
		case "mem":
			k.TCPMem = v * pageSize
			found++
		}
	}
	if found != 2 {
		return k, fmt.Errorf("procstat: malformed sockstat TCP line %q", line)
	}
	if b, err = os.ReadFile("/proc/meminfo"); err != nil {
		return k, err
	}
	if k.SlabBytes, err = kbField(b, "Slab:"); err != nil {
		return k, err
	}
	if b, err = os.ReadFile("/proc/slabinfo"); err == nil {
		if k.SocketSlab, err = socketSlab(b); err != nil {
			return k, err
		}
	}
	return k, nil
}

// socketSlab sums active objects times object size over SocketCaches in
// the text of /proc/slabinfo (version 2.1: name, active objects, objects,
// object size, ...).
func socketSlab(b []byte) (int64, error) {
	var sum int64
	for _, name := range SocketCaches {
		line, ok := lineWithPrefix(b, name+" ")
		if !ok {
			continue // a kernel that merged or renamed the cache
		}
		f := bytes.Fields(line)
		if len(f) < 3 {
			return 0, fmt.Errorf("procstat: malformed slabinfo line for %s", name)
		}
		active, err1 := strconv.ParseInt(string(f[0]), 10, 64)
		size, err2 := strconv.ParseInt(string(f[2]), 10, 64)
		if err := errors.Join(err1, err2); err != nil {
			return 0, fmt.Errorf("procstat: slabinfo %s: %w", name, err)
		}
		sum += active * size
	}
	return sum, nil
}

// NoFileLimit returns the soft limit on open files of the process pid
// ("Max open files" in /proc/<pid>/limits).
func NoFileLimit(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		return 0, err
	}
	line, ok := lineWithPrefix(b, "Max open files")
	if !ok {
		return 0, errors.New("procstat: no open-files line in limits")
	}
	f := bytes.Fields(line)
	if len(f) < 1 {
		return 0, errors.New("procstat: malformed open-files line")
	}
	if string(f[0]) == "unlimited" {
		return 1 << 62, nil
	}
	return strconv.ParseUint(string(f[0]), 10, 64)
}

// lineWithPrefix returns what follows prefix on the first line of b that
// starts with it.
func lineWithPrefix(b []byte, prefix string) ([]byte, bool) {
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte(prefix)); ok {
			return v, true
		}
	}
	return nil, false
}

// kbField returns the value in bytes of a "Name:   N kB" line of b.
func kbField(b []byte, name string) (int64, error) {
	v, ok := lineWithPrefix(b, name)
	if !ok {
		return 0, fmt.Errorf("procstat: no %s line", name)
	}
	f := bytes.Fields(v)
	if len(f) != 2 || string(f[1]) != "kB" {
		return 0, fmt.Errorf("procstat: malformed %s line %q", name, v)
	}
	kb, err := strconv.ParseInt(string(f[0]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("procstat: %s %w", name, err)
	}
	return kb << 10, nil
}

// RunTime returns the time the threads of the process pid now running
// have spent on a CPU, in nanoseconds (the first field of each
// /proc/<pid>/task/<tid>/schedstat): finer than CPUTime's 10 ms ticks,
// for small amounts such as what a server spends while its connections
// are idle, but threads that have exited no longer count.
func RunTime(pid int) (time.Duration, error) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var sum int64
	for _, t := range tasks {
		b, err := os.ReadFile(dir + "/" + t.Name() + "/schedstat")
		if err != nil {
			continue // the thread has exited
		}
		f := bytes.Fields(b)
		if len(f) < 1 {
			return 0, errors.New("procstat: malformed schedstat")
		}
		ns, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("procstat: schedstat: %w", err)
		}
		sum += ns
	}
	return time.Duration(sum), nil
}
