package pmdeflate_test

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"strings"

	"github.com/twoway/websocket/internal/pmdeflate"
)

// A message compressed by one endpoint and inflated by the other.
func Example() {
	c := pmdeflate.NewCompressor(0, 15, true)
	defer c.Release()
	var payload bytes.Buffer // a connection frames these bytes, with RSV1 set
	c.Begin(&payload)
	io.WriteString(c, strings.Repeat("Hello, WebSocket! ", 10))
	if err := c.Finish(); err != nil {
		log.Fatal(err)
	}

	wire := payload.Len()

	d := pmdeflate.NewDecompressor(15, true)
	defer d.Release()
	d.Begin(&payload) // a connection passes the frames' joined payloads
	msg, err := io.ReadAll(d)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d bytes inflated from %d\n", len(msg), wire)
	fmt.Println(string(msg[:17]))
	// Output:
	// 180 bytes inflated from 23
	// Hello, WebSocket!
}

// Negotiation between a client that limits the server's window and a
// server that does not keep its window between messages.
func Example_negotiate() {
	client := pmdeflate.NewClientExtension(pmdeflate.Config{ServerMaxWindowBits: 12})
	server := pmdeflate.NewServerExtension(pmdeflate.Config{ServerNoContextTakeover: true})

	offer := client.Offers()[0]
	response, ok := server.Negotiate(offer)
	if !ok {
		log.Fatal("declined")
	}
	if err := client.Accept(response); err != nil {
		log.Fatal(err)
	}
	params, err := pmdeflate.ParseParams(response)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("offer:   ", offer)
	fmt.Println("response:", response)
	fmt.Printf("%+v\n", params)
	// Output:
	// offer:    permessage-deflate; server_max_window_bits=12; client_max_window_bits
	// response: permessage-deflate; server_no_context_takeover; server_max_window_bits=12; client_max_window_bits=12
	// {ServerNoContextTakeover:true ClientNoContextTakeover:false ServerMaxWindowBits:12 ClientMaxWindowBits:12}
}
