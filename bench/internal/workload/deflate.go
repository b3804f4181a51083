package workload

// deflateWorkloads returns the permessage-deflate workloads: JSON-like
// text sent compressed and echoed compressed, against servers that have
// compression on (see benchrun's deflateLibs).
func deflateWorkloads() []Spec {
	return []Spec{
		{Name: "conns100-deflate", Desc: "100 connections, 1 KiB JSON-like text compressed, 1 in flight each", Conns: 100, InFlight: 1, Size: 1 << 10, Deflate: true},
		{Name: "pipelined-deflate", Desc: "1000 connections, 1 KiB JSON-like text compressed, 8 in flight each (server-bound)", Conns: 1000, InFlight: 8, Size: 1 << 10, Deflate: true},
		{Name: "idle-deflate", Desc: "idle compressed connections: server RSS per connection after one compressed 1 KiB text echo each, and after a second", Conns: 10000, InFlight: 1, Size: 1 << 10, Idle: true, Deflate: true},
		{Name: "idle-deflate64k", Desc: "idle compressed connections: server RSS per connection after one compressed 64 KiB text echo each, and after a second", Conns: 10000, InFlight: 1, Size: 64 << 10, Idle: true, Deflate: true},
	}
}
