// Package fanout defines the message of the broadcast workload: JSON-like
// text of a fixed size that carries its sequence number and the time it
// was published, so that every subscriber can check what it received and
// measure how long it took to arrive.
//
// A message is a fixed template with two fixed-width decimal fields at the
// start, right-aligned with spaces so that the text stays valid JSON:
//
//	{"seq":                  42,"ts":1764075600123456789,"channel":...}
//
// The rest is a list of quotes drawn from a seeded generator, so runs are
// reproducible and the text compresses as small JSON messages do: to about
// half, at BestSpeed.
package fanout

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
)

const (
	seqOff = len(`{"seq":`)
	seqLen = 20 // digits of a uint64
	tsOff  = seqOff + seqLen + len(`,"ts":`)
	tsLen  = 19 // nanoseconds since 1970 until the year 2286
	head   = tsOff + tsLen
)

// MinSize is the smallest message a Format makes.
const MinSize = 256

// Size is the size of the workload's messages, which the server and the
// load generator agree on without telling each other.
const Size = 1024

// Welcome is the first message a subscriber receives, once the server has
// added it to those every message goes to: publishing before every
// subscriber has it would leave some without the first messages.
const Welcome = `{"subscribed":true}`

// Format makes and checks the messages of one size. It is read-only once
// made and safe for concurrent use.
type Format struct {
	tmpl []byte
}

// NewFormat returns the format of messages of size bytes.
func NewFormat(size int) (*Format, error) {
	if size < MinSize || size > 1<<24 {
		return nil, fmt.Errorf("fanout: message size %d out of range [%d, 16 MiB]", size, MinSize)
	}
	rng := rand.New(rand.NewPCG(uint64(size), 0x5eed))
	b := make([]byte, 0, size+256)
	b = append(b, `{"seq":`...)
	b = append(b, bytes.Repeat([]byte{' '}, seqLen)...)
	b = append(b, `,"ts":`...)
	b = append(b, bytes.Repeat([]byte{' '}, tsLen)...)
	b = append(b, `,"channel":"quotes.eu","items":[`...)
	const tail = `],"pad":""}`
	for i := 0; ; i++ {
		item := fmt.Appendf(nil, `{"id":%d,"sym":"%c%c%c%c","bid":%d.%02d,"ask":%d.%02d,"vol":%d,"venue":"%s"}`,
			1000+rng.IntN(9000), 'A'+rng.IntN(26), 'A'+rng.IntN(26), 'A'+rng.IntN(26), 'A'+rng.IntN(26),
			10+rng.IntN(990), rng.IntN(100), 10+rng.IntN(990), rng.IntN(100), rng.IntN(100000),
			[]string{"XNAS", "XNYS", "XLON", "XPAR", "XETR"}[rng.IntN(5)])
		sep := 0
		if i > 0 {
			sep = 1
		}
		if len(b)+sep+len(item)+len(tail) > size {
			break
		}
		if sep > 0 {
			b = append(b, ',')
		}
		b = append(b, item...)
	}
	// Fill the rest with the padding string's letters.
	b = append(b, tail[:len(tail)-2]...)
	for len(b) < size-2 {
		b = append(b, byte('a'+rng.IntN(26)))
	}
	b = append(b, `"}`...)
	return &Format{tmpl: b[:size:size]}, nil
}

// Size returns the size of a message.
func (f *Format) Size() int { return len(f.tmpl) }

// Append appends to dst the message with sequence number seq published at
// ts, in nanoseconds since 1970.
func (f *Format) Append(dst []byte, seq uint64, ts int64) []byte {
	n := len(dst)
	dst = append(dst, f.tmpl...)
	putDigits(dst[n+seqOff:n+seqOff+seqLen], seq)
	putDigits(dst[n+tsOff:n+tsOff+tsLen], uint64(max(ts, 0)))
	return dst
}

// putDigits writes v in decimal into b, right-aligned and padded with
// spaces. b must be long enough.
func putDigits(b []byte, v uint64) {
	i := len(b) - 1
	for ; i >= 0; i-- {
		b[i] = byte('0' + v%10)
		if v /= 10; v == 0 {
			break
		}
	}
	for i--; i >= 0; i-- {
		b[i] = ' '
	}
}

// ErrMismatch reports a message that is not the one expected.
var ErrMismatch = errors.New("fanout: message differs from the one published")

// Check reports whether b is the message with sequence number seq and
// returns the time it was published.
func (f *Format) Check(b []byte, seq uint64) (ts int64, err error) {
	if len(b) != len(f.tmpl) {
		return 0, fmt.Errorf("%w: %d bytes, want %d", ErrMismatch, len(b), len(f.tmpl))
	}
	if !bytes.Equal(b[head:], f.tmpl[head:]) || !bytes.Equal(b[:seqOff], f.tmpl[:seqOff]) ||
		!bytes.Equal(b[seqOff+seqLen:tsOff], f.tmpl[seqOff+seqLen:tsOff]) {
		return 0, fmt.Errorf("%w: message %d: body differs", ErrMismatch, seq)
	}
	if got, ok := digits(b[seqOff : seqOff+seqLen]); !ok || got != seq {
		return 0, fmt.Errorf("%w: sequence number %q, want %d", ErrMismatch, b[seqOff:seqOff+seqLen], seq)
	}
	t, ok := digits(b[tsOff : tsOff+tsLen])
	if !ok || t > math.MaxInt64 {
		return 0, fmt.Errorf("%w: timestamp %q", ErrMismatch, b[tsOff:tsOff+tsLen])
	}
	return int64(t), nil
}

// digits parses the decimal digits b, which putDigits wrote, without the
// allocation of a conversion to string: it runs for every delivery.
func digits(b []byte) (v uint64, ok bool) {
	b = bytes.TrimLeft(b, " ")
	if len(b) == 0 {
		return 0, false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if v > (math.MaxUint64-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	return v, true
}
