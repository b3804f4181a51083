// Package pmdeflate implements the permessage-deflate WebSocket extension
// of RFC 7692: the negotiation of its parameters (§7.1) and the
// compression and decompression of message payloads (§7.2).
//
// The package knows nothing of frames. A connection negotiates with
// [NewServerExtension] or [NewClientExtension], reads the agreement with
// [ParseParams], and then runs one [Compressor] and one [Decompressor]
// per connection, handing them whole messages as streams.
//
// # Window sizes and memory
//
// With context takeover at the default level and a 32 KiB window the
// [Compressor] uses an encoder of this package, made for messages of a few
// KiB whose window the connection keeps; otherwise klauspost/compress's,
// which always compress with a 32 KiB window. When the peer limits our
// window to 2^bits < 32 KiB (server_max_window_bits or
// client_max_window_bits below 15), the [Compressor] uses
// klauspost/compress's windowed encoder instead, which keeps every
// back-reference inside the limit. Inflating with a 32 KiB window accepts
// any smaller window from the peer, so the [Decompressor] needs no such
// care.
//
// With context takeover a connection must keep, between messages, what the
// peer may still refer to: the last 2^bits bytes it received, or fewer if
// fewer have come. That is all a [Decompressor] keeps; its inflater is
// pooled and taken for one message at a time. A [Compressor] may refer to
// less of its own output than the peer keeps, so an idle one keeps at most
// 4 KiB of what it sent and primes a pooled encoder with it for the next
// message, while a busy one keeps its encoder (see [Compressor]). A server
// asks clients for a window of [ServerClientWindowBits] by default.
package pmdeflate

import (
	"errors"
	"fmt"
	"strings"

	"github.com/twoway/websocket/handshake"
)

// ExtensionName is the extension token of RFC 7692 §7.
const ExtensionName = "permessage-deflate"

// Parameter names of RFC 7692 §7.1.
const (
	paramServerNoContextTakeover = "server_no_context_takeover"
	paramClientNoContextTakeover = "client_no_context_takeover"
	paramServerMaxWindowBits     = "server_max_window_bits"
	paramClientMaxWindowBits     = "client_max_window_bits"
)

// Window sizes as base-2 logarithms, RFC 7692 §7.1.2.
const (
	minWindowBits = 8
	maxWindowBits = 15
)

// Config is what one endpoint is willing to do. The zero value allows
// context takeover in both directions and 15-bit windows, compresses at the
// package's default level and compresses every message.
type Config struct {
	// ServerNoContextTakeover makes the server start every message with an
	// empty LZ77 window (RFC 7692 §7.1.1.1). A client sets it to save the
	// memory of keeping the server's window; a server sets it to save
	// memory of its own compressor.
	ServerNoContextTakeover bool

	// ClientNoContextTakeover makes the client start every message with an
	// empty LZ77 window (RFC 7692 §7.1.1.2).
	ClientNoContextTakeover bool

	// ServerMaxWindowBits limits the server's LZ77 window to
	// 2^ServerMaxWindowBits bytes (RFC 7692 §7.1.2.1). 0 means 15; other
	// values are clamped to 8..15.
	ServerMaxWindowBits int

	// ClientMaxWindowBits limits the client's LZ77 window to
	// 2^ClientMaxWindowBits bytes (RFC 7692 §7.1.2.2). 0 means 15, except
	// that a server asks for [ServerClientWindowBits] when the client lets
	// it choose and takes over its window; other values are clamped to
	// 8..15.
	ClientMaxWindowBits int

	// Level is the compress/flate level of this endpoint's compressor.
	// 0 selects the package default, flate.BestSpeed, which was the fastest
	// by a wide margin in this package's benchmarks at a modest cost in
	// size; with context takeover and a 32 KiB window it is this
	// package's own encoder. Values
	// outside compress/flate's range also select the default.
	Level int

	// Threshold is the payload length below which a message is sent
	// uncompressed; a connection applies it when it knows the length.
	Threshold int
}

// ServerClientWindowBits is the client_max_window_bits a server asks for by
// default. With context takeover a server keeps as much of what each client
// sent as the client's window, for as long as the connection lasts, and
// browsers, which offer compression on every connection, let the server
// choose. A 4 KiB window rather than 32 KiB saves 28 KiB on every such
// connection. On a stream of JSON chat events, this package's Compressor
// with a 4 KiB window came out 1% larger than with 32 KiB (see
// BenchmarkChatRatio), but it uses a better encoder for windows below 32
// KiB: with the same encoder 32 KiB came out 14% smaller.
const ServerClientWindowBits = 12

// windowBits returns the window size that v denotes in a Config.
func windowBits(v int) int {
	switch {
	case v == 0:
		return maxWindowBits
	case v < minWindowBits:
		return minWindowBits
	case v > maxWindowBits:
		return maxWindowBits
	}
	return v
}

// Params is a negotiated agreement, as stated by an accepted response.
type Params struct {
	// ServerNoContextTakeover and ClientNoContextTakeover report that the
	// server or client compresses every message with an empty window.
	ServerNoContextTakeover, ClientNoContextTakeover bool

	// ServerMaxWindowBits and ClientMaxWindowBits are the largest windows,
	// 8..15, the server and the client may compress with.
	ServerMaxWindowBits, ClientMaxWindowBits int
}

// Compressor returns the compressor for outgoing messages of an endpoint
// that is the server if server is true, configured by cfg. It may be more
// restrained than p allows: a client that offered client_no_context_takeover
// or a client_max_window_bits value keeps to them even when the server's
// response did not repeat them (RFC 7692 §7.1.1.2, §7.1.2.2).
func (p Params) Compressor(server bool, cfg Config) *Compressor {
	if server {
		return NewCompressor(cfg.Level, p.ServerMaxWindowBits, !p.ServerNoContextTakeover)
	}
	bits := min(p.ClientMaxWindowBits, windowBits(cfg.ClientMaxWindowBits))
	return NewCompressor(cfg.Level, bits, !p.ClientNoContextTakeover && !cfg.ClientNoContextTakeover)
}

// Decompressor returns the decompressor for incoming messages of an
// endpoint that is the server if server is true.
func (p Params) Decompressor(server bool) *Decompressor {
	if server {
		return NewDecompressor(p.ClientMaxWindowBits, !p.ClientNoContextTakeover)
	}
	return NewDecompressor(p.ServerMaxWindowBits, !p.ServerNoContextTakeover)
}

// ErrCorrupt is wrapped by the errors a [Decompressor] returns for input
// that is not a valid DEFLATE stream. A connection fails with status 1007
// on it (RFC 6455 §7.4.1).
var ErrCorrupt = errors.New("pmdeflate: invalid compressed data")

// ParamError reports an extension element whose parameters RFC 7692 §7.1
// does not allow, or that do not answer the offer made.
type ParamError struct {
	Param  string // parameter name; empty for the extension name itself
	Value  string // value as received; empty when it had none
	Reason string
}

func (e *ParamError) Error() string {
	if e.Param == "" {
		return fmt.Sprintf("pmdeflate: %s", e.Reason)
	}
	if e.Value == "" {
		return fmt.Sprintf("pmdeflate: parameter %s: %s", e.Param, e.Reason)
	}
	return fmt.Sprintf("pmdeflate: parameter %s=%q: %s", e.Param, e.Value, e.Reason)
}

// paramSet is the syntactically valid content of one extension element.
type paramSet struct {
	serverNoContextTakeover bool
	clientNoContextTakeover bool
	serverMaxWindowBits     int // 0 when absent
	clientMaxWindowBits     int // 0 when absent or without a value
	hasClientMaxWindowBits  bool
}

// parseParamSet checks the parameters of one element. In an offer, and only
// there, client_max_window_bits may come without a value (RFC 7692
// §7.1.2.2). Each parameter may appear once (§7.1).
func parseParamSet(e handshake.Extension, offer bool) (paramSet, error) {
	var ps paramSet
	if !strings.EqualFold(e.Name, ExtensionName) {
		return ps, &ParamError{Reason: fmt.Sprintf("extension %q is not %s", e.Name, ExtensionName)}
	}
	var seen [4]bool
	for _, p := range e.Params {
		var idx int
		switch p.Name {
		case paramServerNoContextTakeover:
			idx = 0
		case paramClientNoContextTakeover:
			idx = 1
		case paramServerMaxWindowBits:
			idx = 2
		case paramClientMaxWindowBits:
			idx = 3
		default:
			return ps, &ParamError{Param: p.Name, Value: p.Value, Reason: "unknown parameter"}
		}
		if seen[idx] {
			return ps, &ParamError{Param: p.Name, Value: p.Value, Reason: "duplicated"}
		}
		seen[idx] = true

		switch p.Name {
		case paramServerNoContextTakeover, paramClientNoContextTakeover:
			if p.Value != "" {
				return ps, &ParamError{Param: p.Name, Value: p.Value, Reason: "takes no value"}
			}
			if idx == 0 {
				ps.serverNoContextTakeover = true
			} else {
				ps.clientNoContextTakeover = true
			}
		case paramServerMaxWindowBits:
			bits, ok := parseWindowBits(p.Value)
			if !ok {
				return ps, &ParamError{Param: p.Name, Value: p.Value, Reason: "want a value in 8..15"}
			}
			ps.serverMaxWindowBits = bits
		case paramClientMaxWindowBits:
			ps.hasClientMaxWindowBits = true
			if p.Value == "" && offer {
				continue
			}
			bits, ok := parseWindowBits(p.Value)
			if !ok {
				return ps, &ParamError{Param: p.Name, Value: p.Value, Reason: "want a value in 8..15"}
			}
			ps.clientMaxWindowBits = bits
		}
	}
	return ps, nil
}

// parseWindowBits parses a window size: a decimal integer in 8..15 without
// leading zeroes (RFC 7692 §7.1.2.1).
func parseWindowBits(v string) (int, bool) {
	switch {
	case len(v) == 1 && v[0] >= '8' && v[0] <= '9':
		return int(v[0] - '0'), true
	case len(v) == 2 && v[0] == '1' && v[1] >= '0' && v[1] <= '5':
		return 10 + int(v[1]-'0'), true
	}
	return 0, false
}

// ParseParams returns the agreement stated by e, a response element that a
// server sent or a client accepted. Absent window sizes mean 15.
func ParseParams(e handshake.Extension) (Params, error) {
	ps, err := parseParamSet(e, false)
	if err != nil {
		return Params{}, err
	}
	p := Params{
		ServerNoContextTakeover: ps.serverNoContextTakeover,
		ClientNoContextTakeover: ps.clientNoContextTakeover,
		ServerMaxWindowBits:     maxWindowBits,
		ClientMaxWindowBits:     maxWindowBits,
	}
	if ps.serverMaxWindowBits != 0 {
		p.ServerMaxWindowBits = ps.serverMaxWindowBits
	}
	if ps.clientMaxWindowBits != 0 {
		p.ClientMaxWindowBits = ps.clientMaxWindowBits
	}
	return p, nil
}
