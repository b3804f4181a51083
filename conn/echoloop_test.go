package conn

import (
	"bytes"
	"compress/flate"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/twoway/websocket/handshake"
	"github.com/twoway/websocket/internal/cputime"
)

// The echo loops a server may be written with. Each reads a message and
// writes it back with Write; they differ in who holds the message's memory.
var echoLoops = []struct {
	name string
	loop func(c *Conn) error
}{
	// ReadInto reuses one buffer, which the connection keeps while idle.
	{"ReadInto", func(c *Conn) error {
		ctx := context.Background()
		var buf []byte
		for {
			typ, m, err := c.ReadInto(ctx, buf)
			if err != nil {
				return err
			}
			buf = m
			if err := c.Write(ctx, typ, m); err != nil {
				return err
			}
		}
	}},
	// Reader waits for a message without a buffer; the message is read to
	// its end into a pooled one, which goes back after the echo, so that
	// an idle connection holds none. Servers ported from gorilla's
	// NextReader look like this.
	{"Reader", func(c *Conn) error {
		ctx := context.Background()
		for {
			typ, r, err := c.Reader(ctx)
			if err != nil {
				return err
			}
			bp := echoBufs.Get().(*[]byte)
			b, err := readToEnd(r, (*bp)[:0])
			if err == nil {
				err = c.Write(ctx, typ, b)
			}
			*bp = b[:0]
			echoBufs.Put(bp)
			if err != nil {
				return err
			}
		}
	}},
	// Read allocates each message.
	{"Read", func(c *Conn) error {
		ctx := context.Background()
		for {
			typ, m, err := c.Read(ctx)
			if err != nil {
				return err
			}
			if err := c.Write(ctx, typ, m); err != nil {
				return err
			}
		}
	}},
}

var echoBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

// readToEnd appends what r has left to b, as io.ReadAll does, growing b
// only when it is full.
func readToEnd(r io.Reader, b []byte) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// BenchmarkEchoLoop runs each echo loop as a server against a raw peer that
// keeps 8 messages of 128 bytes in flight, sending more as answers come
// back, as bench's pipelined workload does. writes/msg counts the server's
// write calls, which coalescing brings below one; cpu-ns/msg is the
// process's CPU time, both sides of the connection included.
func BenchmarkEchoLoop(b *testing.B) {
	const size, depth = 128, 8
	for _, loop := range echoLoops {
		b.Run(loop.name, func(b *testing.B) {
			var counter *countingConn
			c, p := benchPairWrapped(b, true, func(nc net.Conn) net.Conn {
				counter = &countingConn{Conn: nc}
				return counter
			})
			req := p.encode(true, 0, 0x2, bytes.Repeat([]byte("x"), size))
			answerSize := len(req) - 4 // unmasked: no key
			done := make(chan error, 1)
			go func() { done <- loop.loop(c) }()
			reqs := bytes.Repeat(req, depth)
			in := make([]byte, 64<<10)
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cputime.Process()
			sent := min(depth, b.N)
			if _, err := p.nc.Write(reqs[:sent*len(req)]); err != nil {
				b.Fatal(err)
			}
			received := 0
			for got := 0; received < b.N; {
				n, err := p.nc.Read(in)
				if err != nil {
					b.Fatal(err)
				}
				got += n
				k := got/answerSize - received
				received += k
				if more := min(k, b.N-sent); more > 0 {
					if _, err := p.nc.Write(reqs[:more*len(req)]); err != nil {
						b.Fatal(err)
					}
					sent += more
				}
			}
			cpu := cputime.Process() - cpu0
			b.StopTimer()
			b.ReportMetric(float64(counter.writes.Load())/float64(b.N), "writes/msg")
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/msg")
			p.nc.Close()
			<-done
		})
	}
}

// scriptedConn is a net.Conn whose peer has sent all of in before the
// first read: each Read returns as much as fits. It counts the writes,
// keeping what they write.
type scriptedConn struct {
	net.Conn // for the methods not used here; never read or written
	in       *bytes.Reader
	out      bytes.Buffer
	writes   int
}

func (c *scriptedConn) Read(p []byte) (int, error) { return c.in.Read(p) }
func (c *scriptedConn) Write(p []byte) (int, error) {
	c.writes++
	return c.out.Write(p)
}
func (c *scriptedConn) Close() error { return nil }

// TestEchoLoopsCoalesceWrites checks that every echo loop answers
// pipelined messages in fewer writes than messages: a Write holds its
// frame while the next message is already buffered, whether the message
// was read with ReadInto, Read or Reader. The peer's messages are all
// there before the first read, so the only flush that is not coalesced is
// the one before the reader would wait: after the first message, which
// straddles the first small read (see readIdle), and after the last.
// Should the goroutine stall past flushDelay, a timer flushes too, which
// the bound leaves room for.
func TestEchoLoopsCoalesceWrites(t *testing.T) {
	const messages = 64
	for _, loop := range echoLoops {
		t.Run(loop.name, func(t *testing.T) {
			pipe, other := net.Pipe()
			defer pipe.Close()
			defer other.Close()
			msg := bytes.Repeat([]byte("m"), 128)
			var in, want bytes.Buffer
			for range messages {
				// Masked, from a client.
				in.Write([]byte{0x82, 0x80 | 126, 0, 128, 1, 2, 3, 4})
				m := append([]byte(nil), msg...)
				for i := range m {
					m[i] ^= byte(i%4 + 1)
				}
				in.Write(m)
				want.Write([]byte{0x82, 126, 0, 128})
				want.Write(msg)
			}
			sc := &scriptedConn{Conn: pipe, in: bytes.NewReader(in.Bytes())}
			c := newConn(sc, nil, false, "", newSettings(0, 0, 0, 0, 0, 0))
			loop.loop(c) // until the input runs out
			c.CloseNow()
			if !bytes.Equal(sc.out.Bytes(), want.Bytes()) {
				t.Fatalf("the loop wrote %d bytes, not the %d answers' %d", sc.out.Len(), messages, want.Len())
			}
			t.Logf("%d answers in %d writes", messages, sc.writes)
			if sc.writes > messages/4 {
				t.Errorf("%d answers went out in %d writes, want at most %d", messages, sc.writes, messages/4)
			}
		})
	}
}

// TestReaderEOFWithLastBytes checks that the Read that returns the last
// bytes of a message returns io.EOF with them, so that reading a message
// to its end costs no extra call.
func TestReaderEOFWithLastBytes(t *testing.T) {
	c, p := benchPair(t, true)
	p.send(false, 0, 0x1, []byte("hello, "))
	p.send(true, 0, 0x0, []byte("world"))
	_, r, err := c.Reader(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		data string
		eof  bool
	}
	var got []result
	buf := make([]byte, 64)
	for range 3 {
		n, err := r.Read(buf)
		if err != nil && err != io.EOF {
			t.Fatal(err)
		}
		got = append(got, result{string(buf[:n]), err == io.EOF})
		if err == io.EOF {
			break
		}
	}
	want := []result{{"hello, ", false}, {"world", true}}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(result{})); diff != "" {
		t.Errorf("reads (-want +got):\n%s", diff)
	}
}

// TestReaderSteadyStateAllocs checks that a loop that waits with Reader,
// reads each message to its end into a buffer of its own and echoes it
// allocates nothing per message, as ReadInto's loop does not.
func TestReaderSteadyStateAllocs(t *testing.T) {
	for _, server := range []bool{true, false} {
		c, p := benchPair(t, server)
		req := p.encode(true, 0, 0x1, bytes.Repeat([]byte("r"), 1000))
		const runs = 100
		go p.nc.Write(bytes.Repeat(req, runs+1))
		go io.Copy(io.Discard, p.nc)
		ctx := context.Background()
		buf := make([]byte, 0, 4<<10)
		echo := func() {
			typ, r, err := c.Reader(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if buf, err = readToEnd(r, buf[:0]); err != nil {
				t.Fatal(err)
			}
			if err := c.Write(ctx, typ, buf); err != nil {
				t.Fatal(err)
			}
		}
		echo()
		if allocs := testing.AllocsPerRun(runs-1, echo); allocs != 0 {
			t.Errorf("server=%v: %v allocations per echoed message, want 0", server, allocs)
		}
	}
}

// TestCompressedEchoCoalescesWrites checks that compressed answers to
// pipelined messages are coalesced as plain ones are: the last frame of a
// compressed message holds while the next message is buffered. The
// answers, read back as the one DEFLATE stream that context takeover
// makes of them, must be the messages sent.
func TestCompressedEchoCoalescesWrites(t *testing.T) {
	const messages = 64
	for _, loop := range echoLoops {
		t.Run(loop.name, func(t *testing.T) {
			pipe, other := net.Pipe()
			defer pipe.Close()
			defer other.Close()
			var in bytes.Buffer
			var sent [][]byte
			for i := range messages {
				msg := []byte(fmt.Sprintf(`{"seq":%d,"room":"lobby","text":"hello, hello, hello"}`, i))
				sent = append(sent, msg)
				var z bytes.Buffer
				fw, _ := flate.NewWriter(&z, flate.BestSpeed)
				fw.Write(msg)
				fw.Flush()
				payload := bytes.TrimSuffix(z.Bytes(), []byte{0, 0, 0xff, 0xff})
				// Masked, from a client; RSV1 marks it compressed.
				in.Write([]byte{0x80 | 0x40 | 0x1, 0x80 | byte(len(payload)), 1, 2, 3, 4})
				for i := range payload {
					payload[i] ^= byte(i%4 + 1)
				}
				in.Write(payload)
			}
			sc := &scriptedConn{Conn: pipe, in: bytes.NewReader(in.Bytes())}
			c := newConn(sc, nil, false, "", newSettings(0, 0, 0, 0, 0, 0))
			if err := c.setupCompression([]handshake.Extension{{Name: deflateName}}, &CompressionOptions{}); err != nil {
				t.Fatal(err)
			}
			loop.loop(c) // until the input runs out
			c.CloseNow()

			var stream bytes.Buffer
			out := sc.out.Bytes()
			for len(out) > 0 {
				if len(out) < 2 || out[0] != 0x80|0x40|0x1 || out[1] >= 126 {
					t.Fatalf("unexpected frame header % x", out[:min(len(out), 2)])
				}
				n := int(out[1])
				stream.Write(out[2 : 2+n])
				stream.Write([]byte{0, 0, 0xff, 0xff})
				out = out[2+n:]
			}
			var got [][]byte
			fr := flate.NewReader(&stream)
			for range sent {
				m := make([]byte, len(sent[len(got)]))
				if _, err := io.ReadFull(fr, m); err != nil {
					t.Fatalf("inflating answer %d: %v", len(got), err)
				}
				got = append(got, m)
			}
			if diff := cmp.Diff(sent, got); diff != "" {
				t.Fatalf("answers (-sent +got):\n%s", diff)
			}
			t.Logf("%d answers in %d writes", messages, sc.writes)
			if sc.writes > messages/4 {
				t.Errorf("%d answers went out in %d writes, want at most %d", messages, sc.writes, messages/4)
			}
		})
	}
}

// TestCompressedMessageInPieces reads compressed messages of one frame
// each whose bytes arrive a few at a time, so that the decompressor, which
// reads a one-frame message to its end before inflating it, waits for the
// rest of the frame; and a message of two frames, which it must not wait
// for whole.
func TestCompressedMessageInPieces(t *testing.T) {
	text := []byte(strings.Repeat(`{"room":"lobby","user":"alice","text":"hello"},`, 40))
	var z bytes.Buffer
	fw, _ := flate.NewWriter(&z, flate.BestSpeed)
	fw.Write(text)
	fw.Flush()
	payload := bytes.TrimSuffix(z.Bytes(), []byte{0, 0, 0xff, 0xff})
	frameOf := func(first, fin bool, p []byte) []byte {
		b0 := byte(0x0)
		if first {
			b0 = 0x40 | 0x1 // RSV1, text
		}
		if fin {
			b0 |= 0x80
		}
		f := []byte{b0, 0x80 | 126, byte(len(p) >> 8), byte(len(p)), 0, 0, 0, 0} // masked with a zero key
		return append(f, p...)
	}
	var in []byte
	in = append(in, frameOf(true, true, payload)...)
	half := len(payload) / 2
	in = append(in, frameOf(true, false, payload[:half])...)
	in = append(in, frameOf(false, true, payload[half:])...)

	pipe, peer := net.Pipe()
	defer pipe.Close()
	defer peer.Close()
	go func() {
		for p := in; len(p) > 0; p = p[min(len(p), 7):] {
			if _, err := peer.Write(p[:min(len(p), 7)]); err != nil {
				return
			}
		}
	}()
	c := newConn(pipe, nil, false, "", newSettings(0, 0, 0, 0, 0, 0))
	// Context takeover: the payloads, each compressed on its own, inflate
	// alike with any window.
	if err := c.setupCompression([]handshake.Extension{{Name: deflateName}}, &CompressionOptions{}); err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	for i := range 2 {
		_, got, err := c.ReadInto(context.Background(), nil)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if !bytes.Equal(got, text) {
			t.Fatalf("message %d: got %d bytes, want %d", i, len(got), len(text))
		}
	}
}
