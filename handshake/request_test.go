package handshake

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

const wsHead = "GET /chat?room=1 HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
	"Sec-WebSocket-Key: " + sampleKey + "\r\nSec-WebSocket-Version: 13\r\n"

// parsed is what the tests compare of a parsed request.
type parsed struct {
	Method, RequestURI, Path, RawQuery, Proto, Host string
	Header                                          http.Header
	Close                                           bool
	Rest                                            string
}

func summarize(r *http.Request, rest []byte) parsed {
	return parsed{r.Method, r.RequestURI, r.URL.Path, r.URL.RawQuery, r.Proto, r.Host, r.Header, r.Close, string(rest)}
}

// comparableURL is u with its user info as a string, which cmp can
// compare.
type comparableURL struct {
	url.URL
	User string
}

func urlOf(u *url.URL) comparableURL {
	c := comparableURL{URL: *u}
	c.URL.User = nil
	if u.User != nil {
		c.User = "set:" + u.User.String()
	}
	return c
}

func TestReadRequest(t *testing.T) {
	wsHeader := http.Header{
		"Upgrade":               {"websocket"},
		"Connection":            {"Upgrade"},
		"Sec-Websocket-Key":     {sampleKey},
		"Sec-Websocket-Version": {"13"},
	}
	withHeader := func(k string, v ...string) http.Header {
		h := wsHeader.Clone()
		h[k] = v
		return h
	}
	pragmaHeader := withHeader("Pragma", "no-cache")
	pragmaHeader.Set("Cache-Control", "no-cache")
	for _, tt := range []struct {
		name string
		in   string
		want parsed
	}{
		{"handshake", wsHead + "\r\n",
			parsed{"GET", "/chat?room=1", "/chat", "room=1", "HTTP/1.1", "example.com", wsHeader, false, ""}},
		{"frame bytes after the head", wsHead + "\r\n\x81\x85abc",
			parsed{"GET", "/chat?room=1", "/chat", "room=1", "HTTP/1.1", "example.com", wsHeader, false, "\x81\x85abc"}},
		{"LF line ends", strings.ReplaceAll(wsHead, "\r\n", "\n") + "\n",
			parsed{"GET", "/chat?room=1", "/chat", "room=1", "HTTP/1.1", "example.com", wsHeader, false, ""}},
		{"names canonicalized, values trimmed", wsHead + "x-custom-THING:  \t a b \t\r\n\r\n",
			parsed{"GET", "/chat?room=1", "/chat", "room=1", "HTTP/1.1", "example.com", withHeader("X-Custom-Thing", "a b"), false, ""}},
		{"repeated field", wsHead + "Cookie: a=1\r\nCookie: b=2\r\n\r\n",
			parsed{"GET", "/chat?room=1", "/chat", "room=1", "HTTP/1.1", "example.com", withHeader("Cookie", "a=1", "b=2"), false, ""}},
		{"empty value", wsHead + "X-Empty:\r\n\r\n",
			parsed{"GET", "/chat?room=1", "/chat", "room=1", "HTTP/1.1", "example.com", withHeader("X-Empty", ""), false, ""}},
		{"absolute-form target overrides Host", strings.Replace(wsHead, "/chat?room=1", "http://other.example:8080/chat?room=1", 1) + "\r\n",
			parsed{"GET", "http://other.example:8080/chat?room=1", "/chat", "room=1", "HTTP/1.1", "other.example:8080", wsHeader, false, ""}},
		{"Content-Length 0", wsHead + "Content-Length: 0\r\n\r\n",
			parsed{"GET", "/chat?room=1", "/chat", "room=1", "HTTP/1.1", "example.com", withHeader("Content-Length", "0"), false, ""}},
		{"Content-Length 0 twice", wsHead + "Content-Length: 0\r\nContent-Length: 0\r\n\r\n",
			parsed{"GET", "/chat?room=1", "/chat", "room=1", "HTTP/1.1", "example.com", withHeader("Content-Length", "0"), false, ""}},
		{"Pragma no-cache", wsHead + "Pragma: no-cache\r\n\r\n",
			parsed{"GET", "/chat?room=1", "/chat", "room=1", "HTTP/1.1", "example.com", pragmaHeader, false, ""}},
		{"Connection close", strings.Replace(wsHead, "Connection: Upgrade", "Connection: Upgrade, close", 1) + "\r\n",
			parsed{"GET", "/chat?room=1", "/chat", "room=1", "HTTP/1.1", "example.com", withHeader("Connection", "Upgrade, close"), true, ""}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// Whole, and one byte per read so that the end of the head is
			// found across reads (and nothing after it is read).
			for _, oneByte := range []bool{false, true} {
				var rd io.Reader = strings.NewReader(tt.in)
				want := tt.want
				if oneByte {
					rd, want.Rest = iotest.OneByteReader(rd), ""
				}
				bufp := &[]byte{}
				*bufp = make([]byte, 16)
				r, rest, err := readRequest(rd, bufp)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(want, summarize(r, rest)); diff != "" {
					t.Errorf("one byte per read %v (-want +got):\n%s", oneByte, diff)
				}
				if r.Body != http.NoBody {
					t.Errorf("Body = %v, want http.NoBody", r.Body)
				}
			}
		})
	}
}

func TestReadRequestRefusals(t *testing.T) {
	for _, tt := range []struct {
		name   string
		in     string
		status int // 0: a read error, no response
	}{
		{"empty connection", "", 0},
		{"truncated head", wsHead, 0},
		{"not HTTP", "SSH-2.0-OpenSSH_9.6\r\n\r\n", http.StatusBadRequest},
		{"double space", "GET  /chat HTTP/1.1\r\nHost: a\r\n\r\n", http.StatusBadRequest},
		{"no version", "GET /chat\r\nHost: a\r\n\r\n", http.StatusBadRequest},
		{"bad version", "GET /chat HTTP/1.x\r\nHost: a\r\n\r\n", http.StatusBadRequest},
		{"HTTP/2.0 line", "GET /chat HTTP/2.0\r\nHost: a\r\n\r\n", http.StatusHTTPVersionNotSupported},
		{"control character in target", "GET /ch\x01at HTTP/1.1\r\nHost: a\r\n\r\n", http.StatusBadRequest},
		{"relative target", "GET chat HTTP/1.1\r\nHost: a\r\n\r\n", http.StatusBadRequest},
		{"method not a token", "G(ET /chat HTTP/1.1\r\nHost: a\r\n\r\n", http.StatusBadRequest},
		{"leading empty line", "\r\n" + wsHead + "\r\n", http.StatusBadRequest},
		{"bare CR in request line", "GET /chat\rx HTTP/1.1\r\nHost: a\r\n\r\n", http.StatusBadRequest},
		{"bare CR in a field", wsHead + "X: a\rb\r\n\r\n", http.StatusBadRequest},
		{"space before colon", wsHead + "Upgrade : websocket\r\n\r\n", http.StatusBadRequest},
		{"no colon", wsHead + "Upgrade websocket\r\n\r\n", http.StatusBadRequest},
		{"empty name", wsHead + ": websocket\r\n\r\n", http.StatusBadRequest},
		{"folded line", wsHead + "X: a\r\n b\r\n\r\n", http.StatusBadRequest},
		{"NUL in value", wsHead + "X: a\x00b\r\n\r\n", http.StatusBadRequest},
		{"DEL in value", wsHead + "X: a\x7fb\r\n\r\n", http.StatusBadRequest},
		{"two Host fields", wsHead + "Host: other\r\n\r\n", http.StatusBadRequest},
		{"head too large", wsHead + strings.Repeat("X-Filler: "+strings.Repeat("x", 100)+"\r\n", 700) + "\r\n", http.StatusRequestHeaderFieldsTooLarge},
	} {
		t.Run(tt.name, func(t *testing.T) {
			bufp := &[]byte{}
			*bufp = make([]byte, requestBufferSize)
			r, _, err := readRequest(strings.NewReader(tt.in), bufp)
			if err == nil {
				t.Fatalf("accepted %q as %+v", tt.in, summarize(r, nil))
			}
			var re *RequestError
			status := 0
			if errors.As(err, &re) {
				status = re.Status
			}
			if status != tt.status {
				t.Fatalf("error %v: status %d, want %d", err, status, tt.status)
			}
		})
	}
}

// TestReadRequestBody checks that a request announcing a body is read with
// its framing where net/http puts it, for checkRequest to refuse it.
func TestReadRequestBody(t *testing.T) {
	type framing struct {
		ContentLength    int64
		TransferEncoding []string
		Refused          bool
	}
	for _, tt := range []struct {
		name string
		in   string
		want framing
	}{
		{"Content-Length 5", wsHead + "Content-Length: 5\r\n\r\nhello", framing{-1, nil, true}},
		{"Content-Length 0 and 5", wsHead + "Content-Length: 0\r\nContent-Length: 5\r\n\r\nhello", framing{-1, nil, true}},
		{"chunked", wsHead + "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", framing{-1, []string{"chunked"}, true}},
		{"chunked and Content-Length 0", wsHead + "Content-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", framing{-1, []string{"chunked"}, true}},
		{"Content-Length 0", wsHead + "Content-Length: 0\r\n\r\n", framing{0, nil, false}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			bufp := &[]byte{}
			*bufp = make([]byte, requestBufferSize)
			r, _, err := readRequest(strings.NewReader(tt.in), bufp)
			if err != nil {
				t.Fatal(err)
			}
			_, rerr := checkRequest(r)
			if rerr != nil && rerr != errBody {
				t.Errorf("checkRequest refused with %v, want %v", rerr, errBody)
			}
			got := framing{r.ContentLength, r.TransferEncoding, rerr != nil}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// FuzzReadRequest checks readRequest against net/http's parser: whatever
// it accepts without a body, net/http must accept with the same method,
// target, version, host and fields, and the bytes after the head must be
// what follows it. What it reads with a body, checkRequest refuses.
func FuzzReadRequest(f *testing.F) {
	for _, s := range []string{
		wsHead + "\r\n",
		wsHead + "\r\n\x81\x80abcd",
		strings.ReplaceAll(wsHead, "\r\n", "\n") + "\n",
		wsHead + "x-a: b\r\nX-A: c\r\nContent-Length: 0\r\n\r\n",
		"GET http://h:1/p?q HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET / HTTP/1.0\r\n\r\n",
		"GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nX: \xff\xfe\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nA",
		"GET / HTTP/1.1\r\nHost: x\r\nPragma: no-cache\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
		wsHead + "Content-Length: 7\r\n\r\n\x81\x81abcd\x08",
		wsHead + "Transfer-Encoding: chunked\r\n\r\n7\r\n\x81\x81abcd\x08\r\n0\r\n\r\n",
		wsHead + "Content-Length: 7\r\nTransfer-Encoding: chunked\r\n\r\n7\r\n\x81\x81abcd\x08\r\n0\r\n\r\n",
		wsHead + "Content-Length: 0\r\n\r\n\x81\x81abcd\x08",
		"CONNECT host:443 HTTP/1.1\r\nHost: x\r\n\r\n",
		"CONNECT /path HTTP/1.1\r\nHost: x\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		bufp := &[]byte{}
		*bufp = make([]byte, 64)
		in := bytes.NewReader(data)
		r, rest, err := readRequest(in, bufp)
		if err != nil {
			var re *RequestError
			if errors.As(err, &re) && (re.Status < 400 || re.Detail == "") {
				t.Fatalf("incomplete RequestError %#v", re)
			}
			return
		}
		if hasBody(r) {
			return // refused by checkRequest, however net/http reads it
		}
		br := bufio.NewReaderSize(bytes.NewReader(data), 1<<17)
		want, err := http.ReadRequest(br)
		if err != nil {
			t.Fatalf("accepted %q, which net/http refuses: %v", data, err)
		}
		wantRest, _ := io.ReadAll(br)
		if hasBody(want) {
			t.Fatalf("accepted %q without a body, which net/http reads with one", data)
		}
		unread, _ := io.ReadAll(in)
		rest = append(rest, unread...)
		if diff := cmp.Diff(summarize(want, wantRest), summarize(r, rest)); diff != "" {
			t.Fatalf("%q (-net/http +ours):\n%s", data, diff)
		}
		if diff := cmp.Diff(urlOf(want.URL), urlOf(r.URL)); diff != "" {
			t.Fatalf("%q: URL (-net/http +ours):\n%s", data, diff)
		}
	})
}

// TestParsePlainTarget checks the targets parsed without net/url, and
// that it leaves the others to it.
func TestParsePlainTarget(t *testing.T) {
	for _, tt := range []struct {
		target string
		plain  bool
	}{
		{"/", true},
		{"/chat", true},
		{"/chat?room=1&x=%20y", true},
		{"/a/b.c-d_e~f$g&h+i,j:k;l=m@n", true},
		{"//double", true},
		{"/end?", true},
		{"/end??", true},
		{"/q?a?b", true},
		{"/?", true},
		{"/%41", false},
		{"/a%2Fb", false},
		{"/bad%zz", false},
		{"/!", false},
		{"/*", false},
		{"/(x)", false},
		{"/'", false},
		{"/é", false},
		{"*", false},
		{"http://host/path", false},
		{"chat", false},
		{"?q", false},
	} {
		var got url.URL
		plain := parsePlainTarget(&got, tt.target)
		if plain != tt.plain {
			t.Errorf("parsePlainTarget(%q) = %v, want %v", tt.target, plain, tt.plain)
		}
		if !plain {
			continue
		}
		want, err := url.ParseRequestURI(tt.target)
		if err != nil {
			t.Errorf("parsePlainTarget took %q, which url.ParseRequestURI refuses: %v", tt.target, err)
			continue
		}
		if diff := cmp.Diff(urlOf(want), urlOf(&got)); diff != "" {
			t.Errorf("%q (-net/url +ours):\n%s", tt.target, diff)
		}
	}
}

// FuzzParsePlainTarget checks that whatever target parsePlainTarget takes,
// url.ParseRequestURI takes too, into the same URL.
func FuzzParsePlainTarget(f *testing.F) {
	for _, s := range []string{"/", "/chat?room=1", "/end?", "/a?b?c", "//x", "/%41", "/!"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		for i := 0; i < len(target); i++ {
			if c := target[i]; c <= ' ' || c == 0x7f {
				return // refused by splitRequestLine before
			}
		}
		var got url.URL
		if !parsePlainTarget(&got, target) {
			return
		}
		want, err := url.ParseRequestURI(target)
		if err != nil {
			t.Fatalf("took %q, which url.ParseRequestURI refuses: %v", target, err)
		}
		if diff := cmp.Diff(urlOf(want), urlOf(&got)); diff != "" {
			t.Fatalf("%q (-net/url +ours):\n%s", target, diff)
		}
	})
}

// readRequest reads a request head from rd into the pooled buffer *bufp,
// which it may grow, and parses it, as UpgradeConn does in two steps. It returns the request and the bytes
// that followed the head. A *RequestError means the request was malformed
// or too large and deserves an HTTP error response; other errors come from
// reading.
func readRequest(rd io.Reader, bufp *[]byte) (*http.Request, []byte, error) {
	headEnd, n, err := readHead(rd, bufp)
	if err != nil {
		return nil, nil, err
	}
	r, rerr := parseRequest((*bufp)[:headEnd])
	if rerr != nil {
		return nil, nil, rerr
	}
	return r, (*bufp)[headEnd:n], nil
}
