package event

import (
	"bytes"
	"testing"
)

// TestGrowBuffer checks that output growing past its buffer moves to a
// pooled class with its bytes intact, so that putBuffer takes it back,
// and that output past the largest class still grows geometrically.
// TestGrowBufferAllocs checks that growing allocates nothing.
func TestGrowBuffer(t *testing.T) {
	for _, tc := range []struct{ have, add int }{
		{0, 10}, {100, 156}, {100, 157}, {300, 5000}, {4096, 1}, {1 << 19, 1 << 19},
	} {
		p := getBuffer(tc.have)
		*p = append(*p, bytes.Repeat([]byte{'x'}, tc.have)...)
		q := growBuffer(p, tc.add)
		if cap(*q)-len(*q) < tc.add {
			t.Errorf("have %d, add %d: room %d", tc.have, tc.add, cap(*q)-len(*q))
		}
		if !bytes.Equal(*q, bytes.Repeat([]byte{'x'}, tc.have)) {
			t.Errorf("have %d, add %d: bytes lost", tc.have, tc.add)
		}
		if c := cap(*q); c&(c-1) != 0 {
			t.Errorf("have %d, add %d: capacity %d is no pool class", tc.have, tc.add, c)
		}
		putBuffer(q)
	}
	// Past the largest class: many small appends must not copy the
	// whole output each time.
	p := getBuffer(1 << maxClassBits)
	*p = append(*p, make([]byte, 1<<maxClassBits)...)
	grown := 0
	for range 1000 {
		before := cap(*p)
		p = growBuffer(p, 100)
		*p = append(*p, make([]byte, 100)...)
		if cap(*p) != before {
			grown++
		}
	}
	if grown > 1 {
		t.Errorf("1,000 appends of 100 bytes past %d grew the buffer %d times, want at most 1", 1<<maxClassBits, grown)
	}
}
