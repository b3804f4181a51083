package hub

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// gatedBroker holds every Subscribe until release is closed, then fails
// it with err or records the topic as subscribed.
type gatedBroker struct {
	entered chan struct{} // receives once per Subscribe call
	release chan struct{}
	err     error

	mu     sync.Mutex
	topics map[string]bool
}

func (b *gatedBroker) Publish(context.Context, string, []byte) error { return nil }

func (b *gatedBroker) Subscribe(topic string, _ func([]byte)) (func() error, error) {
	b.entered <- struct{}{}
	<-b.release
	if b.err != nil {
		return nil, b.err
	}
	b.mu.Lock()
	b.topics[topic] = true
	b.mu.Unlock()
	return func() error {
		b.mu.Lock()
		delete(b.topics, topic)
		b.mu.Unlock()
		return nil
	}, nil
}

func (b *gatedBroker) subscribed(topic string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.topics[topic]
}

// TestJoinWaitsForSubscription checks that a member who joins a room
// while its first member is still subscribing does not return from Join
// before the room hears other hubs, and shares the first Join's failure.
func TestJoinWaitsForSubscription(t *testing.T) {
	for _, fail := range []bool{false, true} {
		b := &gatedBroker{entered: make(chan struct{}, 4), release: make(chan struct{}), topics: make(map[string]bool)}
		if fail {
			b.err = errors.New("broker down")
		}
		h := New(&Options{Broker: b, PresenceInterval: time.Hour})
		// Join never touches the connection, so the clients have none.
		first, _ := h.Add(nil, "first")
		second, _ := h.Add(nil, "second")

		firstErr := make(chan error, 1)
		go func() { firstErr <- first.Join("lobby") }()
		wait(t, b.entered, "the first Join to subscribe")

		type result struct {
			err        error
			subscribed bool
		}
		secondDone := make(chan result, 1)
		go func() {
			err := second.Join("lobby")
			secondDone <- result{err, b.subscribed(messageTopic("lobby"))}
		}()
		// Give a Join that does not wait the time to return early.
		time.Sleep(20 * time.Millisecond)
		close(b.release)

		got := <-secondDone
		if err := <-firstErr; (err != nil) != fail {
			t.Errorf("fail=%v: first Join: %v", fail, err)
		}
		switch {
		case fail && got.err == nil:
			t.Errorf("second Join succeeded where the subscription failed")
		case !fail && got.err != nil:
			t.Errorf("second Join: %v", got.err)
		case !fail && !got.subscribed:
			t.Errorf("second Join returned before the room was subscribed")
		}
		if want := 0; fail && len(h.Members("lobby")) != want {
			t.Errorf("after failed Joins, members = %v", h.Members("lobby"))
		}
		first.Remove()
		second.Remove()
		h.Close()
	}
}

// countingBroker counts the presence announcements published through it.
type countingBroker struct {
	Broker
	mu            sync.Mutex
	announcements int
}

func (b *countingBroker) Publish(ctx context.Context, topic string, data []byte) error {
	if len(data) > 0 && data[0] == kindPresence {
		b.mu.Lock()
		b.announcements++
		b.mu.Unlock()
	}
	return b.Broker.Publish(ctx, topic, data)
}

// TestJoinBurstAnnouncements checks that members joining a room together
// are announced together: one announcement per Join would send the
// other hubs a list as long as the room for each member, n² names for n.
func TestJoinBurstAnnouncements(t *testing.T) {
	const n = 300
	local := NewLocalBroker()
	b := &countingBroker{Broker: local}
	ha := New(&Options{Broker: b, PresenceInterval: time.Hour})
	hb := New(&Options{Broker: local, PresenceInterval: time.Hour})
	defer ha.Close()
	defer hb.Close()
	watcher, _ := hb.Add(nil, "watcher") // Join never touches the connection
	if err := watcher.Join("r"); err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range n {
		name := fmt.Sprintf("m%03d", i)
		cl, _ := ha.Add(nil, name)
		if err := cl.Join("r"); err != nil {
			t.Fatal(err)
		}
		want = append(want, name)
	}
	want = append(want, "watcher") // sorted, as Members lists them
	waitMembers(t, hb, "r", want...)
	b.mu.Lock()
	got := b.announcements
	b.mu.Unlock()
	if got > n/3 {
		t.Errorf("%d members joining one after another took %d announcements; want them batched", n, got)
	}
	t.Logf("%d joins, %d announcements", n, got)

	// Leaving is announced too: the other hub forgets the members at once,
	// not after three presence intervals (an hour here).
	ha.Close()
	waitMembers(t, hb, "r", "watcher")
}
