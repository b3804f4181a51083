package workload

// MassiveSources is the number of loopback source addresses the massive
// workload spreads its connections over (127.0.0.1–127.0.0.16): with
// Linux's default ephemeral port range of about 28,000 ports, enough for
// 100,000 connections to one server port with room to spare.
const MassiveSources = 16

// massiveWorkloads returns the workload of very many connections: the
// idle workload's steps (open, pause, one echo each, pause) at a size
// where what the kernel keeps per connection matters as much as what the
// server does.
func massiveWorkloads() []Spec {
	return []Spec{
		{Name: "massive", Desc: "very many connections, all held: time to open them, server RSS and kernel memory per connection, idle and after one 128 B echo each", Conns: 100000, InFlight: 1, Size: 128, Idle: true, Massive: true},
	}
}

// Kernel figures of the massive workload, added to Result.
type Kernel struct {
	// Requested is the number of connections asked for; Conns may be
	// fewer, when the open-file limit of the server or of the load
	// generator allows fewer, as CapNote then says.
	Requested int    `json:"requested,omitempty"`
	CapNote   string `json:"cap_note,omitempty"`

	// Shards is the number of server processes, each paired with a load
	// generator process, the connections were spread over when one
	// process may not hold them all (0 or 1: one of each). The server
	// figures are then sums over the servers: RSSBefore is the servers'
	// baseline, K empty processes, which the per-connection figures
	// leave out as they leave out one.
	Shards int `json:"shards,omitempty"`

	// Differences over the run, divided by the connections, of what the
	// whole machine holds (both ends of every connection are on it):
	// TCP sockets in use, kernel slab memory, and TCP buffer memory
	// (/proc/net/sockstat, /proc/meminfo), read while every connection
	// is held after its echo.
	SocketsPerConn    float64 `json:"sockets_per_conn,omitempty"`
	SlabPerConn       float64 `json:"slab_per_conn,omitempty"`
	SocketSlabPerConn float64 `json:"socket_slab_per_conn,omitempty"` // procstat.SocketCaches only
	TCPMemPerConn     float64 `json:"tcp_mem_per_conn,omitempty"`
	KernelPerConnAll  float64 `json:"kernel_per_conn,omitempty"` // slab + TCP buffers

	// IdleCPUPerConn is the server's CPU time per connection per second
	// of wall time, in nanoseconds, over a pause in which every
	// connection is held and none sends: what timers and bookkeeping
	// cost with nothing to serve.
	IdleCPUPerConn float64 `json:"idle_cpu_per_conn,omitempty"`
}
