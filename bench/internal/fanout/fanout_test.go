package fanout

import (
	"bytes"
	"compress/flate"
	"encoding/json"
	"errors"
	"math"
	"testing"
)

func TestFormat(t *testing.T) {
	for _, size := range []int{MinSize, 1000, 1024, 4096} {
		f, err := NewFormat(size)
		if err != nil {
			t.Fatalf("NewFormat(%d): %v", size, err)
		}
		const seq, ts = 42, int64(1764075600123456789)
		m := f.Append([]byte("x"), seq, ts)[1:]
		if len(m) != size {
			t.Fatalf("size %d: message of %d bytes", size, len(m))
		}
		var v struct {
			Seq   uint64            `json:"seq"`
			TS    int64             `json:"ts"`
			Items []json.RawMessage `json:"items"`
		}
		if err := json.Unmarshal(m, &v); err != nil {
			t.Fatalf("size %d: not JSON: %v\n%s", size, err, m)
		}
		if v.Seq != seq || v.TS != ts || len(v.Items) == 0 {
			t.Errorf("size %d: seq %d, ts %d, %d items; want %d, %d, some", size, v.Seq, v.TS, len(v.Items), seq, ts)
		}
		if got, err := f.Check(m, seq); err != nil || got != ts {
			t.Errorf("size %d: Check = %d, %v; want %d, nil", size, got, err, ts)
		}
	}
}

func TestCheckMismatch(t *testing.T) {
	f, err := NewFormat(1024)
	if err != nil {
		t.Fatal(err)
	}
	m := f.Append(nil, 7, 12345)
	tests := []struct {
		name   string
		mangle func([]byte) []byte
	}{
		{"short", func(b []byte) []byte { return b[:len(b)-1] }},
		{"body", func(b []byte) []byte { b[len(b)-3] ^= 1; return b }},
		{"start", func(b []byte) []byte { b[0] = '['; return b }},
		{"between fields", func(b []byte) []byte { b[seqOff+seqLen] = ';'; return b }},
		{"other seq", func(b []byte) []byte { return f.Append(nil, 8, 12345) }},
		{"seq not digits", func(b []byte) []byte { b[seqOff] = 'x'; return b }},
		{"ts not digits", func(b []byte) []byte { b[tsOff+3] = '-'; return b }},
	}
	for _, tt := range tests {
		b := tt.mangle(bytes.Clone(m))
		if _, err := f.Check(b, 7); !errors.Is(err, ErrMismatch) {
			t.Errorf("%s: Check = %v, want ErrMismatch", tt.name, err)
		}
	}
}

func TestDigits(t *testing.T) {
	var b [seqLen]byte
	for _, v := range []uint64{0, 1, 9, 10, 1 << 40, math.MaxUint64} {
		putDigits(b[:], v)
		if got, ok := digits(b[:]); !ok || got != v {
			t.Errorf("digits(%q) = %d, %v; want %d", b, got, ok, v)
		}
	}
	for _, s := range []string{"99999999999999999999", "                    ", " 1 2", "-1"} {
		if v, ok := digits([]byte(s)); ok {
			t.Errorf("digits(%q) = %d, true; want false", s, v)
		}
	}
}

// TestCompressible keeps the text realistic for permessage-deflate: JSON
// compresses severalfold, random bytes would not compress at all.
func TestCompressible(t *testing.T) {
	f, err := NewFormat(1024)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestSpeed)
	w.Write(f.Append(nil, 1, 1))
	w.Flush()
	if r := float64(buf.Len()) / 1024; r < 0.2 || r > 0.6 {
		t.Errorf("compressed to %.2f of its size; want 0.2..0.6, as JSON", r)
	}
}
