package frame

import (
	"bufio"
	"io"
	"testing"
)

func BenchmarkAppendHeader(b *testing.B) {
	buf := make([]byte, 0, MaxHeaderSize)
	h := Header{Fin: true, Opcode: OpBinary, Masked: true, Key: rfcKey, Length: 1 << 20}
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendHeader(buf[:0], h)
	}
}

func BenchmarkWriteHeader(b *testing.B) {
	bw := bufio.NewWriter(io.Discard)
	h := Header{Fin: true, Opcode: OpBinary, Masked: true, Key: rfcKey, Length: 1 << 20}
	b.ReportAllocs()
	for b.Loop() {
		WriteHeader(bw, h)
	}
}

func BenchmarkParseHeader(b *testing.B) {
	wire := AppendHeader(nil, Header{Fin: true, Opcode: OpBinary, Masked: true, Key: rfcKey, Length: 1 << 20})
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := ParseHeader(wire); err != nil {
			b.Fatal(err)
		}
	}
}

// repeatReader returns copies of data forever.
type repeatReader struct {
	data []byte
	off  int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.data[r.off:])
		n += c
		r.off = (r.off + c) % len(r.data)
	}
	return n, nil
}

func BenchmarkReadHeader(b *testing.B) {
	wire := AppendHeader(nil, Header{Fin: true, Opcode: OpBinary, Masked: true, Key: rfcKey, Length: 0})
	br := bufio.NewReader(&repeatReader{data: wire})
	rules := Rules{Role: RoleServer, MaxLength: 1 << 20}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ReadHeader(br, rules); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCheck(b *testing.B) {
	rules := Rules{Role: RoleServer, AllowedRSV: RSV1, MaxLength: 1 << 20}
	good := Header{Fin: true, Opcode: OpText, RSV: RSV1, Masked: true, Length: 1000}
	bad := Header{Fin: true, Opcode: OpText, Masked: true, Length: 1 << 21}
	b.Run("ok", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if rules.Check(good) != nil {
				b.Fatal("rejected")
			}
		}
	})
	b.Run("error", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if rules.Check(bad) == nil {
				b.Fatal("accepted")
			}
		}
	})
}
