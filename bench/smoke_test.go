package bench

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestSmoke builds the benchmark and runs its smoke mode: one short cell
// per workload against twoway and raw TCP (and twoway with
// permessage-deflate for fanout and the compressed workloads: JSON-like
// text compressed both ways, context taken over, every echo inflated and
// checked byte for byte; for fanout also the hub spread over two
// processes linked by NATS, every delivery checked byte for byte), and
// twoway's event-driven server in every workload it serves, the massive
// one at 64 connections. benchrun exits
// non-zero if any cell fails.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the benchmark; skipped in -short mode")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not in PATH")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool, "run", "./cmd/benchrun", "-smoke")
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("benchrun -smoke: %v\n%s", err, out)
	}
	text := string(out)
	for _, want := range []string{
		"== latency", "== conns100", "== pipelined", "== big1m", "== big16m", "== idle", "== fanout",
		"== conns100-deflate", "== pipelined-deflate", "== idle-deflate", "== idle-deflate64k",
		"== massive", "twoway", "twoway-event", "rawtcp", "twoway-deflate", "twoway-hub-nats2",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "ERROR") {
		t.Errorf("a cell failed:\n%s", text)
	}
}
