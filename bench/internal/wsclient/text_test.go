package wsclient

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twoway/websocket/conn"
)

func TestParseDeflate(t *testing.T) {
	tests := []struct {
		v       string
		want    textState
		wantErr bool
	}{
		{"permessage-deflate", textState{serverTakeover: true, serverWindow: 1 << 15, clientWindow: 1 << 15}, false},
		{"permessage-deflate; client_max_window_bits=12", textState{serverTakeover: true, serverWindow: 1 << 15, clientWindow: 1 << 12}, false},
		{"permessage-deflate; server_no_context_takeover; client_no_context_takeover", textState{serverWindow: 1 << 15, clientWindow: 1 << 15}, false},
		{`permessage-deflate; server_max_window_bits="10"`, textState{serverTakeover: true, serverWindow: 1 << 10, clientWindow: 1 << 15}, false},
		{"permessage-deflate; server_max_window_bits", textState{}, true},
		{"permessage-deflate; client_max_window_bits=16", textState{}, true},
		{"permessage-deflate; mystery", textState{}, true},
		{"x-webkit-deflate-frame", textState{}, true},
	}
	for _, tt := range tests {
		got, err := parseDeflate(tt.v)
		if (err != nil) != tt.wantErr {
			t.Errorf("parseDeflate(%q) error %v, want error %v", tt.v, err, tt.wantErr)
			continue
		}
		if err != nil {
			continue
		}
		opt := cmp.AllowUnexported(textState{})
		if diff := cmp.Diff(tt.want, *got, opt, cmp.FilterPath(func(p cmp.Path) bool {
			n := p.Last().String()
			return n == ".src" || n == ".zbuf"
		}, cmp.Ignore())); diff != "" {
			t.Errorf("parseDeflate(%q) (-want +got):\n%s", tt.v, diff)
		}
	}
}

func TestChatTextIsJSON(t *testing.T) {
	for _, size := range []int{128, 1 << 10, 64 << 10} {
		b := ChatText(size, 1)
		if len(b) != size || !json.Valid(b) {
			t.Errorf("ChatText(%d): %d bytes, valid JSON %v", size, len(b), json.Valid(b))
		}
	}
}

// TestTextEcho runs the compressed text mode against twoway's server with
// and without context takeover, and with windows smaller than the
// messages, so that the client must keep the server's window right and
// keep its own back-references inside the window it was given; and
// without compression, when the same text goes uncompressed.
func TestTextEcho(t *testing.T) {
	for _, co := range []*conn.CompressionOptions{
		{},
		{ServerNoContextTakeover: true, ClientNoContextTakeover: true},
		{ServerMaxWindowBits: 9, ClientMaxWindowBits: 9},
		nil,
	} {
		for _, size := range []int{1 << 10, 64 << 10} {
			t.Run(fmt.Sprintf("%+v/%d", co, size), func(t *testing.T) {
				addr := serveTwoway(t, co)
				p, err := NewTextPayload(size, 7)
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				c, err := new(Dialer).Dial(ctx, addr, WebSocket, p)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Abort()
				if c.Deflate() != (co != nil) {
					t.Fatalf("compression agreed %v, want %v", c.Deflate(), co != nil)
				}
				c.SetDeadline(time.Now().Add(10 * time.Second))
				for range 3 {
					if err := c.Send(4); err != nil {
						t.Fatal(err)
					}
					for range 4 {
						if err := c.Recv(); err != nil {
							t.Fatal(err)
						}
					}
				}
			})
		}
	}
}

func serveTwoway(t *testing.T, co *conn.CompressionOptions) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opts := &conn.AcceptOptions{InsecureSkipOriginCheck: true, Compression: co, ReadLimit: 1 << 20}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := conn.Accept(w, r, opts)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, msg, err := c.Read(r.Context())
			if err != nil || c.Write(r.Context(), typ, msg) != nil {
				return
			}
		}
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}
