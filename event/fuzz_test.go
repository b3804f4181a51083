package event

import (
	"bytes"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twoway/websocket/conn"
	"github.com/twoway/websocket/internal/rawpeer"
)

// recordConn is a net.Conn that keeps what is written to it.
type recordConn struct {
	net.Conn
	mu  sync.Mutex
	out bytes.Buffer
}

func (r *recordConn) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.out.Write(p)
}
func (r *recordConn) Close() error { return nil }

// parsed is what a parse produced: a message or, for the end, what the
// server wrote (pongs and its Close frame).
type parsed struct {
	Messages []string
	Output   []byte
}

// parseStream feeds stream to an open connection in chunks of chunk
// bytes and returns what came of it.
func parseStream(stream []byte, chunk int) parsed {
	var got parsed
	srv := &Server{OnMessage: func(_ *Conn, typ conn.MessageType, p []byte) {
		got.Messages = append(got.Messages, typ.String()+":"+string(p))
	}}
	srv.settings = settings{readLimit: 1 << 12, closeTimeout: time.Second, maxPending: 1 << 20}
	// No workers and no flushes while feeding: the callbacks run below,
	// on this goroutine, so that the outcome is deterministic.
	srv.pool.max = 0
	rc := &recordConn{}
	c := &Conn{srv: srv, sys: sysConn{nc: rc}, opened: true, events: evIn, handling: true}
	c.state.Store(stOpen)
	srv.active.Add(1)
	for len(stream) > 0 {
		k := min(chunk, len(stream))
		c.feed(bytes.Clone(stream[:k])) // the loop reuses its buffer
		stream = stream[k:]
	}
	c.mu.Lock()
	c.handling = false
	c.mu.Unlock()
	c.run()
	got.Output = rc.out.Bytes()
	return got
}

// FuzzFrames feeds a client's byte stream to the loop's parser whole and
// cut into pieces: the messages and what the server answers must be the
// same, as they must not depend on how TCP segments the stream.
func FuzzFrames(f *testing.F) {
	p := rawpeer.New(nil, true)
	enc := func(frames ...rawpeer.Frame) []byte {
		var b []byte
		for _, fr := range frames {
			b = append(b, p.Encode(fr)...)
		}
		return b
	}
	f.Add(enc(rawpeer.Frame{Fin: true, Opcode: 1, Payload: []byte("hello")}), 1)
	f.Add(enc(
		rawpeer.Frame{Opcode: 1, Payload: []byte("hé")},
		rawpeer.Frame{Fin: true, Opcode: 9, Payload: []byte("ping")},
		rawpeer.Frame{Fin: true, Opcode: 0, Payload: []byte("llo")},
		rawpeer.Frame{Fin: true, Opcode: 2, Payload: make([]byte, 300)},
	), 3)
	f.Add(enc(rawpeer.Frame{Fin: true, Opcode: 1, Payload: []byte{0xce, 0xba, 0xff}}), 2)
	f.Add(enc(rawpeer.Frame{Fin: true, Opcode: 8, Payload: []byte{0x03, 0xe8, 'o', 'k'}}), 5)
	f.Add(enc(rawpeer.Frame{Fin: true, Opcode: 2, Payload: make([]byte, 5000)}), 1000)
	f.Add([]byte{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}, 7)
	f.Fuzz(func(t *testing.T, stream []byte, chunk int) {
		if len(stream) > 1<<14 {
			return
		}
		chunk = 1 + max(chunk, -chunk)%64
		whole := parseStream(stream, len(stream)+1)
		cut := parseStream(stream, chunk)
		if diff := cmp.Diff(whole, cut); diff != "" {
			t.Fatalf("whole and in pieces of %d differ (-whole +cut):\n%s", chunk, diff)
		}
	})
}
