package hub

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/twoway/websocket/conn"
)

// TestRemoveLeavesAtOnce checks that a client is out of its rooms once
// Remove has returned, so that a server that lists the room's members
// right after a member leaves does not list it.
func TestRemoveLeavesAtOnce(t *testing.T) {
	h := New(nil)
	defer h.Close()
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(done)
		c, err := conn.Accept(w, r, nil)
		if err != nil {
			t.Error(err)
			return
		}
		defer c.CloseNow()
		for i := range 100 {
			cl, err := h.Add(c, "ann")
			if err != nil {
				t.Error(err)
				return
			}
			if err := cl.Join("a"); err != nil {
				t.Error(err)
				return
			}
			cl.Remove()
			if got := h.Members("a"); len(got) != 0 {
				t.Errorf("round %d: after Remove, Members = %q", i, got)
				break
			}
		}
		c.Close(conn.CloseNormal, "")
	}))
	defer srv.Close()
	c, _, err := conn.Dial(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	for {
		if _, _, err := c.Read(context.Background()); err != nil {
			break
		}
	}
	<-done
}
