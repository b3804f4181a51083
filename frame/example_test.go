package frame_test

import (
	"errors"
	"fmt"
	"log"

	"github.com/twoway/websocket/frame"
)

// Decoding the masked "Hello" frame of RFC 6455 §5.7.
func ExampleParseHeader() {
	wire := []byte{0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}
	h, n, err := frame.ParseHeader(wire)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%v fin=%v masked=%v key=% x length=%d header=%d bytes\n",
		h.Opcode, h.Fin, h.Masked, h.Key, h.Length, n)
	// Output:
	// text fin=true masked=true key=37 fa 21 3d length=5 header=6 bytes
}

func ExampleAppendHeader() {
	h := frame.Header{Fin: true, Opcode: frame.OpBinary, Length: 256}
	fmt.Printf("% x\n", frame.AppendHeader(nil, h))
	// Output:
	// 82 7e 01 00
}

// A server checks each header before reading its payload and closes the
// connection with the code of the violation.
func ExampleRules_Check() {
	rules := frame.Rules{Role: frame.RoleServer, MaxLength: 1 << 20}
	for _, h := range []frame.Header{
		{Fin: true, Opcode: frame.OpText, Masked: true, Length: 10},
		{Fin: true, Opcode: frame.OpText, Length: 10},
		{Fin: false, Opcode: frame.OpPing, Masked: true},
		{Fin: true, Opcode: frame.OpBinary, Masked: true, Length: 1 << 30},
	} {
		if err := rules.Check(h); err != nil {
			var pe *frame.ProtocolError
			if errors.As(err, &pe) {
				fmt.Println(pe.Code, "-", pe.Reason)
			}
			continue
		}
		fmt.Println("ok")
	}
	// Output:
	// ok
	// protocol error - unmasked frame from client
	// protocol error - fragmented control frame
	// message too big - frame too big
}

func ExampleParseClosePayload() {
	payload := frame.AppendClosePayload(nil, frame.CloseGoingAway, "server restarting")
	code, reason, err := frame.ParseClosePayload(payload)
	fmt.Println(uint16(code), code, reason, err)

	_, _, err = frame.ParseClosePayload([]byte{0x03, 0xED}) // 1005 must not be sent
	fmt.Println(err)
	// Output:
	// 1001 going away server restarting <nil>
	// frame: invalid close code (close code 1002)
}
