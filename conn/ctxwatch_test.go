package conn

import (
	"context"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"
	"weak"
)

// TestContextOutlivesConn checks that a context that outlives a
// connection, as a server's base context does, does not keep the ended
// connection reachable through the watch that a Read or Write with it
// registered.
func TestContextOutlivesConn(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		ctx := context.Background()
		c.Write(ctx, Text, []byte("hello"))
		for {
			if _, _, err := c.Read(ctx); err != nil {
				return
			}
		}
	}))
	defer srv.Close()

	for _, end := range []string{"CloseNow", "Close"} {
		t.Run(end, func(t *testing.T) {
			long, cancel := context.WithCancel(context.Background())
			defer cancel() // only once the test has looked
			ref := func() weak.Pointer[Conn] {
				// Not dial: its cleanup would keep c reachable.
				c, _, err := Dial(context.Background(), wsURL(srv.URL), nil)
				if err != nil {
					t.Fatal(err)
				}
				// Both directions register a watch with long, and no
				// call is in progress when the connection ends.
				if _, _, err := c.Read(long); err != nil {
					t.Fatal(err)
				}
				if err := c.Write(long, Text, []byte("x")); err != nil {
					t.Fatal(err)
				}
				if end == "Close" {
					c.Close(CloseNormal, "")
				} else {
					c.CloseNow()
				}
				return weak.Make(c)
			}()
			deadline := time.Now().Add(5 * time.Second)
			for ref.Value() != nil {
				if time.Now().After(deadline) {
					t.Fatal("the ended connection is still reachable while its context lives")
				}
				runtime.GC()
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}
