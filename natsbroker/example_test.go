package natsbroker_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/twoway/websocket/conn"
	"github.com/twoway/websocket/hub"
	"github.com/twoway/websocket/natsbroker"
)

// Two processes of a chat service, each with its hub and its own NATS
// connection (here in one program, with a NATS server of its own): a
// message ann sends to the first reaches bob on the second.
func Example() {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		log.Fatal(err)
	}
	go ns.Start()
	defer ns.Shutdown()
	if !ns.ReadyForConnections(10 * time.Second) {
		log.Fatal("NATS server not ready")
	}

	// process starts one process's hub and WebSocket server, whose
	// clients join the lobby and publish what they send.
	process := func() (*hub.Hub, string, func()) {
		b, err := natsbroker.Dial(ns.ClientURL(), nil)
		if err != nil {
			log.Fatal(err)
		}
		h := hub.New(&hub.Options{Broker: b})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := conn.Accept(w, r, nil)
			if err != nil {
				return
			}
			defer c.CloseNow()
			member, err := h.Add(c, r.URL.Query().Get("name"))
			if err != nil {
				return
			}
			defer member.Remove()
			if err := member.Join("lobby"); err != nil {
				return
			}
			for {
				typ, msg, err := c.Read(r.Context())
				if err != nil {
					return
				}
				if pm, err := conn.NewPreparedMessage(typ, msg); err == nil {
					h.Publish(r.Context(), "lobby", pm)
				}
			}
		}))
		return h, "ws" + strings.TrimPrefix(srv.URL, "http"), func() {
			srv.Close()
			h.Close()
			b.Close()
		}
	}
	h1, url1, stop1 := process()
	defer stop1()
	_, url2, stop2 := process()
	defer stop2()

	ctx := context.Background()
	ann, _, err := conn.Dial(ctx, url1+"/?name=ann", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer ann.CloseNow()
	bob, _, err := conn.Dial(ctx, url2+"/?name=bob", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer bob.CloseNow()
	for len(h1.Members("lobby")) < 2 { // until bob has joined over there
		time.Sleep(time.Millisecond)
	}
	fmt.Println(h1.Members("lobby"))

	ann.Write(ctx, conn.Text, []byte("hello from ann"))
	_, msg, err := bob.Read(ctx)
	fmt.Printf("bob got %q, %v\n", msg, err)
	ann.Close(conn.CloseNormal, "")
	bob.Close(conn.CloseNormal, "")
	// Output:
	// [ann bob]
	// bob got "hello from ann", <nil>
}
