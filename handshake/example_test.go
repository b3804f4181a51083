package handshake_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/twoway/websocket/handshake"
)

func ExampleUpgrade() {
	done := make(chan struct{})
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(done)
		sc, err := handshake.Upgrade(w, r, &handshake.ServerOptions{
			Subprotocols: []string{"chat.v2", "chat.v1"},
		})
		if err != nil {
			log.Print(err) // Upgrade has already answered the client.
			return
		}
		defer sc.Conn.Close()
		// Hand sc.Conn to the framing layer; read sc.Buffered first.
		fmt.Printf("server: subprotocol %q, %d early bytes\n", sc.Subprotocol, len(sc.Buffered))
	})
	srv := httptest.NewServer(handler)
	defer srv.Close()

	cc, err := handshake.Dial(context.Background(), srv.URL, &handshake.ClientOptions{
		Subprotocols: []string{"chat.v1", "chat.v2"},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer cc.Conn.Close()
	<-done
	// Output: server: subprotocol "chat.v2", 0 early bytes
}

func ExampleDial() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sc, err := handshake.Upgrade(w, r, &handshake.ServerOptions{Subprotocols: []string{"chat"}})
		if err != nil {
			return
		}
		sc.Conn.Close()
	}))
	defer srv.Close()

	// ws:// and wss:// URLs; http:// and https:// work too.
	cc, err := handshake.Dial(context.Background(), "ws://"+srv.Listener.Addr().String()+"/chat", &handshake.ClientOptions{
		Header:       http.Header{"Origin": {srv.URL}},
		Subprotocols: []string{"chat"},
		Proxy:        handshake.NoProxy,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer cc.Conn.Close()
	// Hand cc.Conn to the framing layer; read cc.Buffered first.
	fmt.Println(cc.Response.Status, cc.Subprotocol)

	// A refusal says why.
	_, err = handshake.Dial(context.Background(), srv.URL, &handshake.ClientOptions{
		Header: http.Header{"Origin": {"https://elsewhere.example"}},
	})
	fmt.Println(errors.Is(err, handshake.ErrBadStatus))
	// Output:
	// 101 Switching Protocols chat
	// true
}
