package hub_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/twoway/websocket/conn"
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
