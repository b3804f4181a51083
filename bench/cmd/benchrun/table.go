package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/twoway/websocket/bench/internal/workload"
)

// metric is one column group of a table.
type metric struct {
	name   string
	get    func(workload.Result) float64
	format func(float64) string
	ratio  bool // also show the median per-round ratio to the base library
}

func metricsFor(spec workload.Spec) []metric {
	msgs := metric{"msgs/s", func(r workload.Result) float64 { return r.MsgsPerSec }, fmtCount, true}
	mb := metric{"MB/s", func(r workload.Result) float64 { return r.MBPerSec }, fmtCount, false}
	p50 := metric{"p50", func(r workload.Result) float64 { return r.P50 }, fmtDur, true}
	p99 := metric{"p99", func(r workload.Result) float64 { return r.P99 }, fmtDur, false}
	cpu := metric{"CPU/msg", func(r workload.Result) float64 { return r.CPUPerMsg }, fmtDur, true}
	user := metric{"user/msg", func(r workload.Result) float64 { return r.UserCPUPerMsg }, fmtDur, true}
	busy := metric{"srv busy", func(r workload.Result) float64 { return r.ServerBusy }, fmtPercent, false}
	switch {
	case spec.Massive:
		return massiveMetrics()
	case spec.Fanout:
		return []metric{
			{"deliveries/s", func(r workload.Result) float64 { return r.MsgsPerSec }, fmtCount, true},
			p50, p99,
			{"CPU/delivery", func(r workload.Result) float64 { return r.CPUPerMsg }, fmtDur, true},
			busy,
			{"load busy", func(r workload.Result) float64 { return r.LoadBusy }, fmtPercent, false},
		}
	case spec.Idle:
		return []metric{
			{"handshakes/s", func(r workload.Result) float64 { return r.HandshakesPerSec }, fmtCount, true},
			{"CPU/handshake", func(r workload.Result) float64 { return r.CPUPerMsg }, fmtDur, true},
			busy,
			{"load CPU/hs", func(r workload.Result) float64 { return r.LoadCPUPerMsg }, fmtDur, false},
			{"load busy", func(r workload.Result) float64 { return r.LoadBusy }, fmtPercent, false},
			{"RSS/conn idle", func(r workload.Result) float64 { return r.IdleBytesPerConn }, fmtBytes, true},
			{"RSS/conn echoed", func(r workload.Result) float64 { return r.EchoBytesPerConn }, fmtBytes, true},
		}
	case spec.Size > 64<<10:
		mb.ratio, msgs.ratio = true, false
		return []metric{mb, msgs, p50, p99, cpu, user, busy}
	default:
		return []metric{msgs, mb, p50, p99, cpu, user, busy}
	}
}

// table collects the results of one workload.
type table struct {
	spec    workload.Spec
	libs    []string
	base    string
	results [][]workload.Result // [round][lib index]
	metrics []metric
	note    string // said above the table
}

func newTable(spec workload.Spec, libs []string, base string, rounds int) *table {
	t := &table{spec: spec, libs: libs, base: base, metrics: metricsFor(spec), results: make([][]workload.Result, rounds)}
	for i := range t.results {
		t.results[i] = make([]workload.Result, len(libs))
	}
	return t
}

func (t *table) add(round int, r workload.Result) {
	t.results[round][slices.Index(t.libs, r.Lib)] = r
}

// ok reports whether a cell has a usable result.
func ok(r workload.Result) bool { return r.Lib != "" && r.Err == "" }

// values returns the metric over the successful rounds of lib.
func (t *table) values(m metric, lib int) []float64 {
	var v []float64
	for _, row := range t.results {
		if ok(row[lib]) {
			v = append(v, m.get(row[lib]))
		}
	}
	return v
}

// ratios returns, per round where both succeeded, lib's metric divided by
// the base library's.
func (t *table) ratios(m metric, lib int) []float64 {
	b := slices.Index(t.libs, t.base)
	var v []float64
	for _, row := range t.results {
		if ok(row[lib]) && ok(row[b]) && m.get(row[b]) > 0 {
			v = append(v, m.get(row[lib])/m.get(row[b]))
		}
	}
	return v
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// medianOf returns the median of the metric of lib, NaN if none.
func (t *table) medianOf(name, lib string) float64 {
	i := slices.Index(t.libs, lib)
	for _, m := range t.metrics {
		if m.name == name && i >= 0 {
			return median(t.values(m, i))
		}
	}
	return math.NaN()
}

// ratioOf returns the median per-round ratio of lib's metric to other's.
func (t *table) ratioOf(name, lib, other string) float64 {
	i, j := slices.Index(t.libs, lib), slices.Index(t.libs, other)
	if i < 0 || j < 0 {
		return math.NaN()
	}
	for _, m := range t.metrics {
		if m.name != name {
			continue
		}
		var v []float64
		for _, row := range t.results {
			if ok(row[i]) && ok(row[j]) && m.get(row[j]) > 0 {
				v = append(v, m.get(row[i])/m.get(row[j]))
			}
		}
		return median(v)
	}
	return math.NaN()
}

func (t *table) print(w io.Writer) {
	fmt.Fprintf(w, "\n== %s: %s (%d rounds)\n", t.spec.Name, t.spec.Desc, len(t.results))
	switch {
	case t.spec.Massive:
		printMassiveHead(w, t)
	case t.spec.Idle:
		fmt.Fprintf(w, "   %d connections\n", t.spec.Conns)
	case t.spec.Fanout:
		fmt.Fprintf(w, "   %d subscribers\n", t.spec.Conns)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := []string{"lib"}
	for _, m := range t.metrics {
		head = append(head, m.name)
		if m.ratio {
			head = append(head, "x"+t.base)
		}
	}
	fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
	var errs []string
	for i, lib := range t.libs {
		row := []string{lib}
		for _, m := range t.metrics {
			row = append(row, spread(m, t.values(m, i)))
			if m.ratio {
				if r := t.ratios(m, i); len(r) > 0 {
					row = append(row, fmt.Sprintf("%.2f", median(r)))
				} else {
					row = append(row, "-")
				}
			}
		}
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
		for round, res := range t.results {
			if res[i].Err != "" {
				errs = append(errs, fmt.Sprintf("   %s round %d: %s", lib, round+1, res[i].Err))
			}
		}
	}
	tw.Flush()
	for _, e := range errs {
		fmt.Fprintln(w, e)
	}
}

// printTargets checks twoway against the project's goals, where the
// tables hold what each goal compares.
func printTargets(w io.Writer, tables []*table) {
	const tw = "twoway"
	var lines []string
	check := func(what string, got, limit float64, atLeast bool) {
		if math.IsNaN(got) {
			return
		}
		verdict := "MISS"
		if atLeast && got >= limit || !atLeast && got <= limit {
			verdict = "met"
		}
		rel := "<="
		if atLeast {
			rel = ">="
		}
		lines = append(lines, fmt.Sprintf("  %-4s %s: %.2f (goal %s %.2f)", verdict, what, got, rel, limit))
	}
	for _, t := range tables {
		eventTargets(t, check)
		if t.spec.Deflate {
			deflateTargets(t, check)
			continue
		}
		if !slices.Contains(t.libs, tw) {
			continue
		}
		switch t.spec.Name {
		case "pipelined":
			best, bestV := "", 0.0
			for _, lib := range t.libs {
				if v := t.medianOf("msgs/s", lib); !strings.HasPrefix(lib, "twoway") && !strings.HasPrefix(lib, "rawtcp") && v > bestV {
					best, bestV = lib, v
				}
			}
			if best != "" {
				check("pipelined msgs/s, twoway / best peer ("+best+")", t.ratioOf("msgs/s", tw, best), 1.3, true)
			}
		case "conns100":
			check("conns100 CPU/msg, twoway / gorilla", t.ratioOf("CPU/msg", tw, "gorilla"), 0.85, false)
		case "big1m", "big16m":
			check(t.spec.Name+" MB/s, twoway / gws", t.ratioOf("MB/s", tw, "gws"), 1.2, true)
			check(t.spec.Name+" MB/s, twoway / rawtcp", t.ratioOf("MB/s", tw, "rawtcp"), 0.9, true)
		case "idle":
			// Through net/http, and, when run, with AcceptConn on a bare
			// listener against gobwas's zero-copy upgrade: the shape of
			// the goal's reference figure.
			for _, lib := range []string{tw, "twoway-raw"} {
				check("idle RSS/conn, "+lib+", KiB", t.medianOf("RSS/conn idle", lib)/1024, 6, false)
				check("echoed RSS/conn, "+lib+", KiB", t.medianOf("RSS/conn echoed", lib)/1024, 6, false)
			}
			check("handshakes/s, twoway / gobwas", t.ratioOf("handshakes/s", tw, "gobwas"), 1, true)
			check("handshakes/s, twoway-raw / gobwas-raw", t.ratioOf("handshakes/s", "twoway-raw", "gobwas-raw"), 1, true)
		case "fanout":
			check("fanout CPU/delivery, twoway / gorilla", t.ratioOf("CPU/delivery", tw, "gorilla"), 0.6, false)
			check("fanout CPU/delivery, twoway-deflate / twoway-deflate-conn", t.ratioOf("CPU/delivery", "twoway-deflate", "twoway-deflate-conn"), 0.2, false)
			check("fanout deliveries/s, twoway-hub / gorilla", t.ratioOf("deliveries/s", "twoway-hub", "gorilla"), 2, true)
			check("fanout p99, twoway-hub / gorilla", t.ratioOf("p99", "twoway-hub", "gorilla"), 1, false)
			// Meaningful only when each server process has a core of its own.
			check("fanout deliveries/s, twoway-hub-nats2 / twoway-hub-nats", t.ratioOf("deliveries/s", hubNATS2, "twoway-hub-nats"), 1.6, true)
		}
	}
	if len(lines) > 0 {
		fmt.Fprintln(w, "\n== targets (medians of per-round ratios)")
		for _, l := range lines {
			fmt.Fprintln(w, l)
		}
	}
}

// spread formats the median of v and, if they differ, its extremes.
func spread(m metric, v []float64) string {
	if len(v) == 0 {
		return "-"
	}
	med, lo, hi := m.format(median(v)), m.format(slices.Min(v)), m.format(slices.Max(v))
	if lo == hi {
		return med
	}
	return med + " [" + lo + ".." + hi + "]"
}

// fmtPercent formats a fraction as a percentage.
func fmtPercent(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", 100*v)
}

// fmtCount formats a rate or count with three significant digits.
func fmtCount(v float64) string {
	switch a := math.Abs(v); {
	case math.IsNaN(v):
		return "-"
	case a >= 1e9:
		return fmt.Sprintf("%.3gG", v/1e9)
	case a >= 1e6:
		return fmt.Sprintf("%.3gM", v/1e6)
	case a >= 1e3:
		return fmt.Sprintf("%.3gk", v/1e3)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}

// fmtDur formats nanoseconds as a duration with three significant digits.
func fmtDur(ns float64) string {
	if math.IsNaN(ns) {
		return "-"
	}
	d := time.Duration(ns)
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.3gs", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.3gms", ns/1e6)
	case d >= time.Microsecond:
		return fmt.Sprintf("%.3gµs", ns/1e3)
	default:
		return fmt.Sprintf("%.3gns", ns)
	}
}

// fmtBytes formats a byte count in binary units.
func fmtBytes(b float64) string {
	switch a := math.Abs(b); {
	case math.IsNaN(b):
		return "-"
	case a >= 1<<30:
		return fmt.Sprintf("%.3gGiB", b/(1<<30))
	case a >= 1<<20:
		return fmt.Sprintf("%.3gMiB", b/(1<<20))
	case a >= 1<<10:
		return fmt.Sprintf("%.3gKiB", b/(1<<10))
	default:
		return fmt.Sprintf("%.3gB", b)
	}
}
