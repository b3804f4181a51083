//lint:file-ignore SA1019 x/net's HTTP/2 Transport is deprecated in favor of net/http's, but in Go 1.26 net/http's Transport refuses the :protocol pseudo-header that RFC 8441 needs.

package conn

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/twoway/websocket/handshake"
	"github.com/twoway/websocket/internal/godebugtest"
	"github.com/twoway/websocket/internal/h2build"
	"golang.org/x/net/http2"
)

// TestHTTP2 runs WebSocket connections over HTTP/2 streams (RFC 8441):
// Accept on net/http's HTTP/2 server, Dial through x/net's HTTP/2
// transport, messages both ways with and without compression, and the
// closing handshake. Go's server offers extended CONNECT only with
// GODEBUG=http2xconnect=1, read at start-up, so the test runs in a child
// process that has it.
func TestHTTP2(t *testing.T) {
	if !godebugtest.Run(t, "http2xconnect=1") {
		return
	}

	serverErr := make(chan error, 1)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, &AcceptOptions{Compression: &CompressionOptions{}})
		if err != nil {
			serverErr <- err
			return
		}
		defer c.CloseNow()
		ctx := context.Background()
		for {
			typ, msg, err := c.Read(ctx)
			if err != nil {
				serverErr <- err
				return
			}
			if err := c.Write(ctx, typ, msg); err != nil {
				serverErr <- err
				return
			}
		}
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	rt := &http2.Transport{TLSClientConfig: srv.Client().Transport.(*http.Transport).TLSClientConfig}
	defer rt.CloseIdleConnections()
	url := "wss" + strings.TrimPrefix(srv.URL, "https")

	if !h2build.XNetSendsExtendedConnect {
		// Go 1.27 without -tags http2legacy: net/http, under x/net's
		// transport, refuses :protocol, and Dial must say what to do.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _, err := Dial(ctx, url, &DialOptions{HTTP2: rt})
		if !errors.Is(err, handshake.ErrNoExtendedConnect) || !strings.Contains(err.Error(), "-tags http2legacy") {
			t.Fatalf("Dial = %v, want an error that matches handshake.ErrNoExtendedConnect and names -tags http2legacy", err)
		}
		return
	}

	for _, compress := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "deflate"}[compress], func(t *testing.T) {
			var co *CompressionOptions
			if compress {
				co = &CompressionOptions{}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, resp, err := Dial(ctx, url, &DialOptions{HTTP2: rt, Compression: co})
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseNow()
			if resp.ProtoMajor != 2 || c.Compressed() != compress {
				t.Fatalf("%s, compressed %v; want HTTP/2, %v", resp.Proto, c.Compressed(), compress)
			}
			for _, size := range []int{0, 125, 70_000, 1 << 20} {
				msg := bytes.Repeat([]byte("stream "), size/7+1)[:size]
				if err := c.Write(ctx, Text, msg); err != nil {
					t.Fatalf("Write(%d): %v", size, err)
				}
				typ, got, err := c.Read(ctx)
				if err != nil {
					t.Fatalf("Read(%d): %v", size, err)
				}
				if typ != Text || !bytes.Equal(got, msg) {
					t.Fatalf("echo of %d bytes: got %s of %d bytes", size, typ, len(got))
				}
			}
			if err := c.Close(CloseNormal, "bye"); err != nil {
				t.Fatalf("Close: %v", err)
			}
			var ce *CloseError
			if err := <-serverErr; !errors.As(err, &ce) || ce.Code != CloseNormal || ce.Reason != "bye" {
				t.Fatalf("server's Read returned %v, want our Close 1000 bye", err)
			}
		})
	}
}
