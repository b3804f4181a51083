package event

import (
	"net"
	"sync"
	"time"
)

// sysConn is how a connection reaches its peer: a descriptor watched by a
// loop, or, for listeners without one and where there are no loops, a
// net.Conn read by a goroutine of its own.
type sysConn struct {
	lp      *loop
	nc      net.Conn
	fd      int32
	writing bool          // a goroutine writes to nc without the lock
	resume  chan struct{} // closed when a paused reader may read again
}

func (s *sysConn) queue(c *Conn) {
	if s.nc == nil {
		s.fdQueue(c)
		return
	}
	c.srv.goWG.Add(1)
	go func() {
		defer c.srv.goWG.Done()
		c.mu.Lock()
		c.queued = false
		c.flushLocked()
		c.mu.Unlock()
	}()
}

func (s *sysConn) watch(ev uint8) {
	if s.nc == nil {
		s.fdWatch(ev)
		return
	}
	if ev&evIn != 0 && s.resume != nil {
		close(s.resume)
		s.resume = nil
	}
}

// armTimer has the connection's timers looked at when the clock reads
// at: the loop looks only at connections that are due, while the ticker
// of the connections served by goroutines looks at them all.
func (s *sysConn) armTimer(at int64) {
	if s.nc == nil {
		s.fdArm(at)
	}
}

func (s *sysConn) shutWrite() bool {
	if s.nc == nil {
		return s.fdShutWrite()
	}
	cw, ok := s.nc.(interface{ CloseWrite() error })
	return ok && cw.CloseWrite() == nil
}

// detach returns the connection as a net.Conn that its loop no longer
// watches.
func (s *sysConn) detach() (net.Conn, error) {
	if s.nc == nil {
		return s.fdDetach()
	}
	return s.nc, nil
}

// remoteAddr returns the peer's address in the form of
// http.Request.RemoteAddr.
func (s *sysConn) remoteAddr() string {
	if s.nc == nil {
		return s.fdRemoteAddr()
	}
	return s.nc.RemoteAddr().String()
}

func (s *sysConn) close() {
	if s.nc == nil {
		s.fdClose()
		return
	}
	s.nc.Close()
	if s.resume != nil {
		close(s.resume)
		s.resume = nil
	}
}

// flushNetLocked writes the output to a net.Conn, without the lock while
// it blocks, so that timers and other writers are not held up. It
// reports whether the output is all written.
func (c *Conn) flushNetLocked() bool {
	if c.sys.writing {
		return false // the writer takes what has been added
	}
	for c.ended == nil && c.pendingLocked() > 0 {
		out := c.out // written from its start: only the loops move outHead
		c.out = nil
		c.sys.writing = true
		c.mu.Unlock()
		_, err := c.sys.nc.Write(*out)
		putBuffer(out)
		c.mu.Lock()
		c.sys.writing = false
		if c.drained != nil {
			close(c.drained)
			c.drained = nil
		}
		if err != nil {
			c.lostLocked(err)
			return false
		}
	}
	return c.ended == nil
}

// serveGoroutines serves ln's connections with a goroutine each.
func (s *Server) serveGoroutines(ln net.Listener) error {
	l := &netListener{ln: ln}
	if !s.track(l) {
		ln.Close()
		return ErrServerClosed
	}
	defer s.untrack(l)
	defer ln.Close()
	s.startTicker()
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.shutdown.Load() {
				return ErrServerClosed
			}
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				time.Sleep(5 * time.Millisecond)
				continue
			}
			return err
		}
		c := &Conn{srv: s, sys: sysConn{nc: nc}, events: evIn}
		c.deadline.Store(clock() + int64(s.settings.hsTimeout))
		s.active.Add(1)
		s.goMu.Lock()
		if s.shutdown.Load() {
			s.goMu.Unlock()
			s.active.Add(-1)
			nc.Close()
			continue
		}
		s.goConns[c] = struct{}{}
		s.goMu.Unlock()
		s.goWG.Add(1)
		go c.readNet()
	}
}

type netListener struct{ ln net.Listener }

func (l *netListener) Close() error { return l.ln.Close() }

// readNet reads the connection until it ends.
func (c *Conn) readNet() {
	s := c.srv
	defer s.goWG.Done()
	defer func() {
		s.goMu.Lock()
		delete(s.goConns, c)
		s.goMu.Unlock()
	}()
	buf := make([]byte, 4096)
	for {
		c.mu.Lock()
		for c.ended == nil {
			// Wait while the callbacks are behind, or while the peer
			// does not take what we owe it (pongs, answers).
			var ch chan struct{}
			switch {
			case c.events&evIn == 0:
				if c.sys.resume == nil {
					c.sys.resume = make(chan struct{})
				}
				ch = c.sys.resume
			case c.pendingLocked() > s.settings.maxPending:
				// Whether or not the writer has started: a flush is
				// queued (or a callback's end will flush), and it
				// closes drained after each write. Reading on until it
				// starts let pongs pile up to many times the bound.
				if c.drained == nil {
					c.drained = make(chan struct{})
				}
				ch = c.drained
			}
			if ch == nil {
				break
			}
			c.mu.Unlock()
			<-ch
			c.mu.Lock()
		}
		ended := c.ended != nil
		c.mu.Unlock()
		if ended {
			return
		}
		n, err := c.sys.nc.Read(buf)
		if n > 0 {
			c.feed(buf[:n])
		}
		if err != nil {
			c.mu.Lock()
			c.lostLocked(err)
			c.mu.Unlock()
			return
		}
	}
}

// startTicker starts the goroutine that runs the timers of the
// connections served by goroutines, once.
func (s *Server) startTicker() {
	s.goMu.Lock()
	defer s.goMu.Unlock()
	if s.goStop != nil {
		return
	}
	s.goStop = make(chan struct{})
	s.goWG.Add(1)
	go func() {
		defer s.goWG.Done()
		t := time.NewTicker(tickFor(&s.settings))
		defer t.Stop()
		for {
			select {
			case <-s.goStop:
				return
			case <-t.C:
			}
			now := clock()
			for _, c := range s.netConns() {
				c.tick(now)
			}
		}
	}()
}

func (s *Server) netConns() []*Conn {
	s.goMu.Lock()
	defer s.goMu.Unlock()
	cs := make([]*Conn, 0, len(s.goConns))
	for c := range s.goConns {
		cs = append(cs, c)
	}
	return cs
}

// goroutineState is the part of a Server that serves with goroutines.
type goroutineState struct {
	goMu    sync.Mutex
	goConns map[*Conn]struct{}
	goStop  chan struct{}
	goWG    sync.WaitGroup
}

// endNet does to the connections served by goroutines what the loops do
// to theirs at shutdown: begin their closing handshake, or end them.
func (s *Server) endNet(now bool) {
	for _, c := range s.netConns() {
		c.mu.Lock()
		c.shutdownLocked(now)
		c.mu.Unlock()
	}
}

// stopNet stops the ticker and waits for the goroutines.
func (s *Server) stopNet() {
	s.goMu.Lock()
	if s.goStop != nil {
		close(s.goStop)
	}
	s.goMu.Unlock()
	s.goWG.Wait()
}

// tickFor returns how often the loops look at the connections' timers: a
// quarter of the shortest, within [10ms, 1s].
func tickFor(st *settings) time.Duration {
	d := min(st.closeTimeout, st.hsTimeout, time.Duration(failLinger))
	if st.pingInterval > 0 {
		d = min(d, st.pingInterval, st.pingTimeout)
	}
	return min(max(d/4, 10*time.Millisecond), time.Second)
}
