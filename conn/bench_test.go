package conn

import (
	"bytes"
	"compress/flate"
	"context"
	"fmt"
	"io"
	"net"
	"runtime"
	"testing"

	"github.com/twoway/websocket/handshake"
	"github.com/twoway/websocket/internal/rawpeer"
)

// The echo benchmarks drive one side of a connection, ours, against a raw
// peer that sends pre-encoded frames and reads the known-size answers, so
// the figures and allocations are those of Conn alone.

var echoSizes = []struct {
	name string
	size int
	op   byte
}{
	{"16B", 16, 0x2}, {"1KiB", 1 << 10, 0x2}, {"64KiB", 64 << 10, 0x2}, {"1MiB", 1 << 20, 0x2},
	// Text is checked for UTF-8 both ways.
	{"text128B", 128, 0x1}, {"text64KiB", 64 << 10, 0x1},
}

func BenchmarkEcho(b *testing.B) {
	for _, role := range []string{"server", "client"} {
		for _, sz := range echoSizes {
			b.Run(role+"/"+sz.name, func(b *testing.B) {
				c, p := benchPair(b, role == "server")
				msg := bytes.Repeat([]byte("x"), sz.size)
				req := p.encode(true, 0, sz.op, msg) // from the raw peer
				// The answer comes from the other role: masked when p is the server.
				answer := make([]byte, len(rawpeer.Frame{Fin: true, Opcode: sz.op, Masked: !p.p.IsClient(), Payload: msg}.Encode()))
				done := make(chan error, 1)
				go func() {
					ctx := context.Background()
					var buf []byte
					for {
						typ, m, err := c.ReadInto(ctx, buf)
						if err != nil {
							done <- nil
							return
						}
						buf = m
						if err := c.Write(ctx, typ, m); err != nil {
							done <- err
							return
						}
					}
				}()
				b.SetBytes(int64(2 * sz.size))
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					if _, err := p.nc.Write(req); err != nil {
						b.Fatal(err)
					}
					if _, err := io.ReadFull(p.nc, answer); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				p.nc.Close()
				if err := <-done; err != nil {
					b.Fatal(err)
				}
			})
		}
	}
}

// benchPair connects a Conn in the given role to a raw peer over loopback
// TCP, skipping the HTTP handshake.
func benchPair(tb testing.TB, server bool) (*Conn, *rawPeer) {
	return benchPairWrapped(tb, server, nil)
}

// benchPairWrapped is benchPair with the Conn's side of the TCP connection
// passed through wrap, when it is not nil.
func benchPairWrapped(tb testing.TB, server bool, wrap func(net.Conn) net.Conn) (*Conn, *rawPeer) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		nc, _ := ln.Accept()
		accepted <- nc
	}()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	bnc := <-accepted
	var nc net.Conn = a
	if wrap != nil {
		nc = wrap(a)
	}
	c := newConn(nc, nil, !server, "", newSettings(0, 0, 0, 0, 0, 0))
	tb.Cleanup(func() { c.CloseNow(); a.Close(); bnc.Close() })
	return c, &rawPeer{t: tb, p: rawpeer.New(bnc, server), nc: bnc}
}

// TestSteadyStateAllocs pins the promise that reading into a reused buffer
// and writing allocate nothing per message, in both roles, with a context
// that can never be done and with a long-lived one that can, such as an
// http.Request's.
func TestSteadyStateAllocs(t *testing.T) {
	cancelable, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, server := range []bool{true, false} {
		for name, ctx := range map[string]context.Context{"background": context.Background(), "cancelable": cancelable} {
			c, p := benchPair(t, server)
			msg := bytes.Repeat([]byte("y"), 1000)
			req := p.encode(true, 0, 0x1, msg)
			// Queue enough input for every run, so the peer does no work
			// while allocations are counted.
			const runs = 100
			go p.nc.Write(bytes.Repeat(req, runs+1))
			go io.Copy(io.Discard, p.nc)
			typ, buf, err := c.ReadInto(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			c.Write(ctx, typ, buf)
			allocs := testing.AllocsPerRun(runs-1, func() {
				typ, m, err := c.ReadInto(ctx, buf)
				if err != nil {
					t.Fatal(err)
				}
				if err := c.Write(ctx, typ, m); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 {
				t.Errorf("server=%v, %s context: %v allocations per echoed message, want 0", server, name, allocs)
			}
		}
	}
}

// TestReadAllocatesTheMessage checks that Read, which allocates the
// message's buffer itself, allocates about the message's size once: a
// buffer that the message fills exactly must not be grown before Read
// learns that the message has ended.
func TestReadAllocatesTheMessage(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	// What a chat client sends: about 1 KiB of JSON, and compressed on its
	// own (without context takeover) a little under half of it.
	var chat []byte
	for i := 0; len(chat) < 1000; i++ {
		chat = fmt.Appendf(chat, `{"room":"general","user":"u%d","seq":%d,"text":"see you at %d"},`, i%7, i*7919%1000, i*31%24)
	}
	tests := []struct {
		name       string
		frames     []int // payload sizes; the last frame is final
		compressed bool  // one frame of chat, compressed
		allocs     float64
		bytes      float64 // at most, per Read; 0 for unchecked
	}{
		{"128 B", []int{128}, false, 1, 128},
		{"4 KiB", []int{4 << 10}, false, 1, 4 << 10},
		{"64 KiB", []int{64 << 10}, false, 1, 64 << 10},
		// The first frame's buffer, then one for the whole message, whose
		// size Read cannot know before its last frame.
		{"three frames", []int{1000, 0, 2000}, false, 2, 1024 + 3072},
		// One buffer of eight times the payload: the message fits, and
		// is inflated in one go. (The decompressor's pooled state, which
		// a collection during the reads makes it take again, is not
		// counted in bytes.)
		{"1 KiB compressed", nil, true, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, p := benchPair(t, true)
			var msg []byte
			total := 0
			for i, n := range tt.frames {
				op := byte(0x2)
				if i > 0 {
					op = 0x0
				}
				msg = append(msg, p.encode(i == len(tt.frames)-1, 0, op, bytes.Repeat([]byte{'m'}, n))...)
				total += n
			}
			if tt.compressed {
				// Each message on its own, as the peer may send it
				// whether or not context is taken over (RFC 7692 §7.1.1.1).
				if err := c.setupCompression([]handshake.Extension{{Name: deflateName}}, &CompressionOptions{}); err != nil {
					t.Fatal(err)
				}
				var z bytes.Buffer
				fw, _ := flate.NewWriter(&z, flate.BestSpeed)
				fw.Write(chat)
				fw.Flush()
				payload := bytes.TrimSuffix(z.Bytes(), []byte{0, 0, 0xff, 0xff})
				msg = p.encode(true, 0x40, 0x1, payload) // RSV1: compressed
				total = len(chat)
			}
			const runs = 20
			// The first messages fill the decompressor's window, which grows
			// with the stream: read them before counting.
			const warm = 40
			go p.nc.Write(bytes.Repeat(msg, warm+runs+1))
			for range warm {
				if _, _, err := c.Read(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			allocs := testing.AllocsPerRun(runs, func() {
				_, m, err := c.Read(context.Background())
				if err != nil || len(m) != total {
					t.Fatalf("read %d bytes, %v; want %d", len(m), err, total)
				}
			})
			runtime.ReadMemStats(&after)
			perRead := float64(after.TotalAlloc-before.TotalAlloc) / (runs + 1)
			// What the pipe's goroutine allocates, spread over the reads.
			const slack = 512
			if allocs > tt.allocs || tt.bytes > 0 && perRead > tt.bytes+slack {
				t.Errorf("a %d-byte message: %v allocations and %.0f bytes per Read, want at most %v and %.0f",
					total, allocs, perRead, tt.allocs, tt.bytes)
			}
		})
	}
}
