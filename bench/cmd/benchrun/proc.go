package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twoway/websocket/bench/internal/workload"
)

// runner runs cells, one server and one load generator at a time.
type runner struct {
	options
	serverBin, loadBin string
	pin                bool
	progress           io.Writer
}

// CPUs the server and the load generator are pinned to.
const (
	serverCPU = 1
	loadCPU   = 0
)

func numCPU() int { return runtime.NumCPU() }

// canPin reports whether taskset can pin to both CPUs used.
func canPin(ctx context.Context) bool {
	if numCPU() < 2 {
		return false
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		return false
	}
	for _, cpu := range []int{loadCPU, serverCPU} {
		if exec.CommandContext(ctx, "taskset", "-c", strconv.Itoa(cpu), "true").Run() != nil {
			return false
		}
	}
	return true
}

func pinNote(pin bool) string {
	if pin {
		return fmt.Sprintf("server on CPU %d, load on CPU %d", serverCPU, loadCPU)
	}
	return "unavailable (no taskset or fewer than 2 CPUs): processes share all CPUs"
}

// cpuModel returns the CPU model name from /proc/cpuinfo, if any.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// command returns a command for argv, pinned to cpu if pinning works and
// killed when ctx is done. The child also gets SIGKILL should this
// process die without stopping it.
func (r *runner) command(ctx context.Context, cpu int, argv ...string) *exec.Cmd {
	if r.pin {
		argv = append([]string{"taskset", "-c", strconv.Itoa(cpu)}, argv...)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// limitedBuffer keeps the first 4 KiB written to it, for error messages.
type limitedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := 4<<10 - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *limitedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.TrimSpace(b.buf.String())
}

// server is a running benchserver child.
type server struct {
	cmd    *exec.Cmd
	addr   string
	done   chan struct{} // closed once the process has been waited for
	stderr *limitedBuffer
}

// startServer starts a benchserver for lib and waits for its address.
func (r *runner) startServer(ctx context.Context, lib string, fanout bool, profile string, more ...string) (*server, error) {
	argv := []string{r.serverBin, "-lib", lib, "-addr", "127.0.0.1:0"}
	if fanout {
		argv = append(argv, "-fanout")
	}
	if profile != "" {
		argv = append(argv, "-cpuprofile", profile)
	}
	argv = append(argv, more...)
	// The server is stopped by stop, gently first, rather than by a context.
	s := &server{cmd: r.command(context.Background(), serverCPU, argv...), done: make(chan struct{}), stderr: &limitedBuffer{}}
	s.cmd.Stderr = s.stderr
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	first := make(chan string, 1)
	go func() {
		br := bufio.NewReader(stdout)
		line, _ := br.ReadString('\n')
		first <- strings.TrimSpace(line)
		io.Copy(io.Discard, br) // until the process exits
		s.cmd.Wait()
		close(s.done)
	}()
	t := time.NewTimer(10 * time.Second)
	defer t.Stop()
	select {
	case s.addr = <-first:
		if s.addr != "" {
			return s, nil
		}
		err = errors.New("exited before printing its address")
	case <-t.C:
		err = errors.New("no address within 10s")
	case <-ctx.Done():
		err = ctx.Err()
	}
	s.stop()
	return nil, fmt.Errorf("benchserver -lib %s: %w: %s", lib, err, s.stderr)
}

// stop ends the server by its pid: SIGTERM first, so that a CPU profile is
// flushed, then SIGKILL if it has not exited within two seconds.
func (s *server) stop() {
	s.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(2 * time.Second)
	defer t.Stop()
	select {
	case <-s.done:
		return
	case <-t.C:
	}
	s.cmd.Process.Kill()
	<-s.done
}

// cell measures one workload against one library in a fresh server.
func (r *runner) cell(ctx context.Context, lib string, spec workload.Spec, round int) workload.Result {
	res := workload.Result{Lib: lib, Workload: spec.Name, Conns: spec.Conns, InFlight: spec.InFlight, Size: spec.Size}
	var profile string
	if r.profileLib == lib {
		profile = filepath.Join(r.profileDir, fmt.Sprintf("%s-%s-r%d.pprof", lib, spec.Name, round+1))
	}
	shards := r.massiveShards(spec)
	var srv *server
	var others []*server
	var err error
	if shards > 1 {
		srv, others, err = r.startShardServers(ctx, lib, shards, profile)
	} else {
		srv, others, err = r.startServers(ctx, lib, spec, profile)
	}
	if err != nil {
		res.Err = err.Error()
		return res
	}
	defer srv.stop()
	defer stopAll(others)

	proto := "ws"
	if strings.HasPrefix(lib, "rawtcp") {
		proto = "raw"
	}
	argv := []string{r.loadBin,
		"-addr", srv.addr, "-proto", proto, "-lib", lib, "-pid", strconv.Itoa(srv.cmd.Process.Pid),
		"-workload", spec.Name, "-conns", strconv.Itoa(spec.Conns),
		"-d", r.duration.String(), "-warmup", r.warmup.String(), "-settle", r.settle.String(),
	}
	if spec.Fanout && strings.Contains(lib, "deflate") {
		argv = append(argv, "-deflate")
	}
	if shards > 1 {
		argv = append(argv, shardArgs(srv, others)...)
	} else {
		argv = append(argv, loadArgs(others)...)
	}
	// Generous but finite: dialing 10,000 connections on a loaded machine
	// takes a while; a stuck run must not hang the whole benchmark.
	// The massive workload adds a millisecond per connection.
	timeout := r.warmup + r.duration + 3*r.settle + 90*time.Second
	if spec.Massive {
		timeout += time.Duration(spec.Conns) * time.Millisecond
	}
	lctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	load := r.command(lctx, loadCPU, argv...)
	load.WaitDelay = 2 * time.Second
	stderr := &limitedBuffer{}
	load.Stderr = stderr
	out, runErr := load.Output()

	// The last stdout line is the JSON result, written on failure too.
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
		res.Err = fmt.Sprintf("benchload: %v: %s", runErr, stderr)
		if runErr == nil {
			res.Err = fmt.Sprintf("benchload: bad result %q: %v", out, err)
		}
	} else if runErr != nil && res.Err == "" {
		res.Err = fmt.Sprintf("benchload: %v: %s", runErr, stderr)
	}
	select {
	case <-srv.done:
		if res.Err == "" {
			res.Err = "server exited during the run: " + srv.stderr.String()
		}
	default:
	}
	res.Lib = lib
	return res
}
