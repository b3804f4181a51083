package conn

import (
	"bytes"
	"context"
	"io"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"
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
			cpu0 := processCPU()
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
			cpu := processCPU() - cpu0
			b.StopTimer()
			b.ReportMetric(float64(counter.writes.Load())/float64(b.N), "writes/msg")
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/msg")
			p.nc.Close()
			<-done
		})
	}
}

// processCPU returns the CPU time the process has used, user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
