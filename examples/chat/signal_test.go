package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twoway/websocket/conn"
	"github.com/twoway/websocket/examples/internal/servertest"
)

// TestSIGTERMUnderLoad runs the chat server as a process, has 24 members
// send messages as large as the room takes while they read everyone's,
// and sends it SIGTERM: every member must see the server's Close with
// 1001 and nothing worse, and the process must exit 0 within the close
// timeout, having closed every connection cleanly.
//
// The room drops a member that falls a queue's length behind, so the
// members pace themselves: each sends its message of round k+1 once it
// has read all the messages of round k. Then no member's queue holds more
// than two rounds, however slowly the machine runs.
//
// The close timeout is generous: under the race detector, on a busy
// machine, a member can take seconds to read what was on its way before
// the server's Close frame, and a server that gave up on it would reset
// the connection, losing that Close frame.
func TestSIGTERMUnderLoad(t *testing.T) {
	const closeTimeout = 20 * time.Second
	exe := servertest.Build(t, ".")
	p := servertest.Start(t, exe, "-addr", "127.0.0.1:0", "-close-timeout", closeTimeout.String())
	endpoint := "ws://" + p.Addr + "/ws"

	const clients = 24
	defaults := config{QueueLen: queueLen}.withDefaults() // as main sets it
	if 2*clients > defaults.QueueLen {
		t.Fatalf("%d clients could overflow a queue of %d", clients, defaults.QueueLen)
	}
	// As large as the server takes: the text and its JSON wrapping.
	size := int(defaults.ReadLimit)
	for len(chatMessage(0, clients, size)) > int(defaults.ReadLimit) {
		size--
	}

	var (
		running   sync.WaitGroup // the clients' goroutines
		welcomed  sync.WaitGroup // clients in the room
		streaming sync.WaitGroup // clients that have read two rounds
		start     = make(chan struct{})
		endings   = make([]servertest.Ending, clients)
		writeErrs = make([]error, clients)
	)
	// Registered first, so that it runs after the clients' CloseNow.
	t.Cleanup(running.Wait)
	welcomed.Add(clients)
	streaming.Add(clients)
	for i := range clients {
		opts := &conn.DialOptions{CloseTimeout: closeTimeout}
		if i%2 == 0 {
			// Offered; the room does not take it up.
			opts.Compression = &conn.CompressionOptions{}
		}
		c := dial(t, endpoint, fmt.Sprintf("c%d", i), "", opts)
		// The reader tells the writer of each round it has read whole.
		// A round ends only with the writer's own message of it, sent
		// after the writer took the previous round, so one slot is
		// enough and the reader never waits.
		rounds := make(chan int, 1)
		readerDone := make(chan struct{})
		running.Go(func() {
			defer close(readerDone)
			endings[i] = servertest.EndingOf(readRoom(t, c, clients, size, welcomed.Done, streaming.Done, rounds))
		})
		running.Go(func() {
			select {
			case <-start:
				writeErrs[i] = sendRounds(c, i, size, rounds, readerDone)
			case <-readerDone:
			}
		})
	}
	if !servertest.Wait(&welcomed, 5*time.Minute) {
		close(start)
		t.Fatal("clients still waiting for their welcome after 5 minutes")
	}
	// Everyone is in the room, so everyone reads every message.
	close(start)
	if !servertest.Wait(&streaming, 5*time.Minute) {
		t.Fatal("clients still waiting for the first two rounds after 5 minutes")
	}

	signaled := time.Now()
	p.Signal(syscall.SIGTERM)
	limit := closeTimeout + 10*time.Second
	if !servertest.Wait(&running, limit) {
		t.Fatalf("clients still running %v after SIGTERM", limit)
	}
	clientsDone := time.Since(signaled)
	status := p.Wait(limit - time.Since(signaled))
	elapsed := time.Since(signaled)
	t.Logf("after SIGTERM, the clients were done in %v and the server exited in %v",
		clientsDone.Round(time.Millisecond), elapsed.Round(time.Millisecond))
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

// chatText is the text that client from sends in round k: size bytes.
func chatText(k, from, size int) []byte {
	prefix := fmt.Sprintf("r%d c%d ", k, from)
	return append([]byte(prefix), servertest.Text(size-len(prefix))...)
}

// chatMessage is the message that carries chatText(k, from, size).
func chatMessage(k, from, size int) []byte {
	b, err := json.Marshal(said{Text: string(chatText(k, from, size))})
	if err != nil {
		panic(err)
	}
	return b
}

// sendRounds sends a message per round, each once the reader has read
// the previous round whole, until a write fails or the reader is done. It
// returns the write's error. Messages go whole with Write and streamed
// through Writer in turn.
func sendRounds(c *conn.Conn, i, size int, rounds <-chan int, readerDone <-chan struct{}) error {
	ctx := context.Background()
	for k := 0; ; k++ {
		chunk := 0
		if (k+i)%2 == 1 {
			chunk = 1001
		}
		if err := servertest.WriteMessage(ctx, c, conn.Text, chatMessage(k, i, size), chunk, nil); err != nil {
			return err
		}
		select {
		case <-rounds:
		case <-readerDone:
			return nil
		}
	}
}

// readRoom reads events until the connection ends, and returns the error
// that ended it. It checks every message, calls welcomed once in the room
// (on the first presence event) and streaming once two rounds are read, and sends each round it has
// read whole, from all clients, on rounds.
func readRoom(t *testing.T, c *conn.Conn, clients, size int, welcomed, streaming func(), rounds chan<- int) error {
	var buf []byte
	read := make(map[int]int) // messages read, by round
	inRoom := false
	for {
		typ, msg, err := c.ReadInto(context.Background(), buf)
		if err != nil {
			return err
		}
		buf = msg
		var ev event
		if typ != conn.Text || json.Unmarshal(msg, &ev) != nil {
			t.Errorf("got %v message %.100q, want a JSON event", typ, msg)
			continue
		}
		switch ev.Type {
		case "presence":
			if !inRoom {
				inRoom = true
				welcomed()
			}
		case "message":
			var k, from int
			if _, err := fmt.Sscanf(ev.Text, "r%d c%d ", &k, &from); err != nil ||
				ev.Name != fmt.Sprintf("c%d", from) || ev.Text != string(chatText(k, from, size)) {
				t.Errorf("message from %s of %d bytes is not what a client sent: %.40q", ev.Name, len(ev.Text), ev.Text)
				continue
			}
			if read[k]++; read[k] == clients {
				delete(read, k)
				rounds <- k
				if k == 1 {
					streaming()
				}
			}
		}
	}
}
