package hub

import (
	"context"
	"encoding/binary"
	"slices"
	"sync"
	"testing"
	"time"
)

// staleFirst holds a hub's announcement that lists only cat until the
// hub has published one that lists cat and dan, then lets it go: what a
// scheduler does when it pauses the goroutine of cat's Join between
// listing the room's members and publishing them, while dan joins. A hub
// that publishes its announcements one at a time never gets to the
// second while the first is held; the first goes after a second.
type staleFirst struct {
	Broker
	held      chan struct{} // closed once the stale announcement waits
	release   chan struct{} // closed once the fresh one is published
	staleSent chan struct{} // closed once the stale one is published
	once      sync.Once
}

func wait(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

func presenceNames(data []byte) []string {
	if len(data) < 17 || data[0] != kindPresence {
		return nil
	}
	var names []string
	for rest := data[17:]; len(rest) > 0; {
		n, k := binary.Uvarint(rest)
		names = append(names, string(rest[k:k+int(n)]))
		rest = rest[k+int(n):]
	}
	slices.Sort(names)
	return names
}

func (s *staleFirst) Publish(ctx context.Context, topic string, data []byte) error {
	switch names := presenceNames(data); {
	case slices.Equal(names, []string{"cat"}):
		stale := false
		s.once.Do(func() { stale = true })
		if stale {
			close(s.held)
			select {
			case <-s.release:
			case <-time.After(time.Second):
			}
			err := s.Broker.Publish(ctx, topic, data)
			close(s.staleSent)
			return err
		}
	case slices.Equal(names, []string{"cat", "dan"}):
		err := s.Broker.Publish(ctx, topic, data)
		select {
		case <-s.release:
		default:
			close(s.release)
		}
		return err
	}
	return s.Broker.Publish(ctx, topic, data)
}

// TestPresenceStaleAnnouncement checks that a hub's view of another's
// members ends with the members that hub has, however the other hub's
// announcements were scheduled. An announcement lists the room's members,
// releases the lock, then publishes, so a list taken earlier could be
// published later, and stand until the next periodic announcement (here
// a minute away).
func TestPresenceStaleAnnouncement(t *testing.T) {
	b := NewLocalBroker()
	gate := &staleFirst{Broker: b, held: make(chan struct{}), release: make(chan struct{}), staleSent: make(chan struct{})}
	ha := New(&Options{Broker: b, PresenceInterval: time.Minute})
	hb := New(&Options{Broker: gate, PresenceInterval: time.Minute})
	urlA, urlB := serve(t, ha), serve(t, hb)
	join(t, urlA, "ann", "r")
	waitMembers(t, ha, "r", "ann")
	join(t, urlB, "cat", "r") // its announcement is held
	wait(t, gate.held, "cat's announcement")
	join(t, urlB, "dan", "r")
	wait(t, gate.staleSent, "the stale announcement to go")
	waitMembers(t, hb, "r", "ann", "cat", "dan")
	// Announcements go out a moment after the change: wait for hub a to
	// have seen dan, whichever order they came in.
	waitMembers(t, ha, "r", "ann", "cat", "dan")

	// A presence message from a third hub, published after the stale
	// one, tells when hub a has taken in everything before it.
	sentinel := []byte{kindPresence}
	sentinel = append(sentinel, make([]byte, 16)...) // an origin no hub has
	sentinel = binary.AppendUvarint(sentinel, 3)
	sentinel = append(sentinel, "zed"...)
	if err := b.Publish(context.Background(), presenceTopic("r"), sentinel); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !slices.Contains(ha.Members("r"), "zed") {
		if time.Now().After(deadline) {
			t.Fatal("sentinel never arrived")
		}
		time.Sleep(time.Millisecond)
	}
	if got, want := ha.Members("r"), []string{"ann", "cat", "dan", "zed"}; !slices.Equal(got, want) {
		t.Errorf("hub a lists %q, want %q: hub b's stale list was published after its fresh one", got, want)
	}
}
