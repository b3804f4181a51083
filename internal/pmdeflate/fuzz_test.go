package pmdeflate

import (
	"bytes"
	"compress/flate"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/twoway/websocket/handshake"
)

// FuzzDecompressor feeds arbitrary payloads to a Decompressor, twice so
// that the second inflates against the first's window. It must not panic,
// must fail only with ErrCorrupt, and must agree with compress/flate.
func FuzzDecompressor(f *testing.F) {
	valid := newRefDeflater(flate.BestSpeed, false).message(f, jsonText(3000, 1))
	f.Add(valid, true, uint8(15), uint16(0))
	f.Add(valid, false, uint8(9), uint16(7))
	f.Add([]byte{0x00}, true, uint8(15), uint16(0))
	f.Add([]byte{}, false, uint8(15), uint16(1))
	f.Add([]byte{0x03, 0x00}, true, uint8(15), uint16(0))
	f.Add([]byte{0x02, 0x02}, false, uint8(15), uint16(0))
	f.Add([]byte{0x00, 0x0a, 0x00, 0xf5, 0xff, 'a', 'b'}, false, uint8(8), uint16(1))
	f.Add(bytes.Repeat([]byte{0xff}, 20), true, uint8(12), uint16(3))
	f.Fuzz(func(t *testing.T, payload []byte, takeover bool, bits uint8, frame uint16) {
		const limit = 1 << 20
		d := NewDecompressor(8+int(bits%8), takeover)
		defer d.Release()
		for i := range 2 {
			if frame%2 == 0 {
				// All there at once: the fast path, if the first
				// Read's buffer is large enough.
				d.Begin(&wholeReader{frameReader{b: payload, n: 1 + int(frame)}})
			} else {
				d.Begin(&frameReader{b: payload, n: 1 + int(frame)})
			}
			got, err := readSized(io.LimitReader(d, limit), int(frame))
			// errAbandoned follows a first message cut off at the limit.
			if err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, errAbandoned) {
				t.Fatalf("message %d: error %v does not wrap ErrCorrupt", i, err)
			}
			if i > 0 || err != nil || len(got) == limit {
				continue
			}
			in := append(bytes.Clone(payload), messageEnd[:]...)
			want, ferr := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(in)), limit))
			if ferr != nil || !bytes.Equal(got, want) {
				t.Fatalf("inflated %d bytes; compress/flate: %d bytes, %v", len(got), len(want), ferr)
			}
		}
	})
}

// FuzzRoundTrip compresses arbitrary messages and checks that they inflate
// to themselves, and that no back-reference leaves the window.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte("hello, hello, hello"), int8(0), uint8(15), true, uint16(0))
	f.Add(jsonText(2000, 1), int8(6), uint8(9), true, uint16(13))
	f.Add(jsonText(600, 2), int8(-2), uint8(8), false, uint16(1))
	f.Add(randomBytes(300, 3), int8(9), uint8(12), false, uint16(100))
	f.Add([]byte{}, int8(1), uint8(10), true, uint16(0))
	f.Fuzz(func(t *testing.T, msg []byte, level int8, bits uint8, takeover bool, split uint16) {
		windowBits := 8 + int(bits%8)
		c := NewCompressor(int(level), windowBits, takeover)
		d := NewDecompressor(windowBits, takeover)
		defer c.Release()
		defer d.Release()
		var hist []byte
		for i, m := range [][]byte{msg, msg[len(msg)/2:], msg} {
			payload := compressMessage(t, c, m, int(split))
			got, err := decompressMessage(d, payload, 1+int(split)*3)
			if err != nil {
				t.Fatalf("message %d: %v", i, err)
			}
			if !bytes.Equal(got, m) {
				t.Fatalf("message %d: got %d bytes, want %d", i, len(got), len(m))
			}
			if !takeover {
				hist = nil
			}
			_, dist, err := refInflate(hist, append(payload, syncMarker[:]...))
			if err != nil {
				t.Fatalf("message %d: refInflate: %v", i, err)
			}
			if dist > 1<<windowBits {
				t.Fatalf("message %d: a back-reference reaches %d bytes back; window is %d", i, dist, 1<<windowBits)
			}
			hist = append(hist, m...)
		}
	})
}

// parseElements splits a header value such as
// "permessage-deflate; client_max_window_bits, permessage-deflate" into
// elements, loosely: the handshake package does the real parsing.
func parseElements(header string) []handshake.Extension {
	var exts []handshake.Extension
	for elem := range strings.SplitSeq(header, ",") {
		parts := strings.Split(elem, ";")
		e := handshake.Extension{Name: strings.TrimSpace(parts[0])}
		for _, p := range parts[1:] {
			name, value, _ := strings.Cut(p, "=")
			e.Params = append(e.Params, handshake.ExtensionParam{
				Name:  strings.TrimSpace(name),
				Value: strings.Trim(strings.TrimSpace(value), `"`),
			})
		}
		exts = append(exts, e)
	}
	return exts
}

// FuzzNegotiate negotiates arbitrary offers: no panic, and every accepted
// offer gets a response that parses and honours what the offer asked.
func FuzzNegotiate(f *testing.F) {
	f.Add("permessage-deflate")
	f.Add("permessage-deflate; client_no_context_takeover; client_max_window_bits")
	f.Add("permessage-deflate; server_no_context_takeover; server_max_window_bits=8, permessage-deflate")
	f.Add(`permessage-deflate; client_max_window_bits="10"; server_max_window_bits=15`)
	f.Add("permessage-deflate; server_max_window_bits; server_max_window_bits=9")
	f.Add("permessage-deflate; foo=bar; client_no_context_takeover=1")
	f.Add("x-webkit-deflate-frame; no_context_takeover")
	servers := []*ServerExtension{
		NewServerExtension(Config{}),
		NewServerExtension(Config{ServerNoContextTakeover: true, ServerMaxWindowBits: 10, ClientMaxWindowBits: 9}),
	}
	client := NewClientExtension(Config{})
	f.Fuzz(func(t *testing.T, header string) {
		for _, offer := range parseElements(header) {
			offered, offerErr := parseParamSet(offer, true)
			for _, s := range servers {
				resp, ok := s.Negotiate(offer)
				if ok != (offerErr == nil) {
					t.Fatalf("Negotiate(%v) accepted %t; offer error %v", offer, ok, offerErr)
				}
				if !ok {
					continue
				}
				p, err := ParseParams(resp)
				if err != nil {
					t.Fatalf("Negotiate(%v) = %v, which does not parse: %v", offer, resp, err)
				}
				got, _ := parseParamSet(resp, false)
				switch {
				case offered.serverNoContextTakeover && !p.ServerNoContextTakeover:
					t.Fatalf("Negotiate(%v) = %v: server_no_context_takeover dropped", offer, resp)
				case offered.serverMaxWindowBits != 0 && (got.serverMaxWindowBits == 0 || got.serverMaxWindowBits > offered.serverMaxWindowBits):
					t.Fatalf("Negotiate(%v) = %v: server_max_window_bits not honoured", offer, resp)
				case got.hasClientMaxWindowBits && !offered.hasClientMaxWindowBits:
					t.Fatalf("Negotiate(%v) = %v: client_max_window_bits not offered", offer, resp)
				case offered.clientMaxWindowBits != 0 && p.ClientMaxWindowBits > offered.clientMaxWindowBits:
					t.Fatalf("Negotiate(%v) = %v: client_max_window_bits above the offer", offer, resp)
				}
			}
			// The same element as a response to our client.
			if err := client.Accept(offer); err == nil {
				if _, err := ParseParams(offer); err != nil {
					t.Fatalf("Accept(%v) succeeded but ParseParams failed: %v", offer, err)
				}
			}
		}
	})
}

// readSized reads r to its end as io.ReadAll does, but with a first buffer
// of size bytes.
func readSized(r io.Reader, size int) ([]byte, error) {
	b := make([]byte, 0, max(size, 1))
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
	}
}
