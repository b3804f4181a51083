package main

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twoway/websocket/autobahn/internal/suite"
	"github.com/twoway/websocket/internal/rawpeer"
)

// TestServe plays a few cases of the native suite against the command's
// server, including one with compression.
func TestServe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- serve(ctx, ln) }()

	want := map[string]bool{"1.1.7": true, "2.10": true, "6.4.1": true, "7.7.13": true, "12.1.1": true}
	for _, c := range suite.Cases(suite.Options{Short: true}) {
		if !want[c.ID] {
			continue
		}
		p, err := rawpeer.Dial("ws://"+ln.Addr().String()+"/", c.DialOptions())
		if err != nil {
			t.Fatal(err)
		}
		if r := suite.Run(c, p, suite.Options{}); !r.Passed() {
			t.Errorf("%s", r)
		}
	}

	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not return after cancel")
	}
	if _, err := rawpeer.Dial("ws://"+ln.Addr().String()+"/", nil); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("dial after shutdown: %v, want connection refused", err)
	}
}
