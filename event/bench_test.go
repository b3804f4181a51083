package event_test

import (
	"context"
	"testing"
	"time"

	"github.com/twoway/websocket/conn"
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
