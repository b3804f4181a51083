package handshake

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// answerHeads are request heads, usual and not, for comparing
// AnswerUpgrade with ParseUpgrade.
var answerHeads = func() []string {
	const key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	const base = "Host: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n" + key
	heads := []string{
		"GET /chat HTTP/1.1\r\n" + base + "\r\n",
		"GET /chat?x=1&y=%zz HTTP/1.1\r\n" + base + "\r\n",
		"GET /chat? HTTP/1.1\r\n" + base + "\r\n",
		"GET / HTTP/1.1\n" + strings.ReplaceAll(base, "\r\n", "\n") + "\n",
		"get /chat HTTP/1.1\r\n" + base + "\r\n",
		"POST /chat HTTP/1.1\r\n" + base + "\r\n",
		"GET /chat HTTP/1.0\r\n" + base + "\r\n",
		"GET /chat HTTP/1.2\r\n" + base + "\r\n",
		"GET /chat HTTP/2.0\r\n" + base + "\r\n",
		"GET /chat  HTTP/1.1\r\n" + base + "\r\n",
		"GET /chat HTTP/1.1 \r\n" + base + "\r\n",
		"GET /a%20b HTTP/1.1\r\n" + base + "\r\n",
		"GET /a\x7fb HTTP/1.1\r\n" + base + "\r\n",
		"GET http://example.com/chat HTTP/1.1\r\n" + base + "\r\n",
		"GET * HTTP/1.1\r\n" + base + "\r\n",
		"GET chat HTTP/1.1\r\n" + base + "\r\n",
		"GET /ch\rat HTTP/1.1\r\n" + base + "\r\n",
		"\r\n" + base + "\r\n",
		"GET /chat HTTP/1.1\r\nhost: example.com\r\nupgrade: WebSocket\r\nconnection: keep-alive, Upgrade\r\nsec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
		"GET /chat HTTP/1.1\r\nHOST:example.com\r\nUPGRADE:\twebsocket \t\r\nCONNECTION:upgrade\r\nSEC-WEBSOCKET-VERSION:13\r\nSEC-WEBSOCKET-KEY:dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
		"GET /chat HTTP/1.1\r\n" + base + "X-Other: a\tb\r\nCookie: a=b; c=d\r\n\r\n",
	}
	// Each field of base missing, repeated, emptied or changed.
	for _, change := range []struct{ from, to string }{
		{"Host: example.com\r\n", ""},
		{"Host: example.com\r\n", "Host: example.com\r\nHost: example.com\r\n"},
		{"Host: example.com\r\n", "Host: \r\n"},
		{"Host: example.com\r\n", "Host : example.com\r\n"},
		{"Upgrade: websocket\r\n", ""},
		{"Upgrade: websocket\r\n", "Upgrade: h2c\r\nUpgrade: websocket\r\n"},
		{"Upgrade: websocket\r\n", "Upgrade: h2c, websocket\r\n"},
		{"Upgrade: websocket\r\n", "Upgrade: websockets\r\n"},
		{"Upgrade: websocket\r\n", "Upgrade: webso\u212aet\r\n"}, // KELVIN SIGN folds to k
		{"Connection: Upgrade\r\n", ""},
		{"Connection: Upgrade\r\n", "Connection: close\r\nConnection: upgrade\r\n"},
		{"Connection: Upgrade\r\n", "Connection: ,,upgrade,\r\n"},
		{"Connection: Upgrade\r\n", "Connection: upgrader\r\n"},
		{"Sec-WebSocket-Version: 13\r\n", ""},
		{"Sec-WebSocket-Version: 13\r\n", "Sec-WebSocket-Version: 8\r\n"},
		{"Sec-WebSocket-Version: 13\r\n", "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Version: 13\r\n"},
		{"Sec-WebSocket-Version: 13\r\n", "Sec-WebSocket-Version: 13, 8\r\n"},
		{key, ""},
		{key, key + key},
		{key, "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ\r\n"},
		{key, "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZR==\r\n"},
		{key, "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25j!Q==\r\n"},
		{key, "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAAA\r\n"},
		{key, "Sec-WebSocket-Key: " + strings.Repeat("A", 40) + "\r\n"},
		{key, key + "Content-Length: 0\r\n"},
		{key, key + "Content-Length: 0\r\nContent-Length: 0\r\n"},
		{key, key + "Content-Length: 5\r\n"},
		{key, key + "Content-Length:  0 \r\n"},
		{key, key + "Transfer-Encoding: chunked\r\n"},
		{key, key + " folded\r\n"},
		{key, key + "X-Bad: a\x01b\r\n"},
		{key, key + "X-Bad: a\rb\r\n"},
		{key, key + ": no name\r\n"},
		{key, key + "No colon\r\n"},
		{key, key + "Pragma: no-cache\r\n"},
		{key, key + "Origin: http://example.com\r\n"},
		{key, key + "Origin: https://example.com:443\r\n"},
		{key, key + "Origin: http://evil.example\r\n"},
		{key, key + "Origin: http://a.example.com\r\n"},
		{key, key + "Origin: null\r\n"},
		{key, key + "Origin: http://example.com\r\nOrigin: http://example.com\r\n"},
		{key, key + "Sec-WebSocket-Protocol: v1.chat, v2.chat\r\n"},
		{key, key + "Sec-WebSocket-Protocol: chat\r\n"},
		{key, key + "Sec-WebSocket-Protocol: v1.chat, v1.chat\r\n"},
		{key, key + "Sec-WebSocket-Protocol: a b\r\n"},
		{key, key + "Sec-WebSocket-Protocol: \r\n"},
		{key, key + "Sec-WebSocket-Protocol: v1.chat\r\nSec-WebSocket-Protocol: v2.chat\r\n"},
		{key, key + "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"},
		{key, key + "Sec-WebSocket-Extensions: x-test, permessage-deflate\r\n"},
		{key, key + "Sec-WebSocket-Extensions: permessage-deflate; =\r\n"},
		{key, key + "Sec-WebSocket-Extensions: x-test\r\nSec-WebSocket-Extensions: permessage-deflate\r\n"},
	} {
		heads = append(heads, "GET /chat HTTP/1.1\r\n"+strings.Replace(base, change.from, change.to, 1)+"\r\n")
	}
	return heads
}()

// answerOptions returns the options AnswerUpgrade is compared under,
// fresh for each comparison: the test extension records its offers.
func answerOptions() []*ServerOptions {
	deflate := func() []ServerExtension {
		return []ServerExtension{&serverExt{name: "permessage-deflate", accept: func(e Extension) bool { return len(e.Params) > 0 }}}
	}
	return []*ServerOptions{
		nil,
		{InsecureSkipOriginCheck: true},
		{OriginPatterns: []string{"*.example.com"}},
		{OriginPatterns: []string{"["}}, // misconfigured
		{Subprotocols: []string{"v2.chat", "v1.chat"}},
		{Extensions: deflate()},
		{Subprotocols: []string{"chat"}, Extensions: deflate(), OriginPatterns: []string{"*"}},
		{Header: http.Header{"Set-Cookie": {"a=b"}, "X-Two": {"1", "2"}}},
		{Header: http.Header{"Connection": {"close"}}}, // misconfigured
		{CheckOrigin: func(r *http.Request) bool { return r.Host == "example.com" }},
		{SelectSubprotocol: func(r *http.Request, offered []string) string {
			if len(offered) > 0 {
				return offered[len(offered)-1]
			}
			return ""
		}},
	}
}

// answer is what an upgrade answered, for comparison.
type answer struct {
	N           int
	Resp        string
	Err         string
	Subprotocol string
	Extensions  []Extension
	Head        string // the head after the call, which canonicalizes names in place
}

// compareAnswer fails t if AnswerUpgrade answers b differently from
// ParseUpgrade under the options at index i of answerOptions.
func compareAnswer(t *testing.T, b []byte, i int) {
	t.Helper()
	b1, b2 := bytes.Clone(b), bytes.Clone(b)
	sc, resp, n, err := AnswerUpgrade(nil, b1, answerOptions()[i])
	got := answer{N: n, Resp: string(resp), Subprotocol: sc.Subprotocol, Extensions: sc.Extensions, Head: string(b1)}
	if err != nil {
		got.Err = err.Error()
	}
	psc, _, resp, n, err := ParseUpgrade(nil, b2, answerOptions()[i])
	want := answer{N: n, Resp: string(resp), Head: string(b2)}
	if err != nil {
		want.Err = err.Error()
	}
	if psc != nil {
		want.Subprotocol, want.Extensions = psc.Subprotocol, psc.Extensions
	}
	if err != nil {
		// A head refused or incomplete may have had more or fewer of its
		// field names canonicalized, which changes none of their meaning.
		got.Head, want.Head = "", ""
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("options %d, request %q: AnswerUpgrade differs from ParseUpgrade (-want +got):\n%s", i, b, diff)
	}
}

func TestAnswerUpgrade(t *testing.T) {
	accepted := 0
	for _, head := range answerHeads {
		for i := range answerOptions() {
			compareAnswer(t, []byte(head), i)
			compareAnswer(t, []byte(head+"\x81\x80abcd"), i) // a frame after the head
			compareAnswer(t, []byte(head[:len(head)-1]), i)  // incomplete
			if _, _, _, err := AnswerUpgrade(nil, []byte(head), answerOptions()[i]); err == nil {
				accepted++
			}
		}
	}
	// The heads are not all refusals, which would compare without the
	// fast path ever answering.
	if accepted < len(answerHeads) {
		t.Errorf("%d upgrades accepted of %d requests", accepted, len(answerHeads)*len(answerOptions()))
	}
	tooLarge := []byte("GET / HTTP/1.1\r\nX: " + strings.Repeat("a", maxRequestBytes) + "\r\n\r\n")
	compareAnswer(t, tooLarge, 0)
}

// TestAnswerPlain checks that AnswerUpgrade answers the usual requests
// itself, allocating nothing for one with no Origin, subprotocol or
// extensions, rather than through ParseUpgrade, which is also right.
func TestAnswerPlain(t *testing.T) {
	const extra = "Host: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	tests := []struct {
		head string
		opts *ServerOptions
	}{
		{"GET /chat HTTP/1.1\r\n" + extra + "\r\n", nil},
		{"GET /chat?x=1 HTTP/1.1\r\n" + extra + "User-Agent: test\r\nContent-Length: 0\r\n\r\n", &ServerOptions{Header: http.Header{"X-A": {"b"}}}},
		{"GET /chat HTTP/1.1\r\n" + extra + "Origin: https://example.com\r\nSec-WebSocket-Protocol: a, b\r\n" +
			"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n",
			&ServerOptions{Subprotocols: []string{"b"}, Extensions: []ServerExtension{&serverExt{name: "permessage-deflate"}}}},
	}
	for _, tt := range tests {
		var sc ServerConn
		dst := make([]byte, 0, 512)
		head := []byte(tt.head)
		opts := tt.opts
		if opts == nil {
			opts = zeroServerOptions()
		}
		resp, _, ok := answerPlain(dst, head, opts, &sc)
		if !ok || !bytes.HasPrefix(resp, []byte("HTTP/1.1 101 ")) {
			t.Errorf("%q: answered %q, %v; want a 101 of its own", tt.head, resp, ok)
		}
	}
	if raceEnabled {
		return
	}
	head := []byte(tests[0].head)
	dst := make([]byte, 0, 512)
	allocs := testing.AllocsPerRun(100, func() {
		copy(head, tests[0].head)
		if _, _, _, err := AnswerUpgrade(dst, head, nil); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("AnswerUpgrade allocates %v times for %q", allocs, tests[0].head)
	}
}

// FuzzAnswerUpgrade checks that AnswerUpgrade answers every input as
// ParseUpgrade does.
func FuzzAnswerUpgrade(f *testing.F) {
	for _, h := range answerHeads {
		f.Add([]byte(h), uint8(0))
	}
	f.Fuzz(func(t *testing.T, b []byte, i uint8) {
		compareAnswer(t, b, int(i)%len(answerOptions()))
	})
}
