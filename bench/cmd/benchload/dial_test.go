package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/twoway/websocket/bench/internal/workload"
	"github.com/twoway/websocket/bench/internal/wsclient"
)

// TestDialAllRejects checks that a run fails when a server answers the
// opening handshake wrongly, on either path dialAll may take, and that
// it passes against a server that answers right.
func TestDialAllRejects(t *testing.T) {
	spec, err := workload.Lookup("idle")
	if err != nil {
		t.Fatal(err)
	}
	p, err := wsclient.NewPayload(spec.Size, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name   string
		accept func(key string) string
		ok     bool
	}{
		{"right Accept", wsclient.AcceptKey, true},
		{"wrong Accept", func(key string) string { return wsclient.AcceptKey(key + "x") }, false},
	} {
		addr := answerUpgrades(t, tt.accept)
		for _, fallback := range []bool{false, true} {
			cfg := &config{addr: addr, proto: wsclient.WebSocket, spec: spec, dialers: 4, sources: 2}
			if fallback {
				*addr2 = addr // two server addresses: concurrent Dials
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			conns, err := dialAll(ctx, cfg, 20, p, nil)
			cancel()
			*addr2 = ""
			abortAll(conns)
			if tt.ok && err != nil || !tt.ok && err == nil {
				t.Errorf("%s, fallback %v: err = %v, want ok = %v", tt.name, fallback, err, tt.ok)
			}
			if !tt.ok && err != nil && !strings.Contains(err.Error(), "Sec-WebSocket-Accept") {
				t.Errorf("%s, fallback %v: err = %v, want it to name the Accept", tt.name, fallback, err)
			}
		}
	}
}

// answerUpgrades answers every handshake on a loopback server with 101
// and accept(key) as Sec-WebSocket-Accept, then waits for the client to
// hang up.
func answerUpgrades(t *testing.T, accept func(key string) string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		nc, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(time.Minute)) // a bound for a stuck test only
		io.WriteString(nc, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "+
			accept(r.Header.Get("Sec-WebSocket-Key"))+"\r\n\r\n")
		io.Copy(io.Discard, brw)
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}
