package frame

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/twoway/websocket/mask"
)

// rfcExample is one frame of the examples in RFC 6455 §5.7.
type rfcExample struct {
	name    string
	wire    []byte // the frame as printed in the RFC
	header  Header
	payload []byte // unmasked
}

var rfcKey = [4]byte{0x37, 0xfa, 0x21, 0x3d}

func rfcExamples() []rfcExample {
	hello := []byte("Hello")
	bin256 := bytes.Repeat([]byte{0xAB}, 256)
	bin64k := bytes.Repeat([]byte{0xCD}, 65536)
	return []rfcExample{
		{
			name:    "unmasked text",
			wire:    []byte{0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f},
			header:  Header{Fin: true, Opcode: OpText, Length: 5},
			payload: hello,
		},
		{
			name:    "masked text",
			wire:    []byte{0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58},
			header:  Header{Fin: true, Opcode: OpText, Masked: true, Key: rfcKey, Length: 5},
			payload: hello,
		},
		{
			name:    "fragment 1",
			wire:    []byte{0x01, 0x03, 0x48, 0x65, 0x6c},
			header:  Header{Opcode: OpText, Length: 3},
			payload: []byte("Hel"),
		},
		{
			name:    "fragment 2",
			wire:    []byte{0x80, 0x02, 0x6c, 0x6f},
			header:  Header{Fin: true, Opcode: OpContinuation, Length: 2},
			payload: []byte("lo"),
		},
		{
			name:    "unmasked ping",
			wire:    []byte{0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f},
			header:  Header{Fin: true, Opcode: OpPing, Length: 5},
			payload: hello,
		},
		{
			name:    "masked pong",
			wire:    []byte{0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58},
			header:  Header{Fin: true, Opcode: OpPong, Masked: true, Key: rfcKey, Length: 5},
			payload: hello,
		},
		{
			name:    "256 bytes binary",
			wire:    append([]byte{0x82, 0x7E, 0x01, 0x00}, bin256...),
			header:  Header{Fin: true, Opcode: OpBinary, Length: 256},
			payload: bin256,
		},
		{
			name:    "64KiB binary",
			wire:    append([]byte{0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0}, bin64k...),
			header:  Header{Fin: true, Opcode: OpBinary, Length: 65536},
			payload: bin64k,
		},
	}
}

func TestRFCExamplesEncode(t *testing.T) {
	for _, tt := range rfcExamples() {
		t.Run(tt.name, func(t *testing.T) {
			if got, want := tt.header.Size(), len(tt.wire)-len(tt.payload); got != want {
				t.Errorf("Size() = %d, want %d", got, want)
			}
			got := AppendHeader(nil, tt.header)
			start := len(got)
			got = append(got, tt.payload...)
			if tt.header.Masked {
				mask.Apply(got[start:], tt.header.Key, 0)
			}
			if !bytes.Equal(got, tt.wire) {
				t.Errorf("AppendHeader+payload = % x\nwant % x", head(got), head(tt.wire))
			}
		})
	}
}

func TestRFCExamplesParse(t *testing.T) {
	for _, tt := range rfcExamples() {
		t.Run(tt.name, func(t *testing.T) {
			h, n, err := ParseHeader(tt.wire)
			if err != nil {
				t.Fatalf("ParseHeader: %v", err)
			}
			if diff := cmp.Diff(tt.header, h); diff != "" {
				t.Errorf("header mismatch (-want +got):\n%s", diff)
			}
			if want := len(tt.wire) - len(tt.payload); n != want {
				t.Errorf("n = %d, want %d", n, want)
			}
			if got := HeaderSize(tt.wire[1]); got != n {
				t.Errorf("HeaderSize = %d, want %d", got, n)
			}
			p := bytes.Clone(tt.wire[n:])
			if h.Masked {
				mask.Apply(p, h.Key, 0)
			}
			if !bytes.Equal(p, tt.payload) {
				t.Errorf("payload = %q, want %q", head(p), head(tt.payload))
			}
		})
	}
}

// head shortens b for error messages.
func head(b []byte) []byte {
	if len(b) > 32 {
		return b[:32]
	}
	return b
}

func TestAppendHeaderLengthEncoding(t *testing.T) {
	tests := []struct {
		length int64
		want   []byte // the two bytes and extended length
	}{
		{0, []byte{0x82, 0}},
		{125, []byte{0x82, 125}},
		{126, []byte{0x82, 126, 0, 126}},
		{0xFFFF, []byte{0x82, 126, 0xFF, 0xFF}},
		{0x10000, []byte{0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0}},
		{1<<63 - 1, []byte{0x82, 127, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}},
	}
	for _, tt := range tests {
		h := Header{Fin: true, Opcode: OpBinary, Length: tt.length}
		got := AppendHeader(nil, h)
		if !bytes.Equal(got, tt.want) {
			t.Errorf("length %d: got % x, want % x", tt.length, got, tt.want)
		}
		if h.Size() != len(tt.want) {
			t.Errorf("length %d: Size() = %d, want %d", tt.length, h.Size(), len(tt.want))
		}
	}
}

func TestAppendHeaderBits(t *testing.T) {
	h := Header{
		RSV:    RSV1 | RSV3 | 0x8F, // bits outside RSV are dropped
		Opcode: 0xF3,               // bits outside the opcode are dropped
		Masked: true,
		Key:    [4]byte{1, 2, 3, 4},
		Length: 1,
	}
	want := []byte{0x53, 0x81, 1, 2, 3, 4}
	if got := AppendHeader([]byte{}, h); !bytes.Equal(got, want) {
		t.Errorf("got % x, want % x", got, want)
	}
}

func TestAppendHeaderNegativeLengthPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic for a negative length")
		}
	}()
	AppendHeader(nil, Header{Length: -1})
}

func TestAppendHeaderNoAlloc(t *testing.T) {
	buf := make([]byte, 0, MaxHeaderSize)
	h := Header{Fin: true, Opcode: OpBinary, Masked: true, Key: rfcKey, Length: 1 << 40}
	allocs := testing.AllocsPerRun(100, func() {
		buf = AppendHeader(buf[:0], h)
	})
	if allocs != 0 {
		t.Errorf("AppendHeader allocates %v times", allocs)
	}
	if len(buf) != MaxHeaderSize {
		t.Errorf("longest header is %d bytes, want MaxHeaderSize = %d", len(buf), MaxHeaderSize)
	}
}

// plainWriter hides the methods of the writer it wraps.
type plainWriter struct{ w io.Writer }

func (p plainWriter) Write(b []byte) (int, error) { return p.w.Write(b) }

func TestWriteHeader(t *testing.T) {
	h := Header{Fin: true, Opcode: OpText, Masked: true, Key: rfcKey, Length: 300}
	want := AppendHeader(nil, h)

	var buf bytes.Buffer
	var out bytes.Buffer
	bw := bufio.NewWriter(&out)
	tiny := bufio.NewWriterSize(&out, 16) // less room than MaxHeaderSize after a write
	writers := []struct {
		name  string
		w     io.Writer
		reset func()
		get   func() []byte
	}{
		{"bytes.Buffer", &buf, buf.Reset, buf.Bytes},
		{"bufio.Writer", bw, func() { out.Reset(); bw.Reset(&out) }, func() []byte { bw.Flush(); return out.Bytes() }},
		{"full bufio.Writer", tiny, func() { out.Reset(); tiny.Reset(&out); tiny.WriteString("0123456789") },
			func() []byte { tiny.Flush(); return out.Bytes()[10:] }},
		{"plain writer", plainWriter{&buf}, buf.Reset, buf.Bytes},
	}
	for _, tw := range writers {
		t.Run(tw.name, func(t *testing.T) {
			tw.reset()
			if err := WriteHeader(tw.w, h); err != nil {
				t.Fatal(err)
			}
			if got := tw.get(); !bytes.Equal(got, want) {
				t.Errorf("wrote % x, want % x", got, want)
			}
			allocs := testing.AllocsPerRun(100, func() {
				tw.reset()
				WriteHeader(tw.w, h)
			})
			if allocs != 0 {
				t.Errorf("WriteHeader allocates %v times", allocs)
			}
		})
	}
}

func TestWriteHeaderError(t *testing.T) {
	errWrite := errors.New("write failed")
	if err := WriteHeader(failWriter{errWrite}, Header{}); err != errWrite {
		t.Errorf("got %v, want %v", err, errWrite)
	}
}

type failWriter struct{ err error }

func (f failWriter) Write([]byte) (int, error) { return 0, f.err }

func TestParseHeaderShort(t *testing.T) {
	full := AppendHeader(nil, Header{Fin: true, Opcode: OpBinary, Masked: true, Key: rfcKey, Length: 70000})
	for i := range full {
		h, n, err := ParseHeader(full[:i])
		if err != ErrShortHeader || n != 0 || h != (Header{}) {
			t.Errorf("ParseHeader(%d of %d bytes) = %+v, %d, %v; want zero, 0, ErrShortHeader", i, len(full), h, n, err)
		}
	}
	if _, n, err := ParseHeader(append(full, 0xEE)); err != nil || n != len(full) {
		t.Errorf("ParseHeader(full header + 1) = %d, %v; want %d, nil", n, err, len(full))
	}
}

func TestParseHeaderLengthOverflow(t *testing.T) {
	b := []byte{0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0}
	_, n, err := ParseHeader(b)
	if err != ErrLengthOverflow || n != 0 {
		t.Errorf("got n=%d err=%v, want 0, ErrLengthOverflow", n, err)
	}
	var pe *ProtocolError
	if !errors.As(err, &pe) || pe.Code != CloseProtocolError {
		t.Errorf("error %v is not a 1002 *ProtocolError", err)
	}
}

func TestParseHeaderNonMinimal(t *testing.T) {
	// RFC 6455 §5.2 binds senders to the minimal encoding; a receiver
	// may accept others.
	tests := []struct {
		wire []byte
		want int64
	}{
		{[]byte{0x82, 126, 0, 5}, 5},
		{[]byte{0x82, 127, 0, 0, 0, 0, 0, 0, 0, 5}, 5},
		{[]byte{0x82, 127, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF}, 0xFFFF},
	}
	for _, tt := range tests {
		h, n, err := ParseHeader(tt.wire)
		if err != nil || n != len(tt.wire) || h.Length != tt.want {
			t.Errorf("ParseHeader(% x) = length %d, n %d, %v; want %d, %d, nil", tt.wire, h.Length, n, err, tt.want, len(tt.wire))
		}
	}
}

func TestOpcode(t *testing.T) {
	tests := []struct {
		op       Opcode
		control  bool
		reserved bool
		name     string
	}{
		{OpContinuation, false, false, "continuation"},
		{OpText, false, false, "text"},
		{OpBinary, false, false, "binary"},
		{0x3, false, true, "opcode(0x3)"},
		{0x7, false, true, "opcode(0x7)"},
		{OpClose, true, false, "close"},
		{OpPing, true, false, "ping"},
		{OpPong, true, false, "pong"},
		{0xB, true, true, "opcode(0xb)"},
		{0xF, true, true, "opcode(0xf)"},
	}
	for _, tt := range tests {
		if got := tt.op.IsControl(); got != tt.control {
			t.Errorf("%#x.IsControl() = %v, want %v", uint8(tt.op), got, tt.control)
		}
		if got := tt.op.IsReserved(); got != tt.reserved {
			t.Errorf("%#x.IsReserved() = %v, want %v", uint8(tt.op), got, tt.reserved)
		}
		if got := tt.op.String(); got != tt.name {
			t.Errorf("%#x.String() = %q, want %q", uint8(tt.op), got, tt.name)
		}
	}
}

func TestRoleString(t *testing.T) {
	got := []string{Role(0).String(), RoleServer.String(), RoleClient.String(), Role(17).String()}
	want := []string{"role(0)", "server", "client", "role(17)"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestProtocolErrorReasons(t *testing.T) {
	for _, err := range []*ProtocolError{
		ErrReservedOpcode, ErrReservedBits, ErrLengthOverflow, ErrFragmentedControl,
		ErrControlTooLong, ErrUnmaskedFrame, ErrMaskedFrame, ErrFrameTooBig,
		ErrUnexpectedContinuation, ErrMessageInProgress, ErrInvalidUTF8,
		ErrCloseTooShort, ErrInvalidCloseCode, ErrInvalidCloseReason,
	} {
		// The reason must fit a Close frame after the code.
		if len(err.Reason) > 123 || !err.Code.ValidOnWire() {
			t.Errorf("%v: reason of %d bytes, code %d", err, len(err.Reason), err.Code)
		}
		if !strings.Contains(err.Error(), err.Reason) {
			t.Errorf("Error() = %q does not contain the reason", err.Error())
		}
	}
}
