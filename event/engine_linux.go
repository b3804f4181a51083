//go:build linux

package event

import (
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twoway/websocket/conn"
	"github.com/twoway/websocket/frame"
)

// engine is the set of event loops of a Server.
type engine struct {
	loops []*loop
	next  atomic.Uint32
	wg    sync.WaitGroup
}

// loop is one epoll instance and the goroutine that waits on it.
type loop struct {
	srv   *Server
	epfd  int
	wake  [2]int // a pipe: writing to wake[1] interrupts epoll_wait
	woken atomic.Bool
	buf   []byte // what one read takes, shared by the loop's connections

	mu        sync.Mutex
	conns     []*Conn // by descriptor
	timers    timers  // when each connection's timers are next due
	pending   []*Conn // to flush
	spare     []*Conn // pending's last array, reused: only the loop touches it
	listeners []*listener
	closing   []*listener
	goAway    bool
	killAll   bool
	stopped   bool
}

func (e *engine) start(s *Server) error {
	n := runtime.GOMAXPROCS(0)
	tick := tickFor(&s.settings)
	for range n {
		lp := &loop{srv: s, buf: make([]byte, 64<<10)}
		var err error
		if lp.epfd, err = syscall.EpollCreate1(syscall.EPOLL_CLOEXEC); err != nil {
			e.stop()
			return os.NewSyscallError("epoll_create1", err)
		}
		if err := syscall.Pipe2(lp.wake[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
			syscall.Close(lp.epfd)
			e.stop()
			return os.NewSyscallError("pipe2", err)
		}
		ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(lp.wake[0])}
		if err := syscall.EpollCtl(lp.epfd, syscall.EPOLL_CTL_ADD, lp.wake[0], &ev); err != nil {
			lp.closeFDs()
			e.stop()
			return os.NewSyscallError("epoll_ctl", err)
		}
		e.loops = append(e.loops, lp)
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			lp.run(tick)
		}()
	}
	return nil
}

func (lp *loop) closeFDs() {
	syscall.Close(lp.wake[0])
	syscall.Close(lp.wake[1])
	syscall.Close(lp.epfd)
}

// Serve accepts connections from ln and serves them until Shutdown is
// called, when it returns ErrServerClosed. Serve closes ln when it
// returns. When ln is backed by a socket (net.TCPListener,
// net.UnixListener) a loop accepts from it directly, and ln.Accept is
// never called; otherwise, as for a tls.Listener, its connections are
// served with a goroutine each, through the same callbacks.
func (s *Server) Serve(ln net.Listener) error {
	if err := s.init(); err != nil {
		return err
	}
	sc, ok := ln.(syscall.Conn)
	if !ok {
		return s.serveGoroutines(ln)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	// The loop watches a duplicate of the descriptor, which shares its
	// non-blocking mode; Go's poller never sees it ready, since nobody
	// calls ln.Accept.
	fd := -1
	var dupErr error
	if err := rc.Control(func(lfd uintptr) {
		fd, dupErr = syscall.Dup(int(lfd))
	}); err != nil {
		return err
	}
	if dupErr != nil {
		return os.NewSyscallError("dup", dupErr)
	}
	syscall.CloseOnExec(fd)
	l := &listener{ln: ln, fd: fd, lp: s.engine.loops[0], done: make(chan struct{})}
	if !s.track(l) {
		syscall.Close(fd)
		ln.Close()
		return ErrServerClosed
	}
	lp := l.lp
	lp.mu.Lock()
	lp.listeners = append(lp.listeners, l)
	lp.mu.Unlock()
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(fd)}
	if err := syscall.EpollCtl(lp.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		l.Close()
		<-l.done
		s.untrack(l)
		return os.NewSyscallError("epoll_ctl", err)
	}
	<-l.done
	s.untrack(l)
	if l.err != nil {
		return l.err
	}
	return ErrServerClosed
}

// listener is a listening socket that a loop accepts from.
type listener struct {
	ln     net.Listener
	fd     int
	lp     *loop
	closed bool // guarded by lp.mu
	err    error
	done   chan struct{}
}

// Close asks the loop to stop accepting; done is closed once it has.
func (l *listener) Close() error {
	lp := l.lp
	lp.mu.Lock()
	if !l.closed {
		l.closed = true
		lp.closing = append(lp.closing, l)
	}
	lp.mu.Unlock()
	lp.wakeup()
	return nil
}

// accept accepts the connections waiting on l.
func (lp *loop) accept(l *listener) {
	s := lp.srv
	for range 1024 { // then let the other events have their turn
		fd, _, err := syscall.Accept4(l.fd, syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
		switch {
		case err == nil:
			s.add(fd)
			continue
		case err == syscall.EAGAIN:
		case err == syscall.EINTR || err == syscall.ECONNABORTED:
			continue
		case err == syscall.EMFILE || err == syscall.ENFILE:
			// Out of descriptors: stop listening a while rather than
			// spin, as net/http waits when Accept fails so.
			ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(l.fd)}
			syscall.EpollCtl(lp.epfd, syscall.EPOLL_CTL_DEL, l.fd, &ev)
			time.AfterFunc(10*time.Millisecond, func() {
				lp.mu.Lock()
				if !l.closed {
					syscall.EpollCtl(lp.epfd, syscall.EPOLL_CTL_ADD, l.fd, &ev)
				}
				lp.mu.Unlock()
			})
		default:
			l.err = os.NewSyscallError("accept4", err)
			l.Close()
		}
		return
	}
}

// closeListener stops accepting from l, in the loop, so that no accept
// reaches a descriptor number that was closed and reused.
func (lp *loop) closeListener(l *listener) {
	lp.mu.Lock()
	for i, x := range lp.listeners {
		if x == l {
			lp.listeners = append(lp.listeners[:i], lp.listeners[i+1:]...)
			break
		}
	}
	lp.mu.Unlock()
	syscall.Close(l.fd)
	l.ln.Close()
	close(l.done)
}

// add starts serving a connection accepted from a listener.
func (s *Server) add(fd int) {
	if s.shutdown.Load() {
		syscall.Close(fd)
		return
	}
	syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
	e := &s.engine
	lp := e.loops[int(e.next.Add(1))%len(e.loops)]
	c := &Conn{srv: s, sys: sysConn{lp: lp, fd: int32(fd)}, events: evIn}
	c.deadline.Store(clock() + int64(s.settings.hsTimeout))
	s.active.Add(1)
	lp.mu.Lock()
	if fd >= len(lp.conns) {
		lp.conns = append(lp.conns, make([]*Conn, fd+1-len(lp.conns)+len(lp.conns)/2)...)
	}
	lp.conns[fd] = c
	lp.timers.register(fd, len(lp.conns), c.deadline.Load())
	lp.mu.Unlock()
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: int32(fd)}
	if err := syscall.EpollCtl(lp.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		c.mu.Lock()
		c.endLocked(&conn.CloseError{Code: frame.CloseAbnormal, Err: os.NewSyscallError("epoll_ctl", err)})
		c.mu.Unlock()
	}
}

// run waits for events and handles them until the engine stops.
func (lp *loop) run(tick time.Duration) {
	events := make([]syscall.EpollEvent, 256)
	next := clock() + int64(tick)
	for {
		wait := int((time.Duration(next-clock()) + time.Millisecond - 1) / time.Millisecond)
		n, err := syscall.EpollWait(lp.epfd, events, max(wait, 0))
		if err != nil && err != syscall.EINTR {
			panic(os.NewSyscallError("epoll_wait", err)) // cannot happen with a valid epfd
		}
		for i := range max(n, 0) {
			ev := &events[i]
			fd := int(ev.Fd)
			if fd == lp.wake[0] {
				continue
			}
			lp.mu.Lock()
			var l *listener
			for _, x := range lp.listeners {
				if x.fd == fd && !x.closed {
					l = x
				}
			}
			if l != nil {
				lp.mu.Unlock()
				lp.accept(l)
				continue
			}
			var c *Conn
			if fd < len(lp.conns) {
				c = lp.conns[fd]
			}
			lp.mu.Unlock()
			if c == nil {
				continue
			}
			if ev.Events&(syscall.EPOLLOUT|syscall.EPOLLERR) != 0 {
				c.mu.Lock()
				c.flushLocked()
				c.mu.Unlock()
			}
			if ev.Events&(syscall.EPOLLIN|syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
				lp.read(c)
			}
		}
		if lp.woken.Load() {
			var b [64]byte
			for {
				if n, _ := syscall.Read(lp.wake[0], b[:]); n <= 0 {
					break
				}
			}
			lp.woken.Store(false)
			if lp.requests() {
				return
			}
		}
		if now := clock(); now >= next {
			lp.tick(now)
			next = now + int64(tick)
		}
	}
}

// read reads what has arrived on c and processes it.
func (lp *loop) read(c *Conn) {
	fd := int(c.sys.fd)
	n, err := syscall.Read(fd, lp.buf)
	for err == syscall.EINTR {
		n, err = syscall.Read(fd, lp.buf)
	}
	switch {
	case err == syscall.EAGAIN:
		return
	case err != nil:
		c.mu.Lock()
		c.lostLocked(&connLost{err})
		c.mu.Unlock()
		return
	case n == 0:
		c.mu.Lock()
		c.lostLocked(io.EOF)
		c.mu.Unlock()
		return
	}
	c.mu.Lock()
	ended := c.ended != nil
	c.mu.Unlock()
	if !ended {
		c.feed(lp.buf[:n])
	}
}

// requests handles what other goroutines asked of the loop. It reports
// whether the loop is to stop.
func (lp *loop) requests() bool {
	lp.mu.Lock()
	pending := lp.pending
	lp.pending = lp.spare
	closing := lp.closing
	lp.closing = nil
	goAway, killAll, stopped := lp.goAway, lp.killAll, lp.stopped
	lp.goAway, lp.killAll = false, false
	var all []*Conn
	if goAway || killAll {
		for _, c := range lp.conns {
			if c != nil {
				all = append(all, c)
			}
		}
	}
	lp.mu.Unlock()
	for _, l := range closing {
		lp.closeListener(l)
	}
	for _, c := range pending {
		c.mu.Lock()
		c.queued = false
		c.flushLocked()
		c.mu.Unlock()
	}
	clear(pending) // let the connections go
	lp.spare = pending[:0]
	for _, c := range all {
		c.mu.Lock()
		c.shutdownLocked(killAll)
		c.mu.Unlock()
	}
	if stopped {
		lp.closeFDs()
		return true
	}
	return false
}

// wakeup interrupts the loop's epoll_wait.
func (lp *loop) wakeup() {
	if !lp.woken.Swap(true) {
		syscall.Write(lp.wake[1], []byte{0})
	}
}

func (e *engine) each(f func(lp *loop)) {
	for _, lp := range e.loops {
		lp.mu.Lock()
		f(lp)
		lp.mu.Unlock()
		lp.wakeup()
	}
}

func (e *engine) goAway()   { e.each(func(lp *loop) { lp.goAway = true }) }
func (e *engine) closeAll() { e.each(func(lp *loop) { lp.killAll = true }) }

func (e *engine) stop() {
	e.each(func(lp *loop) { lp.stopped = true })
	e.wg.Wait()
}

// queue asks the loop to flush c.
func (s *sysConn) fdQueue(c *Conn) {
	lp := s.lp
	lp.mu.Lock()
	lp.pending = append(lp.pending, c)
	lp.mu.Unlock()
	lp.wakeup()
}

// write writes what the socket takes of b without waiting.
func (s *sysConn) fdWrite(b []byte) (int, error) {
	for {
		n, err := syscall.Write(int(s.fd), b)
		switch err {
		case nil:
			return n, nil
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return 0, nil
		}
		return 0, &connLost{err}
	}
}

// watch tells epoll which of evIn and evOut to report.
func (s *sysConn) fdWatch(ev uint8) {
	e := syscall.EpollEvent{Fd: s.fd}
	if ev&evIn != 0 {
		e.Events |= syscall.EPOLLIN | syscall.EPOLLRDHUP
	}
	if ev&evOut != 0 {
		e.Events |= syscall.EPOLLOUT
	}
	syscall.EpollCtl(s.lp.epfd, syscall.EPOLL_CTL_MOD, int(s.fd), &e)
}

// shutWrite sends FIN; the loop then reads until the peer closes.
func (s *sysConn) fdShutWrite() bool {
	return syscall.Shutdown(int(s.fd), syscall.SHUT_WR) == nil
}

// close closes the descriptor, which leaves the epoll set with it. The
// caller holds the connection's lock, which every write takes, so no
// write can reach a descriptor number reused by another connection.
func (s *sysConn) fdClose() {
	lp := s.lp
	lp.mu.Lock()
	if int(s.fd) < len(lp.conns) {
		lp.conns[s.fd] = nil
	}
	lp.mu.Unlock()
	syscall.Close(int(s.fd))
}

// fdDetach takes the descriptor out of the loop and makes a net.Conn of
// it, which Go's poller serves.
func (s *sysConn) fdDetach() (net.Conn, error) {
	lp := s.lp
	lp.mu.Lock()
	if int(s.fd) < len(lp.conns) {
		lp.conns[s.fd] = nil
	}
	lp.mu.Unlock()
	var ev syscall.EpollEvent
	syscall.EpollCtl(lp.epfd, syscall.EPOLL_CTL_DEL, int(s.fd), &ev)
	f := os.NewFile(uintptr(s.fd), "")
	nc, err := net.FileConn(f) // a duplicate
	f.Close()
	return nc, err
}

// fdRemoteAddr returns the peer's address, or "" if it is gone.
func (s *sysConn) fdRemoteAddr() string {
	sa, err := syscall.Getpeername(int(s.fd))
	if err != nil {
		return ""
	}
	switch sa := sa.(type) {
	case *syscall.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port)).String()
	case *syscall.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), uint16(sa.Port)).String()
	case *syscall.SockaddrUnix:
		return sa.Name
	}
	return ""
}

// connLost is a network error, worded as net's.
type connLost struct{ errno error }

func (e *connLost) Error() string { return "read/write: " + e.errno.Error() }
func (e *connLost) Unwrap() error { return e.errno }
