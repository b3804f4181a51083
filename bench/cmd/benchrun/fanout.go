package main

import (
	"context"
	"strconv"
	"strings"

	"github.com/twoway/websocket/bench/internal/workload"
)

// The fanout servers built on twoway's hub package: twoway-hub keeps its
// room in one process, and twoway-event-hub too, with the event-driven
// server's connections as members; twoway-hub-nats links the hub through a NATS
// server, which runs as a process of its own (benchserver -lib natsd);
// and twoway-hub-nats2 is two such servers on one NATS server, the
// subscribers alternating between them and the publisher on the first.
// Every server-side process is pinned to the server CPU, and their CPU
// times add up.
const hubNATS2 = "twoway-hub-nats2"

// hubFanoutLibs returns the hub servers of the fanout workload.
func hubFanoutLibs() []string {
	return []string{"twoway-hub", "twoway-event-hub", "twoway-hub-nats", hubNATS2}
}

// startServers starts the server-side processes of a cell: the server the
// publisher connects to, and any others (a NATS server, a second server).
func (r *runner) startServers(ctx context.Context, lib string, spec workload.Spec, profile string) (*server, []*server, error) {
	if !spec.Fanout || !strings.HasPrefix(lib, "twoway-hub-nats") {
		var more []string
		if spec.Idle && spec.Deflate {
			// What compression keeps between messages, not what the
			// echo loop keeps: see the Compression section of the README.
			more = append(more, "-pooled")
		}
		srv, err := r.startServer(ctx, lib, spec.Fanout, profile, more...)
		return srv, nil, err
	}
	natsd, err := r.startServer(ctx, "natsd", true, "")
	if err != nil {
		return nil, nil, err
	}
	others := []*server{natsd}
	n := 1
	if lib == hubNATS2 {
		n = 2
	}
	var first *server
	for i := range n {
		p := profile
		if i > 0 {
			p = ""
		}
		srv, err := r.startServer(ctx, "twoway-hub-nats", true, p, "-nats", natsd.addr)
		if err != nil {
			if first != nil {
				first.stop()
			}
			stopAll(others)
			return nil, nil, err
		}
		if first == nil {
			first = srv
		} else {
			others = append(others, srv)
		}
	}
	return first, others, nil
}

// stopAll stops servers, the last started first.
func stopAll(servers []*server) {
	for i := len(servers) - 1; i >= 0; i-- {
		servers[i].stop()
	}
}

// loadArgs returns the load generator's arguments for the other
// server-side processes of a cell: a second server to spread subscribers
// over, and every process whose CPU time counts.
func loadArgs(others []*server) []string {
	var args, pids []string
	for _, s := range others {
		pids = append(pids, strconv.Itoa(s.cmd.Process.Pid))
		if !strings.HasPrefix(s.addr, "nats://") {
			args = append(args, "-addr2", s.addr)
		}
	}
	if len(pids) > 0 {
		args = append(args, "-pids", strings.Join(pids, ","))
	}
	return args
}
