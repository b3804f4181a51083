package pmdeflate

import (
	"bytes"
	"compress/flate"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// idle makes c's last message look idleAfter old and runs the sweep, as if
// c had been idle that long.
func idle(c *Compressor) {
	c.mu.Lock()
	if c.last != 0 {
		c.last -= int64(idleAfter)
	}
	c.mu.Unlock()
	sweepAt(clock())
}

// listed reports whether c is on the sweep's list.
func listed(c *Compressor) bool {
	sweep.mu.Lock()
	defer sweep.mu.Unlock()
	for _, x := range sweep.list {
		if x == c {
			return true
		}
	}
	return false
}

// TestCompressorIdleState checks what a Compressor holds between messages:
// flate state only with context takeover, only while busy and only until
// the sweep finds it idle; and a dictionary of what it sent, up to its
// window or 4 KiB, only with context takeover.
func TestCompressorIdleState(t *testing.T) {
	type state struct {
		Deflater bool // holds flate state
		Listed   bool // on the sweep's list
		Dict     int  // bytes of dictionary buffer
	}
	for _, tc := range []struct {
		level, windowBits int
		takeover          bool
		sizes             []int // messages sent one right after the other
		busy, idle        state // after the messages, and after the sweep
	}{
		{0, 15, true, []int{100}, state{Dict: 256}, state{Dict: 256}},
		{0, 15, true, []int{100, 100}, state{true, true, 256}, state{Dict: 256}},
		{0, 15, true, []int{100, 1000}, state{true, true, 2048}, state{Dict: 2048}},
		{0, 15, true, []int{64 << 10, 100}, state{true, true, 4096}, state{Dict: 4096}},
		{flate.BestCompression, 15, true, []int{64 << 10, 100}, state{true, true, 4096}, state{Dict: 4096}},
		{0, 13, true, []int{64 << 10, 100}, state{true, true, 4096}, state{Dict: 4096}},
		{0, 11, true, []int{64 << 10, 100}, state{true, true, 2048}, state{Dict: 2048}},
		{0, 9, true, []int{100, 1000}, state{true, true, 512}, state{Dict: 512}},
		{0, 8, true, []int{100, 1000}, state{true, true, 256}, state{Dict: 256}},
		{flate.HuffmanOnly, 15, true, []int{100, 100}, state{}, state{}},
		{0, 15, false, []int{100, 100}, state{}, state{}},
		{0, 12, false, []int{100, 100}, state{}, state{}},
	} {
		name := fmt.Sprintf("level %d, %d bits, takeover %t, messages %v", tc.level, tc.windowBits, tc.takeover, tc.sizes)
		c := NewCompressor(tc.level, tc.windowBits, tc.takeover)
		for i, n := range tc.sizes {
			compressMessage(t, c, jsonText(n, uint64(i)), 0)
		}
		get := func() state {
			return state{Deflater: c.d != nil, Listed: listed(c), Dict: c.hist.size()}
		}
		if diff := cmp.Diff(tc.busy, get()); diff != "" {
			t.Errorf("%s: after the messages (-want +got):\n%s", name, diff)
		}
		idle(c)
		if diff := cmp.Diff(tc.idle, get()); diff != "" {
			t.Errorf("%s: after an idle spell (-want +got):\n%s", name, diff)
		}
		c.Release()
		if diff := cmp.Diff(state{}, get()); diff != "" {
			t.Errorf("%s: after Release (-want +got):\n%s", name, diff)
		}
	}
}

// TestCompressorSweep follows a busy Compressor through the sweep: it
// keeps its flate state while it finishes messages, and loses it once it
// has been idle for idleAfter.
func TestCompressorSweep(t *testing.T) {
	c := NewCompressor(0, 15, true)
	defer c.Release()
	msg := jsonText(500, 1)
	compressMessage(t, c, msg, 0)
	compressMessage(t, c, msg, 0)
	if c.d == nil || !listed(c) {
		t.Fatal("a busy Compressor does not keep its flate state")
	}
	now := clock()
	sweepAt(now)
	if c.d == nil || !listed(c) {
		t.Fatal("the sweep took the state of a Compressor that has just finished a message")
	}

	// In a message the state is left alone, however long it takes.
	c.Begin(new(bytes.Buffer))
	sweepAt(now + 10*int64(idleAfter))
	if c.d == nil {
		t.Fatal("the sweep took the state of a Compressor in a message")
	}
	if listed(c) {
		t.Error("a Compressor in a message stays listed; Finish lists it again")
	}
	c.Write(msg)
	if err := c.Finish(); err != nil {
		t.Fatal(err)
	}
	if c.d == nil || !listed(c) {
		t.Fatal("a message finished right after the previous one did not keep the state")
	}

	sweepAt(clock() + int64(idleAfter))
	if c.d != nil || listed(c) {
		t.Errorf("after idleAfter the state is still held (%t) or listed (%t)", c.d != nil, listed(c))
	}
}

// TestCompressorAcrossIdle sends a conversation with idle spells between
// some messages, after which the Compressor primes fresh flate state with
// the dictionary it kept, and checks the output with compress/flate given
// the whole 32 KiB window, as a peer keeps it, and with refInflate, which
// checks the window limit. Messages after an idle spell must still shrink
// when they repeat what was sent.
func TestCompressorAcrossIdle(t *testing.T) {
	for _, bits := range []int{15, 14, 12, 9, 8} {
		for _, level := range []int{0, flate.BestCompression} {
			if bits < 15 && level != 0 {
				continue
			}
			t.Run(fmt.Sprintf("level=%d/bits=%d", level, bits), func(t *testing.T) {
				c := NewCompressor(level, bits, true)
				defer c.Release()
				ref := &refInflater{takeover: true}
				var hist []byte
				for i, msg := range testMessages() {
					if i%3 == 1 {
						idle(c)
					}
					payload := compressMessage(t, c, msg, 7*i)
					got, err := ref.message(payload)
					if err != nil || !bytes.Equal(got, msg) {
						t.Fatalf("message %d: compress/flate inflated %d bytes, %v; want %d bytes", i, len(got), err, len(msg))
					}
					got, dist, err := refInflate(hist, append(bytes.Clone(payload), syncMarker[:]...))
					if err != nil || !bytes.Equal(got, msg) {
						t.Fatalf("message %d: refInflate inflated %d bytes, %v; want %d bytes", i, len(got), err, len(msg))
					}
					if dist > 1<<bits {
						t.Fatalf("message %d: a back-reference reaches %d bytes back; window is %d", i, dist, 1<<bits)
					}
					hist = append(hist, msg...)
				}

				// A repeat of something sent within the kept dictionary
				// shrinks after an idle spell too.
				msg := jsonText(min(1<<bits, 1<<idleDictBits)/2, 99)
				first := len(compressMessage(t, c, msg, 0))
				idle(c)
				again := len(compressMessage(t, c, msg, 0))
				if again > first/2 {
					t.Errorf("a repeat after an idle spell compressed to %d bytes after %d", again, first)
				}
			})
		}
	}
}

// TestCompressorSweepRace runs the sweep as often as it can while messages
// go through a busy Compressor, whose output must stay correct whether or
// not the sweep took its state in between. Run it with -race.
func TestCompressorSweepRace(t *testing.T) {
	c := NewCompressor(0, 15, true)
	defer c.Release()
	d := NewDecompressor(15, true)
	defer d.Release()
	done := make(chan struct{})
	swept := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-done:
				swept <- n
				return
			default:
			}
			sweepAt(clock() + 2*int64(idleAfter))
			n++
		}
	}()
	msgs := testMessages()
	for i := range 200 {
		msg := msgs[i%len(msgs)]
		if len(msg) > 10000 && raceEnabled {
			msg = msg[:10000]
		}
		got, err := decompressMessage(d, compressMessage(t, c, msg, 1000), 0)
		if err != nil || !bytes.Equal(got, msg) {
			close(done)
			<-swept
			t.Fatalf("message %d: inflated %d bytes, %v; want %d bytes", i, len(got), err, len(msg))
		}
	}
	close(done)
	t.Logf("%d sweeps", <-swept)
}

// TestHistory checks the dictionary buffer against the plain definition:
// the last max bytes written, in a buffer that grows in powers of two.
func TestHistory(t *testing.T) {
	stream := randomBytes(5000, 1)
	for _, max := range []int{256, 1024} {
		for _, writes := range [][]int{
			{10, 20, 30},
			{1, 255, 1, 1},
			{300},
			{256, 0, 5},
			{200, 200, 200, 200, 200, 200},
			{1000, 1, 1000, 50},
			{1023, 2, 1023, 1},
			{3000, 7},
		} {
			h := newHistory(max)
			var all []byte
			for _, n := range writes {
				p := stream[len(all) : len(all)+n]
				h.write(p)
				all = append(all, p...)
				want := all[len(all)-min(len(all), max):]
				if diff := cmp.Diff(want, h.bytes(), cmp.Comparer(bytes.Equal)); diff != "" {
					t.Fatalf("max %d, writes %v: after %d bytes, history differs", max, writes, len(all))
				}
				wantSize := 0
				if len(all) > 0 {
					wantSize = 256
					for wantSize < min(len(all), max) {
						wantSize *= 2
					}
				}
				if h.size() != wantSize {
					t.Fatalf("max %d, writes %v: after %d bytes, buffer of %d bytes, want %d", max, writes, len(all), h.size(), wantSize)
				}
			}
			h.release()
			if h.size() != 0 || len(h.bytes()) != 0 {
				t.Errorf("max %d, writes %v: holds %d bytes after release", max, writes, h.size())
			}
		}
	}
}

// TestIdleMemory measures the heap that one connection's Compressor and
// Decompressor hold once idle after one message each way, as a function
// of the message size and the window: what the peer may refer to of what
// was received, and the dictionary of what was sent, each rounded up to a
// power of two, and nothing more.
func TestIdleMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("measures the heap of 200 codecs")
	}
	const overhead = 512 // the two structs, per connection
	for _, tc := range []struct {
		bits, size int
		takeover   bool
		want       int
	}{
		{15, 180, true, 256 + 256},
		{15, 1000, true, 1024 + 1024},
		{15, 64 << 10, true, 4<<10 + 32<<10},
		{13, 64 << 10, true, 4<<10 + 8<<10},
		{12, 64 << 10, true, 4<<10 + 4<<10},
		{10, 64 << 10, true, 1<<10 + 1<<10},
		{15, 64 << 10, false, 0},
	} {
		got := idleMemory(t, tc.bits, tc.size, tc.takeover)
		t.Logf("%d bits, %d-byte message, takeover %t: %d bytes per connection", tc.bits, tc.size, tc.takeover, got)
		if got > tc.want+overhead || got < tc.want {
			t.Errorf("%d bits, %d-byte message, takeover %t: %d bytes per connection, want %d to %d",
				tc.bits, tc.size, tc.takeover, got, tc.want, tc.want+overhead)
		}
	}
}

// idleMemory returns the heap held per connection by 100 pairs of a
// Compressor and a Decompressor, each of which has handled one message of
// size bytes and then gone idle.
func idleMemory(t *testing.T, bits, size int, takeover bool) int {
	const conns = 100
	msg := jsonText(size, 1)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.GC() // twice: pools keep their contents through one collection
	runtime.ReadMemStats(&before)
	cs := make([]*Compressor, conns)
	ds := make([]*Decompressor, conns)
	for i := range conns {
		cs[i], ds[i] = NewCompressor(0, bits, takeover), NewDecompressor(bits, takeover)
		payload := compressMessage(t, cs[i], msg, 0)
		if got, err := decompressMessage(ds[i], payload, 0); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("round trip: %v", err)
		}
		idle(cs[i])
	}
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&after)
	perConn := (int64(after.HeapAlloc) - int64(before.HeapAlloc) - int64(cap(cs)+cap(ds))*8) / conns
	runtime.KeepAlive(msg) // live at both readings
	for i := range conns {
		cs[i].Release()
		ds[i].Release()
	}
	return int(max(perConn, 0))
}

// TestCompressorWarmLimit checks that no more than maxWarm Compressors
// are warm, and that every way of giving it up frees a place.
func TestCompressorWarmLimit(t *testing.T) {
	if n := warmCount.Load(); n != 0 {
		t.Fatalf("%d Compressors warm before the test", n)
	}
	defer func(old int32) { maxWarm = old }(maxWarm)
	maxWarm = 2
	msg := jsonText(300, 1)
	busy := func(c *Compressor) {
		compressMessage(t, c, msg, 0)
		compressMessage(t, c, msg, 0)
	}
	cs := []*Compressor{NewCompressor(0, 15, true), NewCompressor(0, 15, true), NewCompressor(0, 15, true)}
	defer func() {
		for _, c := range cs {
			c.Release()
		}
	}()
	held := func() []bool {
		var h []bool
		for _, c := range cs {
			h = append(h, c.warm)
		}
		return h
	}
	for _, c := range cs {
		busy(c)
	}
	if diff := cmp.Diff([]bool{true, true, false}, held()); diff != "" {
		t.Errorf("three busy Compressors, two places (-want +got):\n%s", diff)
	}
	cs[0].Release()
	busy(cs[2])
	if diff := cmp.Diff([]bool{false, true, true}, held()); diff != "" {
		t.Errorf("after a Release (-want +got):\n%s", diff)
	}
	sweepAt(clock() + int64(idleAfter))
	if diff := cmp.Diff([]bool{false, false, false}, held()); diff != "" {
		t.Errorf("after an idle spell (-want +got):\n%s", diff)
	}
	if n := warmCount.Load(); n != 0 {
		t.Errorf("%d Compressors counted warm, none is", n)
	}
}

// withParking runs f with n places for parked flate state, and no warm
// Compressors, so that every Compressor with context takeover parks.
func withParking(t testing.TB, n int, f func()) {
	t.Helper()
	oldWarm, oldParked := maxWarm, maxParked
	defer func() {
		parking.mu.Lock()
		parking.ring, parking.next = nil, 0
		parking.mu.Unlock()
		maxWarm, maxParked = oldWarm, oldParked
	}()
	maxWarm, maxParked = 0, n
	defer func(old time.Duration) { parkWithin = old }(parkWithin)
	parkWithin = time.Hour
	parking.mu.Lock()
	parking.ring, parking.next = nil, 0
	parking.mu.Unlock()
	f()
}

// TestCompressorParked checks that a Compressor that is not warm keeps its
// flate state after a message until another takes its place, and that the
// next message then refers back past the 4 KiB it keeps while idle, which
// only the whole window allows; once its place is taken, it primes.
func TestCompressorParked(t *testing.T) {
	withParking(t, 1, func() {
		a, b := NewCompressor(0, 15, true), NewCompressor(0, 15, true)
		defer a.Release()
		defer b.Release()
		first := jsonText(16<<10, 1)
		again := first[:2<<10] // 16 KiB back: only in the whole window
		d := NewDecompressor(15, true)
		defer d.Release()
		send := func(c *Compressor, msg []byte) int {
			t.Helper()
			p := compressMessage(t, c, msg, 0)
			if c == a {
				got, err := decompressMessage(d, p, 0)
				if err != nil || !bytes.Equal(got, msg) {
					t.Fatalf("inflated %d bytes, %v; want %d bytes", len(got), err, len(msg))
				}
			}
			return len(p)
		}
		send(a, jsonText(300, 3))
		if a.d != nil || a.parked {
			t.Fatal("a Compressor's first message parked its flate state")
		}
		send(a, first)
		if a.d == nil || !a.parked {
			t.Fatal("a Compressor that is not warm did not park its flate state")
		}
		if n := send(a, again); n > 100 {
			t.Errorf("parked: a repeat of 2 KiB from 16 KiB back took %d bytes, want a back-reference", n)
		}
		send(b, jsonText(300, 2))
		send(b, jsonText(300, 2))
		if a.d != nil || a.parked || b.d == nil {
			t.Fatalf("the one place went to b: a holds state %t, parked %t; b holds %t", a.d != nil, a.parked, b.d != nil)
		}
		// Kept while idle: the last 2 KiB of first, then again.
		if n := send(a, first[2<<10:4<<10]); n <= 100 {
			t.Errorf("after losing its place: a repeat of 2 KiB from 14 KiB back took %d bytes, want it primed with 4 KiB only", n)
		}
	})
	withParking(t, 0, func() {
		c := NewCompressor(0, 15, true)
		defer c.Release()
		compressMessage(t, c, jsonText(300, 1), 0)
		compressMessage(t, c, jsonText(300, 1), 0)
		if c.d != nil {
			t.Error("with no places, a Compressor that is not warm kept its flate state")
		}
	})
	withParking(t, 1, func() {
		parkWithin = 0
		c := NewCompressor(0, 15, true)
		defer c.Release()
		compressMessage(t, c, jsonText(300, 1), 0)
		compressMessage(t, c, jsonText(300, 1), 0)
		if c.d != nil {
			t.Error("a message not in a burst parked its flate state")
		}
	})
}

// TestCompressorParkingRace has several connections, each on its own
// goroutine, send bursts of messages while they take each other's parking
// places and a sweep runs, and checks that every message inflates to what
// was sent: parked state must never be used by two Compressors, nor
// returned to the pool while in use.
func TestCompressorParkingRace(t *testing.T) {
	withParking(t, 1, func() {
		maxWarm = 1
		done := make(chan struct{})
		swept := make(chan struct{})
		go func() {
			defer close(swept)
			for {
				select {
				case <-done:
					return
				default:
				}
				sweepAt(clock() + 2*int64(idleAfter))
				runtime.Gosched()
			}
		}()
		defer func() {
			close(done)
			<-swept
		}()
		msgs := testMessages()
		errs := make(chan error, 4)
		for g := range 4 {
			go func() {
				c, d := NewCompressor(0, 15, true), NewDecompressor(15, true)
				defer c.Release()
				defer d.Release()
				for i := range 100 {
					msg := msgs[(g+i)%len(msgs)]
					msg = msg[:min(len(msg), 3000)]
					var out bytes.Buffer
					c.Begin(&out)
					c.Write(msg)
					if err := c.Finish(); err != nil {
						errs <- err
						return
					}
					got, err := decompressMessage(d, out.Bytes(), 0)
					if err != nil || !bytes.Equal(got, msg) {
						errs <- fmt.Errorf("connection %d, message %d: inflated %d bytes, %v; want %d bytes", g, i, len(got), err, len(msg))
						return
					}
					if i%8 == 7 {
						runtime.Gosched() // end of a burst
					}
				}
				errs <- nil
			}()
		}
		for range 4 {
			if err := <-errs; err != nil {
				t.Error(err)
			}
		}
	})
}
