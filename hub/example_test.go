package hub_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"

	"github.com/twoway/websocket/conn"
	"github.com/twoway/websocket/event"
	"github.com/twoway/websocket/hub"
)

// A chat room: every message a member sends goes to every member of the
// room. With Options.Broker set, members on other processes get it too.
func Example() {
	h := hub.New(nil)
	defer h.Close()
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
		member.Join("lobby")
		for {
			typ, msg, err := c.Read(r.Context())
			if err != nil {
				return
			}
			pm, err := conn.NewPreparedMessage(typ, msg)
			if err != nil {
				return
			}
			h.Publish(r.Context(), "lobby", pm)
		}
	}))
	defer srv.Close()

	ctx := context.Background()
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/?name=ann"
	c, _, err := conn.Dial(ctx, url, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.CloseNow()
	c.Write(ctx, conn.Text, []byte("hello, lobby"))
	_, msg, err := c.Read(ctx)
	fmt.Printf("%s %v\n", msg, err)
	fmt.Println(h.Members("lobby"))
	c.Close(conn.CloseNormal, "")
	// Output:
	// hello, lobby <nil>
	// [ann]
}

// The same room served by the event-driven server: a member costs no
// goroutine while idle, and a message is queued on each member's
// connection for its event loop to write.
func ExampleHub_AddEvent() {
	h := hub.New(nil)
	var members sync.Map // *event.Conn to *hub.Client
	srv := &event.Server{
		OnOpen: func(c *event.Conn, r *http.Request) {
			member, err := h.AddEvent(c, r.URL.Query().Get("name"))
			if err != nil {
				c.CloseNow()
				return
			}
			members.Store(c, member)
			member.Join("lobby")
		},
		OnMessage: func(c *event.Conn, typ conn.MessageType, msg []byte) {
			pm, err := conn.NewPreparedMessage(typ, msg)
			if err == nil {
				h.Publish(context.Background(), "lobby", pm)
			}
		},
		OnClose: func(c *event.Conn, err error) {
			if member, ok := members.LoadAndDelete(c); ok {
				member.(*hub.Client).Remove()
			}
		},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	go srv.Serve(ln)
	defer func() {
		srv.Shutdown(context.Background())
		h.Close()
	}()

	ctx := context.Background()
	c, _, err := conn.Dial(ctx, "ws://"+ln.Addr().String()+"/?name=bob", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.CloseNow()
	c.Write(ctx, conn.Text, []byte("hello from an event loop"))
	_, msg, err := c.Read(ctx)
	fmt.Printf("%s %v\n", msg, err)
	fmt.Println(h.Members("lobby"))
	// Output:
	// hello from an event loop <nil>
	// [bob]
}
