package rawpeer_test

import (
	"fmt"
	"log"
	"time"

	"github.com/twoway/websocket/internal/rawpeer"
)

// A server Peer and a client Peer talking to each other: the client sends
// a ping cut into one-byte writes and the server answers it by hand.
func Example() {
	l, err := rawpeer.Listen(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()

	done := make(chan struct{})
	go func() {
		defer close(done)
		s, err := l.Accept(10 * time.Second)
		if err != nil {
			log.Fatal(err)
		}
		defer s.Close()
		ping, err := s.ReadFrame(10 * time.Second)
		if err != nil {
			log.Fatal(err)
		}
		s.SendFrame(rawpeer.Frame{Fin: true, Opcode: rawpeer.OpPong, Payload: ping.Payload})
		s.SendFrame(rawpeer.Frame{Fin: true, Opcode: rawpeer.OpClose, Payload: rawpeer.ClosePayload(1000, "done")})
	}()

	c, err := rawpeer.Dial(l.URL(), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ping := c.Encode(rawpeer.Frame{Fin: true, Opcode: rawpeer.OpPing, Payload: []byte("are you there?")})
	if err := c.SendChopped(ping, 1); err != nil {
		log.Fatal(err)
	}
	closing, err := c.ExpectClose(10 * time.Second)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(closing.Frames[0])
	fmt.Println(closing.Code, closing.Reason)
	<-done
	// Output:
	// pong fin len=14 "are you there?"
	// 1000 done
}

// Encode builds frames no correct endpoint sends, such as a ping that
// claims 126 bytes of payload.
func ExampleFrame_AppendHeader() {
	f := rawpeer.Frame{Fin: true, Opcode: rawpeer.OpPing}
	fmt.Printf("% x\n", f.AppendHeader(nil, 126))
	// Output:
	// 89 7e 00 7e
}
