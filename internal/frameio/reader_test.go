package frameio

import (
	"bufio"
	"bytes"
	"errors"
	"github.com/twoway/websocket/frame"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/twoway/websocket/mask"
)

// encodeFrame returns the encoded frame with header h and payload p, masked with
// h.Key when h.Masked. Length is set from p.
func encodeFrame(h frame.Header, p string) []byte {
	h.Length = int64(len(p))
	b := frame.AppendHeader(nil, h)
	start := len(b)
	b = append(b, p...)
	if h.Masked {
		mask.Apply(b[start:], h.Key, 0)
	}
	return b
}

// rfcKey is the masking key of the examples in RFC 6455 §5.7.
var rfcKey = [4]byte{0x37, 0xfa, 0x21, 0x3d}

// rfcFrame is one frame of the examples in RFC 6455 §5.7, as printed
// there, with what a Reader must make of it.
type rfcFrame struct {
	wire    []byte
	op      frame.Opcode
	payload string // unmasked
}

func rfcFrames() []rfcFrame {
	return []rfcFrame{
		{[]byte{0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}, frame.OpText, "Hello"},
		{[]byte{0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}, frame.OpText, "Hello"},
		{[]byte{0x01, 0x03, 0x48, 0x65, 0x6c}, frame.OpText, "Hel"},
		{[]byte{0x80, 0x02, 0x6c, 0x6f}, frame.OpContinuation, "lo"},
		{[]byte{0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}, frame.OpPing, "Hello"},
		{[]byte{0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}, frame.OpPong, "Hello"},
		{append([]byte{0x82, 0x7E, 0x01, 0x00}, bytes.Repeat([]byte{0xAB}, 256)...), frame.OpBinary, strings.Repeat("\xAB", 256)},
	}
}

// TestRFCExamplesReader reads the examples of RFC 6455 §5.7 as one stream.
func TestRFCExamplesReader(t *testing.T) {
	var stream []byte
	for _, f := range rfcFrames() {
		stream = append(stream, f.wire...)
	}
	// The examples mix both directions, so no Role.
	r := NewReader(bufio.NewReader(bytes.NewReader(stream)), frame.Rules{})
	for i, f := range rfcFrames() {
		h, err := r.NextFrame()
		if err != nil {
			t.Fatalf("frame %d: NextFrame: %v", i, err)
		}
		p, err := io.ReadAll(r)
		if err != nil {
			t.Fatalf("frame %d: reading payload: %v", i, err)
		}
		if h.Opcode != f.op || string(p) != f.payload {
			t.Errorf("frame %d: %v %q, want %v %q", i, h.Opcode, p, f.op, f.payload)
		}
	}
	if _, err := r.NextFrame(); err != io.EOF {
		t.Errorf("NextFrame at end = %v, want io.EOF", err)
	}
}

// Masked frames as a client sends them, for readers with RoleServer.
func textFrame(fin bool, p string) []byte {
	return encodeFrame(frame.Header{Fin: fin, Opcode: frame.OpText, Masked: true, Key: rfcKey}, p)
}
func binFrame(fin bool, p string) []byte {
	return encodeFrame(frame.Header{Fin: fin, Opcode: frame.OpBinary, Masked: true, Key: [4]byte{1, 2, 3, 4}}, p)
}
func contFrame(fin bool, p string) []byte {
	return encodeFrame(frame.Header{Fin: fin, Opcode: frame.OpContinuation, Masked: true, Key: [4]byte{0xA5, 0x5A, 0xFF, 0x00}}, p)
}
func ctrlFrame(op frame.Opcode, p string) []byte {
	return encodeFrame(frame.Header{Fin: true, Opcode: op, Masked: true, Key: [4]byte{7, 7, 7, 7}}, p)
}
func closeFrame(code frame.CloseCode, reason string) []byte {
	return ctrlFrame(frame.OpClose, string(frame.AppendClosePayload(nil, code, reason)))
}

func join(frames ...[]byte) []byte { return bytes.Join(frames, nil) }

// record is what a test sees of one frame.
type record struct {
	Op      frame.Opcode // frame opcode
	MsgOp   frame.Opcode
	Final   bool
	Payload string
}

// drain reads frames until an error and returns them with that error
// (nil for io.EOF). It checks that no frame yields more payload than its
// header declares.
func drain(t testing.TB, r *Reader) ([]record, error) {
	var recs []record
	for {
		h, err := r.NextFrame()
		if err == io.EOF {
			return recs, nil
		}
		if err != nil {
			return recs, err
		}
		p, err := io.ReadAll(r)
		if int64(len(p)) > h.Length {
			t.Fatalf("read %d payload bytes from a frame of %d", len(p), h.Length)
		}
		recs = append(recs, record{h.Opcode, r.MessageOpcode(), r.Final(), string(p)})
		if err != nil {
			return recs, err
		}
		if int64(len(p)) != h.Length {
			t.Fatalf("read %d payload bytes from a frame of %d without error", len(p), h.Length)
		}
	}
}

func TestReaderMessages(t *testing.T) {
	stream := join(
		textFrame(false, "Hel"),
		ctrlFrame(frame.OpPing, "ping!"),
		contFrame(false, "lo, "),
		contFrame(false, ""),
		ctrlFrame(frame.OpPong, ""),
		contFrame(true, "wörld"),
		binFrame(true, "\xff\x00\xfe"),
		textFrame(true, ""),
		binFrame(false, "ab"),
		contFrame(true, "cd"),
		closeFrame(frame.CloseGoingAway, "bye"),
		textFrame(true, "never read"),
	)
	for _, src := range []struct {
		name string
		r    io.Reader
	}{
		{"whole", bytes.NewReader(stream)},
		{"byte by byte", iotest.OneByteReader(bytes.NewReader(stream))},
		{"half", iotest.HalfReader(bytes.NewReader(stream))},
	} {
		t.Run(src.name, func(t *testing.T) {
			r := NewReader(bufio.NewReader(src.r), frame.Rules{Role: frame.RoleServer})
			got, err := drain(t, r)
			if err != nil {
				t.Fatal(err)
			}
			want := []record{
				{frame.OpText, frame.OpText, false, "Hel"},
				{frame.OpPing, frame.OpPing, true, "ping!"},
				{frame.OpContinuation, frame.OpText, false, "lo, "},
				{frame.OpContinuation, frame.OpText, false, ""},
				{frame.OpPong, frame.OpPong, true, ""},
				{frame.OpContinuation, frame.OpText, true, "wörld"},
				{frame.OpBinary, frame.OpBinary, true, "\xff\x00\xfe"},
				{frame.OpText, frame.OpText, true, ""},
				{frame.OpBinary, frame.OpBinary, false, "ab"},
				{frame.OpContinuation, frame.OpBinary, true, "cd"},
				{frame.OpClose, frame.OpClose, true, "\x03\xe9bye"},
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			code, reason := r.CloseStatus()
			if code != frame.CloseGoingAway || reason != "bye" {
				t.Errorf("CloseStatus() = %d, %q; want 1001, \"bye\"", code, reason)
			}
			if _, err := r.NextFrame(); err != io.EOF {
				t.Errorf("NextFrame after Close = %v, want io.EOF", err)
			}
		})
	}
}

func TestReaderEmptyClose(t *testing.T) {
	r := NewReader(bufio.NewReader(bytes.NewReader(ctrlFrame(frame.OpClose, ""))), frame.Rules{Role: frame.RoleServer})
	if code, _ := r.CloseStatus(); code != 0 {
		t.Errorf("CloseStatus before Close = %d, want 0", code)
	}
	if _, err := r.NextFrame(); err != nil {
		t.Fatal(err)
	}
	if code, reason := r.CloseStatus(); code != frame.CloseNoStatus || reason != "" {
		t.Errorf("CloseStatus() = %d, %q; want 1005, \"\"", code, reason)
	}
}

// TestReaderSkip calls NextFrame without reading payloads.
func TestReaderSkip(t *testing.T) {
	big := string(bytes.Repeat([]byte("x"), 5000))
	tests := []struct {
		name   string
		stream []byte
		ops    []frame.Opcode // opcodes of the frames before err
		err    error
	}{
		{
			name:   "valid",
			stream: join(binFrame(false, big), contFrame(true, big), textFrame(false, big), ctrlFrame(frame.OpPing, "p"), contFrame(true, "€")),
			ops:    []frame.Opcode{frame.OpBinary, frame.OpContinuation, frame.OpText, frame.OpPing, frame.OpContinuation},
		},
		{
			// Skipped text is still validated.
			name:   "invalid text skipped",
			stream: join(textFrame(false, big+"\xc0\xaf"), contFrame(true, "ok")),
			ops:    []frame.Opcode{frame.OpText},
			err:    frame.ErrInvalidUTF8,
		},
		{
			// The validator stays in step across skipped fragments.
			name:   "character split over skipped fragments",
			stream: join(textFrame(false, "a\xe2"), contFrame(false, "\x82"), contFrame(true, "\xac")),
			ops:    []frame.Opcode{frame.OpText, frame.OpContinuation, frame.OpContinuation},
		},
		{
			name:   "truncated payload",
			stream: binFrame(true, big)[:100],
			ops:    []frame.Opcode{frame.OpBinary},
			err:    io.ErrUnexpectedEOF,
		},
		{
			name:   "truncated text payload",
			stream: textFrame(true, big)[:100],
			ops:    []frame.Opcode{frame.OpText},
			err:    io.ErrUnexpectedEOF,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(bufio.NewReader(bytes.NewReader(tt.stream)), frame.Rules{Role: frame.RoleServer})
			var ops []frame.Opcode
			var err error
			for {
				var h frame.Header
				h, err = r.NextFrame()
				if err != nil {
					break
				}
				ops = append(ops, h.Opcode)
			}
			if err == io.EOF {
				err = nil
			}
			if diff := cmp.Diff(tt.ops, ops); diff != "" {
				t.Errorf("frames (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.err, err, cmpopts.EquateErrors()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReaderErrors(t *testing.T) {
	server := frame.Rules{Role: frame.RoleServer}
	tests := []struct {
		name   string
		rules  frame.Rules
		stream []byte
		frames int // frames read before the error
		err    error
	}{
		{"unmasked to server", server, encodeFrame(frame.Header{Fin: true, Opcode: frame.OpText}, "hi"), 0, frame.ErrUnmaskedFrame},
		{"masked to client", frame.Rules{Role: frame.RoleClient}, textFrame(true, "hi"), 0, frame.ErrMaskedFrame},
		{"reserved opcode", server, join(textFrame(true, "a"), encodeFrame(frame.Header{Fin: true, Opcode: 0x5, Masked: true}, "")), 1, frame.ErrReservedOpcode},
		{"reserved bits", server, encodeFrame(frame.Header{Fin: true, Opcode: frame.OpText, RSV: frame.RSV2, Masked: true}, ""), 0, frame.ErrReservedBits},
		{"fragmented ping", server, encodeFrame(frame.Header{Opcode: frame.OpPing, Masked: true}, ""), 0, frame.ErrFragmentedControl},
		{"long ping", server, ctrlFrame(frame.OpPing, string(make([]byte, 126))), 0, frame.ErrControlTooLong},
		{"too big", frame.Rules{Role: frame.RoleServer, MaxLength: 4}, join(binFrame(true, "1234"), binFrame(true, "12345")), 1, frame.ErrFrameTooBig},
		{"continuation first", server, contFrame(true, "x"), 0, frame.ErrUnexpectedContinuation},
		{"interleaved", server, join(textFrame(false, "a"), binFrame(true, "b")), 1, frame.ErrMessageInProgress},
		{"close 1 byte", server, ctrlFrame(frame.OpClose, "\x03"), 0, frame.ErrCloseTooShort},
		{"close code 1005", server, ctrlFrame(frame.OpClose, "\x03\xed"), 0, frame.ErrInvalidCloseCode},
		{"close code 1015", server, ctrlFrame(frame.OpClose, "\x03\xf7"), 0, frame.ErrInvalidCloseCode},
		{"close reason not utf-8", server, ctrlFrame(frame.OpClose, "\x03\xe8\xff"), 0, frame.ErrInvalidCloseReason},
		{"close in fragmented message", server, join(textFrame(false, "a"), closeFrame(frame.CloseNormal, "")), 2, nil},
		{"length overflow", server, []byte{0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}, 0, frame.ErrLengthOverflow},
		{"invalid text", server, textFrame(true, "abc\xffdef"), 1, frame.ErrInvalidUTF8},
		{"text ends in a character", server, join(textFrame(false, "abc"), contFrame(true, "\xe2\x82")), 2, frame.ErrInvalidUTF8},
		{"text ends in a character, empty last frame", server, join(textFrame(false, "abc\xe2\x82"), contFrame(true, "")), 1, frame.ErrInvalidUTF8},
		{"character split over frames", server, join(textFrame(false, "abc\xe2"), ctrlFrame(frame.OpPing, ""), contFrame(true, "\x82\xac")), 3, nil},
		{"invalid across frames", server, join(textFrame(false, "abc\xe2"), contFrame(true, "A")), 2, frame.ErrInvalidUTF8},
		{"utf-8 state reset per message", server, join(textFrame(true, "ok"), binFrame(true, "\xe2"), textFrame(true, "A")), 3, nil},
		{"eof in header", server, textFrame(true, "abc")[:3], 0, io.ErrUnexpectedEOF},
		{"eof in control payload", server, ctrlFrame(frame.OpPing, "abc")[:7], 0, io.ErrUnexpectedEOF},
		{"eof in payload", server, textFrame(true, "abc")[:7], 1, io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(bufio.NewReader(bytes.NewReader(tt.stream)), tt.rules)
			recs, err := drain(t, r)
			if diff := cmp.Diff(tt.err, err, cmpopts.EquateErrors()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			if len(recs) != tt.frames {
				t.Errorf("read %d frames before the error, want %d: %+v", len(recs), tt.frames, recs)
			}
			if err == nil {
				return
			}
			// Errors are sticky.
			if _, err2 := r.NextFrame(); err2 != err {
				t.Errorf("NextFrame after error = %v, want %v", err2, err)
			}
			if _, err2 := r.Read(make([]byte, 10)); err2 != err {
				t.Errorf("Read after error = %v, want %v", err2, err)
			}
		})
	}
}

var errReadTooFar = errors.New("read past the invalid byte")

// stopReader serves data and then fails the test's expectations: a Reader
// that validates as it reads has no reason to ask for more.
type stopReader struct {
	r       io.Reader
	tooFar  bool
	oneByte bool
}

func (s *stopReader) Read(p []byte) (int, error) {
	if s.oneByte && len(p) > 1 {
		p = p[:1]
	}
	n, err := s.r.Read(p)
	if err == io.EOF {
		s.tooFar = true
		return n, errReadTooFar
	}
	return n, err
}

// TestReaderUTF8FailFast sends a text message in three fragments whose
// third has an invalid byte in its middle. The stream ends right after
// that byte, so a Reader that read further would see errReadTooFar.
func TestReaderUTF8FailFast(t *testing.T) {
	third := "ghi€jk\xffrest of the message"
	bad := bytes.IndexByte([]byte(third), 0xff)
	full := join(textFrame(false, "abc"), ctrlFrame(frame.OpPing, "p"), contFrame(false, "déf"), contFrame(true, third))
	// Cut the stream right after the invalid byte.
	stream := full[:len(full)-len(third)+bad+1]

	for _, oneByte := range []bool{false, true} {
		src := &stopReader{r: bytes.NewReader(stream), oneByte: oneByte}
		r := NewReader(bufio.NewReader(src), frame.Rules{Role: frame.RoleServer})
		recs, err := drain(t, r)
		if err != frame.ErrInvalidUTF8 {
			t.Errorf("oneByte=%v: error %v, want frame.ErrInvalidUTF8", oneByte, err)
		}
		if src.tooFar {
			t.Errorf("oneByte=%v: Reader read past the invalid byte", oneByte)
		}
		want := []record{
			{frame.OpText, frame.OpText, false, "abc"},
			{frame.OpPing, frame.OpPing, true, "p"},
			{frame.OpContinuation, frame.OpText, false, "déf"},
			{frame.OpContinuation, frame.OpText, true, third[:bad]}, // the valid prefix
		}
		if diff := cmp.Diff(want, recs); diff != "" {
			t.Errorf("oneByte=%v (-want +got):\n%s", oneByte, diff)
		}
	}
}

// TestReaderReadCount checks the count Read returns with ErrInvalidUTF8
// when the invalid byte is in the middle of one read.
func TestReaderReadCount(t *testing.T) {
	r := NewReader(bufio.NewReader(bytes.NewReader(textFrame(true, "0123\xfe56789"))), frame.Rules{Role: frame.RoleServer})
	if _, err := r.NextFrame(); err != nil {
		t.Fatal(err)
	}
	p := make([]byte, 100)
	n, err := r.Read(p)
	if n != 4 || err != frame.ErrInvalidUTF8 || string(p[:n]) != "0123" {
		t.Errorf("Read = %d %q, %v; want 4 \"0123\", frame.ErrInvalidUTF8", n, p[:n], err)
	}
}

func TestReaderReadBeforeFrame(t *testing.T) {
	r := NewReader(bufio.NewReader(bytes.NewReader(nil)), frame.Rules{})
	if n, err := r.Read(make([]byte, 4)); n != 0 || err != io.EOF {
		t.Errorf("Read before NextFrame = %d, %v; want 0, io.EOF", n, err)
	}
}

func TestReaderReadError(t *testing.T) {
	errConn := errors.New("connection reset")
	stream := binFrame(true, "0123456789")
	src := io.MultiReader(bytes.NewReader(stream[:9]), iotest.ErrReader(errConn))
	r := NewReader(bufio.NewReader(src), frame.Rules{Role: frame.RoleServer})
	if _, err := r.NextFrame(); err != nil {
		t.Fatal(err)
	}
	p, err := io.ReadAll(r)
	if err != errConn || string(p) != "012" {
		t.Errorf("ReadAll = %q, %v; want \"012\", %v", p, err, errConn)
	}
}

// TestReaderExtensionText checks that a text message whose first frame
// has an allowed RSV bit is not checked for UTF-8: an extension such as
// permessage-deflate has transformed it.
func TestReaderExtensionText(t *testing.T) {
	compressed := encodeFrame(frame.Header{Fin: false, RSV: frame.RSV1, Opcode: frame.OpText, Masked: true, Key: rfcKey}, "\xff\xfe")
	stream := join(compressed, contFrame(true, "\x00\xe2"), textFrame(true, "\xff"))
	r := NewReader(bufio.NewReader(bytes.NewReader(stream)), frame.Rules{Role: frame.RoleServer, AllowedRSV: frame.RSV1})
	recs, err := drain(t, r)
	want := []record{
		{frame.OpText, frame.OpText, false, "\xff\xfe"},
		{frame.OpContinuation, frame.OpText, true, "\x00\xe2"},
		{frame.OpText, frame.OpText, true, ""}, // a plain text message is checked again
	}
	if diff := cmp.Diff(want, recs); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if err != frame.ErrInvalidUTF8 {
		t.Errorf("error %v, want frame.ErrInvalidUTF8", err)
	}
}
