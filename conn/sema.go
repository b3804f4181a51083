package conn

import (
	"context"
	"errors"
	"sync"
)

// sema is a lock whose waiters can give up when their context ends or the
// connection closes. It is what a channel of capacity one would be, without
// the channel while nobody waits: an idle connection holds three of these,
// and three channels would cost it about 350 bytes of heap.
//
// The lock passes from the holder to one waiter through handoff: while a
// token sits in handoff the lock is held and belongs to whoever receives
// it, so at most one token is ever outstanding.
type sema struct {
	mu      sync.Mutex
	held    bool
	waiters int32
	handoff chan struct{} // capacity 1; made on first contention
}

// tryAcquire takes the lock if it is free.
func (s *sema) tryAcquire() bool {
	s.mu.Lock()
	ok := !s.held
	s.held = true
	s.mu.Unlock()
	return ok
}

// errSemaDone is returned by acquire when its done channel closed.
var errSemaDone = errors.New("websocket: connection closed while waiting")

// acquire takes the lock, waiting until it is free, ctx is done (it returns
// ctx.Err()) or done's channel is closed (errSemaDone). done is called only
// if the lock is busy, so that its channel need not exist until someone
// waits.
func (s *sema) acquire(ctx context.Context, done func() <-chan struct{}) error {
	s.mu.Lock()
	if !s.held {
		s.held = true
		s.mu.Unlock()
		return nil
	}
	if s.handoff == nil {
		s.handoff = make(chan struct{}, 1)
	}
	s.waiters++
	s.mu.Unlock()

	var err error
	select {
	case <-s.handoff:
		s.mu.Lock()
		s.waiters--
		s.mu.Unlock()
		return nil
	case <-ctx.Done():
		err = ctx.Err()
	case <-done():
		err = errSemaDone
	}
	s.mu.Lock()
	s.waiters--
	select {
	case <-s.handoff:
		// The lock was handed over as we gave up: pass it on.
		s.releaseLocked()
	default:
	}
	s.mu.Unlock()
	return err
}

// release frees the lock, or hands it to a waiter.
func (s *sema) release() {
	s.mu.Lock()
	s.releaseLocked()
	s.mu.Unlock()
}

func (s *sema) releaseLocked() {
	if !s.held || len(s.handoff) > 0 {
		// As sync.Mutex does: releasing a free lock is a bug, and would
		// otherwise block here for good with s.mu held.
		panic("websocket: release of a lock that is not held")
	}
	if s.waiters > 0 {
		s.handoff <- struct{}{} // never blocks: no other token is out
		return
	}
	s.held = false
}
