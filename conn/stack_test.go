package conn

import (
	"bytes"
	"context"
	"net"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/twoway/websocket/internal/godebugtest"
)

// TestIdleServerStack counts the server goroutines whose stack grows while
// they accept a connection with AcceptConn, echo a small message, wait for
// the next one and echo it, a larger one this time. An idle connection costs its goroutine's stack
// plus about a kilobyte of heap, so the stack is most of its memory. A
// goroutine starts with 2 KiB; Go doubles the stack the first time a call
// goes past it and does not shrink it back while the goroutine waits in a
// read (a stack shrinks only when less than a quarter of it is in use,
// counting 800 bytes of guard). The handshake and the read path are kept
// shallow so that most connections stay within 2 KiB; the allocator's
// slow path, which is deep and runs now and then under any allocation,
// makes some grow anyway.
//
// What fits is a property of the compiled frames, so the test holds where
// it was measured: linux/amd64 without the race detector, which doubles
// the guard, or coverage. CI runs it in a pass of its own without -race.
func TestIdleServerStack(t *testing.T) {
	if raceEnabled || runtime.GOOS != "linux" || runtime.GOARCH != "amd64" || testing.CoverMode() != "" {
		t.Skip("stack frames measured on linux/amd64 without -race or -cover")
	}
	// The runtime starts goroutines with a stack sized from the average
	// it saw at the last GC, and shrinks a stack while its goroutine runs
	// a shallow frame, perhaps into the same memory; with both off, each
	// goroutine starts with 2 KiB and its stack moves only when it grows.
	if !godebugtest.Run(t, "adaptivestackstart=0,gcshrinkstackoff=1") {
		return
	}
	const conns = 100
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	var grown, echoed atomic.Int32
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go serveStackProbe(nc, &grown, &echoed)
		}
	}()
	small := []byte("a message of some sixty bytes, as a chat or a tick would be")
	large := bytes.Repeat([]byte("a larger one, longer than the idle buffer. "), 24)
	echo := func(c *Conn, msg []byte) {
		t.Helper()
		if err := c.Write(ctx, Text, msg); err != nil {
			t.Fatal(err)
		}
		if _, got, err := c.Read(ctx); err != nil || string(got) != string(msg) {
			t.Fatalf("echo: %q, %v", got, err)
		}
	}
	var clients []*Conn
	defer func() {
		for _, c := range clients {
			c.CloseNow()
		}
	}()
	for range conns {
		c, _, err := Dial(ctx, "ws://"+ln.Addr().String(), nil)
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
		echo(c, small)
	}
	time.Sleep(20 * time.Millisecond) // for the servers to wait again
	for _, c := range clients {
		echo(c, large)
	}
	// A server counts an echo once its write has returned, which may be
	// after the client has read it.
	for echoed.Load() < 2*conns && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	if n := echoed.Load(); n != 2*conns {
		t.Fatalf("servers echoed %d messages, want %d", n, 2*conns)
	}
	n := grown.Load()
	t.Logf("%d of %d server goroutines outgrew 2 KiB", n, conns)
	if n > conns/3 {
		t.Errorf("%d of %d server goroutines outgrew 2 KiB of stack; most should not", n, conns)
	}
}

// serveStackProbe is a minimal server handler: accept, then echo until the
// peer goes. It counts its echoes, and adds one to grown if its stack grew
// by the second echo.
func serveStackProbe(nc net.Conn, grown, echoed *atomic.Int32) {
	// marker moves when the runtime copies the stack to a larger one;
	// with shrinking off, only then.
	var marker byte
	start := uintptr(unsafe.Pointer(&marker))
	ctx := context.Background()
	c, _, err := AcceptConn(ctx, nc, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	var buf []byte
	for i := 1; ; i++ {
		typ, msg, err := c.ReadInto(ctx, buf)
		if err != nil {
			return
		}
		buf = msg
		if err := c.Write(ctx, typ, msg); err != nil {
			return
		}
		if i == 2 && uintptr(unsafe.Pointer(&marker)) != start {
			grown.Add(1)
		}
		echoed.Add(1)
	}
}

// TestConnSize keeps a Conn within the allocator's 768-byte size class:
// an idle connection holds its Conn, and the next class up is 896 bytes.
// Objects with pointers larger than 512 bytes carry an 8-byte header in
// their allocation, so the Conn itself must fit in 760 bytes; the test
// counts the allocations in the class rather than trust that rule. Other
// goroutines' allocations can only add to the count.
func TestConnSize(t *testing.T) {
	const class, n = 768, 1000
	mallocs := func() uint64 {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		for _, c := range ms.BySize {
			if c.Size == class {
				return c.Mallocs
			}
		}
		t.Fatalf("the allocator has no %d-byte size class", class)
		return 0
	}
	conns := make([]*Conn, n)
	before := mallocs()
	for i := range conns {
		conns[i] = new(Conn)
	}
	if got := mallocs() - before; got < n {
		t.Errorf("%d of %d Conns were allocated in the %d-byte class; Sizeof(Conn{}) = %d", got, n, class, unsafe.Sizeof(Conn{}))
	}
	runtime.KeepAlive(conns)
}
