package hub

import (
	"context"
	"sync"
)

// A LocalBroker links hubs within one process as a broker links
// processes: for tests, and for a program that runs several hubs. Each
// subscription delivers from a goroutine of its own, in publishing order.
type LocalBroker struct {
	mu   sync.Mutex
	subs map[string]map[*localSub]struct{}
}

// NewLocalBroker returns a broker with no subscriptions.
func NewLocalBroker() *LocalBroker {
	return &LocalBroker{subs: make(map[string]map[*localSub]struct{})}
}

type localSub struct {
	deliver func([]byte)
	mu      sync.Mutex
	queue   [][]byte
	wake    chan struct{} // capacity 1: something was queued
	stop    chan struct{}
	done    chan struct{}
}

// Publish queues a copy of data for every subscriber of topic.
func (b *LocalBroker) Publish(ctx context.Context, topic string, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs[topic] {
		s.mu.Lock()
		s.queue = append(s.queue, append([]byte(nil), data...))
		s.mu.Unlock()
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

// Subscribe starts delivering what is published to topic.
func (b *LocalBroker) Subscribe(topic string, deliver func([]byte)) (func() error, error) {
	s := &localSub{deliver: deliver, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	b.mu.Lock()
	if b.subs[topic] == nil {
		b.subs[topic] = make(map[*localSub]struct{})
	}
	b.subs[topic][s] = struct{}{}
	b.mu.Unlock()
	go s.run()
	var once sync.Once
	return func() error {
		once.Do(func() {
			b.mu.Lock()
			delete(b.subs[topic], s)
			if len(b.subs[topic]) == 0 {
				delete(b.subs, topic)
			}
			b.mu.Unlock()
			close(s.stop)
			<-s.done
		})
		return nil
	}, nil
}

func (s *localSub) run() {
	defer close(s.done)
	for {
		select {
		case <-s.stop:
			return
		case <-s.wake:
		}
		s.mu.Lock()
		q := s.queue
		s.queue = nil
		s.mu.Unlock()
		for _, data := range q {
			s.deliver(data)
		}
	}
}
