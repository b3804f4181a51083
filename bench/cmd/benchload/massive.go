package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/twoway/websocket/bench/internal/procstat"
	"github.com/twoway/websocket/bench/internal/workload"
)

// capMassive prepares the massive workload: connections spread over
// workload.MassiveSources source addresses, and no more of them than the
// open-file limits of this process and of the server (-pid) allow, less
// a margin for their other descriptors. It returns what was asked for
// and, when that was lowered, why.
func capMassive(cfg *config) workload.Kernel {
	const margin = workload.FDMargin
	k := workload.Kernel{Requested: cfg.spec.Conns}
	cfg.sources = max(cfg.sources, workload.MassiveSources)
	var notes []string
	limit := func(who string, n uint64) {
		if n > margin && uint64(k.Requested)+margin > n {
			cfg.spec.Conns = min(cfg.spec.Conns, int(n-margin))
			notes = append(notes, fmt.Sprintf("%s's RLIMIT_NOFILE is %d", who, n))
		}
	}
	if n, err := procstat.RaiseNoFile(); err == nil {
		limit("the load generator", n)
	}
	if cfg.pid != 0 {
		if n, err := procstat.NoFileLimit(cfg.pid); err == nil {
			limit("the server", n)
		}
	}
	k.CapNote = strings.Join(notes, ", ")
	return k
}

// kernelPerConn fills in the massive workload's kernel figures: what the
// machine's sockets hold now, all n connections open, less what it held
// in k0, before they were opened.
func kernelPerConn(res *workload.Result, k0 procstat.Kernel, n int) error {
	k1, err := procstat.ReadKernel()
	if err != nil {
		return err
	}
	per := func(a, b int64) float64 { return float64(b-a) / float64(n) }
	res.SocketsPerConn = per(k0.TCPInUse, k1.TCPInUse)
	res.SlabPerConn = per(k0.SlabBytes, k1.SlabBytes)
	res.SocketSlabPerConn = per(k0.SocketSlab, k1.SocketSlab)
	res.TCPMemPerConn = per(k0.TCPMem, k1.TCPMem)
	res.KernelPerConnAll = res.SlabPerConn + res.TCPMemPerConn
	return nil
}

// idleCPU measures the server's CPU time over d while every one of n
// connections is held and silent, summed over its processes if sharded.
func idleCPU(ctx context.Context, cfg *config, res *workload.Result, n int, d time.Duration) error {
	pids := cfg.serverPids()
	if len(pids) == 0 {
		return nil
	}
	c0, err := sumOver(pids, procstat.RunTime)
	if err != nil {
		return err
	}
	t0 := time.Now()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	c1, err := sumOver(pids, procstat.RunTime)
	if err != nil {
		return err
	}
	res.IdleCPUPerConn = float64(c1-c0) / time.Since(t0).Seconds() / float64(n)
	return nil
}
