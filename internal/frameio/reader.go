package frameio

import (
	"bufio"
	"github.com/twoway/websocket/frame"
	"io"

	"github.com/twoway/websocket/internal/utf8check"
	"github.com/twoway/websocket/mask"
)

// Reader reads the frames of a WebSocket stream one at a time. It applies
// every receiving rule of RFC 6455 §5: headers are validated with Rules,
// fragments are ordered with a Sequencer, payloads are unmasked as they
// are read, text messages are checked for UTF-8 incrementally and Close
// payloads are parsed.
//
// An invalid byte in a text message is reported as soon as it has been
// read, without reading the rest of the message (RFC 6455 §8.1 lets an
// endpoint fail the connection as early as that). Every error is sticky:
// once NextFrame or Read has returned one, they keep returning it.
//
// The payload of a control frame is read whole by NextFrame, so a Close
// frame is validated before NextFrame returns it. After a Close frame
// NextFrame returns io.EOF, as the peer sends nothing after it
// (RFC 6455 §5.5.1).
//
// Reader is a building block for simple programs and tests; it does not
// reassemble messages and does not answer pings. Nor does it implement
// extensions: when Rules.AllowedRSV lets a text message start with RSV
// bits set, its payload is returned as it is, without the UTF-8 check.
type Reader struct {
	br    *bufio.Reader
	rules frame.Rules
	seq   frame.Sequencer
	utf8  utf8check.Validator

	hdr       frame.Header
	msgOp     frame.Opcode // opcode of the message hdr belongs to
	checkUTF8 bool         // the message is text without extension bits
	final     bool         // hdr ends its message
	remaining int64        // unread payload of a data frame
	keyPos    int          // masking key index of the next payload byte

	ctrl    [frame.MaxControlPayload]byte // payload of a control frame
	ctrlLen int
	ctrlOff int

	closeCode   frame.CloseCode
	closeReason string
	closed      bool // a Close frame has been read

	scratch [512]byte // for discarding text payloads, which must be validated
	err     error
}

// NewReader returns a Reader that reads frames from br and accepts the
// headers that rules allow.
func NewReader(br *bufio.Reader, rules frame.Rules) *Reader {
	return &Reader{br: br, rules: rules}
}

// NextFrame discards any unread payload of the current frame and reads
// the header of the next one. Errors are *ProtocolError values for
// violations of RFC 6455, io.EOF at the end of the stream between frames
// or after a Close frame, io.ErrUnexpectedEOF at an end within a frame,
// or the error of the underlying reader.
func (r *Reader) NextFrame() (frame.Header, error) {
	if r.err != nil {
		return frame.Header{}, r.err
	}
	if err := r.discard(); err != nil {
		return frame.Header{}, err
	}
	if r.closed {
		return frame.Header{}, io.EOF
	}
	h, err := frame.ReadHeader(r.br, r.rules)
	if err != nil {
		return h, r.fail(err)
	}
	msgOp, final, err := r.seq.Next(h)
	if err != nil {
		return h, r.fail(err)
	}
	r.hdr, r.msgOp, r.final, r.keyPos = h, msgOp, final, 0
	r.ctrlLen, r.ctrlOff = 0, 0

	if h.Opcode.IsControl() {
		// Rules.Check has limited the length to MaxControlPayload.
		p := r.ctrl[:h.Length]
		if _, err := io.ReadFull(r.br, p); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return h, r.fail(err)
		}
		if h.Masked {
			mask.Apply(p, h.Key, 0)
		}
		r.ctrlLen = len(p)
		if h.Opcode == frame.OpClose {
			code, reason, err := frame.ParseClosePayload(p)
			if err != nil {
				return h, r.fail(err)
			}
			r.closeCode, r.closeReason, r.closed = code, reason, true
		}
		return h, nil
	}

	if h.Opcode != frame.OpContinuation {
		// RSV bits mean an extension has transformed the payload, so
		// only the extension can tell whether the text is valid.
		r.checkUTF8 = h.Opcode == frame.OpText && h.RSV == 0
		r.utf8.Reset()
	}
	r.remaining = h.Length
	if r.remaining == 0 {
		if err := r.endPayload(); err != nil {
			return h, err
		}
	}
	return h, nil
}

// Read reads the unmasked payload of the current frame. It returns io.EOF
// at the end of the payload. For a text message it returns
// ErrInvalidUTF8 together with the count of valid bytes before the first
// invalid one, as soon as that byte is read.
func (r *Reader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.hdr.Opcode.IsControl() {
		if r.ctrlOff == r.ctrlLen {
			return 0, io.EOF
		}
		n := copy(p, r.ctrl[r.ctrlOff:r.ctrlLen])
		r.ctrlOff += n
		return n, nil
	}
	if r.remaining == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.remaining {
		p = p[:r.remaining]
	}
	n, err := r.br.Read(p)
	if n > 0 {
		if valid, cerr := r.consume(p[:n]); cerr != nil {
			return valid, cerr
		}
	}
	if err != nil {
		if err != io.EOF {
			return n, r.fail(err)
		}
		if r.remaining > 0 {
			return n, r.fail(io.ErrUnexpectedEOF)
		}
		// The payload is complete; the next header read will see
		// the end of the stream again.
	}
	return n, nil
}

// consume unmasks p, which was just read from the payload, validates it
// and accounts for it. On error valid is the number of bytes of p before
// the first invalid one.
func (r *Reader) consume(p []byte) (valid int, err error) {
	if r.hdr.Masked {
		r.keyPos = mask.Apply(p, r.hdr.Key, r.keyPos)
	}
	r.remaining -= int64(len(p))
	if r.checkUTF8 {
		if i := r.utf8.Feed(p); i >= 0 {
			return i, r.fail(frame.ErrInvalidUTF8)
		}
	}
	if r.remaining == 0 {
		if err := r.endPayload(); err != nil {
			return len(p), err
		}
	}
	return len(p), nil
}

// endPayload is called when the payload of a data frame has been read.
func (r *Reader) endPayload() error {
	// A text message must not end inside a UTF-8 sequence.
	if r.final && r.checkUTF8 && !r.utf8.Complete() {
		return r.fail(frame.ErrInvalidUTF8)
	}
	return nil
}

// discard skips the unread payload of the current frame. Text payloads
// are read and validated so that an invalid message is caught, and the
// validator stays in step for the following fragments, even when the
// caller does not read them.
func (r *Reader) discard() error {
	if r.remaining == 0 {
		return nil
	}
	if !r.checkUTF8 {
		for r.remaining > 0 {
			n, err := r.br.Discard(int(min(r.remaining, 1<<30)))
			r.remaining -= int64(n)
			if err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return r.fail(err)
			}
		}
		return nil
	}
	for r.remaining > 0 {
		if _, err := r.Read(r.scratch[:]); err != nil {
			return err
		}
	}
	return nil
}

// fail makes err sticky and returns it.
func (r *Reader) fail(err error) error {
	r.err = err
	return err
}

// MessageOpcode returns the opcode of the message the current frame
// belongs to: OpText or OpBinary for data frames, continuations included,
// and the frame's own opcode for control frames.
func (r *Reader) MessageOpcode() frame.Opcode { return r.msgOp }

// Final reports whether the current frame ends its message. It is true
// for control frames.
func (r *Reader) Final() bool { return r.final }

// CloseStatus returns the code and reason of the Close frame read by
// NextFrame. It returns 0 and "" before a Close frame has been read, and
// CloseNoStatus and "" for a Close frame with an empty payload.
func (r *Reader) CloseStatus() (frame.CloseCode, string) {
	return r.closeCode, r.closeReason
}
