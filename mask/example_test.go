package mask_test

import (
	"fmt"

	"github.com/twoway/websocket/mask"
)

// The masked "Hello" frame of RFC 6455 §5.7.
func ExampleApply() {
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	payload := []byte("Hello")

	mask.Apply(payload, key, 0)
	fmt.Printf("% x\n", payload)

	// Unmask in two chunks, as a reader does when the payload arrives in
	// pieces: each call continues at the key index the previous one returned.
	pos := mask.Apply(payload[:3], key, 0)
	mask.Apply(payload[3:], key, pos)
	fmt.Printf("%s\n", payload)
	// Output:
	// 7f 9f 4d 51 58
	// Hello
}
