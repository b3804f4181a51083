package conn

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twoway/websocket/internal/rawpeer"
)

// TestCloseNowAfterHandshake checks that once both Close frames have been
// exchanged, CloseNow ends a client's wait for the server to close TCP at
// once, rather than after the close timeout, and reports the completed
// handshake. The raw server here answers, but never closes TCP.
func TestCloseNowAfterHandshake(t *testing.T) {
	const patience = 10 * time.Second // far below the close timeout
	t.Run("peer began", func(t *testing.T) {
		url, peers := serveRaw(t)
		c := dial(t, url, &DialOptions{CloseTimeout: time.Minute})
		p := <-peers
		readDone := make(chan error, 1)
		go func() {
			_, _, err := c.Read(context.Background())
			readDone <- err
		}()
		p.send(true, 0, 0x8, rawpeer.ClosePayload(1001, "going"))
		if code := p.expectClose(); code != 1001 {
			t.Fatalf("client answered with code %d, want 1001", code)
		}
		if err := c.CloseNow(); err != nil {
			t.Errorf("CloseNow after a completed handshake = %v, want nil", err)
		}
		select {
		case err := <-readDone:
			var ce *CloseError
			if !errors.As(err, &ce) || ce.Code != CloseGoingAway || !ce.Remote {
				t.Errorf("Read = %v, want the peer's 1001", err)
			}
		case <-time.After(patience):
			t.Fatal("Read still waits for the server's TCP close after CloseNow")
		}
		p.expectEOF()
	})
	t.Run("we began", func(t *testing.T) {
		url, peers := serveRaw(t)
		c := dial(t, url, &DialOptions{CloseTimeout: time.Minute})
		p := <-peers
		closeDone := make(chan error, 1)
		go func() { closeDone <- c.Close(CloseNormal, "done") }()
		if code := p.expectClose(); code != 1000 {
			t.Fatalf("client sent code %d, want 1000", code)
		}
		p.send(true, 0, 0x8, rawpeer.ClosePayload(1000, ""))
		// Close reads the answer and then waits for TCP; CloseNow may come
		// before the answer is read, when it must let the handshake
		// finish, or after, when it ends the wait. Either way Close
		// returns long before its timeout.
		deadline := time.Now().Add(patience)
		for c.peer.Load() == nil && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		c.CloseNow()
		select {
		case err := <-closeDone:
			if err != nil {
				t.Errorf("Close = %v, want nil after a completed handshake", err)
			}
		case <-time.After(patience):
			t.Fatal("Close still waits for the server's TCP close after CloseNow")
		}
		p.expectEOF()
	})
}
