package event_test

import (
	"context"
	"testing"

	"github.com/twoway/websocket/conn"
	"github.com/twoway/websocket/event"
)

// BenchmarkEcho measures a round trip of a small message with one client.
func BenchmarkEcho(b *testing.B) {
	url := startEcho(b, &event.Server{})
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
}
