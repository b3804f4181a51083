package main

import (
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/twoway/websocket/bench/internal/workload"
)

// eventLib is twoway's event-driven server (package event).
const eventLib = "twoway-event"

// massiveMetrics are the columns of the massive workload: the idle
// workload's, the time to open every connection, and what the kernel
// holds per connection (both ends: the load generator is on the same
// machine).
func massiveMetrics() []metric {
	return []metric{
		{"open time", func(r workload.Result) float64 { return r.Seconds * 1e9 }, fmtDur, true},
		{"handshakes/s", func(r workload.Result) float64 { return r.HandshakesPerSec }, fmtCount, true},
		{"RSS/conn idle", func(r workload.Result) float64 { return r.IdleBytesPerConn }, fmtBytes, true},
		{"RSS/conn echoed", func(r workload.Result) float64 { return r.EchoBytesPerConn }, fmtBytes, true},
		{"kernel slab/conn", func(r workload.Result) float64 { return r.SlabPerConn }, fmtBytes, false},
		{"socket slab/conn", func(r workload.Result) float64 { return r.SocketSlabPerConn }, fmtBytes, false},
		{"TCP mem/conn", func(r workload.Result) float64 { return r.TCPMemPerConn }, fmtBytes, false},
		{"sockets/conn", func(r workload.Result) float64 { return r.SocketsPerConn }, fmtCount, false},
		{"idle CPU/conn/s", func(r workload.Result) float64 { return r.IdleCPUPerConn }, fmtDur, true},
		{"server procs", func(r workload.Result) float64 { return float64(max(r.Shards, 1)) }, fmtCount, false},
		{"RSS base/proc", func(r workload.Result) float64 { return float64(r.RSSBefore) / float64(max(r.Shards, 1)) }, fmtBytes, false},
		{"RSS total", func(r workload.Result) float64 { return float64(r.RSSEcho) }, fmtBytes, false},
	}
}

// printMassiveHead says how many connections the cells held, and why
// fewer than asked for, if so.
func printMassiveHead(w io.Writer, t *table) {
	var held []int
	notes := map[string]bool{}
	for _, row := range t.results {
		for _, r := range row {
			if ok(r) {
				held = append(held, r.Conns)
				if r.CapNote != "" {
					notes[r.CapNote] = true
				}
			}
		}
	}
	if len(held) == 0 {
		fmt.Fprintf(w, "   %d connections asked for\n", t.spec.Conns)
		return
	}
	fmt.Fprintf(w, "   %d connections (from 127.0.0.1-127.0.0.%d)", slices.Min(held), workload.MassiveSources)
	if slices.Min(held) < t.spec.Conns {
		fmt.Fprintf(w, " of %d asked for:", t.spec.Conns)
		for _, n := range slices.Sorted(maps.Keys(notes)) {
			fmt.Fprintf(w, " %s;", n)
		}
	}
	fmt.Fprintln(w)
	if t.note != "" {
		fmt.Fprintf(w, "   %s\n", t.note)
	}
}

// eventTargets checks the goals of issue 16 for the event-driven server
// on the tables that hold what each compares.
func eventTargets(t *table, check func(what string, got, limit float64, atLeast bool)) {
	if !slices.Contains(t.libs, eventLib) {
		return
	}
	const ev = eventLib
	switch t.spec.Name {
	case "idle":
		check("idle RSS/conn, "+ev+", KiB", t.medianOf("RSS/conn idle", ev)/1024, 1, false)
		check("echoed RSS/conn, "+ev+", KiB", t.medianOf("RSS/conn echoed", ev)/1024, 1, false)
		// The load generator, on the other CPU, opens connections more
		// slowly than a fast server accepts them, so the rate measured
		// is mostly the client's; the inverse of the server's CPU per
		// handshake is the rate each server would reach on a whole CPU.
		check("handshakes/s, "+ev+" / gobwas-raw", t.ratioOf("handshakes/s", ev, "gobwas-raw"), 1.2, true)
		check("handshakes per server CPU-second, "+ev+" / gobwas-raw", 1/t.ratioOf("CPU/handshake", ev, "gobwas-raw"), 1.2, true)
	case "conns100":
		check("conns100 CPU/msg, "+ev+" / gorilla", t.ratioOf("CPU/msg", ev, "gorilla"), 0.8, false)
	case "pipelined":
		check("pipelined msgs/s, "+ev+" / twoway", t.ratioOf("msgs/s", ev, "twoway"), 1, true)
		check("pipelined CPU/msg, "+ev+" / twoway", t.ratioOf("CPU/msg", ev, "twoway"), 1, false)
	}
}
