// Command benchrun drives the side-by-side benchmark: it builds benchserver
// and benchload, then for each workload runs rounds in which every library's
// server is measured once, in an order rotated from round to round. Each
// server runs as a fresh child process pinned to CPU 1 and the load
// generator to CPU 0 (with taskset, when available); the massive workload,
// when one process may not hold all its connections, runs several servers
// of the library and has the load generator shard the connections over
// them (see shard.go). After the rounds of a workload it prints a table of
// medians, spreads and ratios to a base library, twoway by default.
//
// Usage, from the bench directory:
//
//	go run ./cmd/benchrun -short
//
// Children are always stopped by process id, also on error or interrupt.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/twoway/websocket/bench/internal/workload"
)

// allLibs returns the servers in the default order, base first.
func allLibs() []string {
	return []string{"twoway", eventLib, "gorilla", "coder", "gobwas", "gws", "nbio", "rawtcp"}
}

// extraLibs returns the variants run only when asked for: twoway's
// streaming API, twoway with its echo loop in a fresh goroutine, and raw
// TCP with write coalescing.
func extraLibs() []string {
	return []string{"twoway-stream", "twoway-go", "twoway-raw", "gobwas-raw", "rawtcp-batch"}
}

// fanoutLibs returns the servers of the fanout workload, base first: the
// libraries with a prepared message; raw TCP with one write per delivery
// and with a subscriber's queued messages coalesced into one writev; and
// the variants with permessage-deflate: twoway and gorilla compressing
// once for all connections, and twoway compressing for each connection.
func fanoutLibs() []string {
	return []string{"twoway", "gorilla", "rawtcp", "rawtcp-batch", "twoway-deflate", "twoway-deflate-conn", "gorilla-deflate"}
}

// fanoutExtraLibs returns the fanout variants run only when asked for:
// twoway's plain Write per connection, without a prepared message, and
// twoway and gorilla writing from the publishing goroutine instead of a
// writer goroutine per subscriber.
func fanoutExtraLibs() []string {
	return append([]string{"twoway-write", "twoway-loop", "gorilla-loop"}, hubFanoutLibs()...)
}

// defaultLibs returns every server run by default, in table order.
func defaultLibs() []string {
	libs := allLibs()
	for _, l := range slices.Concat(fanoutLibs(), deflateLibs()) {
		if !slices.Contains(libs, l) {
			libs = append(libs, l)
		}
	}
	return libs
}

// serves reports whether lib has a server for the workload spec.
func serves(lib string, spec workload.Spec) bool {
	if spec.Fanout {
		return slices.Contains(fanoutLibs(), lib) || slices.Contains(fanoutExtraLibs(), lib)
	}
	if spec.Deflate {
		return slices.Contains(deflateLibs(), lib)
	}
	return slices.Contains(allLibs(), lib) || slices.Contains(extraLibs(), lib)
}

// options holds the settings of one run.
type options struct {
	libs       []string
	workloads  []workload.Spec
	base       string
	rounds     int
	duration   time.Duration
	warmup     time.Duration
	settle     time.Duration
	idleConns  int
	fanConns   int
	massConns  int
	shardConns int // the most connections of the massive workload one process pair holds; 0: no limit
	shardWhy   string
	binDir     string
	jsonPath   string
	profileLib string
	profileDir string
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("benchrun: ")
	if err := run(); err != nil {
		log.Print(err)
		os.Exit(1)
	}
}

func run() error {
	var (
		o         options
		short     = flag.Bool("short", false, "quick run: 3 rounds of short cells, 2,000 idle connections and subscribers (about 4 minutes)")
		smoke     = flag.Bool("smoke", false, "a few seconds: one short cell per workload, twoway, twoway-event and rawtcp only, twoway-deflate for fanout and the compressed workloads, twoway-event-deflate for the compressed workloads, and twoway-hub-nats2 for fanout (for CI)")
		libs      = flag.String("libs", "", "comma-separated libraries, each run in the workloads it has a server for (default: "+strings.Join(defaultLibs(), ",")+"; with -smoke: twoway,twoway-event,rawtcp,twoway-deflate,twoway-event-deflate,twoway-hub-nats2)")
		workloads = flag.String("workloads", "", "comma-separated workloads (default: all)")
	)
	flag.StringVar(&o.base, "base", "twoway", "library the ratios are relative to (the first listed that a workload runs, if absent)")
	flag.IntVar(&o.rounds, "rounds", 0, "rounds per workload (default 3; 1 with -smoke)")
	flag.DurationVar(&o.duration, "d", 0, "measured duration per cell (default 3s; -short 1s; -smoke 200ms)")
	flag.IntVar(&o.idleConns, "idle-conns", 0, "connections of the idle workload (default 10000; -short 2000; -smoke 200)")
	flag.IntVar(&o.fanConns, "fanout-conns", 0, "subscribers of the fanout workload (default 10000; -short 2000; -smoke 200)")
	flag.IntVar(&o.massConns, "massive-conns", 0, "connections of the massive workload, at most what RLIMIT_NOFILE allows (default 100000; -smoke 64; not run with -short unless named in -workloads)")
	flag.IntVar(&o.shardConns, "massive-shard-conns", 0, "the most connections of the massive workload one server process, and one load generator process, may hold; more are sharded over several of each (default: RLIMIT_NOFILE's hard limit less 64)")
	flag.StringVar(&o.binDir, "bindir", "", "use prebuilt benchserver and benchload from this directory instead of building them")
	flag.StringVar(&o.jsonPath, "json", "", "also write every cell's raw result as JSON lines to this file")
	flag.StringVar(&o.profileLib, "cpuprofile", "", "write a CPU profile of this library's server for every cell, into -profdir")
	flag.StringVar(&o.profileDir, "profdir", ".", "directory for -cpuprofile files")
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", flag.Args())
	}

	// Mode defaults; explicit flags win.
	rounds, dur, warm, settle, idle := 3, 3*time.Second, 500*time.Millisecond, time.Second, 10000
	o.libs = defaultLibs()
	switch {
	case *smoke:
		rounds, dur, warm, settle, idle = 1, 200*time.Millisecond, 50*time.Millisecond, 100*time.Millisecond, 200
		o.libs = []string{"twoway", eventLib, "rawtcp", "twoway-deflate", "twoway-event-deflate", hubNATS2}
	case *short:
		dur, warm, settle, idle = time.Second, 250*time.Millisecond, 300*time.Millisecond, 2000
	}
	if o.rounds == 0 {
		o.rounds = rounds
	}
	if o.duration == 0 {
		o.duration = dur
	}
	if o.idleConns == 0 {
		o.idleConns = idle
	}
	if o.fanConns == 0 {
		o.fanConns = idle
	}
	if o.massConns == 0 {
		o.massConns = 100000
		if *smoke {
			o.massConns = 64
		}
	}
	o.warmup, o.settle = warm, settle
	if o.shardConns == 0 {
		o.shardConns, o.shardWhy = noFileShardConns()
	} else {
		o.shardWhy = "-massive-shard-conns"
	}
	if *libs != "" {
		o.libs = strings.Split(*libs, ",")
	}
	known := slices.Concat(allLibs(), extraLibs(), fanoutLibs(), fanoutExtraLibs(), deflateLibs())
	for _, l := range o.libs {
		if !slices.Contains(known, l) {
			return fmt.Errorf("unknown library %q; want some of %v, of the variants %v, for fanout of %v or, compressed, of %v",
				l, allLibs(), extraLibs(), slices.Concat(fanoutLibs(), fanoutExtraLibs()), deflateLibs())
		}
	}
	if *workloads == "" {
		for _, s := range workload.All() {
			if !s.Massive || !*short {
				o.workloads = append(o.workloads, s)
			}
		}
	} else {
		for _, name := range strings.Split(*workloads, ",") {
			s, err := workload.Lookup(name)
			if err != nil {
				return err
			}
			o.workloads = append(o.workloads, s)
		}
	}
	if o.rounds < 1 || o.duration <= 0 || o.idleConns < 1 || o.fanConns < 1 || o.massConns < 1 {
		return errors.New("need -rounds >= 1, -d > 0, -idle-conns >= 1, -fanout-conns >= 1, -massive-conns >= 1")
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	if o.binDir == "" {
		dir, err := os.MkdirTemp("", "benchrun-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		if err := build(ctx, dir); err != nil {
			return err
		}
		o.binDir = dir
	}
	r := &runner{
		options:   o,
		serverBin: filepath.Join(o.binDir, "benchserver"),
		loadBin:   filepath.Join(o.binDir, "benchload"),
		pin:       canPin(ctx),
		progress:  os.Stderr,
	}

	var jsonOut io.Writer
	if o.jsonPath != "" {
		f, err := os.Create(o.jsonPath)
		if err != nil {
			return err
		}
		defer f.Close()
		jsonOut = f
	}

	host, _ := os.Hostname()
	fmt.Printf("benchrun %s on %s: %d CPUs, %s; %d rounds, %v per cell, pinning %s\n",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), host, numCPU(), cpuModel(), o.rounds, o.duration, pinNote(r.pin))
	start := time.Now()
	var failed int
	var tables []*table
	for _, spec := range o.workloads {
		switch {
		case spec.Massive:
			spec.Conns = o.massConns
		case spec.Idle:
			spec.Conns = o.idleConns
		case spec.Fanout:
			spec.Conns = o.fanConns
		}
		var libs []string
		for _, l := range o.libs {
			if serves(l, spec) {
				libs = append(libs, l)
			}
		}
		if len(libs) == 0 {
			fmt.Printf("\n== %s: no server for it among %v\n", spec.Name, o.libs)
			continue
		}
		base := o.base
		if spec.Deflate && base == "twoway" {
			base = "twoway-deflate"
		}
		if !slices.Contains(libs, base) {
			base = libs[0]
		}
		t := newTable(spec, libs, base, o.rounds)
		if spec.Massive {
			t.note = r.shardNote(spec)
		}
		for round := range o.rounds {
			for i := range libs {
				lib := libs[(i+round)%len(libs)]
				res := r.cell(ctx, lib, spec, round)
				if err := ctx.Err(); err != nil {
					return err
				}
				if res.Err != "" {
					failed++
				}
				fmt.Fprintf(r.progress, "  round %d/%d %-9s %-13s %s\n", round+1, o.rounds, spec.Name, lib, summary(res))
				t.add(round, res)
				if jsonOut != nil {
					b, _ := json.Marshal(res)
					fmt.Fprintf(jsonOut, "%s\n", b)
				}
			}
		}
		t.print(os.Stdout)
		tables = append(tables, t)
	}
	printTargets(os.Stdout, tables)
	fmt.Printf("total %v\n", time.Since(start).Round(time.Second))
	if failed > 0 {
		return fmt.Errorf("%d cells failed", failed)
	}
	return nil
}

// build compiles benchserver and benchload of this module into dir.
func build(ctx context.Context, dir string) error {
	gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(gomod))
	if !strings.HasSuffix(mod, "go.mod") {
		return errors.New("run benchrun inside the bench module (cd bench)")
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-o", dir+string(filepath.Separator), "./cmd/benchserver", "./cmd/benchload")
	cmd.Dir = filepath.Dir(mod)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("building benchserver and benchload: %w", err)
	}
	return nil
}

// summary is the one-line progress report of a cell.
func summary(r workload.Result) string {
	switch {
	case r.Err != "":
		return "ERROR: " + r.Err
	case r.Workload == "fanout":
		return fmt.Sprintf("%s deliveries/s, p50 %s, p99 %s, CPU %s/delivery; busy: server %.0f%%, load %.0f%%",
			fmtCount(r.MsgsPerSec), fmtDur(r.P50), fmtDur(r.P99), fmtDur(r.CPUPerMsg), 100*r.ServerBusy, 100*r.LoadBusy)
	case r.RSSIdle != 0 || r.HandshakesPerSec != 0:
		return fmt.Sprintf("%s handshakes/s, CPU %s/handshake (load %s); busy: server %.0f%%, load %.0f%%; %s/conn idle, %s/conn echoed",
			fmtCount(r.HandshakesPerSec), fmtDur(r.CPUPerMsg), fmtDur(r.LoadCPUPerMsg), 100*r.ServerBusy, 100*r.LoadBusy,
			fmtBytes(r.IdleBytesPerConn), fmtBytes(r.EchoBytesPerConn))
	default:
		return fmt.Sprintf("%s msgs/s, %s MB/s, p50 %s, p99 %s, CPU %s/msg; busy: server %.0f%%, load %.0f%%",
			fmtCount(r.MsgsPerSec), fmtCount(r.MBPerSec), fmtDur(r.P50), fmtDur(r.P99), fmtDur(r.CPUPerMsg),
			100*r.ServerBusy, 100*r.LoadBusy)
	}
}
