package main

import (
	"bytes"
	"io"
	"testing"
	"testing/iotest"
)

// TestReadPooled reads messages around the sizes where readPooled moves
// to a bigger buffer, through readers that return little at a time and
// that return io.EOF with the last bytes, and checks every byte.
func TestReadPooled(t *testing.T) {
	readers := map[string]func(io.Reader) io.Reader{
		"whole":    func(r io.Reader) io.Reader { return r },
		"one byte": iotest.OneByteReader,
		"data EOF": iotest.DataErrReader,
		"half":     iotest.HalfReader,
	}
	for _, size := range []int{0, 1, 511, 512, 4095, firstRead, firstRead + 1, 64 << 10, 64<<10 + 1, 300 << 10} {
		msg := make([]byte, size)
		for i := range msg {
			msg[i] = byte(i*7 + i>>8)
		}
		for name, wrap := range readers {
			p, err := readPooled(wrap(bytes.NewReader(msg)))
			if err != nil {
				t.Fatalf("%d bytes, %s: %v", size, name, err)
			}
			if !bytes.Equal(*p, msg) {
				t.Errorf("%d bytes, %s: read %d bytes, not the message", size, name, len(*p))
			}
			if cap(*p) < size || sizeClass(cap(*p)) != sizeClass(max(size, firstRead)) {
				t.Errorf("%d bytes, %s: buffer of %d bytes, want the class of %d", size, name, cap(*p), max(size, firstRead))
			}
			putBuf(p)
		}
	}
}

// TestReadPooledError returns the reader's error and no buffer.
func TestReadPooledError(t *testing.T) {
	for _, size := range []int{10, 10 << 10} {
		r := io.MultiReader(bytes.NewReader(make([]byte, size)), iotest.ErrReader(io.ErrUnexpectedEOF))
		if p, err := readPooled(r); err != io.ErrUnexpectedEOF || p != nil {
			t.Errorf("%d bytes then an error: got %v, %v; want nil, %v", size, p, err, io.ErrUnexpectedEOF)
		}
	}
}
