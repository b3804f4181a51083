package frameio_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log"

	"github.com/twoway/websocket/frame"
	"github.com/twoway/websocket/internal/frameio"
)

// A client writes a fragmented text message, a ping and a Close frame; the
// server reads them back frame by frame.
func Example_writeAndRead() {
	var conn bytes.Buffer // stands in for a network connection

	w := &frameio.Writer{W: &conn, Role: frame.RoleClient, FrameSize: 8}
	if err := w.WriteMessage(frame.OpText, []byte("Hello, WebSocket")); err != nil {
		log.Fatal(err)
	}
	if err := w.WriteControl(frame.OpPing, []byte("are you there?")); err != nil {
		log.Fatal(err)
	}
	closing := frame.AppendClosePayload(nil, frame.CloseNormal, "done")
	if err := w.WriteControl(frame.OpClose, closing); err != nil {
		log.Fatal(err)
	}

	r := frameio.NewReader(bufio.NewReader(&conn), frame.Rules{Role: frame.RoleServer})
	for {
		h, err := r.NextFrame()
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		payload, err := io.ReadAll(r)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%-12v fin=%-5v masked=%v %q\n", h.Opcode, h.Fin, h.Masked, payload)
	}
	code, reason := r.CloseStatus()
	fmt.Println("closed:", code, reason)
	// Output:
	// text         fin=false masked=true "Hello, W"
	// continuation fin=true  masked=true "ebSocket"
	// ping         fin=true  masked=true "are you there?"
	// close        fin=true  masked=true "\x03\xe8done"
	// closed: normal closure done
}
