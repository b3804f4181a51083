package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/twoway/websocket/conn"
	"github.com/twoway/websocket/examples/internal/servertest"
)

// TestServeEvent runs the server with -event: the page over HTTP and the
// echo over WebSocket from the same address, a refusal at another path,
// and the shutdown.
func TestServeEvent(t *testing.T) {
	cfg, err := parseFlags([]string{"-event", "-addr", "127.0.0.1:0"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	addrs := make(chan string, 1)
	base := testLogger(t).Handler()
	if !testing.Verbose() {
		base = slog.NewTextHandler(io.Discard, nil) // enabled, unlike the discarding handler
	}
	log := slog.New(&addrHandler{Handler: base, addr: addrs})
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	served := make(chan error, 1)
	go func() { served <- serve(ctx, stop, cfg, log) }()
	var addr string
	select {
	case addr = <-addrs:
	case err := <-served:
		t.Fatalf("serve: %v", err)
	}

	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), cfg.Path) {
		t.Errorf("page: %s, %d bytes without %q", resp.Status, len(page), cfg.Path)
	}

	bg := context.Background()
	c := dial(t, "ws://"+addr+cfg.Path, &conn.DialOptions{Compression: &conn.CompressionOptions{}})
	if !c.Compressed() {
		t.Error("permessage-deflate was not agreed")
	}
	big := bytes.Repeat([]byte("all work and no play makes jack a dull boy\n"), 20000)
	for _, m := range [][]byte{[]byte("hello"), nil, big} {
		if err := c.Write(bg, conn.Text, m); err != nil {
			t.Fatal(err)
		}
		if typ, got, err := c.Read(bg); err != nil || typ != conn.Text || !bytes.Equal(got, m) {
			t.Fatalf("echo of %d bytes: %v %d bytes, %v", len(m), typ, len(got), err)
		}
	}

	other := dial(t, "ws://"+addr+"/elsewhere", nil)
	_, _, err = other.Read(bg)
	want := servertest.Ending{Code: conn.ClosePolicyViolation, Reason: "no endpoint at this path", Remote: true}
	if diff := cmp.Diff(want, servertest.EndingOf(err)); diff != "" {
		t.Errorf("another path (-want +got):\n%s", diff)
	}

	stop()
	_, _, err = c.Read(bg)
	want = servertest.Ending{Code: conn.CloseGoingAway, Reason: "server shutting down", Remote: true}
	if diff := cmp.Diff(want, servertest.EndingOf(err)); diff != "" {
		t.Errorf("at shutdown (-want +got):\n%s", diff)
	}
	if err := <-served; err != nil {
		t.Errorf("serve: %v", err)
	}
}
