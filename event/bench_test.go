package event_test

import (
	"context"
	"testing"
	"time"

	"github.com/twoway/websocket/conn"
	"github.com/twoway/websocket/internal/cputime"
)

// BenchmarkEcho measures a round trip of a small message with one client,
// in each mode, so that the modes compare in one run.
func BenchmarkEcho(b *testing.B) {
	for _, m := range modes {
		b.Run(m.name, func(b *testing.B) {
			url, _ := m.serve(b, conn.AcceptOptions{}, time.Second)
			ctx := context.Background()
			c, _, err := conn.Dial(ctx, url, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer c.CloseNow()
			msg := make([]byte, 64)
			buf := make([]byte, 64)
			b.ReportAllocs()
			for b.Loop() {
				if err := c.Write(ctx, conn.Binary, msg); err != nil {
					b.Fatal(err)
				}
				if _, buf, err = c.ReadInto(ctx, buf[:0]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkBroadcast sends a 1 KiB message to 100 connections and waits
// until every client has read it, with WritePrepared and, as the method
// did before it shared the prepared frames, with Write, which encodes the
// message for each connection. The clients count frames without decoding
// them, so that cpu-ns/delivery, the process's CPU time per recipient,
// is mostly the server's.
func BenchmarkBroadcast(b *testing.B) {
	const clients = 100
	for _, f := range broadcastForms {
		for _, encodeEach := range []bool{true, false} {
			method := "WritePrepared"
			if encodeEach {
				method = "Write"
			}
			b.Run(f.name+"/"+method, func(b *testing.B) {
				bc := newBroadcaster(b, f.co, clients)
				pm := broadcastMessage(b)
				bc.send(b, pm, encodeEach)
				b.ReportAllocs()
				cpu := cputime.Process()
				for b.Loop() {
					bc.send(b, pm, encodeEach)
				}
				if cpu > 0 {
					cpu = cputime.Process() - cpu
					b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*clients), "cpu-ns/delivery")
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*clients), "ns/delivery")
			})
		}
	}
}
