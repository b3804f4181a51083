package suite

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"

	"github.com/twoway/websocket/internal/rawpeer"
)

// compressionSizes are Autobahn's message sizes and auto-fragmentation
// sizes for 12.x and 13.x, in order; each subsection has one case per
// entry.
var compressionSizes = [...]struct{ size, frag int }{
	{16, 0}, {64, 0}, {256, 0}, {1024, 0}, {4096, 0}, {8192, 0}, {16384, 0}, {32768, 0}, {65536, 0}, {131072, 0},
	{8192, 256}, {16384, 256}, {32768, 256}, {65536, 256}, {131072, 256},
	{131072, 1024}, {131072, 4096}, {131072, 32768},
}

// dataset stands in for one of Autobahn's compression test files, which
// are not available here: generated data of the same size and kind.
type dataset struct {
	desc   string
	binary bool
	size   int
	gen    func(n int) []byte
}

// datasets returns the data sets of 12.1 to 12.5, in Autobahn's order.
func datasets() []dataset {
	return []dataset{
		{"Large JSON data file (generated)", false, 194237, genJSON},
		{"Bitmap 512x512 (generated)", true, 263222, genBitmap},
		{"Human readable German text (generated)", true, 222218, genText},
		{"Large HTML file (generated)", false, 83599, genHTML},
		{"A larger PDF (generated, mostly incompressible)", true, 1042328, genPDF},
	}
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }

var words = strings.Fields("und der die das ist nicht ich du wir sie Faust Mephistopheles Gretchen " +
	"Geist Welt Himmel Erde Nacht Herz Stunde Wissen Kraft schön groß müssen können Zauber " +
	"Studierzimmer Straße Garten Brunnen Kerker Walpurgisnacht Osterspaziergang Überdruß Glück Träume")

func genText(n int) []byte {
	r := newRand(1)
	var b strings.Builder
	for b.Len() < n {
		line := 4 + r.IntN(8)
		for i := range line {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(words[r.IntN(len(words))])
		}
		b.WriteString(".\n")
	}
	return []byte(b.String())[:n]
}

// asciiWords are the words without umlauts: text messages are cut from
// the data at any byte, which must not split a character.
func asciiWords() []string {
	var out []string
	for _, w := range words {
		if isASCII(w) {
			out = append(out, w)
		}
	}
	return out
}

func isASCII(s string) bool {
	for i := range len(s) {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func genJSON(n int) []byte {
	r := newRand(2)
	words := asciiWords()
	var b strings.Builder
	b.WriteString("[\n")
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, `  {"id": %d, "name": "%s %s", "active": %v, "score": %d.%02d, "tags": ["%s", "%s"]},`+"\n",
			i, words[r.IntN(len(words))], words[r.IntN(len(words))], r.IntN(2) == 0, r.IntN(1000), r.IntN(100),
			words[r.IntN(len(words))], words[r.IntN(len(words))])
	}
	return []byte(b.String())[:n]
}

func genHTML(n int) []byte {
	r := newRand(3)
	words := asciiWords()
	var b strings.Builder
	b.WriteString("<!DOCTYPE html>\n<html><body>\n")
	for b.Len() < n {
		fmt.Fprintf(&b, "<div class=\"item-%d\"><h2>%s</h2><p>%s %s %s</p><a href=\"/page/%d\">more</a></div>\n",
			r.IntN(50), words[r.IntN(len(words))], words[r.IntN(len(words))], words[r.IntN(len(words))], words[r.IntN(len(words))], r.IntN(10000))
	}
	return []byte(b.String())[:n]
}

func genBitmap(n int) []byte {
	r := newRand(4)
	b := make([]byte, n)
	for i := range b {
		x, y := i%512, i/512
		b[i] = byte((x*x+y*y)>>9) + byte(r.IntN(4))
	}
	return b
}

func genPDF(n int) []byte {
	r := newRand(5)
	b := make([]byte, 0, n)
	for len(b) < n {
		// Stretches of random bytes, as in compressed streams, between
		// bits of readable structure.
		for range 2000 {
			b = append(b, byte(r.Uint32()))
		}
		b = fmt.Appendf(b, "\nendstream endobj %d 0 obj << /Length %d /Filter /FlateDecode >> stream\n", r.IntN(9999), r.IntN(99999))
	}
	return b[:n]
}

// Sections 12 and 13: compression. The suite plays Autobahn's offers and
// answers (see deflateParams) and checks each echo whole.
func compressionCases(opts Options) []Case {
	rounds := 3 // enough for context takeover to carry from message to message
	if opts.Full {
		rounds = 1000
	}
	var cs []Case
	sets := datasets()
	// Each data set is generated when a case first needs it, once.
	data := make([]func() []byte, len(sets))
	for i, d := range sets {
		data[i] = sync.OnceValue(func() []byte { return d.gen(d.size) })
	}
	add := func(id, desc string, set int, params *deflateParams, i int) {
		if opts.Short && i != 0 && i != len(compressionSizes)-1 {
			return
		}
		sz := compressionSizes[i]
		d, data := sets[set], data[set]
		cs = append(cs, Case{ID: id, deflate: params,
			Description: fmt.Sprintf("Send %d compressed messages of %d bytes of %s, auto-fragmented to %d octets. %s",
				rounds, sz.size, d.desc, sz.frag, desc),
			script: func(s *session) { compressedRoundTrips(s, data(), d.binary, sz.size, sz.frag, rounds) }})
	}
	defaultParams := &deflateParams{
		offers: []deflateOffer{{acceptNoContextTakeover: true, acceptMaxWindowBits: true}},
		accept: acceptWith([2]int{0, 0}),
	}
	for j := range sets {
		for i := range compressionSizes {
			add(fmt.Sprintf("12.%d.%d", j+1, i+1), "Default offer.", j, defaultParams, i)
		}
	}
	offer := func(noTakeover bool, bits int) deflateOffer {
		return deflateOffer{acceptNoContextTakeover: true, acceptMaxWindowBits: true, requestNoContextTakeover: noTakeover, requestMaxWindowBits: bits}
	}
	paramSets := []struct {
		offers []deflateOffer
		accept [][2]int // server asks of the client: (no context takeover, max window bits)
	}{
		{[]deflateOffer{offer(false, 0)}, [][2]int{{0, 0}}},
		{[]deflateOffer{offer(true, 0)}, [][2]int{{1, 0}}},
		{[]deflateOffer{offer(false, 8)}, [][2]int{{0, 8}}},
		{[]deflateOffer{offer(false, 15)}, [][2]int{{0, 15}}},
		{[]deflateOffer{offer(true, 8)}, [][2]int{{1, 8}}},
		{[]deflateOffer{offer(true, 15)}, [][2]int{{1, 15}}},
		{[]deflateOffer{offer(true, 8), offer(true, 0), offer(false, 0)}, [][2]int{{1, 8}, {1, 0}, {0, 0}}},
	}
	for j, ps := range paramSets {
		var offers []string
		for _, o := range ps.offers {
			offers = append(offers, o.String())
		}
		desc := fmt.Sprintf("Client offers %q; server asks of the client (no context takeover, max window bits) %v.", strings.Join(offers, ", "), ps.accept)
		params := &deflateParams{offers: ps.offers, accept: acceptWith(ps.accept...)}
		for i := range compressionSizes {
			add(fmt.Sprintf("13.%d.%d", j+1, i+1), desc, 0, params, i)
		}
	}
	return cs
}

// compressedRoundTrips sends rounds messages of size bytes taken in turn
// from d, compressed, each after the echo of the last.
func compressedRoundTrips(s *session, data []byte, binary bool, size, frag, rounds int) {
	want := make([]Event, rounds)
	pos := 0
	for i := range want {
		var p []byte
		if pos+size <= len(data) {
			p = data[pos : pos+size]
		} else {
			// Wrap around, as many times as the size needs.
			p = make([]byte, 0, size)
			for k := pos; len(p) < size; k = 0 {
				p = append(p, data[k:min(len(data), k+size-len(p))]...)
			}
		}
		pos = (pos + size) % len(data)
		want[i] = Event{Kind: Message, Payload: p, Binary: binary}
	}
	s.roundTrips(want, func(e Event) {
		op := rawpeer.OpText
		if e.Binary {
			op = rawpeer.OpBinary
		}
		z := s.compress.deflate(e.Payload)
		n := frag
		if n <= 0 {
			n = len(z)
		}
		frames := fragments(op, z, max(n, 1))
		frames[0].RSV = rawpeer.RSV1
		s.send(frames...)
	})
}
