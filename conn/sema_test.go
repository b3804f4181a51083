package conn

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func neverDone() <-chan struct{} { return nil }

// TestSemaExclusion runs holders and waiters that give up at random
// moments, some of them just as the lock is handed to them, and checks that
// no two ever hold the lock at once and that it ends free.
func TestSemaExclusion(t *testing.T) {
	var s sema
	var inside atomic.Int32
	var acquired, gaveUp atomic.Int64
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration((g*7+i)%5)*time.Microsecond)
				err := s.acquire(ctx, neverDone)
				cancel()
				if err != nil {
					gaveUp.Add(1)
					continue
				}
				if n := inside.Add(1); n != 1 {
					t.Errorf("%d holders at once", n)
				}
				acquired.Add(1)
				time.Sleep(time.Microsecond)
				inside.Add(-1)
				s.release()
			}
		}()
	}
	wg.Wait()
	if !s.tryAcquire() {
		t.Fatalf("lock still held after every holder released it (%d acquired, %d gave up)", acquired.Load(), gaveUp.Load())
	}
	if acquired.Load() == 0 || gaveUp.Load() == 0 {
		t.Logf("acquired %d, gave up %d: the test did not exercise both paths", acquired.Load(), gaveUp.Load())
	}
}

// TestSemaDone checks that a waiter gives up when its done channel closes,
// and that the lock is not disturbed by it.
func TestSemaDone(t *testing.T) {
	var s sema
	if err := s.acquire(context.Background(), neverDone); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	errc := make(chan error)
	go func() { errc <- s.acquire(context.Background(), func() <-chan struct{} { return done }) }()
	time.Sleep(10 * time.Millisecond)
	close(done)
	if err := <-errc; err != errSemaDone {
		t.Fatalf("acquire = %v, want errSemaDone", err)
	}
	if s.tryAcquire() {
		t.Fatal("tryAcquire took a lock that is held")
	}
	s.release()
	if !s.tryAcquire() {
		t.Fatal("tryAcquire failed on a free lock")
	}
}

// TestSemaHandoff checks that release wakes a waiter rather than
// freeing the lock under it.
func TestSemaHandoff(t *testing.T) {
	var s sema
	s.acquire(context.Background(), neverDone)
	got := make(chan struct{})
	go func() {
		s.acquire(context.Background(), neverDone)
		close(got)
	}()
	for {
		s.mu.Lock()
		w := s.waiters
		s.mu.Unlock()
		if w == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	s.release()
	<-got
	if s.tryAcquire() {
		t.Fatal("the lock was free after being handed to the waiter")
	}
}

// TestSemaReleaseUnheld checks that releasing a free lock panics rather
// than corrupting the lock or blocking with its mutex held.
func TestSemaReleaseUnheld(t *testing.T) {
	var s sema
	defer func() {
		if recover() == nil {
			t.Fatal("release of a free lock did not panic")
		}
	}()
	s.release()
}
