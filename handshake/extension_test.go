package handshake

import (
	"errors"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseExtensions(t *testing.T) {
	tests := []struct {
		name    string
		headers []string
		want    []Extension
		err     string // "" for success
	}{
		{name: "none", headers: nil, want: nil},
		{name: "one", headers: []string{"permessage-deflate"}, want: []Extension{ext("permessage-deflate")}},
		{
			name:    "params with and without values",
			headers: []string{"permessage-deflate; client_max_window_bits; server_max_window_bits=10"},
			want:    []Extension{ext("permessage-deflate", "client_max_window_bits", "", "server_max_window_bits", "10")},
		},
		{
			name:    "several elements and headers",
			headers: []string{"foo", "bar; baz=2, mux; max-channels=4; flow-control, deflate-stream"},
			want: []Extension{
				ext("foo"), ext("bar", "baz", "2"),
				ext("mux", "max-channels", "4", "flow-control", ""), ext("deflate-stream"),
			},
		},
		{
			name:    "empty quoted value",
			headers: []string{`x; a="10"; b="t\oken"; c=""`},
			err:     `parameter c has value "", which is not a token, in "x; a=\"10\"; b=\"t\\oken\"; c=\"\""`,
		},
		{
			name:    "quoted and escaped",
			headers: []string{`x; a="10"; b="t\oken"`},
			want:    []Extension{ext("x", "a", "10", "b", "token")},
		},
		{
			name:    "implied whitespace",
			headers: []string{" foo \t;\tbar = \"1\" ; baz ,\tqux "},
			want:    []Extension{ext("foo", "bar", "1", "baz", ""), ext("qux")},
		},
		{name: "empty elements", headers: []string{", foo,, bar ,"}, want: []Extension{ext("foo"), ext("bar")}},
		{name: "empty header", headers: []string{""}, err: "header has no extension"},
		{name: "only commas", headers: []string{" , ,"}, err: "header has no extension"},
		{name: "starts with param", headers: []string{"; a"}, err: `expected an extension name at byte 0 (';') of "; a"`},
		{name: "missing param name", headers: []string{"foo;"}, err: `expected a parameter name after ";" at the end of "foo;"`},
		{name: "double semicolon", headers: []string{"foo;;a"}, err: `expected a parameter name after ";" at byte 4 (';') of "foo;;a"`},
		{name: "missing value", headers: []string{"foo; a="}, err: `expected a token or quoted string after "=" at the end of "foo; a="`},
		{name: "missing value before comma", headers: []string{"foo; a=, bar"}, err: `expected a token or quoted string after "=" at byte 7 (',') of "foo; a=, bar"`},
		{name: "space in name", headers: []string{"foo bar"}, err: `expected "," or ";" at byte 4 ('b') of "foo bar"`},
		{name: "separator in name", headers: []string{"foo/1"}, err: `expected "," or ";" at byte 3 ('/') of "foo/1"`},
		{name: "unterminated quote", headers: []string{`foo; a="1`}, err: `expected a token or quoted string after "=" at byte 7 ('"') of "foo; a=\"1"`},
		{name: "quoted value with space", headers: []string{`foo; a="1 2"`}, err: `parameter a has value "1 2", which is not a token, in "foo; a=\"1 2\""`},
		{name: "quoted value with comma", headers: []string{`foo; a="1,2"`}, err: `parameter a has value "1,2", which is not a token, in "foo; a=\"1,2\""`},
		{name: "control byte in quote", headers: []string{"foo; a=\"\x01\""}, err: `expected a token or quoted string after "=" at byte 7 ('"') of "foo; a=\"\x01\""`},
		{name: "backslash at end", headers: []string{`foo; a="1\`}, err: `expected a token or quoted string after "=" at byte 7 ('"') of "foo; a=\"1\\"`},
		{name: "value then junk", headers: []string{`foo; a="1"x`}, err: `expected "," or ";" at byte 10 ('x') of "foo; a=\"1\"x"`},
		{name: "second header bad", headers: []string{"foo", "bar=1"}, err: `expected "," or ";" at byte 3 ('=') of "bar=1"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseExtensions(http.Header{"Sec-Websocket-Extensions": tt.headers})
			if tt.err != "" {
				want := "websocket: bad Sec-WebSocket-Extensions: " + tt.err
				if err == nil || err.Error() != want {
					t.Fatalf("error:\n got %v\nwant %s", err, want)
				}
				if !errors.Is(err, ErrBadExtension) {
					t.Errorf("error %v, want errors.Is ErrBadExtension", err)
				}
				if got != nil {
					t.Errorf("got %v with the error, want nil", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			// Round trip through String.
			if len(got) > 0 {
				again, err := ParseExtensions(http.Header{"Sec-Websocket-Extensions": {string(appendExtensionList(nil, got))}})
				if err != nil {
					t.Fatalf("reparse: %v", err)
				}
				if diff := cmp.Diff(got, again); diff != "" {
					t.Errorf("round trip (-first +second):\n%s", diff)
				}
			}
		})
	}
}

func TestExtensionString(t *testing.T) {
	tests := []struct {
		e    Extension
		want string
	}{
		{ext("foo"), "foo"},
		{ext("permessage-deflate", "client_max_window_bits", "", "server_max_window_bits", "10"),
			"permessage-deflate; client_max_window_bits; server_max_window_bits=10"},
		{ext("x", "a", "two words"), `x; a="two words"`},
		{ext("x", "a", `q"b\s`), `x; a="q\"b\\s"`},
	}
	for _, tt := range tests {
		if got := tt.e.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.e, got, tt.want)
		}
	}
	// A quoted non-token value reads back as the same text, even though
	// ParseExtensions then refuses it (RFC 6455 §9.1).
	p := extParser{s: `"q\"b\\s"`}
	if v, ok := p.value(); !ok || v != `q"b\s` {
		t.Errorf("quoted value reads back as %q, %v", v, ok)
	}
}

func TestHeaderHelpers(t *testing.T) {
	if !headerHasToken([]string{"keep-alive", " Upgrade "}, "upgrade") {
		t.Error("headerHasToken missed a token in the second header")
	}
	if headerHasToken([]string{"upgrades, x-upgrade"}, "upgrade") {
		t.Error("headerHasToken matched a longer token")
	}
	for _, v := range []string{"ok", "tab\tok", "caf\xc3\xa9"} {
		if !validHeaderValue(v) {
			t.Errorf("validHeaderValue(%q) = false", v)
		}
	}
	for _, v := range []string{"a\r\nb", "a\nb", "nul\x00", "del\x7f"} {
		if validHeaderValue(v) {
			t.Errorf("validHeaderValue(%q) = true", v)
		}
	}
	if !allTokensAre([]string{"WebSocket", " websocket ,"}, "websocket") || allTokensAre(nil, "websocket") || allTokensAre([]string{","}, "websocket") {
		t.Error("allTokensAre is wrong")
	}
	if got := string(appendExtensionList(nil, []Extension{ext("a", "x", "1"), ext("b")})); got != "a; x=1, b" {
		t.Errorf("appendExtensionList = %q, want %q", got, "a; x=1, b")
	}
}
