package prepared

import (
	"bytes"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/twoway/websocket/frame"
	"github.com/twoway/websocket/internal/pmdeflate"
)

func TestForm(t *testing.T) {
	noTakeover := pmdeflate.NewCompressor(0, 15, false)
	small := pmdeflate.NewCompressor(0, 10, false)
	takeover := pmdeflate.NewCompressor(0, 15, true)
	key15, _ := noTakeover.Shared()
	key10, _ := small.Shared()
	type result struct {
		Key    int
		Shared bool
	}
	tests := []struct {
		name      string
		d         *pmdeflate.Compressor
		threshold int
		want      result
	}{
		{"uncompressed connection", nil, 0, result{Plain, true}},
		{"under the threshold", noTakeover, 2000, result{Plain, true}},
		{"under the threshold, takeover", takeover, 2000, result{Plain, true}},
		{"no takeover", noTakeover, 0, result{key15, true}},
		{"no takeover, 10-bit window", small, 0, result{key10, true}},
		{"takeover", takeover, 0, result{0, false}},
	}
	var got, want []result
	for _, tt := range tests {
		k, ok := Form(tt.d, tt.threshold, 1000)
		got = append(got, result{k, ok})
		want = append(want, tt.want)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("forms of %v (-want +got):\n%s", tests, diff)
	}
	if key15 == key10 || key15 == Plain || key10 == Plain {
		t.Errorf("keys %d and %d are not distinct forms", key15, key10)
	}
}

// TestFrame asks for two forms of a message from many goroutines at once:
// each is made once, and its frame holds the message.
func TestFrame(t *testing.T) {
	data := []byte(strings.Repeat("hello, hello, ", 100))
	m := &Message{Opcode: frame.OpText, Data: data}
	key, _ := pmdeflate.NewCompressor(0, 15, false).Shared()
	frames := make([][]byte, 16)
	var wg sync.WaitGroup
	for i := range frames {
		wg.Go(func() {
			var err error
			if frames[i], err = m.Frame([]int{Plain, key}[i%2]); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for i, f := range frames {
		if &f[0] != &frames[i%2][0] {
			t.Errorf("goroutine %d got a frame of its own", i)
		}
	}
	if n := m.Forms(); n != 2 {
		t.Errorf("%d forms made, want 2", n)
	}
	for i, f := range frames[:2] {
		h, n, err := frame.ParseHeader(f)
		wantRSV := []byte{0, frame.RSV1}[i] // RFC 7692 §6
		if err != nil || !h.Fin || h.RSV != wantRSV || h.Opcode != frame.OpText || h.Length != int64(len(f)-n) {
			t.Fatalf("form %d: header %+v, %v", i, h, err)
		}
		payload := f[n:]
		if h.RSV == frame.RSV1 {
			d := pmdeflate.NewDecompressor(15, false)
			d.Begin(bytes.NewReader(payload))
			if payload, err = io.ReadAll(d); err != nil {
				t.Fatalf("form %d: %v", i, err)
			}
		}
		if !bytes.Equal(payload, data) {
			t.Errorf("form %d (RSV %#x) holds %q, want the message", i, h.RSV, payload)
		}
	}
}
