package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"syscall"

	"github.com/twoway/websocket/bench/internal/workload"
)

// noFileShardConns returns the most connections of the massive workload
// one process may hold, and why: every child inherits this process's
// hard RLIMIT_NOFILE and raises its soft limit to it, and keeps
// workload.FDMargin descriptors for other things. It returns 0, no
// limit, if the limit is unknown or unlimited.
func noFileShardConns() (int, string) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Max > 1<<31 {
		return 0, ""
	}
	if lim.Max <= 2*workload.FDMargin {
		return 1, fmt.Sprintf("RLIMIT_NOFILE's hard limit is %d", lim.Max)
	}
	return int(lim.Max) - workload.FDMargin, fmt.Sprintf("RLIMIT_NOFILE's hard limit is %d per process, less %d for other files", lim.Max, workload.FDMargin)
}

// massiveShards returns how many server processes, each paired with a
// load generator process, the workload spec runs over: more than one
// only for a massive workload of more connections than one process may
// hold.
func (r *runner) massiveShards(spec workload.Spec) int {
	if !spec.Massive {
		return 1
	}
	return workload.Shards(spec.Conns, r.shardConns)
}

// shardNote says, above the table, that and why the massive workload
// was sharded, or nothing if it was not.
func (r *runner) shardNote(spec workload.Spec) string {
	k := r.massiveShards(spec)
	if k <= 1 {
		return ""
	}
	s := workload.Shares(spec.Conns, k)
	return fmt.Sprintf("SHARDED into %d server processes of the library, each on its own port with a load generator process of its own, %d-%d connections each, "+
		"since one process may hold at most %d (%s); server RSS is summed over the %d, less their RSS before any connection (RSS base/proc each)",
		k, s[len(s)-1], s[0], r.shardConns, r.shardWhy, k)
}

// startShardServers starts k servers of lib, each listening on a port of
// its own, all pinned to the server CPU. Only the first writes a CPU
// profile.
func (r *runner) startShardServers(ctx context.Context, lib string, k int, profile string) (*server, []*server, error) {
	var servers []*server
	for i := range k {
		p := profile
		if i > 0 {
			p = ""
		}
		srv, err := r.startServer(ctx, lib, false, p)
		if err != nil {
			stopAll(servers)
			return nil, nil, err
		}
		servers = append(servers, srv)
	}
	return servers[0], servers[1:], nil
}

// shardArgs returns the load generator's arguments for a sharded massive
// workload: every server's address, and the ids of the servers after the
// first (the first is -pid), whose figures add up.
func shardArgs(first *server, others []*server) []string {
	addrs := []string{first.addr}
	var pids []string
	for _, s := range others {
		addrs = append(addrs, s.addr)
		pids = append(pids, strconv.Itoa(s.cmd.Process.Pid))
	}
	return []string{"-shard-addrs", strings.Join(addrs, ","), "-pids", strings.Join(pids, ",")}
}
