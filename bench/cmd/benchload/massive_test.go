package main

import (
	"os"
	"strings"
	"testing"

	"github.com/twoway/websocket/bench/internal/procstat"
	"github.com/twoway/websocket/bench/internal/workload"
)

func TestCapMassive(t *testing.T) {
	limit, err := procstat.RaiseNoFile()
	if err != nil {
		t.Skip("no RLIMIT_NOFILE:", err)
	}
	spec, err := workload.Lookup("massive")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		conns     int
		pid       int
		wantConns int
		wantNote  []string
	}{
		{"within the limits", 100, os.Getpid(), 100, nil},
		{"over this process's limit", int(limit) * 2, 0, int(limit) - 64, []string{"the load generator's RLIMIT_NOFILE"}},
		{"over both", int(limit) * 2, os.Getpid(), int(limit) - 64, []string{"the load generator's", "the server's"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &config{spec: spec, pid: tt.pid, sources: 8}
			cfg.spec.Conns = tt.conns
			k := capMassive(cfg)
			if cfg.spec.Conns != tt.wantConns || k.Requested != tt.conns {
				t.Errorf("connections %d of %d requested; want %d of %d", cfg.spec.Conns, k.Requested, tt.wantConns, tt.conns)
			}
			if cfg.sources != workload.MassiveSources {
				t.Errorf("sources = %d; want %d", cfg.sources, workload.MassiveSources)
			}
			for _, w := range tt.wantNote {
				if !strings.Contains(k.CapNote, w) {
					t.Errorf("note %q lacks %q", k.CapNote, w)
				}
			}
			if tt.wantNote == nil && k.CapNote != "" {
				t.Errorf("note %q; want none", k.CapNote)
			}
		})
	}
}
