package event_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twoway/websocket/conn"
	"github.com/twoway/websocket/event"
	"github.com/twoway/websocket/internal/cputime"
)

// idleServerEnv makes the test binary an echo server for TestIdleMemory.
const idleServerEnv = "EVENT_IDLE_SERVER"

// TestIdleMemory opens 10,000 connections to an event server in a
// process of its own and reports the growth of its resident memory per
// connection, while idle and again after each connection has echoed one
// message.
func TestIdleMemory(t *testing.T) {
	if os.Getenv(idleServerEnv) != "" {
		idleServer()
		return
	}
	if testing.Short() {
		t.Skip("opens 10,000 connections")
	}
	if raceEnabled {
		t.Skip("the race detector's shadow memory swamps the figure")
	}
	const conns = 10000
	const maxPerConn = 1024 // bytes: issue 16's target
	// Each process holds one descriptor per connection, and Go raises
	// its soft limit to the hard one; a machine whose hard limit is
	// lower cannot take the measure, which says nothing of the server.
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Max < conns+100 {
		t.Skipf("RLIMIT_NOFILE's hard limit is %d, below the %d descriptors %d connections need", lim.Max, conns+100, conns)
	}
	ask := startIdleServer(t)
	url := "ws://" + ask("addr") + "/"
	rss := func() int {
		n, err := strconv.Atoi(ask("rss"))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dial := func() *conn.Conn {
		c, _, err := conn.Dial(ctx, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	echo := func(c *conn.Conn) {
		if err := c.Write(ctx, conn.Text, []byte("hello")); err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.Read(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// Warm up: the loops, the pool and the buffers exist before the
	// baseline.
	warm := dial()
	echo(warm)
	base := rss()

	cs := make([]*conn.Conn, 0, conns)
	defer func() {
		for _, c := range cs {
			c.CloseNow()
		}
	}()
	start := time.Now()
	for range conns {
		cs = append(cs, dial())
	}
	opened := time.Since(start)
	idle := rss()
	for _, c := range cs {
		echo(c)
	}
	after := rss()
	perIdle := float64(idle-base) * 1024 / conns
	perAfter := float64(after-base) * 1024 / conns
	t.Logf("%d connections opened in %v; server RSS %d KiB at rest, +%.0f B per idle connection, +%.0f B after one echo each",
		conns, opened.Round(time.Millisecond), base, perIdle, perAfter)
	if perIdle > maxPerConn || perAfter > maxPerConn {
		t.Errorf("more than %d B per connection", maxPerConn)
	}
}

// startIdleServer starts the test binary as an idle server, with extra
// environment, and returns a function that asks it a question.
func startIdleServer(t testing.TB, env ...string) (ask func(q string) string) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestIdleMemory$")
	cmd.Env = append(append(os.Environ(), idleServerEnv+"=1"), env...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	out := bufio.NewScanner(stdout)
	return func(q string) string {
		t.Helper()
		fmt.Fprintln(stdin, q)
		if !out.Scan() {
			t.Fatalf("server: no answer to %q: %v", q, out.Err())
		}
		return out.Text()
	}
}

// idlePingEnv sets the idle server's keepalive interval.
const idlePingEnv = "EVENT_IDLE_PING"

// idleServer serves echo on loopback and answers the test's questions on
// its standard input: "addr"; "rss", in KiB after a collection; and
// "cpu", the nanoseconds of CPU it has used.
func idleServer() {
	srv := &event.Server{OnMessage: func(c *event.Conn, typ conn.MessageType, p []byte) {
		c.Write(context.Background(), typ, p)
	}}
	if d, err := time.ParseDuration(os.Getenv(idlePingEnv)); err == nil {
		srv.Accept.PingInterval = d
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	go srv.Serve(ln)
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		switch in.Text() {
		case "addr":
			fmt.Println(ln.Addr())
		case "rss":
			runtime.GC()
			debug.FreeOSMemory()
			fmt.Println(vmRSS())
		case "cpu":
			fmt.Println(int64(cputime.Process()))
		}
	}
	os.Exit(0)
}

// vmRSS returns the process's resident set size in KiB.
func vmRSS() int {
	b, _ := os.ReadFile("/proc/self/status")
	for l := range bytes.Lines(b) {
		if v, ok := strings.CutPrefix(string(l), "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	return 0
}

// BenchmarkIdleCPU opens 10,000 connections to an event server in a
// process of its own, which then has nothing to do, and reports the CPU
// time it uses per connection and second (each iteration is a second)
// beyond what it used with one connection over 3 seconds: the cost of looking at the
// timers of connections that have none due. With keepalive the interval
// is long, so that no ping falls due.
func BenchmarkIdleCPU(b *testing.B) {
	const conns = 10000
	for _, ping := range []string{"off", "1m"} {
		b.Run("keepalive="+ping, func(b *testing.B) {
			ask := startIdleServer(b, idlePingEnv+"="+ping)
			url := "ws://" + ask("addr") + "/"
			cpu := func() time.Duration {
				n, err := strconv.ParseInt(ask("cpu"), 10, 64)
				if err != nil {
					b.Fatal(err)
				}
				return time.Duration(n)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			var cs []*conn.Conn
			defer func() {
				for _, c := range cs {
					c.CloseNow()
				}
			}()
			dial := func() {
				c, _, err := conn.Dial(ctx, url, nil)
				if err != nil {
					b.Fatal(err)
				}
				cs = append(cs, c)
			}
			// settle has the server collect and give memory back now,
			// rather than during a measurement.
			settle := func() { ask("rss") }
			dial()
			settle()
			const window = 3 * time.Second
			start := cpu()
			time.Sleep(window) // the measurement
			base := float64(cpu()-start) / window.Seconds()
			for range conns - 1 {
				dial()
			}
			settle()
			b.ResetTimer()
			start = cpu()
			for b.Loop() {
				time.Sleep(time.Second)
			}
			loaded := float64(cpu()-start) / float64(b.N)
			b.ReportMetric((loaded-base)/conns, "cpu-ns/conn/s")
			b.ReportMetric(base, "base-cpu-ns/s")
		})
	}
}
