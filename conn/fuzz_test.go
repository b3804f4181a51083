package conn

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twoway/websocket/frame"
	"github.com/twoway/websocket/handshake"
)

// scriptConn is a net.Conn that reads a fixed input and swallows writes,
// so a Conn can be driven by arbitrary bytes without a network.
type scriptConn struct {
	r       *bytes.Reader
	written int
	closed  bool
}

func (s *scriptConn) Read(p []byte) (int, error) {
	if s.closed {
		return 0, net.ErrClosed
	}
	return s.r.Read(p)
}
func (s *scriptConn) Write(p []byte) (int, error) {
	if s.closed {
		return 0, net.ErrClosed
	}
	s.written += len(p)
	return len(p), nil
}
func (s *scriptConn) Close() error                     { s.closed = true; return nil }
func (s *scriptConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (s *scriptConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (s *scriptConn) SetDeadline(time.Time) error      { return nil }
func (s *scriptConn) SetReadDeadline(time.Time) error  { return nil }
func (s *scriptConn) SetWriteDeadline(time.Time) error { return nil }

// FuzzRead feeds arbitrary bytes to a Conn in either role, with and
// without compression: reading must end in a message stream or an error,
// never a panic or a hang, and never yield more bytes than arrived unless
// the message was compressed.
func FuzzRead(f *testing.F) {
	masked := func(b0 byte, payload string) []byte {
		out := []byte{b0, 0x80 | byte(len(payload)), 1, 2, 3, 4}
		for i := range len(payload) {
			out = append(out, payload[i]^byte(i%4+1))
		}
		return out
	}
	f.Add(masked(0x81, "hello"), false, false)
	f.Add(append(masked(0x01, "hel"), masked(0x80, "lo")...), false, false)
	f.Add(append(masked(0x89, "ping"), masked(0x88, "\x03\xe8bye")...), false, false)
	f.Add([]byte{0x81, 0x05, 'h', 'e', 'l', 'l', 'o'}, true, false)
	f.Add([]byte{0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}, true, true)
	f.Add([]byte{0x82, 0x7f, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, true, false)
	f.Fuzz(func(t *testing.T, input []byte, client, deflate bool) {
		sc := &scriptConn{r: bytes.NewReader(input)}
		c := newConn(sc, nil, client, "", newSettings(1<<16, 0, 0, 0, 0, 50*time.Millisecond))
		if deflate {
			agreed := []handshake.Extension{{Name: deflateName}}
			if err := c.setupCompression(agreed, &CompressionOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		ctx := context.Background()
		total := 0
		for range 1000 {
			_, msg, err := c.Read(ctx)
			if err != nil {
				var pe *frame.ProtocolError
				var ce *CloseError
				if !errors.As(err, &pe) && !errors.As(err, &ce) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, ErrClosed) {
					t.Fatalf("unexpected error type %T: %v", err, err)
				}
				break
			}
			total += len(msg)
		}
		if !deflate && total > len(input) {
			t.Fatalf("read %d message bytes from %d input bytes", total, len(input))
		}
	})
}
