package frame

// Sequencer enforces the fragmentation rules of RFC 6455 §5.4 over the
// stream of headers a receiver reads: a fragmented message is one data
// frame without Fin followed by continuation frames up to one with Fin,
// and fragments of different messages do not interleave. Control frames
// may come anywhere, also between fragments, and do not change the
// state. The zero value is ready to use.
//
// Sequencer checks only the order of frames; use Rules.Check for the
// rules that concern a single header.
type Sequencer struct {
	op Opcode // opcode of the fragmented message in progress
	in bool   // a fragmented message is in progress
}

// Next checks h and advances the state. For data frames it reports the
// opcode of the message the frame belongs to (taken from the first
// fragment for continuations) and whether the frame ends the message;
// for control frames it reports the frame's own opcode and true.
//
// Next returns ErrUnexpectedContinuation for a continuation with no
// message to continue, ErrMessageInProgress for a new data message while
// a fragmented one is in progress, and ErrFragmentedControl for a control
// frame without Fin. On error the state is not changed.
func (s *Sequencer) Next(h Header) (msgOp Opcode, final bool, err error) {
	switch {
	case h.Opcode.IsControl():
		if !h.Fin {
			return h.Opcode, false, ErrFragmentedControl
		}
		return h.Opcode, true, nil
	case h.Opcode == OpContinuation:
		if !s.in {
			return OpContinuation, false, ErrUnexpectedContinuation
		}
		s.in = !h.Fin
		return s.op, h.Fin, nil
	default:
		if s.in {
			return h.Opcode, false, ErrMessageInProgress
		}
		s.in, s.op = !h.Fin, h.Opcode
		return h.Opcode, h.Fin, nil
	}
}

// InMessage reports whether a fragmented message is in progress, that is
// whether the next data frame must be a continuation.
func (s *Sequencer) InMessage() bool { return s.in }
