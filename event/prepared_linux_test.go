package event

import (
	"bytes"
	"context"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/twoway/websocket/conn"
	"github.com/twoway/websocket/frame"
)

// TestWritePreparedInPieces writes two large prepared messages to a
// connection whose socket takes only a few KiB at a time: the first goes
// to the socket at once, in part, and the rest of it and the second
// message are queued after that part, in order, even though the socket
// has room again when the second is written. The loop is never run:
// the test flushes the output itself as it reads.
func TestWritePreparedInPieces(t *testing.T) {
	c, peer := unrunLoopConn(t, &Server{}, 4<<10)
	c.feed([]byte("GET / HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"))
	var in []byte
	buf := make([]byte, 64<<10)
	read := func() {
		n, err := syscall.Read(peer, buf)
		if err != nil && err != syscall.EAGAIN {
			t.Fatal(err)
		}
		in = append(in, buf[:max(n, 0)]...)
	}
	read()
	head := []byte("\r\n\r\n")
	end := bytes.Index(in, head)
	if end < 0 || !bytes.HasPrefix(in, []byte("HTTP/1.1 101 ")) {
		t.Fatalf("no 101 response: %q", in)
	}
	in = in[end+len(head):]

	msg := strings.Repeat(`{"room":"lobby","from":"ann","text":"hello, everyone"},`, 1200)
	pm, err := conn.NewPreparedMessage(conn.Text, []byte(msg))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for range 2 {
		if err := c.WritePrepared(ctx, pm); err != nil {
			t.Fatal(err)
		}
		// Room in the socket again, with the first message's rest still
		// queued: the second must queue after it all the same.
		read()
	}
	c.mu.Lock()
	queued := c.pendingLocked()
	c.mu.Unlock()
	if queued == 0 || queued >= 2*len(msg) {
		t.Fatalf("%d bytes queued after two messages of %d bytes: the first was not written in part", queued, len(msg))
	}
	var got []string
	for tries := 0; len(got) < 2 && tries < 10000; tries++ {
		read()
		c.mu.Lock()
		c.flushLocked()
		c.mu.Unlock()
		for len(got) < 2 {
			h, n, err := frame.ParseHeader(in)
			if err != nil || int64(len(in)-n) < h.Length {
				break // more to read
			}
			if !h.Fin || h.Opcode != frame.OpText {
				t.Fatalf("frame %d: %+v", len(got), h)
			}
			got = append(got, string(in[n:n+int(h.Length)]))
			in = in[n+int(h.Length):]
		}
	}
	if diff := cmp.Diff([]string{msg, msg}, got); diff != "" {
		t.Errorf("messages read (-want +got):\n%s", diff)
	}
}
