package event_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twoway/websocket/conn"
	"github.com/twoway/websocket/internal/cputime"
)

// BenchmarkEcho measures a round trip of a message with one client, in
// each mode, so that the modes compare in one run: a small binary
// message, and 1 KiB of JSON-like text compressed with context takeover
// both ways (the client's cost is in the figures too).
func BenchmarkEcho(b *testing.B) {
	var text []byte
	for i := 0; len(text) < 1024-64; i++ {
		text = fmt.Appendf(text, `{"room":"general","user":"u%d","seq":%d,"text":"see you at the station"},`, i%7, i)
	}
	for _, m := range modes {
		for _, tc := range []struct {
			name string
			co   *conn.CompressionOptions
			typ  conn.MessageType
			msg  []byte
		}{
			{"64B", nil, conn.Binary, make([]byte, 64)},
			{"deflate-1KiB", &conn.CompressionOptions{}, conn.Text, text},
		} {
			b.Run(m.name+"/"+tc.name, func(b *testing.B) {
				url, _ := m.serve(b, conn.AcceptOptions{Compression: tc.co}, time.Second)
				ctx := context.Background()
				c, _, err := conn.Dial(ctx, url, &conn.DialOptions{Compression: tc.co})
				if err != nil {
					b.Fatal(err)
				}
				defer c.CloseNow()
				buf := make([]byte, len(tc.msg))
				b.SetBytes(int64(len(tc.msg)))
				b.ReportAllocs()
				for b.Loop() {
					if err := c.Write(ctx, tc.typ, tc.msg); err != nil {
						b.Fatal(err)
					}
					if _, buf, err = c.ReadInto(ctx, buf[:0]); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkBroadcast sends a 1 KiB or 64 KiB message to 100 connections
// and waits until every client has read it, with WritePrepared and, as
// the method did before it shared the prepared frames, with Write, which
// encodes the message for each connection. The clients count frames without decoding
// them, so that cpu-ns/delivery, the process's CPU time per recipient,
// is mostly the server's.
func BenchmarkBroadcast(b *testing.B) {
	const clients = 100
	for _, size := range []struct {
		name   string
		events int
	}{{"1KiB", 19}, {"64KiB", 1192}} {
		for _, f := range broadcastForms {
			for _, encodeEach := range []bool{true, false} {
				method := "WritePrepared"
				if encodeEach {
					method = "Write"
				}
				b.Run(size.name+"/"+f.name+"/"+method, func(b *testing.B) {
					bc := newBroadcaster(b, f.co, clients)
					pm := broadcastMessageOf(b, size.events)
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
}
