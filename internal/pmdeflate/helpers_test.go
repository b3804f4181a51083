package pmdeflate

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

var jsonWords = strings.Fields(`alpha beta gamma delta epsilon user name id email status active
	created updated items price quantity total order customer address city country
	message channel subscribe payload timestamp sequence error retry`)

// jsonText returns n bytes of JSON-like text: records whose keys and words
// repeat, and numbers that do not, like typical WebSocket API traffic.
func jsonText(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	word := func() string { return jsonWords[r.IntN(len(jsonWords))] }
	var b bytes.Buffer
	b.WriteByte('[')
	for b.Len() < n {
		fmt.Fprintf(&b, `{"id":%d,"%s":"%s %s","%s":%d.%02d,"tags":["%s","%s"],"ok":%t},`,
			r.IntN(1000000), word(), word(), word(), word(), r.IntN(1000), r.IntN(100), word(), word(), r.IntN(2) == 0)
	}
	return b.Bytes()[:n]
}

// randomBytes returns n incompressible bytes.
func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// compressMessage runs one message through c, writing p in pieces of at
// most split bytes (all at once if split is 0).
func compressMessage(t testing.TB, c *Compressor, p []byte, split int) []byte {
	t.Helper()
	var out bytes.Buffer
	c.Begin(&out)
	if split <= 0 {
		split = max(len(p), 1)
	}
	for len(p) > 0 {
		k := min(split, len(p))
		n, err := c.Write(p[:k])
		if err != nil || n != k {
			t.Fatalf("Write(%d bytes) = %d, %v", k, n, err)
		}
		p = p[k:]
	}
	if err := c.Finish(); err != nil {
		t.Fatalf("Finish: %v", err)
	}
	return out.Bytes()
}

// frameReader yields b in reads of at most n bytes, like a message split
// into frames of n bytes.
type frameReader struct {
	b []byte
	n int
}

func (r *frameReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	k := copy(p[:min(len(p), r.n)], r.b)
	r.b = r.b[k:]
	return k, nil
}

// wholeReader is a frameReader that says how much it has left, as a
// connection does for a message in one frame: a Decompressor may then
// inflate it at once (see FrameSource).
type wholeReader struct{ frameReader }

func (r *wholeReader) Rest() int { return len(r.b) }

// decompressMessage inflates one message's payload through d, delivered
// in frames of frame bytes, or if frame is 0 all at once by a
// FrameSource, so that a message that inflates to at most 512 bytes,
// io.ReadAll's first buffer, takes the fast path.
func decompressMessage(d *Decompressor, payload []byte, frame int) ([]byte, error) {
	if frame <= 0 {
		d.Begin(&wholeReader{frameReader{b: payload, n: max(len(payload), 1)}})
	} else {
		d.Begin(&frameReader{b: payload, n: frame})
	}
	return io.ReadAll(d)
}

// refDeflater compresses messages the way RFC 7692 §7.2.1 describes, with
// compress/flate used directly: write, sync flush, drop 00 00 ff ff.
type refDeflater struct {
	w        *flate.Writer
	buf      bytes.Buffer
	takeover bool
}

func newRefDeflater(level int, takeover bool) *refDeflater {
	r := &refDeflater{takeover: takeover}
	r.w, _ = flate.NewWriter(&r.buf, level)
	return r
}

func (r *refDeflater) message(t testing.TB, p []byte) []byte {
	t.Helper()
	if !r.takeover {
		r.w.Reset(&r.buf)
	}
	r.buf.Reset()
	r.w.Write(p)
	r.w.Flush()
	out := bytes.Clone(r.buf.Bytes())
	if !bytes.HasSuffix(out, syncMarker[:]) {
		t.Fatalf("flate flush output % x does not end with 00 00 ff ff", out)
	}
	return out[:len(out)-4]
}

// refInflater inflates messages with compress/flate used directly: append
// 00 00 ff ff (RFC 7692 §7.2.2) and read until the data runs out, which
// flate reports as io.ErrUnexpectedEOF since no final block comes.
type refInflater struct {
	hist     []byte
	takeover bool
}

func (r *refInflater) message(payload []byte) ([]byte, error) {
	in := append(bytes.Clone(payload), syncMarker[:]...)
	fr := flate.NewReaderDict(bytes.NewReader(in), r.hist)
	out, err := io.ReadAll(fr)
	if err != io.ErrUnexpectedEOF {
		return out, fmt.Errorf("flate read ended with %v, want io.ErrUnexpectedEOF", err)
	}
	if r.takeover {
		r.hist = append(r.hist, out...)
		r.hist = r.hist[max(0, len(r.hist)-1<<15):]
	}
	return out, nil
}

var (
	chatUsers = strings.Fields(`alice bob carol dave erin frank grace heidi ivan judy mallory niaj
		olivia peggy rupert sybil trent victor walter`)
	chatRooms = strings.Fields(`general random engineering support release-planning design`)
	chatWords = strings.Fields(`the a to is it that we deploy build looks good thanks can you check
		review merge request tomorrow meeting lunch coffee bug fixed in prod staging why
		not yes no maybe later I think so agreed ping me when done`)
)

// chatEvents returns n JSON events of a chat service, as its server sends
// them to a browser: mostly messages of a few words, with typing and
// presence events between them; ids, times and texts vary, keys and names
// repeat. They average about 200 bytes.
func chatEvents(n int, seed uint64) [][]byte {
	r := rand.New(rand.NewPCG(seed, 3))
	pick := func(s []string) string { return s[r.IntN(len(s))] }
	events := make([][]byte, n)
	ts := int64(1764000000000)
	for i := range events {
		ts += int64(r.IntN(5000))
		u := r.IntN(len(chatUsers))
		switch r.IntN(10) {
		case 0:
			events[i] = fmt.Appendf(nil, `{"type":"typing","room":%q,"user":{"id":%d,"name":%q}}`,
				pick(chatRooms), 1000+u, chatUsers[u])
		case 1:
			events[i] = fmt.Appendf(nil, `{"type":"presence","user":{"id":%d,"name":%q},"status":%q,"ts":%d}`,
				1000+u, chatUsers[u], pick([]string{"online", "away", "offline"}), ts)
		default:
			words := make([]string, 3+r.IntN(15))
			for j := range words {
				words[j] = pick(chatWords)
			}
			events[i] = fmt.Appendf(nil, `{"type":"message","id":"%016x","room":%q,"user":{"id":%d,"name":%q,"avatar":"https://cdn.example.com/avatars/%d.png"},"text":%q,"ts":%d,"reactions":[]}`,
				r.Uint64(), pick(chatRooms), 1000+u, chatUsers[u], 1000+u, strings.Join(words, " "), ts)
		}
	}
	return events
}
