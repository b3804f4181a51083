package pmdeflate

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// idleAfter is how long a Compressor with context takeover may go without
// finishing a message and still count as busy: it keeps its flate state
// only if its previous message ended less than idleAfter before, and the
// sweep takes the state from one that has been idle for idleAfter to
// twice that. A longer time primes less often and holds more memory.
var idleAfter = time.Second

// maxWarm is how many Compressors may keep flate state between messages
// at once. A busy connection's state spares it priming, but each is about
// 200 KiB (0.8 MiB at levels other than the default) and much of it is
// touched by every message: with a hundred busy connections each message
// found its state cold in the caches, and cost as much CPU as priming a
// pooled encoder that stays warm (1 KiB JSON messages, with klauspost's
// encoder: 30-35 µs of CPU either way against 12-15 µs for one
// connection's warm state, on a loaded 2-core machine). So a few per CPU
// keep theirs.
var maxWarm = int32(4 * runtime.GOMAXPROCS(0))

// warmCount is how many Compressors keep flate state between messages.
var warmCount atomic.Int32

// start is the origin of clock.
var start = time.Now()

// clock returns a monotonic reading in nanoseconds, never 0.
func clock() int64 { return int64(time.Since(start)) + 1 }

// sweep is the list of Compressors that hold flate state between messages,
// and the timer that visits them.
var sweep struct {
	mu    sync.Mutex
	list  []*Compressor
	armed bool // a visit is due
}

// listBusy puts c on the sweep's list and makes sure a visit is due.
func listBusy(c *Compressor) {
	sweep.mu.Lock()
	sweep.list = append(sweep.list, c)
	if !sweep.armed {
		sweep.armed = true
		time.AfterFunc(idleAfter, sweepIdle)
	}
	sweep.mu.Unlock()
}

// sweepIdle is the timer's visit: it comes back after idleAfter while any
// listed Compressor still holds flate state.
func sweepIdle() {
	sweepAt(clock())
	sweep.mu.Lock()
	if len(sweep.list) > 0 {
		time.AfterFunc(idleAfter, sweepIdle)
	} else {
		sweep.armed = false
	}
	sweep.mu.Unlock()
}

// sweepAt takes the flate state from every listed Compressor that has been
// idle for idleAfter at the clock reading now.
func sweepAt(now int64) {
	sweep.mu.Lock()
	list := sweep.list
	sweep.list = nil
	sweep.mu.Unlock()

	// Without sweep.mu: a Compressor's Finish takes it while holding the
	// Compressor's lock, which idleSweep takes.
	kept := list[:0]
	for _, c := range list {
		if c.idleSweep(now) {
			kept = append(kept, c)
		}
	}
	clear(list[len(kept):])

	sweep.mu.Lock()
	sweep.list = append(kept, sweep.list...)
	sweep.mu.Unlock()
}

// maxParked is how many Compressors not warm may keep their flate state
// after a message in a burst, until later messages of others take their
// places. A Compressor whose next message follows at once, as when
// messages arrive pipelined, then continues with its state instead of
// priming a pooled encoder with its kept bytes, which adds about 30% to
// compressing a 1 KiB message at the default level and doubles it at
// others (see BenchmarkPrime and BenchmarkParked).
// Parked state goes back to the pool when its place is taken, or when the
// sweep finds it idle.
var maxParked = 2 * runtime.GOMAXPROCS(0)

// parkWithin is how soon after its previous message a message must end for
// the Compressor to park its state: it is then taken to be in a burst.
// State parked by Compressors whose next message comes later is only ever
// taken back unused, and the extra encoders in turn cool the caches: with
// 1,000 Compressors taking turns, one message each, parking every time
// cost 1.1x the CPU of returning the state to the pool at once.
var parkWithin = 200 * time.Microsecond

// parking is the ring of places for parked flate state.
var parking struct {
	mu   sync.Mutex
	ring []*Compressor // made with maxParked places on first use
	next int
}

// park gives c, which has just finished a message keeping its flate
// state, the next place in the ring, and takes the state of the
// Compressor whose place that was. c.mu must not be held.
func park(c *Compressor) {
	parking.mu.Lock()
	if parking.ring == nil {
		parking.ring = make([]*Compressor, maxParked)
	}
	if len(parking.ring) == 0 {
		parking.mu.Unlock()
		c.unpark()
		return
	}
	prev := parking.ring[parking.next]
	parking.ring[parking.next] = c
	parking.next = (parking.next + 1) % len(parking.ring)
	parking.mu.Unlock()
	if prev != nil && prev != c {
		prev.unpark()
	}
}

// unpark returns c's flate state to the pool if it is parked and not in a
// message. A Compressor that has since become warm, started a message or
// lost its state to the sweep keeps what it has.
func (c *Compressor) unpark() {
	c.mu.Lock()
	// In a message, Begin and Finish use d without c.mu: look at it only
	// when not.
	if !c.parked || c.active || c.d == nil {
		c.mu.Unlock()
		return
	}
	d := c.d
	c.coolLocked()
	c.mu.Unlock()
	putDeflater(c.kind, d)
}
