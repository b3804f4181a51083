package frame

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestRulesCheck(t *testing.T) {
	server := Rules{Role: RoleServer}
	client := Rules{Role: RoleClient}
	masked := func(h Header) Header { h.Masked = true; h.Key = rfcKey; return h }

	tests := []struct {
		name  string
		rules Rules
		h     Header
		err   error
		code  CloseCode // 0 when err is nil
	}{
		{"text to server", server, masked(Header{Fin: true, Opcode: OpText, Length: 10}), nil, 0},
		{"text to client", client, Header{Fin: true, Opcode: OpText, Length: 10}, nil, 0},
		{"continuation", server, masked(Header{Opcode: OpContinuation}), nil, 0},
		{"no role, masked", Rules{}, masked(Header{Fin: true, Opcode: OpBinary}), nil, 0},
		{"no role, unmasked", Rules{}, Header{Fin: true, Opcode: OpBinary}, nil, 0},

		{"reserved data opcode 0x3", client, Header{Fin: true, Opcode: 0x3}, ErrReservedOpcode, 1002},
		{"reserved data opcode 0x7", client, Header{Fin: true, Opcode: 0x7}, ErrReservedOpcode, 1002},
		{"reserved control opcode 0xB", client, Header{Fin: true, Opcode: 0xB}, ErrReservedOpcode, 1002},
		{"reserved control opcode 0xF", client, Header{Fin: true, Opcode: 0xF}, ErrReservedOpcode, 1002},
		{"reserved opcode wins over bits", client, Header{Fin: true, Opcode: 0x4, RSV: RSV1}, ErrReservedOpcode, 1002},

		{"RSV1 not negotiated", client, Header{Fin: true, Opcode: OpText, RSV: RSV1}, ErrReservedBits, 1002},
		{"RSV2 not negotiated", client, Header{Fin: true, Opcode: OpText, RSV: RSV2}, ErrReservedBits, 1002},
		{"RSV3 not negotiated", client, Header{Fin: true, Opcode: OpText, RSV: RSV3}, ErrReservedBits, 1002},
		{"RSV1 negotiated", Rules{Role: RoleClient, AllowedRSV: RSV1}, Header{Fin: true, Opcode: OpText, RSV: RSV1}, nil, 0},
		{"RSV2 with only RSV1 negotiated", Rules{Role: RoleClient, AllowedRSV: RSV1}, Header{Fin: true, Opcode: OpText, RSV: RSV1 | RSV2}, ErrReservedBits, 1002},

		{"fragmented ping", client, Header{Opcode: OpPing}, ErrFragmentedControl, 1002},
		{"fragmented close", client, Header{Opcode: OpClose, Length: 2}, ErrFragmentedControl, 1002},
		{"ping of 125", client, Header{Fin: true, Opcode: OpPing, Length: 125}, nil, 0},
		{"ping of 126", client, Header{Fin: true, Opcode: OpPing, Length: 126}, ErrControlTooLong, 1002},
		{"pong of 126", client, Header{Fin: true, Opcode: OpPong, Length: 126}, ErrControlTooLong, 1002},
		{"close of 1<<40", client, Header{Fin: true, Opcode: OpClose, Length: 1 << 40}, ErrControlTooLong, 1002},
		{"control length ignores MaxLength", Rules{Role: RoleClient, MaxLength: 200}, Header{Fin: true, Opcode: OpPing, Length: 126}, ErrControlTooLong, 1002},

		{"unmasked to server", server, Header{Fin: true, Opcode: OpText}, ErrUnmaskedFrame, 1002},
		{"unmasked ping to server", server, Header{Fin: true, Opcode: OpPing}, ErrUnmaskedFrame, 1002},
		{"masked to client", client, masked(Header{Fin: true, Opcode: OpText}), ErrMaskedFrame, 1002},

		{"at MaxLength", Rules{Role: RoleClient, MaxLength: 1000}, Header{Fin: true, Opcode: OpBinary, Length: 1000}, nil, 0},
		{"over MaxLength", Rules{Role: RoleClient, MaxLength: 1000}, Header{Fin: true, Opcode: OpBinary, Length: 1001}, ErrFrameTooBig, 1009},
		{"over MaxLength, continuation", Rules{Role: RoleClient, MaxLength: 1000}, Header{Opcode: OpContinuation, Length: 1 << 62}, ErrFrameTooBig, 1009},
		{"masking checked before length", Rules{Role: RoleClient, MaxLength: 1}, masked(Header{Fin: true, Opcode: OpBinary, Length: 2}), ErrMaskedFrame, 1002},
		{"no limit", client, Header{Fin: true, Opcode: OpBinary, Length: 1<<63 - 1}, nil, 0},
	}
	type result struct {
		Err  error
		Code CloseCode
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.rules.Check(tt.h)
			got := result{Err: err}
			var pe *ProtocolError
			if errors.As(err, &pe) {
				got.Code = pe.Code
			}
			want := result{Err: tt.err, Code: tt.code}
			if diff := cmp.Diff(want, got, cmpopts.EquateErrors()); diff != "" {
				t.Errorf("Check(%+v) mismatch (-want +got):\n%s", tt.h, diff)
			}
		})
	}
}

func TestRulesCheckNoAlloc(t *testing.T) {
	r := Rules{Role: RoleServer, MaxLength: 10}
	good := Header{Fin: true, Opcode: OpText, Masked: true, Length: 10}
	bad := Header{Fin: true, Opcode: OpText, Masked: true, Length: 11}
	var err error
	allocs := testing.AllocsPerRun(100, func() {
		err = r.Check(good)
		err = r.Check(bad)
	})
	if allocs != 0 {
		t.Errorf("Check allocates %v times", allocs)
	}
	if err != ErrFrameTooBig {
		t.Errorf("got %v, want ErrFrameTooBig", err)
	}
}

func TestReadHeader(t *testing.T) {
	h1 := Header{Fin: true, Opcode: OpBinary, Masked: true, Key: rfcKey, Length: 0}
	h2 := Header{Fin: true, Opcode: OpPing, Masked: true, Key: [4]byte{9, 8, 7, 6}, Length: 0}
	stream := AppendHeader(AppendHeader(nil, h1), h2)
	// One byte per read makes ReadHeader wait for every part.
	br := bufio.NewReader(iotest.OneByteReader(bytes.NewReader(stream)))
	rules := Rules{Role: RoleServer}
	for _, want := range []Header{h1, h2} {
		got, err := ReadHeader(br, rules)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	}
	if _, err := ReadHeader(br, rules); err != io.EOF {
		t.Errorf("at end: %v, want io.EOF", err)
	}
}

func TestReadHeaderErrors(t *testing.T) {
	full := AppendHeader(nil, Header{Fin: true, Opcode: OpText, Masked: true, Length: 300})
	tests := []struct {
		name  string
		input []byte
		rules Rules
		err   error
	}{
		{"empty", nil, Rules{}, io.EOF},
		{"one byte", full[:1], Rules{}, io.ErrUnexpectedEOF},
		{"in extended length", full[:3], Rules{}, io.ErrUnexpectedEOF},
		{"in key", full[:len(full)-1], Rules{}, io.ErrUnexpectedEOF},
		{"rules", full, Rules{Role: RoleClient}, ErrMaskedFrame},
		{"length overflow", []byte{0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0, 0xEE}, Rules{}, ErrLengthOverflow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			br := bufio.NewReader(bytes.NewReader(tt.input))
			_, err := ReadHeader(br, tt.rules)
			if diff := cmp.Diff(tt.err, err, cmpopts.EquateErrors()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestReadHeaderRetry checks that a read error inside a header, such as a
// timeout, consumes nothing, so that the read can be repeated.
func TestReadHeaderRetry(t *testing.T) {
	want := Header{Fin: true, Opcode: OpText, Masked: true, Key: rfcKey, Length: 300}
	full := AppendHeader(nil, want)
	errTimeout := errors.New("timeout")
	src := &scriptReader{steps: []scriptStep{{data: full[:3]}, {err: errTimeout}, {data: full[3:]}}}
	br := bufio.NewReader(src)
	if _, err := ReadHeader(br, Rules{}); err != errTimeout {
		t.Fatalf("first read: %v, want %v", err, errTimeout)
	}
	got, err := ReadHeader(br, Rules{})
	if err != nil {
		t.Fatalf("second read: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// scriptReader returns its steps one per Read call, then io.EOF.
type scriptReader struct {
	steps []scriptStep
}

type scriptStep struct {
	data []byte
	err  error
}

func (s *scriptReader) Read(p []byte) (int, error) {
	if len(s.steps) == 0 {
		return 0, io.EOF
	}
	st := &s.steps[0]
	n := copy(p, st.data)
	st.data = st.data[n:]
	if len(st.data) == 0 {
		s.steps = s.steps[1:]
		return n, st.err
	}
	return n, nil
}

func TestReadHeaderNoAlloc(t *testing.T) {
	h := Header{Fin: true, Opcode: OpBinary, Masked: true, Key: rfcKey, Length: 0}
	one := AppendHeader(nil, h)
	stream := bytes.Repeat(one, 200)
	rd := bytes.NewReader(stream)
	br := bufio.NewReader(rd)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := ReadHeader(br, Rules{Role: RoleServer}); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("ReadHeader allocates %v times", allocs)
	}
}
