package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/twoway/websocket/bench/internal/fanout"
	"github.com/twoway/websocket/conn"
)

// The broadcast workload (-fanout). Every connection subscribes to one
// hub; each message a connection sends is a request to publish one
// message to all subscribers. The servers differ only in how a message is
// prepared and written: the hub and its goroutines are the same for all.
//
// Each subscriber has a writer goroutine fed by a buffered channel, and
// the publishing goroutine hands every subscriber the prepared message
// without waiting (the hub of gorilla's chat example, and of most
// production servers): a subscriber that reads slowly delays only itself,
// a write needs no deadline to keep it from stalling the rest, and on a
// multi-core machine the writes spread over the cores. A subscriber whose
// queue is full is dropped, as a real server must; the load generator
// keeps fewer messages in flight than the queue holds, so in the
// benchmark none is.
//
// The -loop variants use the other structure, the publishing goroutine
// writing to each subscriber in turn, for comparison: it saves the
// hand-off to another goroutine, but one stalled subscriber stalls all.

// queueLen is the number of messages a subscriber's queue holds.
const queueLen = 32

// Counts over the server's life, printed when it is stopped: how many
// messages each write carried is what coalescing changes.
var published, delivered, writes atomic.Int64

func fanoutStats() string {
	w := writes.Load()
	return fmt.Sprintf("fanout: %d messages published, %d delivered in %d writes (%.2f per write)",
		published.Load(), delivered.Load(), w, float64(delivered.Load())/float64(max(w, 1)))
}

// fanoutHandlers maps each -lib name that serves the broadcast workload
// over HTTP to its /ws handler; rawtcp is served by serveRawFanout.
func fanoutHandlers() map[string]func() http.Handler {
	return map[string]func() http.Handler{
		"twoway":              func() http.Handler { return twowayFanout(false, true, false) },
		"twoway-loop":         func() http.Handler { return twowayFanout(false, true, true) },
		"twoway-write":        func() http.Handler { return twowayFanout(false, false, false) },
		"twoway-deflate":      func() http.Handler { return twowayFanout(true, true, false) },
		"twoway-deflate-conn": func() http.Handler { return twowayFanout(true, false, false) },
		"gorilla":             func() http.Handler { return gorillaFanout(false, false) },
		"gorilla-loop":        func() http.Handler { return gorillaFanout(false, true) },
		"gorilla-deflate":     func() http.Handler { return gorillaFanout(true, false) },
		"twoway-hub":          func() http.Handler { return twowayHubFanout(nil) },
		"twoway-hub-nats":     natsHubFanout,
	}
}

// A hub publishes messages of type M, the form a library sends.
type hub[M any] struct {
	format  *fanout.Format
	prepare func(payload []byte) (M, error) // payload is reused after the call
	welcome M
	loop    bool // publish writes to each subscriber itself

	mu      sync.Mutex // held while publishing, so that messages go out in order
	subs    []*subscriber[M]
	seq     uint64
	buf     []byte
	dropped int
}

type subscriber[M any] struct {
	write func(M) error
	queue chan M
	i     int    // index in hub.subs; -1 once removed
	abort func() // ends the connection
}

func newHub[M any](loop bool, prepare func([]byte) (M, error)) *hub[M] {
	f, err := fanout.NewFormat(fanout.Size)
	if err != nil {
		log.Fatal(err)
	}
	w, err := prepare([]byte(fanout.Welcome))
	if err != nil {
		log.Fatal(err)
	}
	return &hub[M]{format: f, prepare: prepare, welcome: w, loop: loop}
}

// serve runs one subscriber until its connection fails, sending it
// fanout.Welcome first: write sends one message; read waits for the next
// publishing request; abort ends the connection and must be safe to call
// more than once and concurrently. The writer goroutine calls write for
// each message in the queue until it is closed or a write fails, or runs
// writer instead if it is not nil.
func (h *hub[M]) serve(write func(M) error, writer func(queue <-chan M), read func() error, abort func()) {
	s := &subscriber[M]{write: write, queue: make(chan M, queueLen), abort: abort}
	h.mu.Lock()
	s.i = len(h.subs)
	h.subs = append(h.subs, s)
	// Before any message published from now on.
	if h.loop {
		if write(h.welcome) != nil {
			abort()
		}
	} else {
		s.queue <- h.welcome
	}
	h.mu.Unlock()
	if !h.loop {
		if writer == nil {
			writer = each(write)
		}
		go func() {
			writer(s.queue)
			abort()
		}()
	}
	for read() == nil {
		h.publish()
	}
	h.mu.Lock()
	h.remove(s)
	h.mu.Unlock()
	abort()
}

// each returns the writer that sends one message at a time with write.
func each[M any](write func(M) error) func(<-chan M) {
	return func(queue <-chan M) {
		for m := range queue {
			if write(m) != nil {
				return
			}
			delivered.Add(1)
			writes.Add(1)
		}
	}
}

// batched returns the writer that takes every message waiting in its
// queue, up to queueLen, and sends them with one call of write.
func batched[M any](write func(ms ...M) error) func(<-chan M) {
	return func(queue <-chan M) {
		batch := make([]M, 0, queueLen)
		for m := range queue {
			batch = append(batch, m)
		more:
			for len(batch) < queueLen {
				select {
				case m, ok := <-queue:
					if !ok {
						break more
					}
					batch = append(batch, m)
				default:
					break more
				}
			}
			err := write(batch...)
			n := len(batch)
			clear(batch)
			batch = batch[:0]
			if err != nil {
				return
			}
			delivered.Add(int64(n))
			writes.Add(1)
		}
	}
}

// coalesce returns a raw TCP writer that takes every message waiting in
// its queue and writes them with one writev.
func coalesce(nc net.Conn) func(<-chan []byte) {
	return batched(func(ms ...[]byte) error {
		bufs := net.Buffers(ms) // WriteTo consumes what it is given
		_, err := bufs.WriteTo(nc)
		return err
	})
}

// remove takes s off the hub and ends its writer. The caller holds h.mu.
func (h *hub[M]) remove(s *subscriber[M]) {
	if s.i < 0 {
		return
	}
	last := h.subs[len(h.subs)-1]
	h.subs[s.i], last.i = last, s.i
	h.subs[len(h.subs)-1] = nil
	h.subs = h.subs[:len(h.subs)-1]
	s.i = -1
	close(s.queue)
}

// publish sends the next message to every subscriber, stamped with the
// time it was published.
func (h *hub[M]) publish() {
	h.mu.Lock()
	h.buf = h.format.Append(h.buf[:0], h.seq, time.Now().UnixNano())
	h.seq++
	published.Add(1)
	m, err := h.prepare(h.buf)
	if err != nil {
		log.Fatalf("preparing message %d: %v", h.seq-1, err)
	}
	var drop []*subscriber[M]
	for i := 0; i < len(h.subs); i++ {
		s := h.subs[i]
		if h.loop {
			if s.write(m) != nil {
				drop = append(drop, s)
				continue
			}
			delivered.Add(1)
			writes.Add(1)
			continue
		}
		select {
		case s.queue <- m:
		default:
			drop = append(drop, s)
		}
	}
	for _, s := range drop {
		h.remove(s)
	}
	h.dropped += len(drop)
	total := h.dropped
	h.mu.Unlock()
	for _, s := range drop {
		s.abort()
	}
	if len(drop) > 0 && !h.loop {
		log.Printf("fanout: dropped %d subscribers with a full queue (%d in all)", len(drop), total)
	}
}

// twowayFanout serves twoway subscribers. With prepared set it sends one
// PreparedMessage per message with WritePrepared, every message waiting in
// a subscriber's queue in one call, as the hub package does; otherwise it
// sends the payload with Write, which frames (and compresses) it per
// connection, one message per call.
// With compress set it agrees to permessage-deflate without server
// context takeover, so a prepared message is compressed once for all.
// With loop set the hub writes from the publishing goroutine.
func twowayFanout(compress, prepared, loop bool) http.Handler {
	opts := twowayOptions()
	if compress {
		opts.Compression = &conn.CompressionOptions{ServerNoContextTakeover: true}
	}
	ctx := context.Background()
	accept := func(w http.ResponseWriter, r *http.Request) (c *conn.Conn, read func() error, abort func()) {
		c, err := conn.Accept(w, r, opts)
		if err != nil {
			return nil, nil, nil
		}
		var buf []byte
		read = func() error {
			_, buf, err = c.ReadInto(ctx, buf)
			return err
		}
		return c, read, func() { c.CloseNow() }
	}
	if prepared {
		h := newHub(loop, func(p []byte) (*conn.PreparedMessage, error) { return conn.NewPreparedMessage(conn.Text, p) })
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if c, read, abort := accept(w, r); c != nil {
				h.serve(func(pm *conn.PreparedMessage) error { return c.WritePrepared(ctx, pm) },
					batched(func(pms ...*conn.PreparedMessage) error { return c.WritePrepared(ctx, pms...) }),
					read, abort)
			}
		})
	}
	h := newHub(loop, func(p []byte) ([]byte, error) { return bytes.Clone(p), nil })
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, read, abort := accept(w, r); c != nil {
			h.serve(func(p []byte) error { return c.Write(ctx, conn.Text, p) }, nil, read, abort)
		}
	})
}

// gorillaFanout serves gorilla subscribers with one PreparedMessage per
// message and WritePreparedMessage. With compress set it agrees to
// permessage-deflate, which gorilla always does without context takeover,
// and a prepared message is compressed once for all connections. With
// loop set the hub writes from the publishing goroutine.
func gorillaFanout(compress, loop bool) http.Handler {
	up := websocket.Upgrader{EnableCompression: compress}
	h := newHub(loop, func(p []byte) (*websocket.PreparedMessage, error) {
		return websocket.NewPreparedMessage(websocket.TextMessage, p)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		c.SetReadLimit(readLimit)
		read := func() error {
			_, rd, err := c.NextReader()
			if err == nil {
				_, err = io.Copy(io.Discard, rd)
			}
			return err
		}
		h.serve(c.WritePreparedMessage, nil, read, func() { c.Close() })
	})
}

// serveRawFanout serves subscribers of the length-prefixed raw protocol:
// every connection is sent the same bytes, a 4-byte length and the
// payload, which is as little as a broadcast can cost with one write per
// delivery. With batch, a subscriber's writer takes every message waiting
// in its queue and writes them all with one writev: what coalescing the
// writes of a connection could gain.
func serveRawFanout(ln net.Listener, batch bool) error {
	h := newHub(false, func(p []byte) ([]byte, error) {
		return append(binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(p)), uint32(len(p))), p...), nil
	})
	for {
		nc, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			br := bufio.NewReader(nc)
			read := func() error {
				var hdr [4]byte
				if _, err := io.ReadFull(br, hdr[:]); err != nil {
					return err
				}
				_, err := br.Discard(int(binary.BigEndian.Uint32(hdr[:])))
				return err
			}
			write := func(m []byte) error {
				_, err := nc.Write(m)
				return err
			}
			var writer func(<-chan []byte)
			if batch {
				writer = coalesce(nc)
			}
			h.serve(write, writer, read, func() { nc.Close() })
		}()
	}
}
