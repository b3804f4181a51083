package conn

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twoway/websocket/handshake"
)

// trackedServer serves an echo on Accept with t as the tracker.
func trackedServer(t *testing.T, tr *Tracker) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, &AcceptOptions{Tracker: tr})
		if err != nil {
			return
		}
		defer c.CloseNow()
		var buf []byte
		for {
			typ, msg, err := c.ReadInto(r.Context(), buf)
			if err != nil {
				return
			}
			buf = msg
			if c.Write(r.Context(), typ, msg) != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return wsURL(srv.URL)
}

// TestTrackerShutdown closes every tracked connection with 1001, one of
// them while its client streams a message, and refuses later handshakes.
func TestTrackerShutdown(t *testing.T) {
	var tr Tracker
	url := trackedServer(t, &tr)
	const n = 5
	ends := make(chan error, n)
	streaming := make(chan struct{})
	for i := range n {
		c := dial(t, url, nil)
		go func() {
			for {
				if _, _, err := c.Read(context.Background()); err != nil {
					ends <- err
					return
				}
			}
		}()
		if i == 0 {
			go func() {
				w, err := c.Writer(context.Background(), Binary)
				if err != nil {
					return
				}
				close(streaming)
				for {
					if _, err := w.Write(make([]byte, 4096)); err != nil {
						return
					}
				}
			}()
		}
	}
	<-streaming
	for tr.Len() != n {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tr.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown = %v", err)
	}
	want := CloseError{Code: CloseGoingAway, Reason: "server shutting down", Remote: true}
	for range n {
		var ce *CloseError
		if err := await(t, ends, "a client's end"); !errors.As(err, &ce) || !cmp.Equal(want, *ce, closeErrorOpts) {
			t.Errorf("client ended with %v, want %+v", err, want)
		}
	}
	if got := tr.Len(); got != 0 {
		t.Errorf("Len after Shutdown = %d", got)
	}
	_, resp, err := Dial(context.Background(), url, nil)
	var re *handshake.ResponseError
	if !errors.As(err, &re) || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("Dial after Shutdown = %v, want 503", err)
	}
}

// TestTrackerShutdownCut checks that Shutdown gives up on a peer that
// does not answer when its context ends, and says so.
func TestTrackerShutdownCut(t *testing.T) {
	var tr Tracker
	url := trackedServer(t, &tr)
	p := dialRaw(t, "http"+url[2:])
	defer p.nc.Close()
	for tr.Len() != 1 {
		time.Sleep(time.Millisecond)
	}
	// The context leaves Shutdown time to send the Close frame however
	// a loaded machine schedules it, and ends well before the close
	// timeout (DefaultCloseTimeout, 5 s) that a Shutdown deaf to it
	// would wait for.
	const bound = time.Second
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	start := time.Now()
	if err := tr.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > bound+2*time.Second {
		t.Errorf("Shutdown took %v with a %v context", d, bound)
	}
	// The peer got the Close frame before the cut.
	if code := p.expectClose(); code != int(CloseGoingAway) {
		t.Errorf("peer got close code %d, want 1001", code)
	}
}

// TestTrackerForgetsEnded checks that connections leave the tracker when
// they end, however they end.
func TestTrackerForgetsEnded(t *testing.T) {
	var tr Tracker
	url := trackedServer(t, &tr)
	a, b := dial(t, url, nil), dial(t, url, nil)
	for tr.Len() != 2 {
		time.Sleep(time.Millisecond)
	}
	a.Close(CloseNormal, "")
	b.CloseNow()
	deadline := time.Now().Add(5 * time.Second)
	for tr.Len() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("Len = %d after both ended", tr.Len())
		}
		time.Sleep(time.Millisecond)
	}
}
