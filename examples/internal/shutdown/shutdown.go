// Package shutdown holds what the example servers share to stop
// gracefully: closing their WebSocket connections, which net/http forgets
// once they are hijacked.
package shutdown

import (
	"context"
	"errors"
	"sync"

	"github.com/twoway/websocket/conn"
)

// ErrCut reports that ctx ended before every connection had completed its
// closing handshake.
var ErrCut = errors.New("shutdown cut connections short")

// CloseAll closes every connection in open with 1001 (going away), all at
// once, and then waits for handlers, the WebSocket handlers still running.
// Each Close is bounded by its connection's close timeout.
//
// When ctx ends first, CloseAll calls CloseNow on every connection, waits
// for the closes and the handlers all the same, and returns an error
// wrapping ErrCut and ctx's error. CloseNow cuts at once only the
// connections whose Close frame has not gone out, such as one whose Close
// still waits for a writer stuck on a peer that does not read; where the
// closing handshake is in progress, CloseNow lets it finish within the
// close timeout, since cutting it would lose the Close frame. Either way
// the handlers' later calls on their connections fail.
func CloseAll(ctx context.Context, open []*conn.Conn, handlers *sync.WaitGroup) error {
	done := make(chan struct{})
	go func() {
		var closers sync.WaitGroup
		for _, c := range open {
			closers.Go(func() { c.Close(conn.CloseGoingAway, "server shutting down") })
		}
		closers.Wait()
		handlers.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		for _, c := range open {
			c.CloseNow()
		}
		<-done
		return errors.Join(ErrCut, ctx.Err())
	}
}
