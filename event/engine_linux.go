//go:build linux

package event

import (
	"errors"
	"fmt"
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

// testHookTick, if set, replaces the loops' tick, so that a test can
// tell what a wake-up does from what the next tick would do.
var testHookTick time.Duration

// engine is the set of event loops of a Server.
type engine struct {
	loops []*loop
	next  atomic.Uint32
	wg    sync.WaitGroup
}

// loop is one epoll instance and the goroutine that waits on it.
//
// The goroutine does not block in epoll_wait: a system call that blocks
// holds its thread and the runtime's P, so the workers it makes runnable
// wait for sysmon to take the P back, and every message costs thread
// switches. It waits instead in Go's own poller, which watches the epoll
// descriptor like a socket, and calls epoll_wait only with a zero timeout,
// when that descriptor is ready. The tick is the descriptor's read
// deadline, and other goroutines wake the loop by moving the deadline into
// the past, which readies it without a system call.
type loop struct {
	srv   *Server
	epfd  int
	ep    *os.File // epfd, watched by Go's poller; closing it closes epfd
	rc    syscall.RawConn
	woken atomic.Bool // a wake-up is pending: requests are to be handled
	buf   []byte      // what one read takes, shared by the loop's connections
	polls int         // epoll_wait calls, for tests; the loop's own

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
	if testHookTick != 0 {
		tick = testHookTick
	}
	for range n {
		lp, err := newLoop(s)
		if err != nil {
			e.stop()
			return err
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

// newLoop creates a loop's epoll instance and hands its descriptor to
// Go's poller.
func newLoop(s *Server) (*loop, error) {
	lp := &loop{srv: s, buf: make([]byte, 64<<10)}
	var err error
	if lp.epfd, err = syscall.EpollCreate1(syscall.EPOLL_CLOEXEC); err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	// os.NewFile registers a descriptor with the poller only if it is
	// non-blocking; epoll_wait itself ignores the flag.
	if err := syscall.SetNonblock(lp.epfd, true); err != nil {
		syscall.Close(lp.epfd)
		return nil, os.NewSyscallError("fcntl", err)
	}
	lp.ep = os.NewFile(uintptr(lp.epfd), "epoll")
	if lp.rc, err = lp.ep.SyscallConn(); err != nil {
		lp.ep.Close()
		return nil, err
	}
	// Deadlines are refused unless the poller took the descriptor.
	if err := lp.ep.SetReadDeadline(time.Time{}); err != nil {
		lp.ep.Close()
		return nil, fmt.Errorf("event: cannot wait for epoll in Go's poller: %w", err)
	}
	return lp, nil
}

// Serve accepts connections from ln and serves them until Shutdown is
// called, when it returns ErrServerClosed. Serve closes ln when it
// returns. When ln is backed by a socket (net.TCPListener,
// net.UnixListener) a loop accepts from it directly, and ln.Accept is
// never called; TCP connections are accepted with TCP_NODELAY set, as
// package net sets it, through the listener, which has it set too.
// Otherwise, as for a tls.Listener, its connections are served with a
// goroutine each, through the same callbacks.
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
	// A socket accepted on Linux has the TCP_NODELAY its listener had
	// when the connection was established: set once here, it spares a
	// system call per connection but for those already waiting (see
	// listener.early). It fails, harmlessly, for a listener other than
	// TCP's.
	syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
	l := &listener{ln: ln, fd: fd, lp: s.engine.loops[0], done: make(chan struct{}), early: true}
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
	// early is set until accept first finds no connection waiting: the
	// connections accepted until then may have been established before
	// Serve set TCP_NODELAY on the listener, and are given it.
	early bool
	err   error
	done  chan struct{}
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

// accept accepts a connection waiting on l, or, while l.early, those
// waiting.
//
// It takes one at a time: epoll, which watches the listener
// level-triggered, reports it again while more wait, at the cost of a
// round of the loop, while an accept4 that finds none costs about as
// much as one that finds one (Linux makes a socket and a file before it
// looks, then frees them), some ten times an epoll_wait. Accepting until
// none was found made half a failed accept4 per connection when clients
// connect one by one.
func (lp *loop) accept(l *listener) {
	s := lp.srv
	for range 1024 { // then let the other events have their turn
		fd, err := rawAccept4(l.fd, syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
		switch {
		case err == nil && !l.early:
			s.add(fd, lp)
		case err == nil:
			syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
			s.add(fd, lp)
			continue
		case err == syscall.EAGAIN:
			l.early = false
		case err == syscall.EINTR || err == syscall.ECONNABORTED:
			continue
		case err == syscall.EMFILE || err == syscall.ENFILE:
			// Out of descriptors: stop listening a while rather than
			// spin, as net/http waits when Accept fails so.
			ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(l.fd)}
			syscall.EpollCtl(lp.epfd, syscall.EPOLL_CTL_DEL, l.fd, &ev)
			time.AfterFunc(10*time.Millisecond, func() {
				lp.mu.Lock()
				// A stopped loop closes its epoll descriptor, whose number
				// may then belong to something else.
				if !l.closed && !lp.stopped {
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

// add starts serving, on the next loop in turn, a connection that the
// loop from accepted from a listener.
func (s *Server) add(fd int, from *loop) {
	if s.shutdown.Load() {
		syscall.Close(fd)
		return
	}
	e := &s.engine
	s.addTo(e.loops[int(e.next.Add(1))%len(e.loops)], from, fd)
}

// addTo starts serving a connection on lp.
func (s *Server) addTo(lp, from *loop, fd int) {
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
	// The request has usually arrived by the time its connection is
	// accepted: the loop that is to read it reads it now, before epoll
	// watches the connection, rather than take an event and a round of
	// the loop for it. Another loop's connection is left to that loop.
	if lp == from {
		lp.read(c)
	}
	// Register what the connection waits for now, under its lock, so
	// that a change by a callback (output the peer did not take) cannot
	// come between: until then the changes fail, unseen by epoll.
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended != nil {
		return // refused, closed or handed to HTTP, its descriptor gone
	}
	ev := syscall.EpollEvent{Events: epollEvents(c.events), Fd: int32(fd)}
	if err := rawEpollCtl(lp.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		c.endLocked(&conn.CloseError{Code: frame.CloseAbnormal, Err: os.NewSyscallError("epoll_ctl", err)})
	}
}

// run waits for events and handles them until the engine stops.
func (lp *loop) run(tick time.Duration) {
	events := make([]syscall.EpollEvent, 256)
	n := 0
	// poll takes the events ready now. Go's poller watches the epoll
	// descriptor edge-triggered, so the loop parks only once epoll_wait
	// has found nothing: any event that comes later makes a new edge.
	poll := func(fd uintptr) bool {
		lp.polls++
		var err error
		n, err = rawEpollWait(int(fd), events)
		for err == syscall.EINTR {
			n, err = rawEpollWait(int(fd), events)
		}
		if err != nil {
			panic(os.NewSyscallError("epoll_wait", err)) // cannot happen with a valid epfd
		}
		return n > 0
	}
	next := clock() + int64(tick)
	reset := true // the deadline is to be set to next
	for {
		if reset {
			reset = false
			lp.ep.SetReadDeadline(time.Now().Add(time.Duration(next - clock())))
		}
		n = 0
		// A wake-up that came before the deadline was reset above left
		// woken set; one that came after left the deadline in the past.
		if !lp.woken.Load() {
			switch err := lp.rc.Read(poll); {
			case err == nil:
			case errors.Is(err, os.ErrDeadlineExceeded):
				reset = true // a tick or a wake-up
			default:
				panic(err) // cannot happen: only the loop closes the file
			}
		}
		for i := range n {
			ev := &events[i]
			fd := int(ev.Fd)
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
			lp.woken.Store(false)
			reset = true
			if lp.requests() {
				return
			}
		}
		if now := clock(); now >= next {
			lp.tick(now)
			next = now + int64(tick)
			reset = true
		}
	}
}

// read reads what has arrived on c and processes it.
func (lp *loop) read(c *Conn) {
	fd := int(c.sys.fd)
	n, err := rawRead(fd, lp.buf)
	for err == syscall.EINTR {
		n, err = rawRead(fd, lp.buf)
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
		lp.ep.Close()
		return true
	}
	return false
}

// aLongTimeAgo is a deadline that has passed.
var aLongTimeAgo = time.Unix(1, 0)

// wakeup makes the loop handle requests soon: at once if it is waiting.
// After the loop has stopped, the file is closed, and this does nothing.
func (lp *loop) wakeup() {
	if !lp.woken.Swap(true) {
		lp.ep.SetReadDeadline(aLongTimeAgo)
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
		n, err := rawWrite(int(s.fd), b)
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
	e := syscall.EpollEvent{Events: epollEvents(ev), Fd: s.fd}
	rawEpollCtl(s.lp.epfd, syscall.EPOLL_CTL_MOD, int(s.fd), &e)
}

// epollEvents returns the epoll events that stand for ev.
func epollEvents(ev uint8) uint32 {
	var e uint32
	if ev&evIn != 0 {
		e |= syscall.EPOLLIN | syscall.EPOLLRDHUP
	}
	if ev&evOut != 0 {
		e |= syscall.EPOLLOUT
	}
	return e
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
