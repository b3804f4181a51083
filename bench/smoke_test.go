package bench

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twoway/websocket/bench/internal/workload"
)

// TestSmoke builds the benchmark and runs its smoke mode: one short cell
// per workload against twoway and raw TCP (and twoway with
// permessage-deflate for fanout and the compressed workloads: JSON-like
// text compressed both ways, context taken over, every echo inflated and
// checked byte for byte; for fanout also the hub spread over two
// processes linked by NATS, every delivery checked byte for byte), and
// twoway's event-driven server in every workload it serves, the massive
// one at 64 connections, and with compression in the compressed ones. benchrun exits
// non-zero if any cell fails.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the benchmark; skipped in -short mode")
	}
	text := benchrun(t, "-smoke")
	for _, want := range []string{
		"== latency", "== conns100", "== pipelined", "== big1m", "== big16m", "== idle", "== fanout",
		"== conns100-deflate", "== pipelined-deflate", "== idle-deflate", "== idle-deflate64k",
		"== massive", "twoway", "twoway-event", "rawtcp", "twoway-deflate", "twoway-event-deflate", "twoway-hub-nats2",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "ERROR") {
		t.Errorf("a cell failed:\n%s", text)
	}
}

// TestSmokeSharded runs the massive workload's sharded path at 64
// connections, one process allowed 40: two servers of twoway's event
// server, each with a load generator process of its own, every
// connection opened, echoed once and held.
func TestSmokeSharded(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the benchmark; skipped in -short mode")
	}
	cells := filepath.Join(t.TempDir(), "cells.json")
	text := benchrun(t, "-smoke",
		"-workloads", "massive", "-libs", "twoway-event", "-massive-conns", "64", "-massive-shard-conns", "40",
		"-json", cells)
	for _, want := range []string{"== massive", "64 connections", "SHARDED into 2 server processes", "32-32 connections each", "twoway-event"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "ERROR") {
		t.Errorf("a cell failed:\n%s", text)
	}
	// The load generator, not only the driver, must have sharded: the
	// cell's result says over how many servers, and what it measured.
	b, err := os.ReadFile(cells)
	if err != nil {
		t.Fatal(err)
	}
	var res workload.Result
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatalf("result %q: %v", b, err)
	}
	got := []int{res.Conns, res.Shards, int(res.Msgs), int(res.SocketsPerConn + 0.5)}
	if diff := cmp.Diff([]int{64, 2, 64, 2}, got); diff != "" {
		t.Errorf("connections, shards, echoes, sockets per connection (-want +got):\n%s", diff)
	}
	if res.RSSBefore <= 0 || res.RSSEcho <= 0 {
		t.Errorf("server RSS %d before, %d after the echoes: want both measured", res.RSSBefore, res.RSSEcho)
	}
}

// benchrun runs benchrun with args, within three minutes, and returns its
// output; it fails the test if benchrun fails.
func benchrun(t *testing.T, args ...string) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not in PATH")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool, append([]string{"run", "./cmd/benchrun"}, args...)...)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("benchrun %v: %v\n%s", args, err, out)
	}
	return string(out)
}
