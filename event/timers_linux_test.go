package event

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// idleLoop returns a loop of n open connections with nothing due, in
// the descriptors from 0, as the loop's tick sees them; keepalive sets a
// keepalive interval of a minute.
func idleLoop(n int, keepalive bool) *loop {
	s := &Server{}
	if keepalive {
		s.settings.pingInterval = time.Minute
		s.settings.pingTimeout = time.Minute
	}
	lp := &loop{srv: s}
	now := clock()
	for fd := range n {
		c := &Conn{srv: s, sys: sysConn{lp: lp, fd: int32(fd)}, lastPing: now}
		c.state.Store(stOpen)
		lp.conns = append(lp.conns, c)
		at := c.deadline.Load()
		if keepalive {
			at = now + int64(time.Minute)
		}
		if at == 0 {
			at = never
		}
		lp.timers.register(fd, len(lp.conns), at)
	}
	return lp
}

// BenchmarkIdleTick measures a tick of a loop of 10,000 connections that
// have nothing due, per connection.
func BenchmarkIdleTick(b *testing.B) {
	const conns = 10000
	for _, keepalive := range []bool{false, true} {
		name := "keepalive=off"
		if keepalive {
			name = "keepalive=1m"
		}
		b.Run(name, func(b *testing.B) {
			lp := idleLoop(conns, keepalive)
			now := clock()
			b.ReportAllocs()
			for b.Loop() {
				lp.tick(now)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*conns), "ns/conn")
		})
	}
}

// TestNextTimer checks when the loop next looks at a connection.
func TestNextTimer(t *testing.T) {
	const now, minute = 1000, int64(time.Minute)
	tests := []struct {
		name      string
		keepalive bool
		state     uint32
		deadline  int64
		pingOut   bool
		want      int64
	}{
		{"open, nothing armed", false, stOpen, 0, false, never},
		{"handshake", false, stHandshake, now + 5, false, now + 5},
		{"closing", false, stDone, now + 7, false, now + 7},
		{"keepalive: the next ping", true, stOpen, 0, false, now + minute},
		{"keepalive: the pong's deadline", true, stOpen, 0, true, now + 2*minute},
		{"keepalive, closing sooner", true, stOpen, now + 9, false, now + 9},
		{"keepalive, handshake", true, stHandshake, now + 5, false, now + 5},
		{"keepalive, done", true, stDone, 0, false, never},
	}
	var got, want []int64
	for _, tt := range tests {
		s := &Server{}
		if tt.keepalive {
			s.settings.pingInterval = time.Minute
			s.settings.pingTimeout = 2 * time.Minute
		}
		c := &Conn{srv: s, lastPing: now}
		c.state.Store(tt.state)
		c.deadline.Store(tt.deadline)
		c.pingOut.Store(tt.pingOut)
		got = append(got, c.nextTimer())
		want = append(want, tt.want)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("next timers of %v (-want +got):\n%s", tests, diff)
	}
}

// TestTickVisitsDue checks that a tick visits the slots that are due, and
// leaves the others for later: a slot whose connection is gone is marked
// idle once visited.
func TestTickVisitsDue(t *testing.T) {
	lp := &loop{srv: &Server{}}
	const n = 100
	lp.conns = make([]*Conn, n) // the connections are gone
	for fd := range n {
		lp.timers.register(fd, n, never)
	}
	now := clock()
	lp.schedule(5, now-1)
	lp.schedule(6, now)
	lp.schedule(7, now+int64(time.Hour))
	lp.schedule(7, now+int64(2*time.Hour)) // later: no effect
	lp.tick(now)
	var got []int64
	for fd := range n {
		got = append(got, lp.timers.wakeAt[fd].Load())
	}
	want := make([]int64, n)
	for fd := range want {
		want[fd] = never
	}
	want[7] = now + int64(time.Hour)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("slots after the tick (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int32{5, 6}, lp.timers.due); diff != "" {
		t.Errorf("slots visited (-want +got):\n%s", diff)
	}
}
