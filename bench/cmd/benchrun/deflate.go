package main

import (
	"math"
	"slices"
	"strings"
)

// deflateLibs returns the servers of the compressed workloads, base
// first: twoway with its default (context takeover both ways) and without
// takeover, twoway's event-driven server with the default, each peer that
// has permessage-deflate with its own defaults (no takeover for all of
// them) and, where it has it, with takeover (-takeover), and last twoway
// without compression, to which the client sends the same text
// uncompressed: the baseline for memory.
func deflateLibs() []string {
	return []string{"twoway-deflate", "twoway-deflate-nt", "twoway-event-deflate", "gorilla-deflate", "coder-deflate", "coder-takeover", "gws-deflate", "gws-takeover", "nbio-deflate", "twoway"}
}

// deflateTargets checks the goals of issue 17 on a compressed workload's
// table.
func deflateTargets(t *table, check func(what string, got, limit float64, atLeast bool)) {
	const tw, nt, plain = "twoway-deflate", "twoway-deflate-nt", "twoway"
	switch {
	case t.spec.Idle:
		for _, m := range []string{"RSS/conn idle", "RSS/conn echoed"} {
			// Context takeover both ways: the windows kept between
			// messages. The whole connection, as the goal says (the
			// echo loops hold no message while idle: -pooled); and
			// above the same server and text uncompressed, against 48
			// KiB less the 12 KiB of a plain idle connection.
			check(t.spec.Name+" "+m+", "+tw+", KiB", t.medianOf(m, tw)/1024, 48, false)
			check(t.spec.Name+" "+m+", "+tw+" - "+plain+", KiB", (t.medianOf(m, tw)-t.medianOf(m, plain))/1024, 36, false)
			// Without: above the same server and text, uncompressed.
			check(t.spec.Name+" "+m+", "+nt+" - "+plain+", KiB", (t.medianOf(m, nt)-t.medianOf(m, plain))/1024, 4, false)
		}
	default:
		// The goal names the peers to beat, each with context takeover
		// where it has it, as twoway-deflate has: gorilla, coder with
		// takeover, gws with takeover, nbio.
		best, cheap := bestAndCheapest(t, goalPeers)
		if best != "" {
			check(t.spec.Name+" msgs/s, "+tw+" / best peer ("+best+")", t.ratioOf("msgs/s", tw, best), 1.5, true)
		}
		if cheap != "" {
			check(t.spec.Name+" CPU/msg, "+tw+" / cheapest peer ("+cheap+")", t.ratioOf("CPU/msg", tw, cheap), 1/1.5, false)
		}
		// Beyond the goal: the same bar against every peer configuration,
		// those without takeover too, which compress less and keep
		// nothing; and twoway without takeover against those.
		if _, cheap := bestAndCheapest(t, nil); cheap != "" {
			check("beyond the goal: "+t.spec.Name+" CPU/msg, "+tw+" / cheapest peer in any configuration ("+cheap+")", t.ratioOf("CPU/msg", tw, cheap), 1/1.5, false)
		}
		if _, cheap := bestAndCheapest(t, noTakeoverPeers); cheap != "" {
			check("beyond the goal: "+t.spec.Name+" CPU/msg, "+nt+" / cheapest peer without takeover ("+cheap+")", t.ratioOf("CPU/msg", nt, cheap), 1/1.5, false)
		}
	}
}

// goalPeers are the peers issue 17's CPU goal names, and noTakeoverPeers
// those whose configuration takes over no context.
var (
	goalPeers       = []string{"gorilla-deflate", "coder-takeover", "gws-takeover", "nbio-deflate"}
	noTakeoverPeers = []string{"gorilla-deflate", "coder-deflate", "gws-deflate", "nbio-deflate"}
)

// bestAndCheapest returns the peer of t with the most messages/s and the
// one with the least CPU per message, among peers, or among all the
// libraries not twoway's if peers is nil: on a shared machine a server's
// rate follows the share of its CPU it got (srv busy), while 1 / CPU per
// message is the rate it would reach with the whole CPU.
func bestAndCheapest(t *table, peers []string) (best, cheap string) {
	bestV, cheapV := 0.0, math.Inf(1)
	for _, lib := range t.libs {
		if strings.HasPrefix(lib, "twoway") || peers != nil && !slices.Contains(peers, lib) {
			continue
		}
		if v := t.medianOf("msgs/s", lib); v > bestV {
			best, bestV = lib, v
		}
		if v := t.medianOf("CPU/msg", lib); v > 0 && v < cheapV {
			cheap, cheapV = lib, v
		}
	}
	return best, cheap
}
