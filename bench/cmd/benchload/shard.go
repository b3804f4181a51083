package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twoway/websocket/bench/internal/procstat"
	"github.com/twoway/websocket/bench/internal/workload"
	"github.com/twoway/websocket/bench/internal/wsclient"
)

// The massive workload sharded over processes: when one process may not
// hold every connection (RLIMIT_NOFILE), benchrun starts several servers
// of the library and names them in -shard-addrs (-pid and -pids name
// their processes). This process then holds no connection itself: it
// starts one worker (benchload -shard-worker) per server, each opening
// and holding its share of the connections, and drives them step by
// step over their standard input and output, so that every measurement
// is taken here, once, with every shard at the same step.
var (
	shardAddrs  = flag.String("shard-addrs", "", "massive: comma-separated addresses of the servers to shard the connections over, one worker process each")
	shardWorker = flag.Bool("shard-worker", false, "massive: be one shard's worker: print \"ready\", then open -conns connections to -addr on the line \"open\", echo once on each on \"echo\", and hold them until standard input closes")
)

// serverPids returns the ids of every server-side process: -pid, then
// those of -pids; none without a -pid.
func (cfg *config) serverPids() []int {
	if cfg.pid == 0 {
		return nil
	}
	return append([]int{cfg.pid}, extraPids()...)
}

// sumOver returns the sum of read over pids: the figure of a server
// sharded into several processes.
func sumOver[T int64 | time.Duration](pids []int, read func(pid int) (T, error)) (T, error) {
	var sum T
	for _, pid := range pids {
		v, err := read(pid)
		if err != nil {
			return 0, fmt.Errorf("process %d: %w", pid, err)
		}
		sum += v
	}
	return sum, nil
}

// runShardWorker is one shard of a sharded massive workload: it follows
// the commands its coordinator writes to in, answering on out.
func runShardWorker(ctx context.Context, cfg *config, in io.Reader, out io.Writer) error {
	p, err := newPayload(cfg.spec)
	if err != nil {
		return err
	}
	var conns []*wsclient.Conn
	defer func() { abortAll(conns) }()
	fmt.Fprintln(out, "ready")
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		switch cmd := sc.Text(); cmd {
		case "open":
			c0, err := procstat.SelfCPUTime()
			if err != nil {
				return err
			}
			// Answer once the handshakes are done, as the single
			// process stops its clock (see dialAll).
			var cerr error
			conns, err = dialAll(ctx, cfg, cfg.spec.Conns, p, func() {
				var c1 time.Duration
				c1, cerr = procstat.SelfCPUTime()
				fmt.Fprintf(out, "opened %d\n", c1-c0)
			})
			if err := errors.Join(err, cerr); err != nil {
				return err
			}
		case "echo":
			if err := echoAll(ctx, cfg, conns); err != nil {
				return err
			}
			fmt.Fprintln(out, "echoed")
		default:
			return fmt.Errorf("unknown command %q", cmd)
		}
	}
	return sc.Err()
}

// shardProc is a running shard worker.
type shardProc struct {
	n      int // its connections
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Reader
	stderr bytes.Buffer // read only once the process has been waited for
	done   chan struct{}
}

// step writes cmd, unless empty, and reads the answer, which must start
// with want; it returns the rest of the line.
func (s *shardProc) step(cmd, want string) (string, error) {
	if cmd != "" {
		if _, err := io.WriteString(s.in, cmd+"\n"); err != nil {
			return "", fmt.Errorf("worker %d: %w", s.cmd.Process.Pid, err)
		}
	}
	line, err := s.out.ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("worker %d: %w (it said %q)", s.cmd.Process.Pid, err, s.stderrText())
	}
	rest, ok := strings.CutPrefix(strings.TrimSpace(line), want)
	if !ok {
		return "", fmt.Errorf("worker %d answered %q, not %q", s.cmd.Process.Pid, line, want)
	}
	return strings.TrimSpace(rest), nil
}

// stderrText returns what the worker wrote to its standard error, once
// it has exited, within a second.
func (s *shardProc) stderrText() string {
	t := time.NewTimer(time.Second)
	defer t.Stop()
	select {
	case <-s.done:
		return strings.TrimSpace(s.stderr.String())
	case <-t.C:
		return ""
	}
}

// eachShard runs f on every shard at once and joins their errors.
func eachShard(shards []*shardProc, f func(i int, s *shardProc) error) error {
	errs := make([]error, len(shards))
	var wg sync.WaitGroup
	for i, s := range shards {
		wg.Go(func() { errs[i] = f(i, s) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// startShards starts one worker for each address, with its share of the
// connections and of the handshakes in flight; it inherits this process's
// CPU affinity.
func startShards(ctx context.Context, cfg *config, addrs []string, shares []int) ([]*shardProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	proto := "ws"
	if cfg.proto == wsclient.RawTCP {
		proto = "raw"
	}
	// As many handshakes in flight in all as one process would have.
	dialers := max(1, (cfg.dialers+len(addrs)-1)/len(addrs))
	var shards []*shardProc
	for i, addr := range addrs {
		s := &shardProc{n: shares[i], done: make(chan struct{})}
		s.cmd = exec.CommandContext(ctx, exe, "-shard-worker", "-workload", cfg.spec.Name, "-proto", proto,
			"-addr", addr, "-conns", strconv.Itoa(shares[i]), "-size", strconv.Itoa(cfg.spec.Size),
			"-sources", strconv.Itoa(cfg.sources), "-dialers", strconv.Itoa(dialers))
		s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		s.cmd.Stderr = &s.stderr
		if s.in, err = s.cmd.StdinPipe(); err == nil {
			var out io.ReadCloser
			if out, err = s.cmd.StdoutPipe(); err == nil {
				s.out = bufio.NewReader(out)
				err = s.cmd.Start()
			}
		}
		if err != nil {
			stopShards(shards)
			return nil, fmt.Errorf("starting shard worker %d: %w", i, err)
		}
		go func() {
			s.cmd.Wait()
			close(s.done)
		}()
		shards = append(shards, s)
	}
	return shards, nil
}

// stopShards closes the workers' input, on which they close their
// connections and exit, and kills, by pid, any still running 10 seconds
// later.
func stopShards(shards []*shardProc) {
	for _, s := range shards {
		s.in.Close()
	}
	t := time.NewTimer(10 * time.Second)
	defer t.Stop()
	for _, s := range shards {
		select {
		case <-s.done:
		case <-t.C:
			s.cmd.Process.Kill()
			<-s.done
		}
	}
}

// runSharded runs the massive workload over the servers of -shard-addrs,
// taking the single process's steps (see runIdle) with every shard at
// once: server figures are sums over the servers' processes, the open
// time is the wall time until every shard holds its connections, the
// load generator's CPU is the workers', and the kernel's figures are
// read once, every connection held.
func runSharded(ctx context.Context, cfg *config, res *workload.Result) error {
	addrs := strings.Split(*shardAddrs, ",")
	pids := cfg.serverPids()
	if len(pids) != len(addrs) {
		return fmt.Errorf("%d shard addresses but %d server processes in -pid and -pids", len(addrs), len(pids))
	}
	n := cfg.spec.Conns
	shares := workload.Shares(n, len(addrs))
	res.Shards = len(addrs)
	// The workers inherit this process's limit; each server has its own.
	limit, err := procstat.RaiseNoFile()
	if err != nil {
		return err
	}
	for i, pid := range pids {
		srv, err := procstat.NoFileLimit(pid)
		if err != nil {
			return err
		}
		if need := uint64(shares[i] + workload.FDMargin); need > min(limit, srv) {
			return fmt.Errorf("shard %d: %d connections need RLIMIT_NOFILE %d; the load generator's is %d, the server's %d: use more shards",
				i, shares[i], need, limit, srv)
		}
	}
	rss := func(dst *int64) error {
		var err error
		*dst, err = sumOver(pids, procstat.RSS)
		return err
	}

	shards, err := startShards(ctx, cfg, addrs, shares)
	if err != nil {
		return err
	}
	defer stopShards(shards)
	if err := eachShard(shards, func(_ int, s *shardProc) error {
		_, err := s.step("", "ready")
		return err
	}); err != nil {
		return err
	}

	if err := rss(&res.RSSBefore); err != nil {
		return err
	}
	k0, err := procstat.ReadKernel()
	if err != nil {
		return err
	}
	cpu0, _, err := cfg.serverCPU()
	if err != nil {
		return err
	}
	loadCPU := make([]time.Duration, len(shards))
	held := make([]time.Duration, len(shards))
	t0 := time.Now()
	if err := eachShard(shards, func(i int, s *shardProc) error {
		v, err := s.step("open", "opened")
		held[i] = time.Since(t0)
		if err != nil {
			return err
		}
		ns, err := strconv.ParseInt(v, 10, 64)
		loadCPU[i] = time.Duration(ns)
		return err
	}); err != nil {
		return err
	}
	elapsed := slices.Max(held)
	cpu1, _, err := cfg.serverCPU()
	if err != nil {
		return err
	}
	var load time.Duration
	for _, d := range loadCPU {
		load += d
	}
	res.Seconds = elapsed.Seconds()
	res.HandshakesPerSec = float64(n) / elapsed.Seconds()
	res.LoadCPUPerMsg = float64(load) / float64(n)
	res.LoadBusy = load.Seconds() / elapsed.Seconds()
	res.CPUPerMsg = float64(cpu1-cpu0) / float64(n)
	res.ServerBusy = (cpu1 - cpu0).Seconds() / elapsed.Seconds()

	if err := sleep(ctx, cfg.settle); err != nil {
		return err
	}
	if err := rss(&res.RSSIdle); err != nil {
		return err
	}
	if err := eachShard(shards, func(_ int, s *shardProc) error {
		_, err := s.step("echo", "echoed")
		return err
	}); err != nil {
		return err
	}
	res.Msgs = uint64(n)
	if err := sleep(ctx, cfg.settle); err != nil {
		return err
	}
	if err := rss(&res.RSSEcho); err != nil {
		return err
	}
	// The servers' RSS before the connections, K baselines, is left out
	// as the single process's one is.
	res.IdleBytesPerConn = float64(res.RSSIdle-res.RSSBefore) / float64(n)
	res.EchoBytesPerConn = float64(res.RSSEcho-res.RSSBefore) / float64(n)
	if err := kernelPerConn(res, k0, n); err != nil {
		return err
	}
	return idleCPU(ctx, cfg, res, n, 2*cfg.settle)
}

// sleep waits for d, or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
