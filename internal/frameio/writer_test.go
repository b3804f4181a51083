package frameio

import (
	"bufio"
	"bytes"
	"errors"
	"github.com/twoway/websocket/frame"
	"io"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/twoway/websocket/mask"
)

// rawFrame is a frame split out of a byte stream without any rules.
type rawFrame struct {
	h       frame.Header
	payload []byte // as on the wire, still masked
}

func splitFrames(t *testing.T, b []byte) []rawFrame {
	t.Helper()
	var frames []rawFrame
	for len(b) > 0 {
		h, n, err := frame.ParseHeader(b)
		if err != nil {
			t.Fatalf("ParseHeader: %v", err)
		}
		end := n + int(h.Length)
		if end > len(b) {
			t.Fatalf("frame of %d bytes in %d", end, len(b))
		}
		frames = append(frames, rawFrame{h, b[n:end]})
		b = b[end:]
	}
	return frames
}

func TestWriterServerMatchesRFC(t *testing.T) {
	// RFC 6455 §5.7: "Hello" as two unmasked fragments.
	var buf bytes.Buffer
	w := &Writer{W: &buf, Role: frame.RoleServer, FrameSize: 3}
	if err := w.WriteMessage(frame.OpText, []byte("Hello")); err != nil {
		t.Fatal(err)
	}
	want := []byte{0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("wrote % x, want % x", buf.Bytes(), want)
	}
}

func TestWriterFragmentation(t *testing.T) {
	msg := []byte("0123456789abcdefghij") // 20 bytes
	tests := []struct {
		frameSize int
		sizes     []int
	}{
		{0, []int{20}},
		{-1, []int{20}},
		{20, []int{20}},
		{100, []int{20}},
		{7, []int{7, 7, 6}},
		{5, []int{5, 5, 5, 5}},
		{1, []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
	}
	for _, role := range []frame.Role{frame.RoleServer, frame.RoleClient} {
		for _, tt := range tests {
			var buf bytes.Buffer
			w := &Writer{W: &buf, Role: role, FrameSize: tt.frameSize}
			orig := bytes.Clone(msg)
			if err := w.WriteMessage(frame.OpBinary, msg); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(msg, orig) {
				t.Fatalf("WriteMessage modified the caller's payload")
			}
			var sizes []int
			var got []byte
			for i, f := range splitFrames(t, buf.Bytes()) {
				wantOp := frame.OpContinuation
				if i == 0 {
					wantOp = frame.OpBinary
				}
				last := i == len(tt.sizes)-1
				if f.h.Opcode != wantOp || f.h.Fin != last || f.h.RSV != 0 {
					t.Errorf("%v, FrameSize %d, frame %d: header %+v", role, tt.frameSize, i, f.h)
				}
				if f.h.Masked != (role == frame.RoleClient) {
					t.Errorf("%v: frame %d Masked = %v", role, i, f.h.Masked)
				}
				p := bytes.Clone(f.payload)
				if f.h.Masked {
					mask.Apply(p, f.h.Key, 0)
				}
				got = append(got, p...)
				sizes = append(sizes, len(p))
			}
			if diff := cmp.Diff(tt.sizes, sizes); diff != "" {
				t.Errorf("%v, FrameSize %d: frame sizes (-want +got):\n%s", role, tt.frameSize, diff)
			}
			if !bytes.Equal(got, msg) {
				t.Errorf("%v, FrameSize %d: unmasked payload %q, want %q", role, tt.frameSize, got, msg)
			}
		}
	}
}

func TestWriterEmptyMessage(t *testing.T) {
	var buf bytes.Buffer
	w := &Writer{W: &buf, Role: frame.RoleClient, FrameSize: 4}
	if err := w.WriteMessage(frame.OpText, nil); err != nil {
		t.Fatal(err)
	}
	frames := splitFrames(t, buf.Bytes())
	if len(frames) != 1 || !frames[0].h.Fin || frames[0].h.Opcode != frame.OpText || frames[0].h.Length != 0 || !frames[0].h.Masked {
		t.Errorf("frames = %+v, want one empty masked final text frame", frames)
	}
}

func TestWriterFreshKeys(t *testing.T) {
	var buf bytes.Buffer
	w := &Writer{W: &buf, Role: frame.RoleClient, FrameSize: 1}
	if err := w.WriteMessage(frame.OpBinary, []byte("abcdefgh")); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteControl(frame.OpPing, []byte("p")); err != nil {
		t.Fatal(err)
	}
	frames := splitFrames(t, buf.Bytes())
	// Nine random 32-bit keys repeat with probability below 1e-8.
	seen := map[[4]byte]int{}
	for i, f := range frames {
		if !f.h.Masked {
			t.Fatalf("frame %d not masked", i)
		}
		if j, ok := seen[f.h.Key]; ok {
			t.Errorf("frames %d and %d share the key % x", j, i, f.h.Key)
		}
		seen[f.h.Key] = i
	}
}

// TestWriterLargeMasked writes a frame larger than the internal buffer
// and reads it back with a Reader.
func TestWriterLargeMasked(t *testing.T) {
	msg := make([]byte, 3*maxWriteChunk+123)
	for i := range msg {
		msg[i] = byte(i * 7)
	}
	orig := bytes.Clone(msg)
	var buf bytes.Buffer
	w := &Writer{W: &buf, Role: frame.RoleClient}
	if err := w.WriteMessage(frame.OpBinary, msg); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(msg, orig) {
		t.Fatal("WriteMessage modified the caller's payload")
	}
	r := NewReader(bufio.NewReader(&buf), frame.Rules{Role: frame.RoleServer})
	h, err := r.NextFrame()
	if err != nil {
		t.Fatal(err)
	}
	if !h.Fin || h.Length != int64(len(msg)) {
		t.Errorf("header %+v", h)
	}
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Error("payload differs after masking and unmasking")
	}
}

// TestWriterReaderRoundTrip sends messages in both directions.
func TestWriterReaderRoundTrip(t *testing.T) {
	big := bytes.Repeat([]byte("wxyz€"), 1000)
	for _, role := range []frame.Role{frame.RoleClient, frame.RoleServer} {
		var buf bytes.Buffer
		w := &Writer{W: &buf, Role: role, FrameSize: 1000}
		must(t, w.WriteMessage(frame.OpText, []byte("hello")))
		must(t, w.WriteControl(frame.OpPing, []byte("are you there")))
		must(t, w.WriteMessage(frame.OpText, big)) // characters split at frame edges
		must(t, w.WriteMessage(frame.OpBinary, []byte{0, 1, 2}))
		must(t, w.WriteControl(frame.OpClose, frame.AppendClosePayload(nil, frame.CloseNormal, "done")))

		recv := frame.RoleServer
		if role == frame.RoleServer {
			recv = frame.RoleClient
		}
		r := NewReader(bufio.NewReader(&buf), frame.Rules{Role: recv})
		recs, err := drain(t, r)
		if err != nil {
			t.Fatalf("%v: %v", role, err)
		}
		var msgs []string
		var cur []byte
		for _, rec := range recs {
			cur = append(cur, rec.Payload...)
			if rec.Final {
				msgs = append(msgs, rec.MsgOp.String()+":"+string(cur))
				cur = nil
			}
		}
		want := []string{"text:hello", "ping:are you there", "text:" + string(big), "binary:\x00\x01\x02", "close:\x03\xe8done"}
		if diff := cmp.Diff(want, msgs); diff != "" {
			t.Errorf("%v (-want +got):\n%s", role, diff)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestWriterErrors(t *testing.T) {
	w := &Writer{W: io.Discard, Role: frame.RoleClient}
	for _, op := range []frame.Opcode{frame.OpContinuation, frame.OpClose, frame.OpPing, frame.OpPong, 0x3, 0xB} {
		if err := w.WriteMessage(op, nil); !errors.Is(err, ErrWriteOpcode) {
			t.Errorf("WriteMessage(%v) = %v, want ErrWriteOpcode", op, err)
		}
	}
	for _, op := range []frame.Opcode{frame.OpContinuation, frame.OpText, frame.OpBinary, 0x3, 0xB} {
		if err := w.WriteControl(op, nil); !errors.Is(err, ErrWriteOpcode) {
			t.Errorf("WriteControl(%v) = %v, want ErrWriteOpcode", op, err)
		}
	}
	if err := w.WriteControl(frame.OpPing, make([]byte, 126)); err != ErrControlPayload {
		t.Errorf("WriteControl with 126 bytes = %v, want ErrControlPayload", err)
	}
	if err := w.WriteControl(frame.OpPing, make([]byte, 125)); err != nil {
		t.Errorf("WriteControl with 125 bytes = %v", err)
	}
	errWrite := errors.New("broken pipe")
	for _, role := range []frame.Role{frame.RoleClient, frame.RoleServer} {
		for _, size := range []int{10, copyLimit + 1} {
			w := &Writer{W: brokenWriter{errWrite}, Role: role}
			if err := w.WriteMessage(frame.OpBinary, make([]byte, size)); err != errWrite {
				t.Errorf("%v, %d bytes: got %v, want %v", role, size, err, errWrite)
			}
		}
	}
}

// TestWriterNoAlloc checks that steady-state writes do not allocate.
func TestWriterNoAlloc(t *testing.T) {
	msg := make([]byte, 5000)
	for _, role := range []frame.Role{frame.RoleClient, frame.RoleServer} {
		w := &Writer{W: io.Discard, Role: role, FrameSize: 1024}
		w.WriteMessage(frame.OpBinary, msg) // grow the buffer
		allocs := testing.AllocsPerRun(50, func() {
			w.WriteMessage(frame.OpBinary, msg)
			w.WriteControl(frame.OpPing, msg[:10])
		})
		if allocs != 0 {
			t.Errorf("%v: %v allocations per message", role, allocs)
		}
	}
}

// brokenWriter fails every Write with err.
type brokenWriter struct{ err error }

func (b brokenWriter) Write([]byte) (int, error) { return 0, b.err }
