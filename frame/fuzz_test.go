package frame

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"
)

func FuzzHeaderRoundTrip(f *testing.F) {
	f.Add(true, byte(0), byte(1), false, uint32(0), int64(5))
	f.Add(true, byte(0), byte(1), true, uint32(0x37fa213d), int64(5))
	f.Add(false, RSV1, byte(2), true, uint32(1), int64(125))
	f.Add(true, byte(0x70), byte(8), false, uint32(0), int64(126))
	f.Add(true, byte(0), byte(2), false, uint32(0), int64(0xFFFF))
	f.Add(true, byte(0), byte(2), true, uint32(0xFFFFFFFF), int64(0x10000))
	f.Add(true, byte(0xFF), byte(0xFF), true, uint32(0), int64(1<<63-1))
	f.Add(false, byte(0), byte(0), false, uint32(0), int64(-1))
	f.Fuzz(func(t *testing.T, fin bool, rsv, op byte, masked bool, key uint32, length int64) {
		if length < 0 {
			length = ^length // maps the negative range onto the positive one
		}
		h := Header{
			Fin:    fin,
			RSV:    rsv & (RSV1 | RSV2 | RSV3),
			Opcode: Opcode(op & 0x0F),
			Masked: masked,
			Length: length,
		}
		if masked {
			h.Key = [4]byte{byte(key >> 24), byte(key >> 16), byte(key >> 8), byte(key)}
		}
		b := AppendHeader(nil, h)
		if len(b) != h.Size() || len(b) > MaxHeaderSize {
			t.Fatalf("encoded %d bytes, Size() = %d", len(b), h.Size())
		}
		got, n, err := ParseHeader(b)
		if err != nil {
			t.Fatalf("ParseHeader(% x): %v", b, err)
		}
		if got != h || n != len(b) {
			t.Fatalf("round trip of %+v gave %+v, n = %d of %d", h, got, n, len(b))
		}
		var buf bytes.Buffer
		if err := WriteHeader(&buf, h); err != nil || !bytes.Equal(buf.Bytes(), b) {
			t.Fatalf("WriteHeader wrote % x, %v; AppendHeader % x", buf.Bytes(), err, b)
		}
	})
}

func FuzzParseHeader(f *testing.F) {
	for _, ex := range rfcExamples() {
		f.Add(ex.wire[:min(len(ex.wire), 20)])
	}
	f.Add([]byte{})
	f.Add([]byte{0x82})
	f.Add([]byte{0x82, 0x7E, 0x00})
	f.Add([]byte{0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, n, err := ParseHeader(b)
		if err != nil {
			if n != 0 {
				t.Fatalf("n = %d with error %v", n, err)
			}
			if err == ErrShortHeader && len(b) >= 2 && len(b) >= HeaderSize(b[1]) {
				t.Fatalf("ErrShortHeader for %d bytes of a %d-byte header", len(b), HeaderSize(b[1]))
			}
			if err != ErrShortHeader && err != ErrLengthOverflow {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if n < 2 || n > len(b) || n > MaxHeaderSize || n != HeaderSize(b[1]) {
			t.Fatalf("n = %d for % x", n, b)
		}
		if h.Length < 0 {
			t.Fatalf("negative length %d", h.Length)
		}
		// Re-encoding gives the same header, in the same bytes when the
		// input used the minimal length encoding.
		enc := AppendHeader(nil, h)
		if h2, _, err := ParseHeader(enc); err != nil || h2 != h {
			t.Fatalf("re-encoded header parses as %+v, %v; want %+v", h2, err, h)
		}
		if len(enc) == n && !bytes.Equal(enc, b[:n]) {
			t.Fatalf("re-encoded % x, input % x", enc, b[:n])
		}
		_ = Rules{Role: RoleServer, MaxLength: 1000}.Check(h)
	})
}

func FuzzClosePayload(f *testing.F) {
	f.Add([]byte{}, uint16(1000), "")
	f.Add([]byte{0x03}, uint16(1001), "bye")
	f.Add([]byte{0x03, 0xE8, 'o', 'k'}, uint16(4000), "κόσμε")
	f.Add([]byte{0x03, 0xED}, uint16(1005), "x")
	f.Add([]byte{0x03, 0xE8, 0xFF}, uint16(1015), "\xff")
	f.Add([]byte{0x0F, 0xA0}, uint16(3000), strings.Repeat("€", 50))
	f.Fuzz(func(t *testing.T, p []byte, code uint16, reason string) {
		// Parsing arbitrary bytes.
		c, r, err := ParseClosePayload(p)
		if err == nil {
			switch {
			case len(p) == 0:
				if c != CloseNoStatus || r != "" {
					t.Fatalf("empty payload gave %d, %q", c, r)
				}
			case !c.ValidOnWire() || !utf8.ValidString(r) || len(p) > MaxControlPayload:
				t.Fatalf("accepted % x as %d, %q", p, c, r)
			default:
				if back := AppendClosePayload(nil, c, r); !bytes.Equal(back, p) {
					t.Fatalf("% x parsed and built back as % x", p, back)
				}
			}
		}

		// Building from any code and reason.
		b := AppendClosePayload(nil, CloseCode(code), reason)
		if len(b) > MaxControlPayload {
			t.Fatalf("payload of %d bytes", len(b))
		}
		if code == 0 || CloseCode(code) == CloseNoStatus {
			if len(b) != 0 {
				t.Fatalf("code %d gave payload % x", code, b)
			}
			return
		}
		if !strings.HasPrefix(reason, string(b[2:])) {
			t.Fatalf("reason %q is not a prefix of %q", b[2:], reason)
		}
		c, r, err = ParseClosePayload(b)
		switch {
		case !CloseCode(code).ValidOnWire():
			if err != ErrInvalidCloseCode {
				t.Fatalf("code %d: error %v", code, err)
			}
		case !utf8.ValidString(reason):
			// The cut may have removed the invalid part; nothing to check.
		case err != nil || c != CloseCode(code) || r != string(b[2:]):
			t.Fatalf("built % x, parsed %d, %q, %v", b, c, r, err)
		case !utf8.ValidString(r):
			t.Fatalf("cutting %q gave invalid UTF-8 %q", reason, r)
		}
	})
}
