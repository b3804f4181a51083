package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/twoway/websocket/bench/internal/fanout"
	"github.com/twoway/websocket/conn"
	"github.com/twoway/websocket/event"
	rooms "github.com/twoway/websocket/hub"
	"github.com/twoway/websocket/natsbroker"
)

// The broadcast workload served by twoway's hub package rather than the
// benchmark's own hub: every connection is added to the hub and joins one
// room, and each message a connection sends has the server publish one
// message to the room. The hub gives each member a bounded queue and a
// writer that sends everything queued in one WritePrepared call.
//
// twoway-hub keeps the room in this process. twoway-hub-nats links the
// hub through a NATS server (-nats), so that benchrun can spread the
// subscribers over two processes: the publisher's server delivers to its
// own members and publishes to NATS, and the other server delivers what
// NATS brings it.

var natsURL = flag.String("nats", "", "fanout: the NATS server that twoway-hub-nats publishes through")

// fanoutRoom is the room every subscriber joins.
const fanoutRoom = "fanout"

func natsHubFanout() http.Handler {
	if *natsURL == "" {
		log.Fatal("twoway-hub-nats needs -nats")
	}
	b, err := natsbroker.Dial(*natsURL, nil)
	if err != nil {
		log.Fatal(err)
	}
	return twowayHubFanout(b)
}

// twowayHubFanout serves subscribers from a hub.Hub with broker b (nil:
// this process alone).
func twowayHubFanout(b rooms.Broker) http.Handler {
	h := rooms.New(&rooms.Options{Broker: b, QueueLen: queueLen})
	publish, welcome := hubPublisher(h)
	opts := twowayOptions()
	ctx := context.Background()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := conn.Accept(w, r, opts)
		if err != nil {
			return
		}
		defer c.CloseNow()
		cl, err := h.Add(c, "")
		if err != nil {
			return
		}
		defer cl.Remove()
		// Before any message published from now on.
		if cl.Join(fanoutRoom) != nil || cl.Send(welcome) != nil {
			return
		}
		var msg []byte
		for {
			if _, msg, err = c.ReadInto(ctx, msg); err != nil {
				return
			}
			publish()
		}
	})
}

// serveEventHubFanout is twoway-event-hub: the hub's room served by the
// event-driven server, whose members (Hub.AddEvent) have no queue or
// writer goroutine: each message is queued on the connection for its
// event loop to write.
func serveEventHubFanout(ln net.Listener) error {
	h := rooms.New(nil)
	publish, welcome := hubPublisher(h)
	var members sync.Map // *event.Conn to *rooms.Client
	s := &event.Server{
		Accept: *twowayOptions(),
		OnOpen: func(c *event.Conn, r *http.Request) {
			cl, err := h.AddEvent(c, "")
			if err != nil {
				c.CloseNow()
				return
			}
			members.Store(c, cl)
			if cl.Join(fanoutRoom) != nil || cl.Send(welcome) != nil {
				c.CloseNow()
			}
		},
		OnMessage: func(*event.Conn, conn.MessageType, []byte) { publish() },
		OnClose: func(c *event.Conn, err error) {
			if cl, ok := members.LoadAndDelete(c); ok {
				cl.(*rooms.Client).Remove()
			}
		},
	}
	return s.Serve(ln)
}

// hubPublisher returns the function that publishes the workload's next
// message to h's room, in order, and the welcome message.
func hubPublisher(h *rooms.Hub) (publish func(), welcome *conn.PreparedMessage) {
	f, err := fanout.NewFormat(fanout.Size)
	if err != nil {
		log.Fatal(err)
	}
	welcome, err = conn.NewPreparedMessage(conn.Text, []byte(fanout.Welcome))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	var (
		mu  sync.Mutex // held while publishing, so that messages go out in order
		seq uint64
		buf []byte
	)
	publish = func() {
		mu.Lock()
		defer mu.Unlock()
		buf = f.Append(buf[:0], seq, time.Now().UnixNano())
		seq++
		published.Add(1)
		pm, err := conn.NewPreparedMessage(conn.Text, buf)
		if err == nil {
			err = h.Publish(ctx, fanoutRoom, pm)
		}
		if err != nil {
			log.Fatalf("publishing message %d: %v", seq-1, err)
		}
	}
	return publish, welcome
}

// runNATS runs a NATS server on a free loopback port, prints its URL as
// the first line of standard output, and serves until SIGINT or SIGTERM.
func runNATS() {
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		log.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		log.Fatal("NATS server not ready in 10s")
	}
	fmt.Println(s.ClientURL())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	s.Shutdown()
}
