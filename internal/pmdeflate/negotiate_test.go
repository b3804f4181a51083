package pmdeflate

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/twoway/websocket/handshake"
)

// pmd builds a permessage-deflate element from "name" and "name=value"
// parameters.
func pmd(params ...string) handshake.Extension {
	return element(ExtensionName, params...)
}

func element(name string, params ...string) handshake.Extension {
	e := handshake.Extension{Name: name}
	for _, p := range params {
		n, v, _ := strings.Cut(p, "=")
		e.Params = append(e.Params, handshake.ExtensionParam{Name: n, Value: v})
	}
	return e
}

// Offers as the Autobahn testsuite's client sends them in cases 12.* and
// 13.*: it always accepts no context takeover and a limited window.
var (
	autobahnPlain   = pmd("client_no_context_takeover", "client_max_window_bits")
	autobahnNoCtx   = pmd("client_no_context_takeover", "client_max_window_bits", "server_no_context_takeover")
	autobahnBits8   = pmd("client_no_context_takeover", "client_max_window_bits", "server_max_window_bits=8")
	autobahnBits15  = pmd("client_no_context_takeover", "client_max_window_bits", "server_max_window_bits=15")
	autobahnNoCtx8  = pmd("client_no_context_takeover", "client_max_window_bits", "server_no_context_takeover", "server_max_window_bits=8")
	autobahnNoCtx15 = pmd("client_no_context_takeover", "client_max_window_bits", "server_no_context_takeover", "server_max_window_bits=15")
)

func TestServerNegotiate(t *testing.T) {
	decline := handshake.Extension{}
	for _, tc := range []struct {
		name  string
		cfg   Config
		offer handshake.Extension
		want  handshake.Extension // zero: declined
	}{
		// Autobahn 12.* and 13.1 to 13.6.
		{"autobahn plain", Config{}, autobahnPlain, pmd("client_no_context_takeover")},
		{"autobahn no context takeover", Config{}, autobahnNoCtx, pmd("server_no_context_takeover", "client_no_context_takeover")},
		{"autobahn window 8", Config{}, autobahnBits8, pmd("client_no_context_takeover", "server_max_window_bits=8")},
		{"autobahn window 15", Config{}, autobahnBits15, pmd("client_no_context_takeover", "server_max_window_bits=15")},
		{"autobahn no context takeover, window 8", Config{}, autobahnNoCtx8, pmd("server_no_context_takeover", "client_no_context_takeover", "server_max_window_bits=8")},
		{"autobahn no context takeover, window 15", Config{}, autobahnNoCtx15, pmd("server_no_context_takeover", "client_no_context_takeover", "server_max_window_bits=15")},

		{"bare offer", Config{}, pmd(), pmd()},
		{"client window without value", Config{}, pmd("client_max_window_bits"), pmd("client_max_window_bits=12")},
		{"client window 10", Config{}, pmd("client_max_window_bits=10"), pmd("client_max_window_bits=10")},
		{"client window 15", Config{}, pmd("client_max_window_bits=15"), pmd("client_max_window_bits=12")},
		{"client window, client without takeover", Config{}, pmd("client_no_context_takeover", "client_max_window_bits"), pmd("client_no_context_takeover")},
		{"extension name in upper case", Config{}, element("Permessage-Deflate"), pmd()},

		// What the server's Config adds.
		{"config server no context takeover", Config{ServerNoContextTakeover: true}, pmd(), pmd("server_no_context_takeover")},
		{"config client no context takeover", Config{ClientNoContextTakeover: true}, pmd(), pmd("client_no_context_takeover")},
		{"config server window", Config{ServerMaxWindowBits: 10}, pmd(), pmd("server_max_window_bits=10")},
		{"config server window, smaller offered", Config{ServerMaxWindowBits: 10}, pmd("server_max_window_bits=9"), pmd("server_max_window_bits=9")},
		{"config server window, larger offered", Config{ServerMaxWindowBits: 10}, pmd("server_max_window_bits=12"), pmd("server_max_window_bits=10")},
		{"config server window 15", Config{ServerMaxWindowBits: 15}, pmd(), pmd()},
		{"config server window clamped", Config{ServerMaxWindowBits: 3}, pmd(), pmd("server_max_window_bits=8")},
		{"config client window, offered without value", Config{ClientMaxWindowBits: 9}, pmd("client_max_window_bits"), pmd("client_max_window_bits=9")},
		{"config client window, larger offered", Config{ClientMaxWindowBits: 9}, pmd("client_max_window_bits=12"), pmd("client_max_window_bits=9")},
		{"config client window, smaller offered", Config{ClientMaxWindowBits: 9}, pmd("client_max_window_bits=8"), pmd("client_max_window_bits=8")},
		{"config client window, not offered", Config{ClientMaxWindowBits: 9}, pmd(), pmd()},
		{"config client window 15", Config{ClientMaxWindowBits: 15}, pmd("client_max_window_bits"), pmd()},
		{"config client no context takeover, window offered", Config{ClientNoContextTakeover: true}, pmd("client_max_window_bits"), pmd("client_no_context_takeover")},
		{"everything", Config{ServerNoContextTakeover: true, ClientNoContextTakeover: true, ServerMaxWindowBits: 11, ClientMaxWindowBits: 12},
			pmd("client_max_window_bits", "server_max_window_bits=13"),
			pmd("server_no_context_takeover", "client_no_context_takeover", "server_max_window_bits=11", "client_max_window_bits=12")},

		// Declined offers.
		{"other extension", Config{}, element("x-webkit-deflate-frame"), decline},
		{"unknown parameter", Config{}, pmd("mem_level=8"), decline},
		{"parameter name in upper case", Config{}, pmd("Server_No_Context_Takeover"), decline},
		{"server no context takeover with value", Config{}, pmd("server_no_context_takeover=1"), decline},
		{"client no context takeover with value", Config{}, pmd("client_no_context_takeover=true"), decline},
		{"server window without value", Config{}, pmd("server_max_window_bits"), decline},
		{"server window 7", Config{}, pmd("server_max_window_bits=7"), decline},
		{"server window 16", Config{}, pmd("server_max_window_bits=16"), decline},
		{"server window 0", Config{}, pmd("server_max_window_bits=0"), decline},
		{"server window leading zero", Config{}, pmd("server_max_window_bits=09"), decline},
		{"server window sign", Config{}, pmd("server_max_window_bits=+9"), decline},
		{"server window space", Config{}, pmd("server_max_window_bits=9 "), decline},
		{"server window not a number", Config{}, pmd("server_max_window_bits=ten"), decline},
		{"server window huge", Config{}, pmd("server_max_window_bits=100000000000000000000"), decline},
		{"client window 7", Config{}, pmd("client_max_window_bits=7"), decline},
		{"client window 16", Config{}, pmd("client_max_window_bits=16"), decline},
		{"client window leading zero", Config{}, pmd("client_max_window_bits=010"), decline},
		{"duplicate server no context takeover", Config{}, pmd("server_no_context_takeover", "server_no_context_takeover"), decline},
		{"duplicate client no context takeover", Config{}, pmd("client_no_context_takeover", "client_no_context_takeover"), decline},
		{"duplicate server window", Config{}, pmd("server_max_window_bits=10", "server_max_window_bits=10"), decline},
		{"duplicate client window", Config{}, pmd("client_max_window_bits", "client_max_window_bits=10"), decline},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := NewServerExtension(tc.cfg).Negotiate(tc.offer)
			if wantOK := tc.want.Name != ""; ok != wantOK {
				t.Fatalf("Negotiate(%v) accepted %t, want %t", tc.offer, ok, wantOK)
			}
			if !ok {
				return
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Negotiate(%v) (-want +got):\n%s", tc.offer, diff)
			}
			if _, err := ParseParams(got); err != nil {
				t.Errorf("ParseParams(response): %v", err)
			}
		})
	}
}

// negotiate does what the handshake does with a server extension: it
// offers each element in turn until one is accepted.
func negotiate(s handshake.ServerExtension, offers []handshake.Extension) (int, handshake.Extension) {
	for i, offer := range offers {
		if resp, ok := s.Negotiate(offer); ok {
			return i, resp
		}
	}
	return -1, handshake.Extension{}
}

// TestServerNegotiateSeveralOffers checks that the first acceptable of
// several offers in one header is taken.
func TestServerNegotiateSeveralOffers(t *testing.T) {
	for _, tc := range []struct {
		name   string
		offers []handshake.Extension
		want   int
	}{
		// Autobahn 13.7.
		{"autobahn preference list", []handshake.Extension{autobahnNoCtx8, autobahnNoCtx, autobahnPlain}, 0},
		{"invalid first", []handshake.Extension{pmd("server_max_window_bits=20"), pmd("server_max_window_bits=10"), pmd()}, 1},
		{"two invalid", []handshake.Extension{pmd("foo"), pmd("client_no_context_takeover=1"), autobahnPlain}, 2},
		{"none valid", []handshake.Extension{pmd("foo"), pmd("server_max_window_bits")}, -1},
	} {
		i, _ := negotiate(NewServerExtension(Config{}), tc.offers)
		if i != tc.want {
			t.Errorf("%s: accepted offer %d, want %d", tc.name, i, tc.want)
		}
	}
}

// TestServerNegotiateAllOffers runs every combination of the offer's
// parameters, with and without values, against the plain server.
func TestServerNegotiateAllOffers(t *testing.T) {
	s := NewServerExtension(Config{})
	clientWindows := []string{"absent", ""}
	serverWindows := []string{"absent"}
	for bits := 8; bits <= 15; bits++ {
		clientWindows = append(clientWindows, strconv.Itoa(bits))
		serverWindows = append(serverWindows, strconv.Itoa(bits))
	}
	for _, serverNoCtx := range []bool{false, true} {
		for _, clientNoCtx := range []bool{false, true} {
			for _, sw := range serverWindows {
				for _, cw := range clientWindows {
					var offer, want []string
					if serverNoCtx {
						offer = append(offer, "server_no_context_takeover")
						want = append(want, "server_no_context_takeover")
					}
					if clientNoCtx {
						offer = append(offer, "client_no_context_takeover")
						want = append(want, "client_no_context_takeover")
					}
					if sw != "absent" {
						offer = append(offer, "server_max_window_bits="+sw)
						want = append(want, "server_max_window_bits="+sw)
					}
					// The server asks a client that takes over its window
					// for ServerClientWindowBits or less.
					bits := 15
					if !clientNoCtx {
						bits = ServerClientWindowBits
					}
					switch cw {
					case "absent":
					case "":
						offer = append(offer, "client_max_window_bits")
					default:
						offer = append(offer, "client_max_window_bits="+cw)
						n, _ := strconv.Atoi(cw)
						bits = min(bits, n)
					}
					if cw != "absent" && bits < 15 {
						want = append(want, "client_max_window_bits="+strconv.Itoa(bits))
					}
					got, ok := s.Negotiate(pmd(offer...))
					if !ok {
						t.Errorf("Negotiate(%v) declined", offer)
						continue
					}
					if diff := cmp.Diff(pmd(want...), got); diff != "" {
						t.Errorf("Negotiate(%v) (-want +got):\n%s", offer, diff)
					}
				}
			}
		}
	}
}

// TestNegotiateBothSides negotiates every client Config our client can
// express against several server Configs: the server must accept, the
// client must accept the response, and the agreement must be the stricter
// of the two sides' wishes.
func TestNegotiateBothSides(t *testing.T) {
	var clientCfgs []Config
	for _, serverNoCtx := range []bool{false, true} {
		for _, clientNoCtx := range []bool{false, true} {
			for sb := 7; sb <= 15; sb++ {
				for cb := 7; cb <= 15; cb++ {
					cfg := Config{ServerNoContextTakeover: serverNoCtx, ClientNoContextTakeover: clientNoCtx, ServerMaxWindowBits: sb, ClientMaxWindowBits: cb}
					if sb == 7 { // stands for 0, the default
						cfg.ServerMaxWindowBits = 0
					}
					if cb == 7 {
						cfg.ClientMaxWindowBits = 0
					}
					clientCfgs = append(clientCfgs, cfg)
				}
			}
		}
	}
	serverCfgs := []Config{
		{},
		{ServerNoContextTakeover: true},
		{ClientNoContextTakeover: true},
		{ServerMaxWindowBits: 9},
		{ClientMaxWindowBits: 10},
		{ServerNoContextTakeover: true, ClientNoContextTakeover: true, ServerMaxWindowBits: 12, ClientMaxWindowBits: 8},
	}
	for _, sc := range serverCfgs {
		s := NewServerExtension(sc)
		for _, cc := range clientCfgs {
			c := NewClientExtension(cc)
			i, resp := negotiate(s, c.Offers())
			if i < 0 {
				t.Errorf("server %+v declined client %+v", sc, cc)
				continue
			}
			if err := c.Accept(resp); err != nil {
				t.Errorf("server %+v, client %+v: client refused %v: %v", sc, cc, resp, err)
				continue
			}
			got, err := ParseParams(resp)
			if err != nil {
				t.Errorf("server %+v, client %+v: ParseParams(%v): %v", sc, cc, resp, err)
				continue
			}
			want := Params{
				ServerNoContextTakeover: cc.ServerNoContextTakeover || sc.ServerNoContextTakeover,
				ClientNoContextTakeover: cc.ClientNoContextTakeover || sc.ClientNoContextTakeover,
				ServerMaxWindowBits:     min(windowBits(cc.ServerMaxWindowBits), windowBits(sc.ServerMaxWindowBits)),
				ClientMaxWindowBits:     min(windowBits(cc.ClientMaxWindowBits), windowBits(sc.ClientMaxWindowBits)),
			}
			if sc.ClientMaxWindowBits == 0 && !want.ClientNoContextTakeover {
				want.ClientMaxWindowBits = min(want.ClientMaxWindowBits, ServerClientWindowBits)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("server %+v, client %+v: response %v (-want +got):\n%s", sc, cc, resp, diff)
			}
		}
	}
}

func TestClientOffers(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want handshake.Extension
	}{
		{Config{}, pmd("client_max_window_bits")},
		{Config{ServerNoContextTakeover: true, ClientNoContextTakeover: true},
			pmd("server_no_context_takeover", "client_no_context_takeover", "client_max_window_bits")},
		{Config{ServerMaxWindowBits: 10, ClientMaxWindowBits: 12}, pmd("server_max_window_bits=10", "client_max_window_bits=12")},
		{Config{ServerMaxWindowBits: 15, ClientMaxWindowBits: 15}, pmd("client_max_window_bits")},
		{Config{ServerMaxWindowBits: 99, ClientMaxWindowBits: 1}, pmd("client_max_window_bits=8")},
	} {
		if diff := cmp.Diff([]handshake.Extension{tc.want}, NewClientExtension(tc.cfg).Offers()); diff != "" {
			t.Errorf("Offers for %+v (-want +got):\n%s", tc.cfg, diff)
		}
	}
}

func TestClientAccept(t *testing.T) {
	for _, tc := range []struct {
		name     string
		cfg      Config
		response handshake.Extension
		wantErr  string // "" for acceptance; else the ParamError's Param, or "(name)"
	}{
		{"bare", Config{}, pmd(), ""},
		{"server adds server no context takeover", Config{}, pmd("server_no_context_takeover"), ""},
		{"server adds client no context takeover", Config{}, pmd("client_no_context_takeover"), ""},
		{"server adds server window 8", Config{}, pmd("server_max_window_bits=8"), ""},
		{"server adds server window 15", Config{}, pmd("server_max_window_bits=15"), ""},
		{"server limits client window 8", Config{}, pmd("client_max_window_bits=8"), ""},
		{"server limits client window 15", Config{}, pmd("client_max_window_bits=15"), ""},
		{"all four", Config{}, pmd("server_no_context_takeover", "client_no_context_takeover", "server_max_window_bits=9", "client_max_window_bits=9"), ""},
		{"any order", Config{}, pmd("client_max_window_bits=9", "server_max_window_bits=9", "client_no_context_takeover", "server_no_context_takeover"), ""},
		{"client no context takeover not repeated", Config{ClientNoContextTakeover: true}, pmd(), ""},
		{"server no context takeover granted", Config{ServerNoContextTakeover: true}, pmd("server_no_context_takeover"), ""},
		{"server window as offered", Config{ServerMaxWindowBits: 10}, pmd("server_max_window_bits=10"), ""},
		{"server window smaller than offered", Config{ServerMaxWindowBits: 10}, pmd("server_max_window_bits=8"), ""},
		{"client window as offered", Config{ClientMaxWindowBits: 10}, pmd("client_max_window_bits=10"), ""},
		{"client window smaller than offered", Config{ClientMaxWindowBits: 10}, pmd("client_max_window_bits=9"), ""},
		{"client window offered, not limited", Config{ClientMaxWindowBits: 10}, pmd(), ""},
		{"extension name in upper case", Config{}, element("PERMESSAGE-DEFLATE"), ""},

		{"other extension", Config{}, element("deflate-frame"), "(name)"},
		{"server no context takeover missing", Config{ServerNoContextTakeover: true}, pmd(), "server_no_context_takeover"},
		{"server window missing", Config{ServerMaxWindowBits: 10}, pmd(), "server_max_window_bits"},
		{"server window larger than offered", Config{ServerMaxWindowBits: 10}, pmd("server_max_window_bits=11"), "server_max_window_bits"},
		{"client window larger than offered", Config{ClientMaxWindowBits: 10}, pmd("client_max_window_bits=11"), "client_max_window_bits"},
		{"client window without value", Config{}, pmd("client_max_window_bits"), "client_max_window_bits"},
		{"server window without value", Config{}, pmd("server_max_window_bits"), "server_max_window_bits"},
		{"server window 7", Config{}, pmd("server_max_window_bits=7"), "server_max_window_bits"},
		{"server window 16", Config{}, pmd("server_max_window_bits=16"), "server_max_window_bits"},
		{"server window leading zero", Config{}, pmd("server_max_window_bits=08"), "server_max_window_bits"},
		{"client window 7", Config{}, pmd("client_max_window_bits=7"), "client_max_window_bits"},
		{"client window 16", Config{}, pmd("client_max_window_bits=16"), "client_max_window_bits"},
		{"no context takeover with value", Config{}, pmd("server_no_context_takeover=1"), "server_no_context_takeover"},
		{"unknown parameter", Config{}, pmd("x=1"), "x"},
		{"duplicate", Config{}, pmd("client_no_context_takeover", "client_no_context_takeover"), "client_no_context_takeover"},
		{"duplicate window", Config{}, pmd("server_max_window_bits=9", "server_max_window_bits=10"), "server_max_window_bits"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := NewClientExtension(tc.cfg).Accept(tc.response)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Accept(%v) = %v, want nil", tc.response, err)
				}
				return
			}
			var pe *ParamError
			if !errors.As(err, &pe) {
				t.Fatalf("Accept(%v) = %v, want a *ParamError", tc.response, err)
			}
			want := tc.wantErr
			if want == "(name)" {
				want = ""
			}
			if pe.Param != want {
				t.Errorf("Accept(%v) = %v; error names parameter %q, want %q", tc.response, err, pe.Param, want)
			}
		})
	}
}

func TestParseParams(t *testing.T) {
	for _, tc := range []struct {
		response handshake.Extension
		want     Params
		wantErr  bool
	}{
		{pmd(), Params{ServerMaxWindowBits: 15, ClientMaxWindowBits: 15}, false},
		{pmd("server_no_context_takeover", "client_max_window_bits=9"),
			Params{ServerNoContextTakeover: true, ServerMaxWindowBits: 15, ClientMaxWindowBits: 9}, false},
		{pmd("client_no_context_takeover", "server_max_window_bits=8"),
			Params{ClientNoContextTakeover: true, ServerMaxWindowBits: 8, ClientMaxWindowBits: 15}, false},
		{pmd("client_max_window_bits"), Params{}, true},
		{pmd("server_max_window_bits=1"), Params{}, true},
		{pmd("bogus"), Params{}, true},
		{element("other"), Params{}, true},
	} {
		got, err := ParseParams(tc.response)
		if (err != nil) != tc.wantErr {
			t.Errorf("ParseParams(%v) error = %v, want error %t", tc.response, err, tc.wantErr)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("ParseParams(%v) (-want +got):\n%s", tc.response, diff)
		}
	}
}

func TestParamErrorMessage(t *testing.T) {
	for _, tc := range []struct {
		err  *ParamError
		want string
	}{
		{&ParamError{Reason: "r"}, "pmdeflate: r"},
		{&ParamError{Param: "p", Reason: "r"}, "pmdeflate: parameter p: r"},
		{&ParamError{Param: "p", Value: "v", Reason: "r"}, `pmdeflate: parameter p="v": r`},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("%#v.Error() = %q, want %q", tc.err, got, tc.want)
		}
	}
}
