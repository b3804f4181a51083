package main

import (
	"bytes"
	"context"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twoway/websocket/conn"
	"github.com/twoway/websocket/examples/internal/servertest"
)

// TestSIGTERMUnderLoad runs the echo server as a process, has 24 clients
// stream 1 MiB messages through it, half of them compressed, and sends it
// SIGTERM: every client must see the server's Close with 1001 and nothing
// worse, and the process must exit 0 within the close timeout, having
// closed every connection cleanly.
//
// Each client sends its next message as soon as the last has come back.
// One that wrote on while the server wrote an echo to it could fill the
// TCP buffers both ways; then a keepalive ping from the server would
// deadlock it, since the client's reader can send the pong only once its
// writer, blocked, has finished the frame. Half of the clients stop
// halfway through a message streamed through Writer until the signal is
// sent, so that the server's Close goes out between its frames.
//
// The close timeout is generous: under the race detector, on a busy
// machine, a client can take seconds to read what was on its way before
// the server's Close frame, and a server that gave up on it would reset
// the connection, losing that Close frame.
func TestSIGTERMUnderLoad(t *testing.T) {
	const closeTimeout = 20 * time.Second
	exe := servertest.Build(t, ".")
	p := servertest.Start(t, exe, "-addr", "127.0.0.1:0", "-close-timeout", closeTimeout.String())
	url := "ws://" + p.Addr + "/ws"

	const clients = 24
	size := int(defaultConfig().ReadLimit) // as large as the server takes
	text, binary := servertest.Text(size), servertest.Binary(size)

	var (
		running   sync.WaitGroup // the clients' goroutines
		echoed    sync.WaitGroup // clients that have had a message back
		holding   sync.WaitGroup // clients halfway through a message
		signaled  = make(chan struct{})
		cs        = make([]*conn.Conn, clients)
		endings   = make([]servertest.Ending, clients)
		writeErrs = make([]error, clients)
	)
	// Registered first, so that it runs after the clients' CloseNow and
	// after the clients halfway through a message are let go.
	t.Cleanup(running.Wait)
	signal := sync.OnceFunc(func() { close(signaled) })
	t.Cleanup(signal)
	echoed.Add(clients)
	holding.Add(clients / 2)
	for i := range clients {
		opts := &conn.DialOptions{CloseTimeout: closeTimeout}
		if i%2 == 0 {
			opts.Compression = &conn.CompressionOptions{}
		}
		cs[i] = dial(t, url, opts)
		if cs[i].Compressed() != (i%2 == 0) {
			t.Fatalf("client %d: Compressed() = %v", i, cs[i].Compressed())
		}
	}
	// All connect before any streams, so that none waits for the CPU to
	// connect.
	started := time.Now()
	for i, c := range cs {
		// The reader tells the writer of each echo. The writer waits
		// for one before its next message, so one slot is enough.
		echoes := make(chan struct{}, 1)
		readerDone := make(chan struct{})
		var midway func()
		if i%4 >= 2 { // half of the clients, half of them compressed
			midway = func() {
				holding.Done()
				<-signaled
			}
		}
		running.Go(func() {
			writeErrs[i] = streamMessages(c, i, text, binary, echoes, readerDone, midway)
		})
		running.Go(func() {
			defer close(readerDone)
			err := readEchoes(t, c, text, binary, echoed.Done, echoes)
			endings[i] = servertest.EndingOf(err)
		})
	}
	// Every client streams, and the server tracks every connection.
	if !servertest.Wait(&echoed, 5*time.Minute) || !servertest.Wait(&holding, 5*time.Minute) {
		t.Fatal("clients still waiting for their first echo, or to be halfway through a message, after 5 minutes")
	}
	firstEchoes := time.Since(started)

	signalTime := time.Now()
	p.Signal(syscall.SIGTERM)
	signal()
	limit := closeTimeout + 10*time.Second
	if !servertest.Wait(&running, limit) {
		t.Fatalf("clients still running %v after SIGTERM", limit)
	}
	clientsDone := time.Since(signalTime)
	status := p.Wait(limit - time.Since(signalTime))
	elapsed := time.Since(signalTime)
	t.Logf("every client had an echo after %v; after SIGTERM, the clients were done in %v and the server exited in %v",
		firstEchoes.Round(time.Millisecond), clientsDone.Round(time.Millisecond), elapsed.Round(time.Millisecond))
	if status != 0 {
		t.Errorf("server exit status %d %v after SIGTERM, want 0 within %v", status, elapsed.Round(time.Millisecond), limit)
	}

	want := servertest.Ending{Code: conn.CloseGoingAway, Reason: "server shutting down", Remote: true}
	wants := make([]servertest.Ending, clients)
	for i := range wants {
		wants[i] = want
	}
	if diff := cmp.Diff(wants, endings); diff != "" {
		t.Errorf("how the clients' reads ended (-want +got):\n%s", diff)
	}
	for i, err := range writeErrs {
		if err != nil { // nil: the writer stopped because the reader had
			servertest.CheckWriteError(t, i, err, want)
		}
	}
	p.CheckLog("shut down cleanly")
}

// streamMessages writes messages, each once the previous has come back,
// until a write fails or the reader is done, and returns the write's
// error: text and binary in turn, each whole with Write twice and then
// streamed through Writer twice. With midway, the second message is text
// streamed through Writer, and midway is called halfway through it.
func streamMessages(c *conn.Conn, i int, text, binary []byte, echoes, readerDone <-chan struct{}, midway func()) error {
	ctx := context.Background()
	for n := i; ; n++ {
		typ, msg := conn.Text, text
		if n%2 == 1 {
			typ, msg = conn.Binary, binary
		}
		chunk := 0
		if n/2%2 == 1 {
			chunk = 10007
		}
		var stop func()
		if midway != nil && n == i+1 {
			typ, msg, chunk, stop = conn.Text, text, 10007, midway
		}
		if err := servertest.WriteMessage(ctx, c, typ, msg, chunk, stop); err != nil {
			return err
		}
		select {
		case <-echoes:
		case <-readerDone:
			return nil
		}
	}
}

// readEchoes reads messages until the connection ends, checking each one
// and telling echoes of it, and calls first after the first. It returns
// the error that ended it.
func readEchoes(t *testing.T, c *conn.Conn, text, binary []byte, first func(), echoes chan<- struct{}) error {
	var buf []byte
	for n := 0; ; n++ {
		typ, msg, err := c.ReadInto(context.Background(), buf)
		if err != nil {
			if n == 0 {
				first()
			}
			return err
		}
		buf = msg
		want := text
		if typ == conn.Binary {
			want = binary
		}
		if !bytes.Equal(msg, want) {
			t.Errorf("echo %d: %v message of %d bytes, not the %d sent", n, typ, len(msg), len(want))
		}
		echoes <- struct{}{}
		if n == 0 {
			first()
		}
	}
}
