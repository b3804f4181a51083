package event_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/twoway/websocket/conn"
	"github.com/twoway/websocket/event"
)

// TestCloseTimeout closes from a callback, which arms the connection's
// deadline from outside the loop, towards a peer that never answers: the
// connection ends with ErrCloseTimeout, not before CloseTimeout.
func TestCloseTimeout(t *testing.T) {
	const timeout = 100 * time.Millisecond
	for _, plain := range []bool{false, true} {
		name := "loops"
		if plain {
			name = "goroutines"
		}
		t.Run(name, func(t *testing.T) {
			closed := make(chan error, 1)
			opened := make(chan time.Time, 1)
			srv := &event.Server{
				Accept: conn.AcceptOptions{CloseTimeout: timeout},
				OnOpen: func(c *event.Conn, _ *http.Request) {
					opened <- time.Now()
					c.Close(conn.CloseNormal, "bye")
				},
				OnClose: func(_ *event.Conn, err error) { closed <- err },
			}
			url := startEchoOn(t, srv, plain)
			dialRaw(t, url, nil) // reads nothing, answers nothing
			var err error
			select {
			case err = <-closed:
			case <-time.After(10 * time.Second):
				t.Fatal("the connection did not end")
			}
			if took := time.Since(<-opened); took < timeout {
				t.Errorf("ended %v after Close, before the close timeout", took)
			}
			var ce *conn.CloseError
			if !errors.As(err, &ce) || ce.Code != conn.CloseNormal || !errors.Is(err, conn.ErrCloseTimeout) {
				t.Errorf("OnClose: %v, want our 1000 and ErrCloseTimeout", err)
			}
		})
	}
}
