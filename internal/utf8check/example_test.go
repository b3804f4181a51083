package utf8check_test

import (
	"fmt"

	"github.com/twoway/websocket/internal/utf8check"
)

// A text message arrives in pieces; the validator fails it at the first
// impossible byte, before the rest of the message is read.
func Example() {
	chunks := [][]byte{
		[]byte("Hello, \xe4\xb8"), // cut inside 世 (e4 b8 96)
		[]byte("\x96! \xf4"),      // F4 may still start U+100000..U+10FFFF
		[]byte("\x90\x80\x80"),    // F4 90 would be above U+10FFFF
	}
	var v utf8check.Validator
	for n, c := range chunks {
		if i := v.Feed(c); i >= 0 {
			fmt.Printf("chunk %d: invalid byte %#x at index %d\n", n, c[i], i)
			return
		}
		fmt.Printf("chunk %d: ok so far, complete=%v\n", n, v.Complete())
	}
	// Output:
	// chunk 0: ok so far, complete=false
	// chunk 1: ok so far, complete=false
	// chunk 2: invalid byte 0x90 at index 0
}

// At the end of a message, Complete tells a finished text from one cut
// inside a character.
func ExampleValidator_Complete() {
	var v utf8check.Validator
	v.Feed([]byte("caf\xc3"))
	fmt.Println(v.Complete())
	v.Feed([]byte("\xa9"))
	fmt.Println(v.Complete())
	// Output:
	// false
	// true
}

func ExampleValid() {
	fmt.Println(utf8check.Valid([]byte("κόσμε")))
	fmt.Println(utf8check.Valid([]byte("\xed\xa0\x80"))) // a UTF-16 surrogate
	// Output:
	// true
	// false
}
