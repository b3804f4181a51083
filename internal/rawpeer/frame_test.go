package rawpeer

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func repeat(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }

// bytesEqual compares byte slices at once rather than element by element,
// which is slow for the large payloads here.
var bytesEqual = cmp.Comparer(func(a, b []byte) bool { return bytes.Equal(a, b) })

// shorten cuts long wire images for error messages.
func shorten(b []byte) []byte { return b[:min(len(b), 40)] }

// wireCases pair frames with their encoding, written out by hand; the
// first five are the examples of RFC 6455 §5.7.
var wireCases = []struct {
	name  string
	frame Frame
	wire  []byte
}{
	{
		name:  "unmasked text",
		frame: Frame{Fin: true, Opcode: OpText, Payload: []byte("Hello")},
		wire:  []byte{0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f},
	},
	{
		name:  "masked text",
		frame: Frame{Fin: true, Opcode: OpText, Masked: true, Key: [4]byte{0x37, 0xfa, 0x21, 0x3d}, Payload: []byte("Hello")},
		wire:  []byte{0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58},
	},
	{
		name:  "first fragment",
		frame: Frame{Opcode: OpText, Payload: []byte("Hel")},
		wire:  []byte{0x01, 0x03, 0x48, 0x65, 0x6c},
	},
	{
		name:  "last fragment",
		frame: Frame{Fin: true, Opcode: OpContinuation, Payload: []byte("lo")},
		wire:  []byte{0x80, 0x02, 0x6c, 0x6f},
	},
	{
		name:  "masked pong",
		frame: Frame{Fin: true, Opcode: OpPong, Masked: true, Key: [4]byte{0x37, 0xfa, 0x21, 0x3d}, Payload: []byte("Hello")},
		wire:  []byte{0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58},
	},
	{
		name:  "empty close",
		frame: Frame{Fin: true, Opcode: OpClose, Payload: []byte{}},
		wire:  []byte{0x88, 0x00},
	},
	{
		name:  "reserved bits and opcode",
		frame: Frame{Fin: true, RSV: 7, Opcode: 0xB, Payload: []byte{}},
		wire:  []byte{0xfb, 0x00},
	},
	{
		name:  "rsv1 only",
		frame: Frame{RSV: RSV1, Opcode: OpBinary, Payload: []byte{}},
		wire:  []byte{0x42, 0x00},
	},
	{
		name:  "125 bytes",
		frame: Frame{Fin: true, Opcode: OpBinary, Payload: repeat(0xfe, 125)},
		wire:  append([]byte{0x82, 125}, repeat(0xfe, 125)...),
	},
	{
		name:  "126 bytes",
		frame: Frame{Fin: true, Opcode: OpBinary, Payload: repeat(0xfe, 126)},
		wire:  append([]byte{0x82, 126, 0x00, 126}, repeat(0xfe, 126)...),
	},
	{
		name:  "65535 bytes",
		frame: Frame{Fin: true, Opcode: OpBinary, Payload: repeat('*', 65535)},
		wire:  append([]byte{0x82, 126, 0xff, 0xff}, repeat('*', 65535)...),
	},
	{
		name:  "65536 bytes",
		frame: Frame{Fin: true, Opcode: OpBinary, Payload: repeat('*', 65536)},
		wire:  append([]byte{0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0}, repeat('*', 65536)...),
	},
	{
		name:  "masked 126 bytes of zeros",
		frame: Frame{Fin: true, Opcode: OpBinary, Masked: true, Key: [4]byte{1, 2, 3, 4}, Payload: make([]byte, 126)},
		wire:  append([]byte{0x82, 0xfe, 0x00, 126, 1, 2, 3, 4}, bytes.Repeat([]byte{1, 2, 3, 4}, 32)[:126]...),
	},
}

func TestEncode(t *testing.T) {
	for _, tc := range wireCases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.frame.Encode(); !bytes.Equal(got, tc.wire) {
				t.Errorf("Encode = % x, want % x", shorten(got), shorten(tc.wire))
			}
		})
	}
}

func TestDecode(t *testing.T) {
	for _, tc := range wireCases {
		t.Run(tc.name, func(t *testing.T) {
			// Trailing bytes belong to the next frame and must be left.
			in := append(append([]byte{}, tc.wire...), 0x81, 0x00)
			f, n, err := Decode(in)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if n != len(tc.wire) {
				t.Errorf("Decode took %d bytes, want %d", n, len(tc.wire))
			}
			if diff := cmp.Diff(tc.frame, f, bytesEqual); diff != "" {
				t.Errorf("Decode (-want +got):\n%s", diff)
			}
			// Every strict prefix is incomplete.
			for i := range len(tc.wire) {
				if _, _, err := Decode(tc.wire[:i]); !errors.Is(err, ErrIncomplete) {
					t.Fatalf("Decode of %d of %d bytes: err %v, want ErrIncomplete", i, len(tc.wire), err)
				}
			}
		})
	}
}

func TestDecodeNonMinimalLength(t *testing.T) {
	// A 5-byte payload declared in the 64-bit form: legal to decode, even
	// if RFC 6455 §5.2 says the minimal form must be used.
	in := []byte{0x82, 127, 0, 0, 0, 0, 0, 0, 0, 5, 'a', 'b', 'c', 'd', 'e'}
	f, n, err := Decode(in)
	if err != nil || n != len(in) || string(f.Payload) != "abcde" {
		t.Fatalf("Decode = %v, %d, %v; want abcde, %d, nil", f, n, err, len(in))
	}
}

func TestAppendHeaderLies(t *testing.T) {
	f := Frame{Fin: true, Opcode: OpPing}
	got := f.AppendHeader(nil, 126)
	want := []byte{0x89, 126, 0, 126}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("AppendHeader (-want +got):\n%s", diff)
	}
}

func TestMask(t *testing.T) {
	key := [4]byte{0xde, 0xad, 0xbe, 0xef}
	for _, n := range []int{0, 1, 3, 4, 7, 8, 9, 15, 16, 17, 100} {
		for pos := range 5 {
			p := make([]byte, n)
			for i := range p {
				p[i] = byte(i * 7)
			}
			want := append([]byte{}, p...)
			for i := range want {
				want[i] ^= key[(pos+i)%4]
			}
			if end := Mask(p, key, pos); end != pos+n {
				t.Errorf("Mask(%d bytes, pos %d) returned %d, want %d", n, pos, end, pos+n)
			}
			if !bytes.Equal(p, want) {
				t.Errorf("Mask(%d bytes, pos %d) = %x, want %x", n, pos, p, want)
			}
		}
	}
}

func TestMaskInPieces(t *testing.T) {
	key := [4]byte{1, 2, 3, 4}
	whole := []byte(strings.Repeat("0123456789", 10))
	pieces := append([]byte{}, whole...)
	Mask(whole, key, 0)
	pos := 0
	for _, n := range []int{3, 1, 9, 20, 67} {
		pos = Mask(pieces[pos:pos+n], key, pos)
	}
	if !bytes.Equal(whole, pieces) {
		t.Errorf("masking in pieces differs from masking at once")
	}
}

func TestClosePayload(t *testing.T) {
	tests := []struct {
		code    uint16
		reason  string
		payload []byte
	}{
		{0, "", nil},
		{1000, "", []byte{0x03, 0xe8}},
		{1002, "bye", []byte{0x03, 0xea, 'b', 'y', 'e'}},
		{4999, "κ", []byte{0x13, 0x87, 0xce, 0xba}},
	}
	for _, tc := range tests {
		got := ClosePayload(tc.code, tc.reason)
		if diff := cmp.Diff(tc.payload, got); diff != "" {
			t.Errorf("ClosePayload(%d, %q) (-want +got):\n%s", tc.code, tc.reason, diff)
		}
		code, reason, err := ParseClose(got)
		if err != nil || code != tc.code || reason != tc.reason {
			t.Errorf("ParseClose(%x) = %d, %q, %v; want %d, %q, nil", got, code, reason, err, tc.code, tc.reason)
		}
	}
}

func TestParseCloseErrors(t *testing.T) {
	if _, _, err := ParseClose([]byte{0x03}); err == nil {
		t.Errorf("ParseClose of one byte: no error")
	}
	code, _, err := ParseClose([]byte{0x03, 0xe8, 0xed, 0xa0, 0x80})
	if err == nil || code != 1000 {
		t.Errorf("ParseClose of a reason that is not UTF-8 = %d, %v; want 1000 and an error", code, err)
	}
}

func TestFrameString(t *testing.T) {
	tests := []struct {
		f    Frame
		want string
	}{
		{Frame{Fin: true, Opcode: OpText, Payload: []byte("hi")}, `text fin len=2 "hi"`},
		{Frame{Opcode: 0x3, RSV: 5, Masked: true}, `opcode-3 rsv=5 masked len=0 ""`},
		{Frame{Fin: true, Opcode: OpClose, Payload: ClosePayload(1002, "no")}, `close fin len=4 code=1002 reason="no"`},
		{Frame{Opcode: OpBinary, Payload: repeat('a', 40)}, `binary len=40 "` + strings.Repeat("a", 32) + `"...`},
	}
	for _, tc := range tests {
		if got := tc.f.String(); got != tc.want {
			t.Errorf("String() = %s, want %s", got, tc.want)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, tc := range wireCases {
		f.Add(tc.wire)
	}
	f.Add([]byte{0x82, 127, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0x81})
	f.Fuzz(func(t *testing.T, in []byte) {
		fr, n, err := Decode(in)
		if err != nil {
			if !errors.Is(err, ErrIncomplete) {
				t.Fatalf("Decode: unexpected error %v", err)
			}
			return
		}
		if n > len(in) {
			t.Fatalf("Decode took %d of %d bytes", n, len(in))
		}
		// Re-encoding gives a frame that decodes to the same thing, in
		// no more bytes (the length may have been non-minimal).
		again, m, err := Decode(fr.Encode())
		if err != nil {
			t.Fatalf("Decode(Encode()): %v", err)
		}
		if m > n {
			t.Fatalf("re-encoding took %d bytes, the input %d", m, n)
		}
		if diff := cmp.Diff(fr, again, bytesEqual); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}
