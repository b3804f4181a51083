package frameio

import (
	"bufio"
	"bytes"
	"io"
	"testing"
	"unicode/utf8"

	"github.com/twoway/websocket/frame"
)

func FuzzReader(f *testing.F) {
	var all []byte
	for _, f := range rfcFrames()[:6] {
		all = append(all, f.wire...)
	}
	f.Add(all, byte(0))
	f.Add(join(textFrame(false, "Hel"), ctrlFrame(frame.OpPing, "x"), contFrame(true, "lo€")), byte(1))
	f.Add(join(textFrame(false, "a\xe2"), contFrame(true, "\x82\xac"), closeFrame(frame.CloseNormal, "bye")), byte(1))
	f.Add(join(binFrame(true, "abc"), textFrame(true, "\xff")), byte(1))
	f.Add(encodeFrame(frame.Header{Fin: true, Opcode: frame.OpBinary}, "unmasked"), byte(2))
	f.Add([]byte{0x82, 0x7F, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 1, 2}, byte(0))
	f.Fuzz(func(t *testing.T, stream []byte, mode byte) {
		rules := frame.Rules{
			Role:       frame.Role(mode % 3),
			AllowedRSV: (mode << 1) & (frame.RSV1 | frame.RSV2 | frame.RSV3),
		}
		if mode&0x80 != 0 {
			rules.MaxLength = int64(mode & 0x3F)
		}
		// A small buffer exercises refills; bufio rounds it up to 16.
		r := NewReader(bufio.NewReaderSize(bytes.NewReader(stream), 16), rules)
		total := 0
		for i := 0; ; i++ {
			if i > len(stream) {
				t.Fatalf("more frames than bytes")
			}
			h, err := r.NextFrame()
			if err != nil {
				break
			}
			if err := rules.Check(h); err != nil {
				t.Fatalf("Reader returned a header that breaks the rules: %v", err)
			}
			p, err := io.ReadAll(r)
			if int64(len(p)) > h.Length {
				t.Fatalf("read %d payload bytes from a frame of %d", len(p), h.Length)
			}
			if err == nil && int64(len(p)) != h.Length {
				t.Fatalf("read %d payload bytes from a frame of %d without error", len(p), h.Length)
			}
			if err == nil && h.Opcode == frame.OpText && h.RSV == 0 && h.Fin && !utf8.Valid(p) {
				t.Fatalf("invalid text message %q accepted", p)
			}
			total += len(p)
			if err != nil {
				break
			}
		}
		if total > len(stream) {
			t.Fatalf("read %d payload bytes from %d", total, len(stream))
		}
	})
}
