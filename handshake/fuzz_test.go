package handshake

import (
	"bufio"
	"bytes"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func FuzzParseExtensions(f *testing.F) {
	for _, s := range []string{
		"permessage-deflate",
		"permessage-deflate; client_max_window_bits; server_max_window_bits=10",
		"mux; max-channels=4; flow-control, deflate-stream",
		`x; a="10"; b="t\oken"`,
		" foo \t;\tbar = \"1\" ; baz ,\tqux ",
		", foo,, bar ,",
		"foo;;a",
		`foo; a="1`,
		`foo; a="1 2"`,
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		exts, err := ParseExtensions(http.Header{"Sec-Websocket-Extensions": {v}})
		if err != nil {
			if !errors.Is(err, ErrBadExtension) || exts != nil {
				t.Fatalf("error %v with %v, want ErrBadExtension and nil", err, exts)
			}
			return
		}
		if len(exts) == 0 {
			t.Fatalf("%q parsed to no extension without an error", v)
		}
		for _, e := range exts {
			if detail := checkExtension(e); detail != "" {
				t.Fatalf("%q parsed to an invalid element: %s", v, detail)
			}
		}
		// What we parse, we write back so that it parses the same.
		wire := string(appendExtensionList(nil, exts))
		again, err := ParseExtensions(http.Header{"Sec-Websocket-Extensions": {wire}})
		if err != nil {
			t.Fatalf("%q -> %q: %v", v, wire, err)
		}
		if diff := cmp.Diff(exts, again); diff != "" {
			t.Fatalf("%q -> %q does not round-trip (-first +second):\n%s", v, wire, diff)
		}
	})
}

func FuzzClientResponse(f *testing.F) {
	ok := strings.ReplaceAll(ok101, "{accept}", sampleAccept)
	for _, s := range []string{
		ok + "\r\n",
		ok + "Sec-WebSocket-Protocol: chat\r\n\r\n",
		ok + "Sec-WebSocket-Extensions: x-foo; a=1\r\n\r\n\x81\x02hi",
		ok + "Sec-WebSocket-Extensions: x-foo, x-foo\r\n\r\n",
		ok + "Sec-WebSocket-Extensions: x-bar\r\n\r\n",
		"HTTP/1.1 403 Forbidden\r\nContent-Length: 5\r\n\r\nnope!",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		"HTTP/1.0 101 Switching Protocols\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n",
		"SSH-2.0-OpenSSH_9.6\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		opts := &ClientOptions{
			Subprotocols: []string{"chat", "v2"},
			Extensions:   []ClientExtension{&clientExt{offers: []Extension{ext("x-foo"), ext("x-foo", "a", "1")}}},
		}
		br := bufio.NewReaderSize(&limitedReader{r: bytes.NewReader(data), n: maxHeaderBytes}, readBufferSize)
		cc, err := readResponse(br, &http.Request{Method: http.MethodGet}, sampleKey, opts)
		if err != nil {
			if cc != nil {
				t.Fatalf("ClientConn %v returned with error %v", cc, err)
			}
			var re *ResponseError
			if errors.As(err, &re) && (re.Err == nil || re.Response == nil || len(re.Body) > maxErrorBody || re.Detail == "") {
				t.Fatalf("incomplete ResponseError %#v", re)
			}
			return
		}
		if cc.Response.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("accepted status %d", cc.Response.StatusCode)
		}
		if cc.Subprotocol != "" && !slices.Contains(opts.Subprotocols, cc.Subprotocol) {
			t.Fatalf("accepted subprotocol %q", cc.Subprotocol)
		}
		if len(cc.Extensions) > 1 || (len(cc.Extensions) == 1 && !strings.EqualFold(cc.Extensions[0].Name, "x-foo")) {
			t.Fatalf("accepted extensions %v", cc.Extensions)
		}
		if got := cc.Response.Header.Get("Sec-WebSocket-Accept"); strings.TrimSpace(got) != sampleAccept {
			t.Fatalf("accepted Sec-WebSocket-Accept %q", got)
		}
		if !bytes.HasSuffix(data, cc.Buffered) {
			t.Fatalf("Buffered %q is not the end of the input", cc.Buffered)
		}
	})
}
