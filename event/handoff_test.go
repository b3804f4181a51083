package event_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/twoway/websocket/conn"
	"github.com/twoway/websocket/event"
)

// TestHTTP serves a page and WebSockets on one listener: requests that
// are not handshakes go to Server.HTTP.
func TestHTTP(t *testing.T) {
	for _, plain := range []bool{false, true} {
		name := "loops"
		if plain {
			name = "goroutines"
		}
		t.Run(name, func(t *testing.T) {
			srv := &event.Server{HTTP: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "page at "+r.URL.Path)
			})}
			url := startEchoOn(t, srv, plain)
			httpURL := "http" + strings.TrimPrefix(url, "ws") + "index"
			client := &http.Client{Transport: &http.Transport{}}
			defer client.CloseIdleConnections()
			for range 3 { // kept alive after the first
				resp, err := client.Get(httpURL)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(body) != "page at /index" {
					t.Fatalf("got %q", body)
				}
			}
			ctx := context.Background()
			c, _, err := conn.Dial(ctx, url, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseNow()
			c.Write(ctx, conn.Text, []byte("hi"))
			if _, p, err := c.Read(ctx); err != nil || string(p) != "hi" {
				t.Fatalf("echo %q, %v", p, err)
			}
			c.Close(conn.CloseNormal, "")
		})
	}
}
