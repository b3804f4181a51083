package event

import (
	"math/bits"
	"sync"
	"time"
)

// Buffers come in power-of-two classes from 256 bytes to 16 MiB; larger
// ones are left to the garbage collector. A message of a MiB or more is
// pooled too: made for each message, such buffers had the collector run
// so often that it took most of the CPU of an echo of 1 MiB messages.
const (
	minClassBits = 8
	maxClassBits = 24
)

var bufferPools [maxClassBits - minClassBits + 1]sync.Pool

// getBuffer returns an empty buffer with room for at least n bytes.
func getBuffer(n int) *[]byte {
	c := max(bits.Len(uint(max(n, 1)-1)), minClassBits)
	if c > maxClassBits {
		b := make([]byte, 0, n)
		return &b
	}
	if p, ok := bufferPools[c-minClassBits].Get().(*[]byte); ok {
		return p
	}
	b := make([]byte, 0, 1<<c)
	return &b
}

// putBuffer returns p to its class, if it has the capacity of one.
func putBuffer(p *[]byte) {
	n := cap(*p)
	c := bits.Len(uint(n) - 1)
	if n != 1<<c || c < minClassBits || c > maxClassBits {
		return
	}
	*p = (*p)[:0]
	bufferPools[c-minClassBits].Put(p)
}

// growBuffer returns p, or a pooled buffer holding p's bytes that has room
// for n more, p going back to its pool: output that outgrows its buffer,
// as when echoes queue up, moves to the next class rather than leaving
// append's bigger array, outside every class, to the collector.
func growBuffer(p *[]byte, n int) *[]byte {
	if len(*p)+n <= cap(*p) {
		return p
	}
	// At least double, so that output past the largest class, which
	// getBuffer makes to measure, still grows in amortized constant time.
	q := getBuffer(max(len(*p)+n, 2*cap(*p)))
	*q = append(*q, *p...)
	putBuffer(p)
	return q
}

var start = time.Now()

// clock returns monotonic nanoseconds since the package started, never 0.
func clock() int64 { return int64(time.Since(start)) + 1 }
