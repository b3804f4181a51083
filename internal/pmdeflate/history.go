package pmdeflate

import "sync"

// history keeps the last max bytes of a stream: the window of the peer's
// output that a Decompressor must keep, or the dictionary a Compressor
// starts from after it was idle. Its buffer grows with the stream, in
// powers of two, so a connection that has sent or received little holds
// little; once max bytes have passed it is a ring.
type history struct {
	max  int     // a power of two, 1<<minWindowBits..1<<maxWindowBits
	w    *window // nil until the first byte
	n    int     // bytes held; w.b[:n] until the ring is full
	pos  int     // with n == max: where the oldest byte is, and the next goes
	full bool    // n == max and w.b is a ring
}

// window is a history buffer; pointers to it pool without allocating.
type window struct{ b []byte }

// windowPools holds spare history buffers, by their size's bits.
var windowPools [maxWindowBits + 1]sync.Pool

func getWindow(bits int) *window {
	if w, ok := windowPools[bits].Get().(*window); ok {
		return w
	}
	return &window{b: make([]byte, 1<<bits)}
}

func putWindow(w *window) {
	windowPools[bitsOf(len(w.b))].Put(w)
}

// bitsOf returns the base-2 logarithm of size rounded up.
func bitsOf(size int) int {
	bits := 0
	for 1<<bits < size {
		bits++
	}
	return bits
}

func newHistory(max int) history { return history{max: max} }

// grow replaces the buffer by one of at least size bytes, keeping what it
// holds. It is only called before the ring is full.
func (h *history) grow(size int) {
	w := getWindow(max(bitsOf(size), minWindowBits))
	if h.w != nil {
		copy(w.b, h.w.b[:h.n])
		putWindow(h.w)
	}
	h.w = w
}

func (h *history) write(p []byte) {
	if len(p) >= h.max {
		if h.w == nil || len(h.w.b) < h.max {
			h.n = 0
			h.grow(h.max)
		}
		copy(h.w.b, p[len(p)-h.max:])
		h.n, h.pos, h.full = h.max, 0, true
		return
	}
	if !h.full {
		need := h.n + len(p)
		if h.w == nil || need > len(h.w.b) {
			h.grow(min(need, h.max))
		}
		k := copy(h.w.b[h.n:], p)
		h.n += k
		p = p[k:]
		if h.n < h.max {
			return
		}
		h.pos, h.full = 0, true
	}
	k := copy(h.w.b[h.pos:], p)
	if k < len(p) {
		h.pos = copy(h.w.b, p[k:])
	} else if h.pos += k; h.pos == h.max {
		h.pos = 0
	}
}

// bytes returns the history oldest byte first, rotating the ring through a
// spare buffer if it has wrapped. The slice is valid until the next write.
func (h *history) bytes() []byte {
	switch {
	case h.w == nil:
		return nil
	case !h.full:
		return h.w.b[:h.n]
	case h.pos == 0:
		return h.w.b
	}
	spare := getWindow(bitsOf(h.max))
	k := copy(spare.b, h.w.b[h.pos:])
	copy(spare.b[k:], h.w.b[:h.pos])
	putWindow(h.w)
	h.w, h.pos = spare, 0
	return h.w.b
}

// parts returns the history oldest byte first in two parts, without
// rotating the ring. They are valid until the next write.
func (h *history) parts() (older, newer []byte) {
	switch {
	case h.w == nil:
		return nil, nil
	case !h.full:
		return nil, h.w.b[:h.n]
	}
	return h.w.b[h.pos:], h.w.b[:h.pos]
}

// size returns the bytes of buffer held.
func (h *history) size() int {
	if h.w == nil {
		return 0
	}
	return len(h.w.b)
}

// release empties the history and pools its buffer.
func (h *history) release() {
	if h.w != nil {
		putWindow(h.w)
		h.w = nil
	}
	h.n, h.pos, h.full = 0, 0, false
}
