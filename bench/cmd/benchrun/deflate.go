package main

import (
	"math"
	"slices"
	"strings"
)

// deflateLibs returns the servers of the compressed workloads, base
// first: twoway with its default (context takeover both ways) and without
// takeover, and each peer that has permessage-deflate with its own
// defaults (no takeover for all of them) and, where it has it, with
// takeover (-takeover).
func deflateLibs() []string {
	return []string{"twoway-deflate", "twoway-deflate-nt", "gorilla-deflate", "coder-deflate", "coder-takeover", "gws-deflate", "gws-takeover", "nbio-deflate"}
}

// deflateTargets checks the goals of issue 17 on a compressed workload's
// table; plain is the uncompressed idle table of the same run, if any.
func deflateTargets(t, plain *table, check func(what string, got, limit float64, atLeast bool)) {
	const tw, nt = "twoway-deflate", "twoway-deflate-nt"
	switch {
	case t.spec.Idle:
		// Context takeover both ways: the windows kept between messages.
		check(t.spec.Name+" idle RSS/conn, "+tw+", KiB", t.medianOf("RSS/conn idle", tw)/1024, 48, false)
		check(t.spec.Name+" echoed RSS/conn, "+tw+", KiB", t.medianOf("RSS/conn echoed", tw)/1024, 48, false)
		if plain != nil && plain.spec.Conns == t.spec.Conns {
			for _, m := range []string{"RSS/conn idle", "RSS/conn echoed"} {
				check(t.spec.Name+" "+m+", "+nt+" - twoway uncompressed, KiB",
					(t.medianOf(m, nt)-plain.medianOf(m, "twoway"))/1024, 4, false)
			}
		}
	default:
		best, bestV := "", 0.0
		for _, lib := range t.libs {
			if v := t.medianOf("msgs/s", lib); !strings.HasPrefix(lib, "twoway") && v > bestV {
				best, bestV = lib, v
			}
		}
		if best != "" && !math.IsNaN(bestV) {
			check(t.spec.Name+" msgs/s, "+tw+" / best peer ("+best+")", t.ratioOf("msgs/s", tw, best), 1.5, true)
		}
	}
}

// plainIdle returns the uncompressed idle table among tables, or nil.
func plainIdle(tables []*table) *table {
	i := slices.IndexFunc(tables, func(t *table) bool { return t.spec.Name == "idle" && slices.Contains(t.libs, "twoway") })
	if i < 0 {
		return nil
	}
	return tables[i]
}
