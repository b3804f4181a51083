package pmdeflate

import (
	"strconv"

	"github.com/twoway/websocket/handshake"
)

// ServerExtension negotiates permessage-deflate for a server. It implements
// handshake.ServerExtension.
type ServerExtension struct {
	cfg Config
}

// NewServerExtension returns the server side of the negotiation for cfg.
func NewServerExtension(cfg Config) *ServerExtension {
	return &ServerExtension{cfg: cfg}
}

// Name returns [ExtensionName].
func (*ServerExtension) Name() string { return ExtensionName }

// Config returns the configuration the extension was made with.
func (s *ServerExtension) Config() Config { return s.cfg }

// Negotiate answers one offer (RFC 7692 §7.1). It declines an offer with an
// unknown, duplicated or malformed parameter. Otherwise it accepts, and the
// response grants what the client asked for and adds what the server's
// Config asks for:
//   - server_no_context_takeover if the offer or the Config has it;
//   - client_no_context_takeover if the offer has it (the client will not
//     take over anyway, so the server need not keep the window) or the
//     Config does;
//   - server_max_window_bits with the smaller of the offered value and the
//     Config's, when either is below 15;
//   - client_max_window_bits with the smaller of the offered value and the
//     Config's, when the offer has the parameter and that is below 15. A
//     Config that leaves ClientMaxWindowBits 0 asks for
//     [ServerClientWindowBits] when the client takes over its window.
//
// An offer without client_max_window_bits is accepted even when the Config
// would limit the client's window: the server's inflater handles any
// window, so the limit only saves memory where the client supports it.
func (s *ServerExtension) Negotiate(offer handshake.Extension) (handshake.Extension, bool) {
	ps, err := parseParamSet(offer, true)
	if err != nil {
		return handshake.Extension{}, false
	}
	resp := handshake.Extension{Name: ExtensionName}
	if ps.serverNoContextTakeover || s.cfg.ServerNoContextTakeover {
		resp.Params = append(resp.Params, handshake.ExtensionParam{Name: paramServerNoContextTakeover})
	}
	clientTakeover := !ps.clientNoContextTakeover && !s.cfg.ClientNoContextTakeover
	if !clientTakeover {
		resp.Params = append(resp.Params, handshake.ExtensionParam{Name: paramClientNoContextTakeover})
	}
	serverBits := windowBits(s.cfg.ServerMaxWindowBits)
	if ps.serverMaxWindowBits != 0 {
		serverBits = min(serverBits, ps.serverMaxWindowBits)
	}
	// RFC 7692 §7.1.2.1: an offered server_max_window_bits must be answered,
	// and the server may limit itself even when not asked to.
	if ps.serverMaxWindowBits != 0 || serverBits < maxWindowBits {
		resp.Params = append(resp.Params, windowParam(paramServerMaxWindowBits, serverBits))
	}
	// RFC 7692 §7.1.2.2: client_max_window_bits only in answer to an offer
	// that has it, with a value no larger than offered.
	if ps.hasClientMaxWindowBits {
		clientBits := windowBits(s.cfg.ClientMaxWindowBits)
		if s.cfg.ClientMaxWindowBits == 0 && clientTakeover {
			clientBits = ServerClientWindowBits
		}
		if ps.clientMaxWindowBits != 0 {
			clientBits = min(clientBits, ps.clientMaxWindowBits)
		}
		if clientBits < maxWindowBits {
			resp.Params = append(resp.Params, windowParam(paramClientMaxWindowBits, clientBits))
		}
	}
	return resp, true
}

func windowParam(name string, bits int) handshake.ExtensionParam {
	return handshake.ExtensionParam{Name: name, Value: strconv.Itoa(bits)}
}

// ClientExtension negotiates permessage-deflate for a client. It implements
// handshake.ClientExtension.
type ClientExtension struct {
	cfg Config
}

// NewClientExtension returns the client side of the negotiation for cfg.
func NewClientExtension(cfg Config) *ClientExtension {
	return &ClientExtension{cfg: cfg}
}

// Config returns the configuration the extension was made with.
func (c *ClientExtension) Config() Config { return c.cfg }

// Offers returns a single offer. It always has client_max_window_bits, so
// that a server may limit the client's window rather than decline, with the
// Config's value if that is below 15; the other parameters appear as the
// Config asks for them.
func (c *ClientExtension) Offers() []handshake.Extension {
	e := handshake.Extension{Name: ExtensionName}
	if c.cfg.ServerNoContextTakeover {
		e.Params = append(e.Params, handshake.ExtensionParam{Name: paramServerNoContextTakeover})
	}
	if c.cfg.ClientNoContextTakeover {
		e.Params = append(e.Params, handshake.ExtensionParam{Name: paramClientNoContextTakeover})
	}
	if bits := windowBits(c.cfg.ServerMaxWindowBits); bits < maxWindowBits {
		e.Params = append(e.Params, windowParam(paramServerMaxWindowBits, bits))
	}
	if bits := windowBits(c.cfg.ClientMaxWindowBits); bits < maxWindowBits {
		e.Params = append(e.Params, windowParam(paramClientMaxWindowBits, bits))
	} else {
		e.Params = append(e.Params, handshake.ExtensionParam{Name: paramClientMaxWindowBits})
	}
	return []handshake.Extension{e}
}

// Accept checks the server's response against the offer (RFC 7692 §7.1).
// It returns a *[ParamError] for a parameter that is unknown, duplicated or
// malformed, for a missing server_no_context_takeover or
// server_max_window_bits that the offer asked for, for a
// server_max_window_bits larger than offered, and for a
// client_max_window_bits larger than offered. The server may add
// server_no_context_takeover, client_no_context_takeover and
// server_max_window_bits unasked.
func (c *ClientExtension) Accept(response handshake.Extension) error {
	ps, err := parseParamSet(response, false)
	if err != nil {
		return err
	}
	if c.cfg.ServerNoContextTakeover && !ps.serverNoContextTakeover {
		return &ParamError{Param: paramServerNoContextTakeover, Reason: "offered but missing from the response"}
	}
	if bits := windowBits(c.cfg.ServerMaxWindowBits); bits < maxWindowBits {
		if ps.serverMaxWindowBits == 0 {
			return &ParamError{Param: paramServerMaxWindowBits, Reason: "offered but missing from the response"}
		}
		if ps.serverMaxWindowBits > bits {
			return &ParamError{Param: paramServerMaxWindowBits, Value: strconv.Itoa(ps.serverMaxWindowBits), Reason: "larger than offered"}
		}
	}
	if ps.clientMaxWindowBits > windowBits(c.cfg.ClientMaxWindowBits) {
		return &ParamError{Param: paramClientMaxWindowBits, Value: strconv.Itoa(ps.clientMaxWindowBits), Reason: "larger than offered"}
	}
	return nil
}

// Both sides satisfy the handshake package's interfaces.
var (
	_ handshake.ServerExtension = (*ServerExtension)(nil)
	_ handshake.ClientExtension = (*ClientExtension)(nil)
)
