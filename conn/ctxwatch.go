package conn

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// aLongTimeAgo is a deadline in the past, to interrupt blocked I/O.
var aLongTimeAgo = time.Unix(1, 0)

// ctxWatch makes a context interrupt blocked I/O in one direction of the
// connection by moving that direction's deadline into the past. It stays
// registered across calls that pass the same context, so a loop that gives
// every Read the request's context pays for the registration once, not per
// message. watch and unwatch are called with the direction's lock held;
// detach, from anywhere.
type ctxWatch struct {
	c     *Conn
	write bool // the watch moves the write deadline, not the read deadline

	ctx context.Context // the context watched; guarded by the direction's lock

	// context.AfterFunc runs its function in a goroutine of its own, which
	// may start after unwatch has returned: gen tells it whether its
	// context is still the one watched.
	mu       sync.Mutex
	stop     func() bool // unregisters from ctx
	gen      uint64
	fired    bool
	detached bool // the connection has ended: register nothing more
}

func (w *ctxWatch) setDeadline(t time.Time) {
	if w.write {
		w.c.nc.SetWriteDeadline(t)
	} else {
		w.c.nc.SetReadDeadline(t)
	}
}

// watch has *wp watch ctx, making the watch the first time a context that
// can end needs one: most connections are only ever given contexts that
// cannot, and an idle Conn is smaller without two watches in it.
func (c *Conn) watch(ctx context.Context, wp *atomic.Pointer[ctxWatch], write bool) error {
	w := wp.Load()
	if w == nil {
		if ctx.Done() == nil {
			return nil
		}
		w = &ctxWatch{c: c, write: write}
		wp.Store(w)
		if c.isClosed() {
			w.detach() // closeTCP may have looked before the Store
		}
	}
	return w.watch(ctx)
}

// watch arranges for ctx to interrupt the I/O that follows. It returns
// ctx's error when ctx is already done. A context that can never be done
// costs nothing.
func (w *ctxWatch) watch(ctx context.Context) error {
	if ctx == w.ctx {
		return ctx.Err()
	}
	w.unwatch()
	if ctx.Done() == nil {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	w.mu.Lock()
	gen := w.gen
	w.mu.Unlock()
	stop := context.AfterFunc(ctx, func() {
		w.mu.Lock()
		if w.gen == gen {
			w.fired = true
			w.setDeadline(aLongTimeAgo)
		}
		w.mu.Unlock()
	})
	w.mu.Lock()
	if w.detached {
		w.mu.Unlock()
		stop() // the I/O that follows fails on the closed connection
		return nil
	}
	w.ctx, w.stop = ctx, stop
	w.mu.Unlock()
	return nil
}

// unwatch ends the watch of the current context and undoes its deadline
// if it fired. A nil watch has nothing to end.
func (w *ctxWatch) unwatch() {
	if w == nil {
		return
	}
	w.mu.Lock()
	stop := w.stop
	w.stop = nil
	w.gen++
	if w.fired {
		w.fired = false
		w.setDeadline(time.Time{})
	}
	w.mu.Unlock()
	if stop != nil {
		stop()
	}
	w.ctx = nil
}

// detach ends the watch for good, when the connection has ended: a
// context that outlives the connection, such as a server's, must not keep
// it reachable through the function registered with it. A nil watch has
// nothing to end.
func (w *ctxWatch) detach() {
	if w == nil {
		return
	}
	w.mu.Lock()
	w.detached = true
	stop := w.stop
	w.stop = nil
	w.mu.Unlock()
	if stop != nil {
		stop()
	}
}
