package frameio

import (
	"bufio"
	"io"
	"testing"

	"github.com/twoway/websocket/frame"
)

// endless returns copies of data for ever.
type endless struct {
	data []byte
	off  int
}

func (e *endless) Read(p []byte) (int, error) {
	for n := 0; n < len(p); {
		c := copy(p[n:], e.data[e.off:])
		n += c
		e.off = (e.off + c) % len(e.data)
	}
	return len(p), nil
}

func BenchmarkReaderText(b *testing.B) {
	payload := []byte(string(make([]byte, 0)) + "Hello, WebSocket! κόσμε €€€ ")
	for len(payload) < 4096 {
		payload = append(payload, payload...)
	}
	wire := encodeFrame(frame.Header{Fin: true, Opcode: frame.OpText, Masked: true, Key: rfcKey}, string(payload))
	r := NewReader(bufio.NewReaderSize(&endless{data: wire}, 64<<10), frame.Rules{Role: frame.RoleServer})
	buf := make([]byte, 8192)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.NextFrame(); err != nil {
			b.Fatal(err)
		}
		for {
			_, err := r.Read(buf)
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkWriterClient(b *testing.B) {
	w := &Writer{W: io.Discard, Role: frame.RoleClient, FrameSize: 4096}
	msg := make([]byte, 16<<10)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if err := w.WriteMessage(frame.OpBinary, msg); err != nil {
			b.Fatal(err)
		}
	}
}
