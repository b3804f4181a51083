//go:build !race

package event_test

import "testing"

// TestWritePreparedAllocs checks that once a prepared message has been
// sent, sending it to a connection of a shared form allocates nothing:
// not in WritePrepared, nor in the loops that write it, nor in the
// clients, which count frames into a buffer of their own. Not under the
// race detector, which makes sync.Pool drop items at random.
func TestWritePreparedAllocs(t *testing.T) {
	const clients = 50
	for _, f := range broadcastForms {
		if !f.shared {
			continue
		}
		t.Run(f.name, func(t *testing.T) {
			b := newBroadcaster(t, f.co, clients)
			pm := broadcastMessage(t)
			for range 3 { // the frame, the loops' lists, the pools
				b.send(t, pm, false)
			}
			allocs := testing.AllocsPerRun(50, func() { b.send(t, pm, false) })
			if per := allocs / clients; per != 0 {
				t.Errorf("%v allocations per recipient (%v per broadcast to %d), want 0", per, allocs, clients)
			}
		})
	}
}
