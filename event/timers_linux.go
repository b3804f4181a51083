//go:build linux

package event

import "sync/atomic"

// timers says when each of a loop's connections next needs the loop's
// attention: a deadline to enforce, or a keepalive ping to send or give
// up on. It keeps that clock for each descriptor in an array of its own,
// which a tick reads 8 bytes a connection in a row, visiting only the
// connections that are due: a connection with nothing armed costs a load
// per tick rather than a visit.
//
// A time is lowered by whoever arms a deadline (schedule), and raised
// only by the loop when it visits the connection: it first marks the
// slot idle, then reads the connection's timers, then lowers the slot to
// what they say. A deadline armed meanwhile is either read, or lowers the
// slot after the mark: none is lost. A visit that comes early, for a
// deadline disarmed since or a descriptor reused, finds nothing due.
type timers struct {
	wakeAt []atomic.Int64 // by descriptor; replaced, never shrunk, under the loop's mu
	due    []int32        // the tick's scratch list
}

// register records the first deadline of a connection added on fd, where
// the loop now has n slots. The caller holds lp.mu.
func (t *timers) register(fd, n int, deadline int64) {
	if n > len(t.wakeAt) {
		w := make([]atomic.Int64, n)
		for i := range w {
			if i < len(t.wakeAt) {
				w[i].Store(t.wakeAt[i].Load())
			} else {
				w[i].Store(never)
			}
		}
		t.wakeAt = w
	}
	t.wakeAt[fd].Store(deadline)
}

// schedule has the loop visit the connection on fd at the first tick at
// or after the clock reads at.
func (lp *loop) schedule(fd int32, at int64) {
	lp.mu.Lock()
	if int(fd) < len(lp.timers.wakeAt) {
		slot := &lp.timers.wakeAt[fd]
		for {
			old := slot.Load()
			if old <= at || slot.CompareAndSwap(old, at) {
				break
			}
		}
	}
	lp.mu.Unlock()
}

// tick runs the timers of the loop's connections that are due.
func (lp *loop) tick(now int64) {
	lp.mu.Lock()
	wakeAt := lp.timers.wakeAt // read without the lock: slots are atomic
	lp.mu.Unlock()
	due := lp.timers.due[:0]
	for fd := range wakeAt {
		if wakeAt[fd].Load() <= now {
			due = append(due, int32(fd))
		}
	}
	for _, fd := range due {
		lp.mu.Lock()
		c := lp.conns[fd]
		lp.timers.wakeAt[fd].Store(never) // the mark: see timers
		lp.mu.Unlock()
		if c == nil {
			continue
		}
		c.tick(now)
		if at := c.nextTimer(); at != never {
			lp.schedule(fd, at)
		}
	}
	lp.timers.due = due
}

// fdArm has the loop look at the connection's timers at the clock at.
func (s *sysConn) fdArm(at int64) { s.lp.schedule(s.fd, at) }
