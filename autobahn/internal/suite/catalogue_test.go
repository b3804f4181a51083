package suite

import (
	"bytes"
	"compress/flate"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/twoway/websocket/autobahn/internal/report"
)

func TestCatalogueMatchesAutobahn(t *testing.T) {
	cs := Cases(Options{Full: true})
	// wstest 0.8 runs 517 cases: these are its counts by section.
	want := map[string]int{"1": 16, "2": 11, "3": 7, "4": 10, "5": 20, "6": 145, "7": 37, "9": 54, "10": 1, "12": 90, "13": 126}
	got := map[string]int{}
	seen := map[string]bool{}
	for i, c := range cs {
		got[report.Section(c.ID)]++
		if seen[c.ID] {
			t.Errorf("duplicate id %s", c.ID)
		}
		seen[c.ID] = true
		if i > 0 && report.CompareIDs(cs[i-1].ID, c.ID) >= 0 {
			t.Errorf("%s comes after %s", c.ID, cs[i-1].ID)
		}
		if c.Description == "" || c.script == nil {
			t.Errorf("%s has no description or script", c.ID)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("cases by section (-want +got):\n%s", diff)
	}
	for _, id := range []string{"1.1.8", "2.11", "4.2.5", "5.20", "6.4.4", "6.5.1", "6.22.34", "6.23.7", "7.7.13", "7.9.9", "7.13.2", "9.8.6", "10.1.1", "12.5.18", "13.7.18"} {
		if !seen[id] {
			t.Errorf("case %s is missing", id)
		}
	}
}

func TestCatalogueOptions(t *testing.T) {
	count := func(o Options, prefix string) int {
		n := 0
		for _, c := range Cases(o) {
			if len(c.ID) > len(prefix) && c.ID[:len(prefix)] == prefix {
				n++
			}
		}
		return n
	}
	if n := count(Options{}, "9."); n != 54 {
		t.Errorf("default run has %d cases in section 9, want 54", n)
	}
	if n := count(Options{Short: true}, "9."); n != 8 {
		t.Errorf("short run has %d cases in section 9, want 8", n)
	}
	if n := count(Options{Short: true}, "12."); n != 10 {
		t.Errorf("short run has %d cases in section 12, want 10", n)
	}
}

func TestUTF8Vectors(t *testing.T) {
	// Every vector's verdict must be RFC 3629's, which utf8.Valid follows.
	for i, g := range utf8Sequences() {
		for j, s := range g.seqs {
			if s.valid != utf8.Valid(s.bytes) {
				t.Errorf("6.%d.%d (%s): %x marked valid=%v", i+5, j+1, g.name, s.bytes, s.valid)
			}
		}
	}
}

func TestFragments(t *testing.T) {
	fs := fragments(1, []byte("abcdefg"), 3)
	var got []string
	for _, f := range fs {
		got = append(got, f.String())
	}
	want := []string{`text len=3 "abc"`, `continuation len=3 "def"`, `continuation fin len=1 "g"`}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("fragments (-want +got):\n%s", diff)
	}
	if fs := fragments(2, nil, 3); len(fs) != 1 || !fs[0].Fin || fs[0].Opcode != 2 {
		t.Errorf("fragments of nothing = %v, want one final frame", fs)
	}
}

func TestEventsEqual(t *testing.T) {
	a := []Event{textEvent([]byte("x")), pongEvent(nil)}
	if !eventsEqual(a, []Event{textEvent([]byte("x")), pongEvent([]byte{})}) {
		t.Errorf("equal events compare unequal")
	}
	for _, b := range [][]Event{
		{binaryEvent([]byte("x")), pongEvent(nil)},
		{textEvent([]byte("y")), pongEvent(nil)},
		{textEvent([]byte("x"))},
		{textEvent([]byte("x")), {Kind: Ping}},
	} {
		if eventsEqual(a, b) {
			t.Errorf("eventsEqual(%v, %v) = true", a, b)
		}
	}
}

func TestParseOffers(t *testing.T) {
	h := http.Header{"Sec-Websocket-Extensions": {
		`x-other, permessage-deflate; client_max_window_bits; server_max_window_bits=10`,
		`permessage-deflate; client_no_context_takeover; client_max_window_bits="9", permessage-deflate; bogus`,
	}}
	got, err := parseOffers(h)
	if err != nil {
		t.Fatal(err)
	}
	want := []deflateOffer{
		{acceptMaxWindowBits: true, requestMaxWindowBits: 10},
		{acceptNoContextTakeover: true, acceptMaxWindowBits: true, clientMaxWindowBits: 9},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(deflateOffer{})); diff != "" {
		t.Errorf("parseOffers (-want +got):\n%s", diff)
	}
	if _, err := parseOffers(http.Header{"Sec-Websocket-Extensions": {"permessage-deflate; a; a"}}); err == nil {
		t.Errorf("repeated parameter: no error")
	}
}

func TestAcceptWith(t *testing.T) {
	plain := deflateOffer{}
	full := deflateOffer{acceptNoContextTakeover: true, acceptMaxWindowBits: true, requestNoContextTakeover: true, requestMaxWindowBits: 9}
	tests := []struct {
		name    string
		choices [][2]int
		offers  []deflateOffer
		want    string
		ok      bool
	}{
		{"accept as is", [][2]int{{0, 0}}, []deflateOffer{plain}, "permessage-deflate", true},
		{"ask no takeover of any client", [][2]int{{1, 0}}, []deflateOffer{plain}, "permessage-deflate; client_no_context_takeover", true},
		{"window bits need the parameter", [][2]int{{0, 8}}, []deflateOffer{plain}, "", false},
		{"grant what the client asks", [][2]int{{1, 8}}, []deflateOffer{full},
			"permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=8", true},
		{"fall back", [][2]int{{0, 8}, {0, 0}}, []deflateOffer{plain}, "permessage-deflate", true},
	}
	for _, tc := range tests {
		a, ok := acceptWith(tc.choices...)(tc.offers)
		if ok != tc.ok || ok && a.String() != tc.want {
			t.Errorf("%s: got %q, %v; want %q, %v", tc.name, a.String(), ok, tc.want, tc.ok)
		}
	}
}

func TestCompressorRoundTrip(t *testing.T) {
	msgs := [][]byte{nil, []byte("hello hello hello"), bytes.Repeat([]byte("abc"), 30000), []byte("hello hello hello")}
	for _, a := range []deflateAgreement{
		{},
		{clientNoContextTakeover: true, serverNoContextTakeover: true},
		{clientMaxWindowBits: 8, serverMaxWindowBits: 8},
	} {
		client, server := newCompressor(a, true), newCompressor(a, false)
		for i, m := range msgs {
			z := client.deflate(m)
			if len(m) == 0 && !bytes.Equal(z, []byte{0}) {
				t.Errorf("%v: empty message compressed to %x, want 00 (RFC 7692 §7.2.3.6)", a, z)
			}
			got, err := server.inflate(z)
			if err != nil || !bytes.Equal(got, m) {
				t.Fatalf("%v: message %d: inflate = %d bytes, %v; want %d bytes", a, i, len(got), err, len(m))
			}
			// And by compress/flate alone, for messages sent without
			// takeover: the bytes are a plain DEFLATE stream.
			if client.sendReset {
				r := flate.NewReader(bytes.NewReader(append(z, 0, 0, 0xff, 0xff)))
				plain, _ := io.ReadAll(r)
				if !bytes.Equal(plain, m) {
					t.Errorf("%v: message %d does not inflate on its own", a, i)
				}
			}
		}
	}
}

func TestCompressorTakeover(t *testing.T) {
	c := newCompressor(deflateAgreement{}, true)
	m := bytes.Repeat([]byte("context takeover "), 100)
	first, second := c.deflate(m), c.deflate(m)
	if len(second) >= len(first) {
		t.Errorf("the second copy took %d bytes, the first %d: no context takeover?", len(second), len(first))
	}
	d := newCompressor(deflateAgreement{}, false)
	for _, z := range [][]byte{first, second} {
		if got, err := d.inflate(z); err != nil || !bytes.Equal(got, m) {
			t.Fatalf("inflate with takeover: %v", err)
		}
	}
	fresh := newCompressor(deflateAgreement{}, false)
	if got, err := fresh.inflate(second); err == nil && bytes.Equal(got, m) {
		t.Errorf("the second message inflated without its context")
	}
}

func TestInflateGarbage(t *testing.T) {
	c := newCompressor(deflateAgreement{}, true)
	if _, err := c.inflate([]byte{0xff, 0xff, 0xff}); err == nil {
		t.Errorf("inflate of garbage: no error")
	}
}

func TestDatasets(t *testing.T) {
	for _, d := range datasets() {
		data := d.gen(d.size)
		if len(data) != d.size {
			t.Errorf("%s: %d bytes, want %d", d.desc, len(data), d.size)
		}
		if !d.binary && !utf8.Valid(data) {
			t.Errorf("%s: text data set is not UTF-8", d.desc)
		}
		if !bytes.Equal(d.gen(d.size), data) {
			t.Errorf("%s: not deterministic", d.desc)
		}
	}
}

func FuzzParseExtensions(f *testing.F) {
	f.Add("permessage-deflate; client_max_window_bits")
	f.Add(`x-other, permessage-deflate; client_no_context_takeover; client_max_window_bits="9"`)
	f.Add("permessage-deflate; server_max_window_bits=8; server_no_context_takeover, permessage-deflate")
	f.Add("permessage-deflate; a; a")
	f.Add(",;=,")
	f.Fuzz(func(t *testing.T, v string) {
		h := http.Header{"Sec-Websocket-Extensions": {v}}
		offers, err := parseOffers(h)
		if err != nil {
			return
		}
		for _, o := range offers {
			for _, bits := range []int{o.requestMaxWindowBits, o.clientMaxWindowBits} {
				if bits != 0 && (bits < 8 || bits > 15) {
					t.Fatalf("offer %+v has window bits %d", o, bits)
				}
			}
			// An offer, written out, parses back to itself.
			again, err := parseOffers(http.Header{"Sec-Websocket-Extensions": {o.String()}})
			if err != nil || len(again) != 1 || again[0] != o {
				t.Fatalf("offer %+v wrote %q, which parses to %+v, %v", o, o.String(), again, err)
			}
		}
		exts, _ := parseExtensions(h)
		for _, e := range exts {
			if e.name != extensionName {
				continue
			}
			if a, err := parseAgreement(e.params); err == nil {
				b, err := parseAgreement(mustParams(t, a.String()))
				if err != nil || a != b {
					t.Fatalf("agreement %+v wrote %q, which parses to %+v, %v", a, a.String(), b, err)
				}
			}
		}
	})
}

func mustParams(t *testing.T, v string) map[string]string {
	exts, err := parseExtensions(http.Header{"Sec-Websocket-Extensions": {v}})
	if err != nil || len(exts) != 1 {
		t.Fatalf("parseExtensions(%q) = %v, %v", v, exts, err)
	}
	return exts[0].params
}

func TestWireLog(t *testing.T) {
	for _, n := range []int{0, 3, maxWirelog / 2, maxWirelog/2 + 1, maxWirelog, maxWirelog + 7, 5 * maxWirelog} {
		s := &session{}
		for i := range n {
			s.logf("%d", i)
		}
		got := s.wireLog()
		var nums []string
		for _, e := range got {
			nums = append(nums, e[strings.LastIndex(e, " ")+1:])
		}
		var want []string
		for i := range n {
			if n > maxWirelog && i == maxWirelog/2 {
				want = append(want, "kept")
			}
			if n <= maxWirelog || i < maxWirelog/2 || i >= n-maxWirelog/2 {
				want = append(want, strconv.Itoa(i))
			}
		}
		if diff := cmp.Diff(want, nums); diff != "" {
			t.Errorf("%d entries (-want +got):\n%s", n, diff)
		}
	}
}
