package conn

import (
	"context"
	"sync"
	"time"
)

// aLongTimeAgo is a deadline in the past, to interrupt blocked I/O.
var aLongTimeAgo = time.Unix(1, 0)

// ctxWatch makes a context interrupt blocked I/O in one direction of the
// connection by moving that direction's deadline into the past. It stays
// registered across calls that pass the same context, so a loop that gives
// every Read the request's context pays for the registration once, not per
// message. Its methods other than fire are called with the direction's
// lock held.
type ctxWatch struct {
	c     *Conn
	write bool // the watch moves the write deadline, not the read deadline

	ctx  context.Context
	stop func() bool

	// context.AfterFunc runs its function in a goroutine of its own, which
	// may start after unwatch has returned: gen tells it whether its
	// context is still the one watched.
	mu    sync.Mutex
	gen   uint64
	fired bool
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
func (c *Conn) watch(ctx context.Context, wp **ctxWatch, write bool) error {
	w := *wp
	if w == nil {
		if ctx.Done() == nil {
			return nil
		}
		w = &ctxWatch{c: c, write: write}
		*wp = w
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
	w.ctx = ctx
	w.stop = context.AfterFunc(ctx, func() {
		w.mu.Lock()
		if w.gen == gen {
			w.fired = true
			w.setDeadline(aLongTimeAgo)
		}
		w.mu.Unlock()
	})
	return nil
}

// unwatch ends the watch of the current context and undoes its deadline
// if it fired. A nil watch has nothing to end.
func (w *ctxWatch) unwatch() {
	if w == nil || w.stop == nil {
		return
	}
	w.stop()
	w.mu.Lock()
	w.gen++
	if w.fired {
		w.fired = false
		w.setDeadline(time.Time{})
	}
	w.mu.Unlock()
	w.ctx, w.stop = nil, nil
}
