package main

import (
	"context"
	"net"

	"github.com/twoway/websocket/conn"
	"github.com/twoway/websocket/event"
)

// serveTwowayEvent serves twoway's event-driven server (package event):
// epoll loops accept from ln and upgrade in the loop, an idle connection
// holds no goroutine and no buffer, and OnMessage, run on the server's
// bounded pool of workers, queues each message back with Write, which
// the loop sends coalesced with whatever else the connection has queued.
// The options are those of the other twoway servers; co, if not nil, turns
// on permessage-deflate (twoway-event-deflate).
func serveTwowayEvent(ln net.Listener, co *conn.CompressionOptions) error {
	ctx := context.Background()
	opts := twowayOptions()
	opts.Compression = co
	s := &event.Server{
		Accept: *opts,
		OnMessage: func(c *event.Conn, typ conn.MessageType, data []byte) {
			_ = c.Write(ctx, typ, data)
		},
	}
	return s.Serve(ln)
}
