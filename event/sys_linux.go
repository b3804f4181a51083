//go:build linux

package event

import (
	"syscall"
	"unsafe"
)

// The loop's system calls on its non-blocking descriptors return at
// once, so they are made without telling the runtime, as
// syscall.RawSyscall does. One made the usual way, through entersyscall,
// wakes the runtime's monitor thread (sysmon) whenever the process has
// been idle, and that thread hands the P of a goroutine it finds in a
// system call to another thread. A loop that handles a few events at a
// time and parks between them paid more for those wake-ups, sleeps and
// hand-offs (futex, nanosleep, sched_yield: 0.35 calls per handshake)
// than for many of its own calls. Closing and shutting down a socket,
// which may take longer, are made the usual way.

// rawRead is syscall.Read.
func rawRead(fd int, p []byte) (int, error) { return rawIO(syscall.SYS_READ, fd, p) }

// rawWrite is syscall.Write.
func rawWrite(fd int, p []byte) (int, error) { return rawIO(syscall.SYS_WRITE, fd, p) }

// rawIO makes the read or write system call trap on fd with p.
func rawIO(trap uintptr, fd int, p []byte) (int, error) {
	var ptr unsafe.Pointer
	if len(p) > 0 {
		ptr = unsafe.Pointer(&p[0])
	}
	n, _, e := syscall.RawSyscall(trap, uintptr(fd), uintptr(ptr), uintptr(len(p)))
	if e != 0 {
		return -1, e
	}
	return int(n), nil
}

// rawAccept4 is syscall.Accept4 without the peer's address.
func rawAccept4(fd, flags int) (int, error) {
	nfd, _, e := syscall.RawSyscall6(syscall.SYS_ACCEPT4, uintptr(fd), 0, 0, uintptr(flags), 0, 0)
	if e != 0 {
		return -1, e
	}
	return int(nfd), nil
}

// rawEpollWait is syscall.EpollWait with no timeout: it takes the events
// ready now.
func rawEpollWait(epfd int, events []syscall.EpollEvent) (int, error) {
	n, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
	if e != 0 {
		return -1, e
	}
	return int(n), nil
}

// rawEpollCtl is syscall.EpollCtl.
func rawEpollCtl(epfd, op, fd int, ev *syscall.EpollEvent) error {
	_, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_CTL, uintptr(epfd), uintptr(op), uintptr(fd), uintptr(unsafe.Pointer(ev)), 0, 0)
	if e != 0 {
		return e
	}
	return nil
}
