package conn

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// batchMessage returns message seq of a test batch: n bytes beginning with
// the sequence number, text or binary by seq.
func batchMessage(t testing.TB, seq, n int) *PreparedMessage {
	t.Helper()
	// Letters at random, so that compression leaves frames of about
	// the same size.
	r := rand.New(rand.NewPCG(uint64(seq), uint64(n)))
	p := make([]byte, n)
	for i := range p {
		p[i] = 'a' + byte(r.IntN(26))
	}
	copy(p, fmt.Sprintf("%06d", seq))
	typ := Text
	if seq%3 == 2 {
		typ = Binary
	}
	pm, err := NewPreparedMessage(typ, p)
	if err != nil {
		t.Fatal(err)
	}
	return pm
}

// batchSizes are the sizes of a test batch: under and over the
// compression threshold of batchForms, frames that fit the 4 KiB output
// buffer and frames larger than any buffer, and a run of 1 KiB messages
// longer than one writev takes.
func batchSizes() []int {
	sizes := []int{6, 300, 1024, 100, 70 << 10, 7, 1024, 100 << 10, 1024}
	for range 150 {
		sizes = append(sizes, 1024)
	}
	return append(sizes, 20, 5000)
}

// batchForms are the kinds of connection a batch is written on: each role,
// plain, and compressed with and without context takeover; the writer
// compresses messages of 256 bytes or more.
var batchForms = []struct {
	name   string
	server bool
	co     *CompressionOptions
}{
	{"server/plain", true, nil},
	{"server/deflate, no takeover", true, &CompressionOptions{ServerNoContextTakeover: true, Threshold: 256}},
	{"server/deflate, takeover", true, &CompressionOptions{Threshold: 256}},
	{"client/plain", false, nil},
	{"client/deflate, no takeover", false, &CompressionOptions{ClientNoContextTakeover: true, Threshold: 256}},
	{"client/deflate, takeover", false, &CompressionOptions{Threshold: 256}},
}

// batchPair connects a writer of the given form to its peer.
func batchPair(t *testing.T, server bool, co *CompressionOptions) (w, peer *Conn) {
	client, srv := acceptedPair(t, &AcceptOptions{Compression: co}, &DialOptions{Compression: co})
	if server {
		return srv, client
	}
	return client, srv
}

// readBatch reads n messages and checks they are msgs[first:first+n],
// wrapping around msgs, whole and in order.
func readBatch(t *testing.T, c *Conn, msgs []*PreparedMessage, first, n int) {
	t.Helper()
	for i := range n {
		want := msgs[(first+i)%len(msgs)]
		typ, got, err := c.Read(context.Background())
		if err != nil {
			t.Fatalf("message %d of %d: %v", i, n, err)
		}
		if typ != want.Type() || !bytes.Equal(got, want.Data()) {
			t.Fatalf("message %d of %d: %v %.6q (%d bytes), want %v %.6q (%d bytes)",
				i, n, typ, got, len(got), want.Type(), want.Data(), len(want.Data()))
		}
	}
}

// TestWritePreparedBatch writes batches of messages of every size and form
// from two goroutines at once and checks that the peer receives each batch
// whole, in order, and not interleaved with the other's.
func TestWritePreparedBatch(t *testing.T) {
	sizes := batchSizes()
	for _, f := range batchForms {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			w, peer := batchPair(t, f.server, f.co)
			// Writer g sends messages numbered from g*len(sizes).
			const writers, rounds = 2, 2
			var batches [writers][]*PreparedMessage
			for g := range writers {
				for i, n := range sizes {
					batches[g] = append(batches[g], batchMessage(t, g*len(sizes)+i, n))
				}
			}
			var wg sync.WaitGroup
			for g := range writers {
				wg.Go(func() {
					for range rounds {
						if err := w.WritePrepared(context.Background(), batches[g]...); err != nil {
							t.Error(err)
							return
						}
					}
				})
			}
			for range writers * rounds {
				// The first message tells whose batch follows.
				typ, first, err := peer.Read(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				var seq int
				fmt.Sscanf(string(first[:6]), "%d", &seq)
				g := seq / len(sizes)
				if g >= writers || !bytes.Equal(first, batches[g][0].Data()) || typ != batches[g][0].Type() {
					t.Fatalf("a batch begins with %.6q (%d bytes)", first, len(first))
				}
				readBatch(t, peer, batches[g], 1, len(sizes)-1)
			}
			wg.Wait()
		})
	}
}

// countingConn counts the writes made on a net.Conn. It hides the TCP
// connection's writev, so a gathered write counts once per buffer.
type countingConn struct {
	net.Conn
	writes atomic.Int64
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// TestWritePreparedBatchOneWrite checks that a batch of messages that fit
// the output buffer leaves in one write, and that one whose frames do not
// is gathered in one write per frame and per run of buffered frames.
func TestWritePreparedBatchOneWrite(t *testing.T) {
	for _, tc := range []struct {
		name       string
		sizes      []int
		wantWrites int64
	}{
		{"small", []int{10, 200, 1000, 30, 5}, 1},
		{"large among small", []int{10, 200, 8000, 30, 5, 9000}, 4}, // [10 200] 8000 [30 5] 9000
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, p := benchPair(t, true)
			cc := &countingConn{Conn: c.nc}
			c.nc = cc
			var msgs []*PreparedMessage
			for i, n := range tc.sizes {
				msgs = append(msgs, batchMessage(t, i, n))
			}
			done := make(chan error, 1)
			go func() { done <- c.WritePrepared(context.Background(), msgs...) }()
			for i, pm := range msgs {
				f, err := p.recv()
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(f.payload, pm.Data()) {
					t.Fatalf("message %d: %.6q, want %.6q", i, f.payload, pm.Data())
				}
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if got := cc.writes.Load(); got != tc.wantWrites {
				t.Errorf("%d writes for %d messages, want %d", got, len(msgs), tc.wantWrites)
			}
		})
	}
}

// countdownCtx is a context that is canceled by the n-th call of its Err
// method: the writer asks between messages, so the cancellation lands at
// each point of a batch in turn as n grows.
type countdownCtx struct {
	context.Context
	cancel context.CancelFunc
	n      atomic.Int64
}

func newCountdownCtx(n int64) *countdownCtx {
	ctx, cancel := context.WithCancel(context.Background())
	c := &countdownCtx{Context: ctx, cancel: cancel}
	c.n.Store(n)
	return c
}

func (c *countdownCtx) Err() error {
	if c.n.Add(-1) == 0 {
		c.cancel()
	}
	return c.Context.Err()
}

// TestWritePreparedContextMidBatch cancels a batch's context at every
// point of the batch in turn. Whatever the point, the peer receives a
// prefix of the batch, whole and in order; the call returns the context's
// error; and the connection stays open unless a frame was cut, in which
// case it ends with the context's cause. The test requires that some
// cancellations land between two messages and leave the connection open
// after part of the batch went out.
func TestWritePreparedContextMidBatch(t *testing.T) {
	for _, f := range batchForms {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			var msgs []*PreparedMessage
			for i := range 80 {
				msgs = append(msgs, batchMessage(t, i, []int{1024, 100, 3000, 300}[i%4]))
			}
			probe := batchMessage(t, 999, 10)
			w, peer := batchPair(t, f.server, f.co)
			partial := 0
			// Every point early in the batch, then a sample of the rest:
			// each try writes the batch up to its point again.
			for n := int64(1); n < 300; n += 1 + n/16 {
				ctx := newCountdownCtx(n)
				err := w.WritePrepared(ctx, msgs...)
				if err == nil {
					readBatch(t, peer, msgs, 0, len(msgs))
					break // the countdown outlasts the batch
				}
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("countdown %d: %v, want context.Canceled", n, err)
				}
				if errors.Is(err, ErrClosed) {
					// A frame was cut: the peer sees a prefix, then the end.
					got := 0
					for {
						typ, b, err := peer.Read(context.Background())
						if err != nil {
							break
						}
						if want := msgs[got]; typ != want.Type() || !bytes.Equal(b, want.Data()) {
							t.Fatalf("countdown %d: message %d is %.6q, want %.6q", n, got, b, want.Data())
						}
						got++
					}
					w, peer = batchPair(t, f.server, f.co)
					continue
				}
				// Open: a prefix went out, then the probe follows it.
				if err := w.WritePrepared(context.Background(), probe); err != nil {
					t.Fatalf("countdown %d: the connection should be open: %v", n, err)
				}
				got := 0
				for ; ; got++ {
					typ, b, err := peer.Read(context.Background())
					if err != nil {
						t.Fatal(err)
					}
					if bytes.Equal(b, probe.Data()) {
						break
					}
					if want := msgs[got]; typ != want.Type() || !bytes.Equal(b, want.Data()) {
						t.Fatalf("countdown %d: message %d is %.6q, want %.6q", n, got, b, want.Data())
					}
				}
				if got > 0 && got < len(msgs) {
					partial++
				}
			}
			if partial == 0 {
				t.Error("no cancellation left the connection open after part of the batch")
			}
		})
	}
}

// TestWritePreparedCloseRace closes a connection while batches are being
// written to it. The peer must receive a prefix of what was written,
// whole messages in order (the Close frame may come between two messages
// of a batch, as it may between two calls), then the Close frame, and the
// writer's error must report the closed connection.
func TestWritePreparedCloseRace(t *testing.T) {
	var msgs []*PreparedMessage
	for i := range 100 {
		msgs = append(msgs, batchMessage(t, i, []int{1024, 40, 5000, 600}[i%4]))
	}
	for _, f := range batchForms {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			w, peer := batchPair(t, f.server, f.co)
			wrote := make(chan error, 1)
			go func() {
				for i := 0; ; i++ {
					k := 1 + i%17
					batch := make([]*PreparedMessage, k)
					for j := range batch {
						batch[j] = msgs[(i*17+j)%len(msgs)]
					}
					if err := w.WritePrepared(context.Background(), batch...); err != nil {
						wrote <- err
						return
					}
				}
			}()
			closed := make(chan error, 1)
			go func() {
				time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond)
				closed <- w.Close(CloseNormal, "bye")
			}()
			// Batch i holds messages i*17 .. i*17+k-1 (mod len(msgs)).
			for i := 0; ; i++ {
				k := 1 + i%17
				var err error
				for j := 0; j < k && err == nil; j++ {
					var typ MessageType
					var b []byte
					typ, b, err = peer.Read(context.Background())
					if err == nil {
						if want := msgs[(i*17+j)%len(msgs)]; typ != want.Type() || !bytes.Equal(b, want.Data()) {
							t.Fatalf("batch %d, message %d: %.6q (%d bytes), want %.6q (%d bytes)", i, j, b, len(b), want.Data(), len(want.Data()))
						}
					}
				}
				if err != nil {
					var ce *CloseError
					if !errors.As(err, &ce) {
						t.Fatalf("peer read: %v, want a *CloseError", err)
					}
					if diff := cmp.Diff(CloseError{Code: CloseNormal, Reason: "bye", Remote: true}, *ce, closeErrorOpts); diff != "" {
						t.Errorf("the peer saw (-want +got):\n%s", diff)
					}
					break
				}
			}
			if err := <-closed; err != nil {
				t.Errorf("Close: %v", err)
			}
			if err := <-wrote; !errors.Is(err, ErrClosed) {
				t.Errorf("WritePrepared after Close: %v, want ErrClosed", err)
			}
		})
	}
}

// TestWritePreparedAfterHeld answers pipelined requests as an echo loop
// does: while the reader holds the next request, a small answer waits in
// the output buffer (see "Writes" in the package documentation), and the
// next batch, which has frames too large for what is left of the buffer,
// must send the waiting answer first.
func TestWritePreparedAfterHeld(t *testing.T) {
	c, p := benchPair(t, true)
	small, large := batchMessage(t, 0, 100), batchMessage(t, 1, 8000)
	more := batchMessage(t, 2, 3000)
	want := [][]*PreparedMessage{{small}, {small, large}, {more, more, small}, {large}}
	var reqs []byte
	for range want {
		reqs = append(reqs, p.encode(true, 0, 0x2, []byte("go"))...)
	}
	go p.write(reqs) // all at once: the reader holds the next while we answer
	ctx := context.Background()
	go func() {
		for _, batch := range want {
			if _, _, err := c.Read(ctx); err != nil {
				t.Error(err)
				return
			}
			if err := c.WritePrepared(ctx, batch...); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for i, batch := range want {
		for j, pm := range batch {
			f, err := p.recv()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(f.payload, pm.Data()) {
				t.Fatalf("answer %d, message %d: %.6q (%d bytes), want %.6q (%d bytes)", i, j, f.payload, len(f.payload), pm.Data(), len(pm.Data()))
			}
		}
	}
}
