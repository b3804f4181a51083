package frameio

import (
	"crypto/rand"
	"fmt"
	"github.com/twoway/websocket/frame"
	"io"

	"github.com/twoway/websocket/mask"
)

// maxWriteChunk bounds the internal buffer of a Writer. A frame with a
// longer payload is written in several chunks, so that masking a large
// message does not need a copy of all of it.
const maxWriteChunk = 32 << 10

// copyLimit is the largest unmasked payload that Writer copies behind its
// header, to send both with one Write; longer ones are written directly
// from the caller's slice.
const copyLimit = 2 << 10

// Writer writes messages as frames to W. A message longer than FrameSize
// is split into a first frame and continuation frames (RFC 6455 §5.4).
//
// When Role is RoleClient, every frame is masked with a fresh key from
// crypto/rand, as RFC 6455 §5.3 and §10.3 require. Masking works on a
// copy in an internal buffer that is reused, so the caller's payload is
// not modified and writing does not allocate once the buffer has grown.
//
// A Writer must not be used from several goroutines at once.
type Writer struct {
	W         io.Writer
	Role      frame.Role // the sending side
	FrameSize int        // max payload per frame; <= 0 means no fragmentation

	buf []byte
}

// WriteMessage writes payload as one message of type op, which must be
// OpText or OpBinary. It returns ErrWriteOpcode for any other opcode.
// The payload of a text message is sent as it is; it is the caller's job
// to make it valid UTF-8.
func (w *Writer) WriteMessage(op frame.Opcode, payload []byte) error {
	if op != frame.OpText && op != frame.OpBinary {
		return fmt.Errorf("%w: WriteMessage with %v", ErrWriteOpcode, op)
	}
	size := w.FrameSize
	if size <= 0 || size > len(payload) {
		size = len(payload)
	}
	for {
		chunk := payload[:size]
		payload = payload[size:]
		fin := len(payload) == 0
		if err := w.writeFrame(frame.Header{Fin: fin, Opcode: op}, chunk); err != nil {
			return err
		}
		if fin {
			return nil
		}
		op = frame.OpContinuation
		size = min(size, len(payload))
	}
}

// WriteControl writes a control frame: op must be OpClose, OpPing or
// OpPong, and payload at most MaxControlPayload bytes long. It returns
// ErrWriteOpcode or ErrControlPayload otherwise. Use AppendClosePayload
// to build the payload of a Close frame.
func (w *Writer) WriteControl(op frame.Opcode, payload []byte) error {
	if op != frame.OpClose && op != frame.OpPing && op != frame.OpPong {
		return fmt.Errorf("%w: WriteControl with %v", ErrWriteOpcode, op)
	}
	if len(payload) > frame.MaxControlPayload {
		return ErrControlPayload
	}
	return w.writeFrame(frame.Header{Fin: true, Opcode: op}, payload)
}

// writeFrame writes one frame with header h (except its length and mask)
// and payload p.
func (w *Writer) writeFrame(h frame.Header, p []byte) error {
	h.Length = int64(len(p))
	h.Masked = w.Role == frame.RoleClient
	room := h.Size()
	switch {
	case h.Masked:
		room += min(len(p), maxWriteChunk)
	case len(p) <= copyLimit:
		room += len(p)
	}
	b := frame.AppendHeader(w.buffer(room), h)
	if h.Masked {
		// RFC 6455 §5.3: the key must be unpredictable, so it comes
		// from a cryptographically strong source. It is generated in
		// place in the header; a local array passed to rand.Read would
		// be moved to the heap.
		key := b[len(b)-4:]
		if _, err := rand.Read(key); err != nil {
			return fmt.Errorf("frame: masking key: %w", err)
		}
		h.Key = [4]byte(key)
	}

	if !h.Masked {
		if len(p) <= copyLimit {
			_, err := w.W.Write(append(b, p...))
			return err
		}
		if _, err := w.W.Write(b); err != nil {
			return err
		}
		_, err := w.W.Write(p)
		return err
	}

	// Mask a copy, chunk by chunk, sending the header with the first.
	pos := 0
	for {
		n := min(len(p), maxWriteChunk)
		start := len(b)
		b = append(b, p[:n]...)
		pos = mask.Apply(b[start:], h.Key, pos)
		if _, err := w.W.Write(b); err != nil {
			return err
		}
		p = p[n:]
		if len(p) == 0 {
			return nil
		}
		b = b[:0]
	}
}

// buffer returns the internal buffer emptied, with room for at least n
// bytes.
func (w *Writer) buffer(n int) []byte {
	if cap(w.buf) < n {
		w.buf = make([]byte, 0, n)
	}
	return w.buf[:0]
}
