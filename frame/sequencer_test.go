package frame

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestSequencer(t *testing.T) {
	// Frame shorthands: fin/more for data, cont/last for continuations.
	fin := func(op Opcode) Header { return Header{Fin: true, Opcode: op} }
	more := func(op Opcode) Header { return Header{Opcode: op} }
	cont := Header{Opcode: OpContinuation}
	last := Header{Fin: true, Opcode: OpContinuation}
	ping, pong, closeFrame := fin(OpPing), fin(OpPong), fin(OpClose)

	type step struct {
		Op    Opcode
		Final bool
		Err   error
		In    bool // InMessage after the step
	}
	tests := []struct {
		name   string
		frames []Header
		want   []step
	}{
		{
			name:   "single frames",
			frames: []Header{fin(OpText), fin(OpBinary)},
			want:   []step{{OpText, true, nil, false}, {OpBinary, true, nil, false}},
		},
		{
			name:   "RFC 6455 §5.4 three fragments",
			frames: []Header{more(OpText), cont, last},
			want:   []step{{OpText, false, nil, true}, {OpText, false, nil, true}, {OpText, true, nil, false}},
		},
		{
			name:   "binary fragments then text",
			frames: []Header{more(OpBinary), last, fin(OpText)},
			want:   []step{{OpBinary, false, nil, true}, {OpBinary, true, nil, false}, {OpText, true, nil, false}},
		},
		{
			name:   "control frames between fragments",
			frames: []Header{more(OpText), ping, cont, pong, closeFrame, last},
			want: []step{
				{OpText, false, nil, true},
				{OpPing, true, nil, true},
				{OpText, false, nil, true},
				{OpPong, true, nil, true},
				{OpClose, true, nil, true},
				{OpText, true, nil, false},
			},
		},
		{
			name:   "control frames outside messages",
			frames: []Header{ping, fin(OpText), pong},
			want:   []step{{OpPing, true, nil, false}, {OpText, true, nil, false}, {OpPong, true, nil, false}},
		},
		{
			name:   "continuation first",
			frames: []Header{cont},
			want:   []step{{OpContinuation, false, ErrUnexpectedContinuation, false}},
		},
		{
			name:   "final continuation first",
			frames: []Header{last},
			want:   []step{{OpContinuation, false, ErrUnexpectedContinuation, false}},
		},
		{
			name:   "continuation after a finished message",
			frames: []Header{more(OpText), last, last},
			want:   []step{{OpText, false, nil, true}, {OpText, true, nil, false}, {OpContinuation, false, ErrUnexpectedContinuation, false}},
		},
		{
			name:   "continuation after a control frame only",
			frames: []Header{ping, cont},
			want:   []step{{OpPing, true, nil, false}, {OpContinuation, false, ErrUnexpectedContinuation, false}},
		},
		{
			name:   "text inside fragmented message",
			frames: []Header{more(OpText), fin(OpText)},
			want:   []step{{OpText, false, nil, true}, {OpText, false, ErrMessageInProgress, true}},
		},
		{
			name:   "binary inside fragmented text",
			frames: []Header{more(OpText), cont, more(OpBinary)},
			want:   []step{{OpText, false, nil, true}, {OpText, false, nil, true}, {OpBinary, false, ErrMessageInProgress, true}},
		},
		{
			name:   "fragmented control frame",
			frames: []Header{more(OpText), more(OpPing)},
			want:   []step{{OpText, false, nil, true}, {OpPing, false, ErrFragmentedControl, true}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s Sequencer
			var got []step
			for _, h := range tt.frames {
				op, final, err := s.Next(h)
				got = append(got, step{op, final, err, s.InMessage()})
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateErrors()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
