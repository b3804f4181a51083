package suite

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/twoway/websocket/internal/rawpeer"
)

// This file is the suite's own permessage-deflate (RFC 7692): parameter
// negotiation and the message transform, on compress/flate, sharing no
// code with the implementation under test.

const extensionName = "permessage-deflate"

// deflateOffer is one permessage-deflate offer, with Autobahn's meaning of
// its parameters.
type deflateOffer struct {
	acceptNoContextTakeover  bool // client_no_context_takeover
	acceptMaxWindowBits      bool // client_max_window_bits, without a value
	requestNoContextTakeover bool // server_no_context_takeover
	requestMaxWindowBits     int  // server_max_window_bits=N; 0 for none
	clientMaxWindowBits      int  // client_max_window_bits=N, when the offer has a value
}

func (o deflateOffer) String() string {
	s := extensionName
	if o.acceptNoContextTakeover {
		s += "; client_no_context_takeover"
	}
	switch {
	case o.clientMaxWindowBits != 0:
		s += "; client_max_window_bits=" + strconv.Itoa(o.clientMaxWindowBits)
	case o.acceptMaxWindowBits:
		s += "; client_max_window_bits"
	}
	if o.requestNoContextTakeover {
		s += "; server_no_context_takeover"
	}
	if o.requestMaxWindowBits != 0 {
		s += "; server_max_window_bits=" + strconv.Itoa(o.requestMaxWindowBits)
	}
	return s
}

// deflateAgreement is the server's response: the parameters in force.
type deflateAgreement struct {
	serverNoContextTakeover bool
	clientNoContextTakeover bool
	serverMaxWindowBits     int // 0 means 15
	clientMaxWindowBits     int // 0 means 15
}

func (a deflateAgreement) String() string {
	s := extensionName
	if a.serverNoContextTakeover {
		s += "; server_no_context_takeover"
	}
	if a.clientNoContextTakeover {
		s += "; client_no_context_takeover"
	}
	if a.serverMaxWindowBits != 0 {
		s += "; server_max_window_bits=" + strconv.Itoa(a.serverMaxWindowBits)
	}
	if a.clientMaxWindowBits != 0 {
		s += "; client_max_window_bits=" + strconv.Itoa(a.clientMaxWindowBits)
	}
	return s
}

// deflateParams is what a compression case negotiates: the offers the
// suite makes as a client, and how it answers as a server.
type deflateParams struct {
	offers []deflateOffer
	// accept requests client_no_context_takeover and client_max_window_bits
	// of the client (Autobahn's requestNoContextTakeover and
	// requestMaxWindowBits); ok false declines every offer.
	accept func(offers []deflateOffer) (a deflateAgreement, ok bool)
}

// acceptWith returns an accept function that takes the first offer it can
// and asks the client for noTakeover and bits (0: no limit). Unlike
// Autobahn's fuzzing server, which asks for client_no_context_takeover only
// when the offer has that parameter, it asks regardless, as RFC 7692
// §7.1.1.2 allows; client_max_window_bits it asks only of an offer that has
// the parameter (§7.1.2.2).
func acceptWith(choices ...[2]int) func([]deflateOffer) (deflateAgreement, bool) {
	return func(offers []deflateOffer) (deflateAgreement, bool) {
		for _, c := range choices {
			noTakeover, bits := c[0] == 1, c[1]
			for _, o := range offers {
				if bits != 0 && !o.acceptMaxWindowBits && o.clientMaxWindowBits == 0 {
					continue
				}
				a := deflateAgreement{
					serverNoContextTakeover: o.requestNoContextTakeover,
					serverMaxWindowBits:     o.requestMaxWindowBits,
					clientNoContextTakeover: noTakeover,
					clientMaxWindowBits:     bits,
				}
				if o.clientMaxWindowBits != 0 && (bits == 0 || o.clientMaxWindowBits < bits) {
					a.clientMaxWindowBits = o.clientMaxWindowBits
				}
				return a, true
			}
		}
		return deflateAgreement{}, false
	}
}

// DialOptions returns how to dial for c: with the offers of a compression
// case, plain otherwise.
func (c Case) DialOptions() *rawpeer.DialOptions {
	if c.deflate == nil {
		return nil
	}
	var offers []string
	for _, o := range c.deflate.offers {
		offers = append(offers, o.String())
	}
	return &rawpeer.DialOptions{Header: http.Header{"Sec-Websocket-Extensions": {strings.Join(offers, ", ")}}}
}

// AcceptHeader returns the extra response headers for a client's
// handshake request r, for use as rawpeer.ListenOptions.Header: the answer
// to its permessage-deflate offers when c is a compression case.
func (c Case) AcceptHeader(r *http.Request) http.Header {
	if c.deflate == nil {
		return nil
	}
	offers, err := parseOffers(r.Header)
	if err != nil {
		return nil
	}
	a, ok := c.deflate.accept(offers)
	if !ok {
		return nil
	}
	return http.Header{"Sec-Websocket-Extensions": {a.String()}}
}

// agreed works out the compression in force on p's connection: from the
// server's response when the suite is the client, from its own answer
// when it is the server. It returns nil when there is none, and an error
// when the implementation's response breaks RFC 7692 §7.1.
func (d *deflateParams) agreed(p *rawpeer.Peer) (*compressor, error) {
	if !p.IsClient() {
		offers, err := parseOffers(p.HandshakeHeader())
		if err != nil {
			return nil, err
		}
		a, ok := d.accept(offers)
		if !ok {
			return nil, nil
		}
		return newCompressor(a, false), nil
	}
	exts, err := parseExtensions(p.HandshakeHeader())
	if err != nil {
		return nil, err
	}
	if len(exts) == 0 {
		return nil, nil
	}
	if len(exts) > 1 || exts[0].name != extensionName {
		return nil, fmt.Errorf("the server answered with extensions %v, not offered", exts)
	}
	a, err := parseAgreement(exts[0].params)
	if err != nil {
		return nil, err
	}
	// The response must fit one of the offers (RFC 7692 §7.1.1, §7.1.2).
	for _, o := range d.offers {
		if o.requestNoContextTakeover && !a.serverNoContextTakeover {
			continue
		}
		if o.requestMaxWindowBits != 0 && (a.serverMaxWindowBits == 0 || a.serverMaxWindowBits > o.requestMaxWindowBits) {
			continue
		}
		if a.clientMaxWindowBits != 0 && !o.acceptMaxWindowBits && o.clientMaxWindowBits == 0 {
			continue
		}
		// The suite offered client_no_context_takeover as a promise not
		// to take over, and keeps it even if the server did not ask.
		if o.acceptNoContextTakeover {
			a.clientNoContextTakeover = true
		}
		return newCompressor(a, true), nil
	}
	return nil, fmt.Errorf("the server's response %q fits none of the offers", p.HandshakeHeader().Get("Sec-WebSocket-Extensions"))
}

type extension struct {
	name   string
	params map[string]string // "" for a parameter without value
}

// parseExtensions parses Sec-WebSocket-Extensions (RFC 6455 §9.1),
// rejecting duplicate parameters.
func parseExtensions(h http.Header) ([]extension, error) {
	var exts []extension
	for _, v := range h.Values("Sec-WebSocket-Extensions") {
		for item := range strings.SplitSeq(v, ",") {
			parts := strings.Split(item, ";")
			name := strings.TrimSpace(parts[0])
			if name == "" {
				continue
			}
			e := extension{name: name, params: map[string]string{}}
			for _, p := range parts[1:] {
				k, val, _ := strings.Cut(p, "=")
				k = strings.TrimSpace(k)
				val = strings.Trim(strings.TrimSpace(val), `"`)
				if _, dup := e.params[k]; dup {
					return nil, fmt.Errorf("parameter %s repeated in %q", k, item)
				}
				e.params[k] = val
			}
			exts = append(exts, e)
		}
	}
	return exts, nil
}

// parseOffers returns the permessage-deflate offers in h, ignoring other
// extensions.
func parseOffers(h http.Header) ([]deflateOffer, error) {
	exts, err := parseExtensions(h)
	if err != nil {
		return nil, err
	}
	var offers []deflateOffer
	for _, e := range exts {
		if e.name != extensionName {
			continue
		}
		var o deflateOffer
		ok := true
		for k, v := range e.params {
			switch k {
			case "client_no_context_takeover":
				o.acceptNoContextTakeover = v == ""
				ok = ok && v == ""
			case "server_no_context_takeover":
				o.requestNoContextTakeover = v == ""
				ok = ok && v == ""
			case "client_max_window_bits":
				o.acceptMaxWindowBits = true
				if v != "" {
					o.clientMaxWindowBits, ok = windowBitsValue(v)
				}
			case "server_max_window_bits":
				o.requestMaxWindowBits, ok = windowBitsValue(v)
			default:
				ok = false
			}
			if !ok {
				break
			}
		}
		if ok {
			offers = append(offers, o)
		}
	}
	return offers, nil
}

func parseAgreement(params map[string]string) (deflateAgreement, error) {
	var a deflateAgreement
	for k, v := range params {
		ok := true
		switch k {
		case "client_no_context_takeover":
			a.clientNoContextTakeover, ok = true, v == ""
		case "server_no_context_takeover":
			a.serverNoContextTakeover, ok = true, v == ""
		case "client_max_window_bits":
			a.clientMaxWindowBits, ok = windowBitsValue(v)
		case "server_max_window_bits":
			a.serverMaxWindowBits, ok = windowBitsValue(v)
		default:
			ok = false
		}
		if !ok {
			return a, fmt.Errorf("bad permessage-deflate parameter %s=%q in the response", k, v)
		}
	}
	return a, nil
}

func windowBitsValue(v string) (int, bool) {
	n, err := strconv.Atoi(v)
	return n, err == nil && n >= 8 && n <= 15 && strconv.Itoa(n) == v
}

// compressor is the suite's end of a permessage-deflate connection.
type compressor struct {
	agreement   deflateAgreement
	sendReset   bool // start every message we send afresh (no context takeover)
	recvReset   bool // the implementation starts every message afresh
	fw          *flate.Writer
	out         bytes.Buffer
	dict        []byte // the last 32 KiB the implementation sent, for takeover
	maxInflated int64
}

func newCompressor(a deflateAgreement, client bool) *compressor {
	c := &compressor{agreement: a, maxInflated: 1 << 30}
	ourBits, peerReset := a.serverMaxWindowBits, a.clientNoContextTakeover
	c.sendReset = a.serverNoContextTakeover
	if client {
		ourBits, peerReset = a.clientMaxWindowBits, a.serverNoContextTakeover
		c.sendReset = a.clientNoContextTakeover
	}
	c.recvReset = peerReset
	level := flate.BestSpeed
	if ourBits != 0 && ourBits < 15 {
		// compress/flate always uses a 32 KiB window; a smaller one is
		// honored by making no back-references at all.
		level = flate.HuffmanOnly
	}
	c.fw, _ = flate.NewWriter(&c.out, level)
	return c
}

// deflate compresses one message (RFC 7692 §7.2.1): a sync flush, without
// its final empty block's 4 bytes.
func (c *compressor) deflate(p []byte) []byte {
	c.out.Reset()
	if c.sendReset {
		c.fw.Reset(&c.out)
	}
	c.fw.Write(p)
	c.fw.Flush()
	b := c.out.Bytes()
	b = bytes.TrimSuffix(b, []byte{0x00, 0x00, 0xff, 0xff})
	return append([]byte(nil), b...)
}

// inflate decompresses one message (RFC 7692 §7.2.2).
func (c *compressor) inflate(p []byte) ([]byte, error) {
	in := bytes.NewReader(append(append([]byte(nil), p...), 0x00, 0x00, 0xff, 0xff))
	var dict []byte
	if !c.recvReset {
		dict = c.dict
	}
	r := flate.NewReaderDict(in, dict)
	out, err := io.ReadAll(io.LimitReader(r, c.maxInflated))
	// The stream ends without a final block: the reader runs out of input
	// where the next block would start.
	if err != nil && !(errors.Is(err, io.ErrUnexpectedEOF) && in.Len() == 0) {
		return nil, err
	}
	if !c.recvReset {
		c.dict = append(c.dict, out...)
		if n := len(c.dict); n > 32<<10 {
			c.dict = append([]byte(nil), c.dict[n-32<<10:]...)
		}
	}
	return out, nil
}
