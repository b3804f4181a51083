package main

import (
	"io"
	"math/bits"
	"sync"
)

// Message buffers for the echo loops, pooled by size class: a loop takes
// one once a message has begun and returns it after the echo, so that an
// idle connection holds no message buffer, as in gws and nbio, which pool
// theirs inside the library. Buffers of one class are shared by all
// connections, so after a burst the pool holds about as many as were in
// use at once, until the collector empties it.
const (
	minClassShift = 9  // 512 B
	maxClassShift = 24 // 16 MiB; larger buffers are left to the collector
	firstRead     = 4 << 10
)

var bufPools [maxClassShift - minClassShift + 1]sync.Pool

// sizeClass returns the index in bufPools of the smallest class holding n
// bytes, which is len(bufPools) or more for n above the largest class.
func sizeClass(n int) int {
	if n <= 1<<minClassShift {
		return 0
	}
	return bits.Len(uint(n-1)) - minClassShift
}

// getBuf returns an empty buffer with room for at least n bytes.
func getBuf(n int) *[]byte {
	c := sizeClass(n)
	if c >= len(bufPools) {
		b := make([]byte, 0, n)
		return &b
	}
	if p, _ := bufPools[c].Get().(*[]byte); p != nil {
		*p = (*p)[:0]
		return p
	}
	b := make([]byte, 0, 1<<(c+minClassShift))
	return &b
}

// putBuf returns a buffer from getBuf to its pool.
func putBuf(p *[]byte) {
	c := sizeClass(cap(*p))
	if c < len(bufPools) && cap(*p) == 1<<(c+minClassShift) {
		bufPools[c].Put(p)
	}
}

// pooled selects the echo loops that take a pooled buffer for each
// message (-pooled) instead of reusing one of their own.
var pooled bool

// echoPooled echoes until next or write fails: next waits for a message
// without holding a buffer, the message is read whole into a pooled
// buffer, written back with write and the buffer returned to its pool.
func echoPooled[T any](next func() (T, io.Reader, error), write func(T, []byte) error) {
	for {
		typ, r, err := next()
		if err != nil {
			return
		}
		p, err := readPooled(r)
		if err != nil {
			return
		}
		err = write(typ, *p)
		putBuf(p)
		if err != nil {
			return
		}
	}
}

// readPooled reads r to its end into a pooled buffer, which the caller
// returns with putBuf. It starts with firstRead bytes and moves to the next
// class when the buffer is full; the next buffer takes the following read
// before the bytes are copied over, so a message that fills its buffer
// exactly costs no copy, only a Get and a Put.
func readPooled(r io.Reader) (*[]byte, error) {
	p := getBuf(firstRead)
	for {
		b := *p
		if len(b) < cap(b) {
			n, err := r.Read(b[len(b):cap(b)])
			*p = b[:len(b)+n]
			if err == io.EOF {
				return p, nil
			}
			if err != nil {
				putBuf(p)
				return nil, err
			}
			continue
		}
		next := getBuf(2 * cap(b))
		nb := (*next)[:cap(*next)]
		n, err := r.Read(nb[len(b):])
		if n == 0 && err == io.EOF {
			putBuf(next)
			return p, nil
		}
		copy(nb, b)
		*next = nb[:len(b)+n]
		putBuf(p)
		p = next
		if err == io.EOF {
			return p, nil
		}
		if err != nil {
			putBuf(p)
			return nil, err
		}
	}
}
