package main

import "strings"

// deflateLibs returns the servers of the compressed workloads, base
// first: twoway with its default (context takeover both ways) and without
// takeover, each peer that has permessage-deflate with its own defaults
// (no takeover for all of them) and, where it has it, with takeover
// (-takeover), and last twoway without compression, to which the client
// sends the same text uncompressed: the baseline for memory.
func deflateLibs() []string {
	return []string{"twoway-deflate", "twoway-deflate-nt", "gorilla-deflate", "coder-deflate", "coder-takeover", "gws-deflate", "gws-takeover", "nbio-deflate", "twoway"}
}

// deflateTargets checks the goals of issue 17 on a compressed workload's
// table.
func deflateTargets(t *table, check func(what string, got, limit float64, atLeast bool)) {
	const tw, nt, plain = "twoway-deflate", "twoway-deflate-nt", "twoway"
	switch {
	case t.spec.Idle:
		for _, m := range []string{"RSS/conn idle", "RSS/conn echoed"} {
			// Context takeover both ways: the windows kept between messages.
			check(t.spec.Name+" "+m+", "+tw+", KiB", t.medianOf(m, tw)/1024, 48, false)
			// Without: the same server and text, uncompressed.
			check(t.spec.Name+" "+m+", "+nt+" - "+plain+", KiB", (t.medianOf(m, nt)-t.medianOf(m, plain))/1024, 4, false)
		}
	default:
		best, bestV := "", 0.0
		for _, lib := range t.libs {
			if v := t.medianOf("msgs/s", lib); !strings.HasPrefix(lib, "twoway") && v > bestV {
				best, bestV = lib, v
			}
		}
		if best != "" {
			check(t.spec.Name+" msgs/s, "+tw+" / best peer ("+best+")", t.ratioOf("msgs/s", tw, best), 1.5, true)
			check(t.spec.Name+" CPU/msg, "+tw+" / that peer's", t.ratioOf("CPU/msg", tw, best), 1/1.5, false)
		}
	}
}
