// Package workload names the benchmark's workloads and defines the result
// record that the load generator prints and the driver aggregates.
package workload

import (
	"fmt"

	"github.com/twoway/websocket/bench/internal/fanout"
)

// Spec describes one workload.
type Spec struct {
	Name     string
	Desc     string
	Conns    int  // connections; for Idle and Fanout, the driver may override it
	InFlight int  // messages in flight per connection (Fanout: published and not yet received by all)
	Size     int  // message size in bytes
	Idle     bool // idle-connection test instead of a timed message flow
	Fanout   bool // broadcast: the server sends every message to every connection
	Deflate  bool // compressed JSON-like text (permessage-deflate) instead of binary
	Massive  bool // Idle at the scale of the machine: kernel memory too, over MassiveSources
}

// All returns every workload in the order the driver runs them.
func All() []Spec {
	all := []Spec{
		{Name: "latency", Desc: "1 connection, ping-pong, 64 B messages", Conns: 1, InFlight: 1, Size: 64},
		{Name: "conns100", Desc: "100 connections, 128 B messages, 1 in flight each", Conns: 100, InFlight: 1, Size: 128},
		{Name: "pipelined", Desc: "1000 connections, 128 B messages, 8 in flight each (server-bound)", Conns: 1000, InFlight: 8, Size: 128},
		{Name: "big1m", Desc: "1 connection, 1 MiB messages, ping-pong", Conns: 1, InFlight: 1, Size: 1 << 20},
		{Name: "big16m", Desc: "1 connection, 16 MiB messages, ping-pong", Conns: 1, InFlight: 1, Size: 16 << 20},
		{Name: "idle", Desc: "idle connections: handshakes/s, server RSS per connection idle and after one 128 B echo each", Conns: 10000, InFlight: 1, Size: 128, Idle: true},
		{Name: "fanout", Desc: "one 1 KiB JSON text message to every subscriber, 4 messages in flight", Conns: 10000, InFlight: 4, Size: fanout.Size, Fanout: true},
	}
	all = append(all, deflateWorkloads()...)
	return append(all, massiveWorkloads()...)
}

// Lookup returns the workload called name.
func Lookup(name string) (Spec, error) {
	for _, s := range All() {
		if s.Name == name {
			return s, nil
		}
	}
	return Spec{}, fmt.Errorf("unknown workload %q", name)
}

// Result is one measured cell: one workload against one server. Durations
// are in nanoseconds so the JSON stays plain numbers.
type Result struct {
	Lib      string `json:"lib"`
	Workload string `json:"workload"`
	Conns    int    `json:"conns"`
	InFlight int    `json:"inflight"`
	Size     int    `json:"size"`

	// Timed message flow. For Fanout, a message is a delivery: one
	// message received by one subscriber.
	Seconds       float64 `json:"seconds,omitempty"` // length of the measured window
	Msgs          uint64  `json:"msgs,omitempty"`    // echoes completed in the window
	MsgsPerSec    float64 `json:"msgs_per_sec,omitempty"`
	MBPerSec      float64 `json:"mb_per_sec,omitempty"` // echoed payload, 10^6 bytes/s, one direction
	P50           float64 `json:"p50_ns,omitempty"`     // send-to-echo latency
	P99           float64 `json:"p99_ns,omitempty"`
	CPUPerMsg     float64 `json:"cpu_per_msg_ns,omitempty"`      // server utime+stime per echo (idle: per handshake)
	UserCPUPerMsg float64 `json:"user_cpu_per_msg_ns,omitempty"` // the user-space part of CPUPerMsg: the server's own code, not the kernel's
	ServerBusy    float64 `json:"server_busy,omitempty"`         // server CPU time / wall time in the window (1 = one CPU)
	LoadBusy      float64 `json:"load_busy,omitempty"`           // the same for the load generator itself
	LoadCPUPerMsg float64 `json:"load_cpu_per_msg_ns,omitempty"` // the load generator's CPU per echo (idle: per handshake)

	// Idle connections.
	HandshakesPerSec float64 `json:"handshakes_per_sec,omitempty"`
	RSSBefore        int64   `json:"rss_before,omitempty"`
	RSSIdle          int64   `json:"rss_idle,omitempty"`
	RSSEcho          int64   `json:"rss_echo,omitempty"`
	IdleBytesPerConn float64 `json:"idle_bytes_per_conn,omitempty"`
	EchoBytesPerConn float64 `json:"echo_bytes_per_conn,omitempty"`

	Kernel // massive only

	Err string `json:"err,omitempty"`
}
