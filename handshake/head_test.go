package handshake

import (
	"bytes"
	"errors"
	"net/http"
	"testing"
)

const sampleHead = "GET /chat?x=1 HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
	"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n"

func TestParseUpgrade(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantN   int
		wantErr error
		status  string // start of the response
	}{
		{"whole", sampleHead, len(sampleHead), nil, "HTTP/1.1 101 "},
		{"with frames after", sampleHead + "\x81\x80abcd", len(sampleHead), nil, "HTTP/1.1 101 "},
		{"incomplete", sampleHead[:len(sampleHead)-1], 0, ErrIncomplete, ""},
		{"not an upgrade", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27, ErrMissingUpgrade, "HTTP/1.1 400 "},
		{"POST", "POST / HTTP/1.1\r\nHost: x\r\n\r\n", 28, ErrMethod, "HTTP/1.1 405 "},
		{"too large", "GET / HTTP/1.1\r\nX: " + string(bytes.Repeat([]byte("a"), maxRequestBytes)), 0, ErrBadRequest, "HTTP/1.1 431 "},
		// A head over the bound that arrived whole is as large as one that did not.
		{"too large and whole", "GET / HTTP/1.1\r\nX: " + string(bytes.Repeat([]byte("a"), maxRequestBytes)) + "\r\n\r\n", 0, ErrBadRequest, "HTTP/1.1 431 "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc, r, resp, n, err := ParseUpgrade(nil, []byte(tt.in), nil)
			if n != tt.wantN || !errors.Is(err, tt.wantErr) {
				t.Fatalf("n %d, err %v; want %d, %v", n, err, tt.wantN, tt.wantErr)
			}
			if !bytes.HasPrefix(resp, []byte(tt.status)) {
				t.Errorf("response %q, want it to start with %q", resp, tt.status)
			}
			if err == nil {
				if r.URL.Path != "/chat" || r.Host != "example.com" || len(sc.Extensions) != 0 {
					t.Errorf("request %s %s, extensions %v", r.Host, r.URL, sc.Extensions)
				}
				if !bytes.Contains(resp, []byte("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n")) {
					t.Errorf("response %q lacks the accept key of RFC 6455 §1.3", resp)
				}
			}
		})
	}
}

// FuzzParseUpgrade checks that ParseUpgrade never panics, answers every
// whole head with a 101 or an HTTP error, and finds a request it accepts
// incomplete when cut anywhere in its head.
func FuzzParseUpgrade(f *testing.F) {
	f.Add([]byte(sampleHead))
	f.Add([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	f.Add([]byte("GET / HTTP/1.1\nHost: x\nUpgrade: websocket\nConnection: upgrade\nSec-WebSocket-Version: 13\nSec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\n\n"))
	f.Add([]byte("GET http://a/ HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"))
	opts := &ServerOptions{InsecureSkipOriginCheck: true, Extensions: nil, Header: http.Header{"X-A": {"b"}}}
	f.Fuzz(func(t *testing.T, b []byte) {
		sc, r, resp, n, err := ParseUpgrade(nil, b, opts)
		if errors.Is(err, ErrIncomplete) {
			if end, _ := findHeadEnd(b, 0); end >= 0 || n != 0 || resp != nil {
				t.Fatalf("incomplete with a head end at %d, n %d", end, n)
			}
			return
		}
		var rerr *RequestError
		switch {
		case err == nil:
			if sc == nil || r == nil || n <= 0 || n > len(b) || !bytes.HasPrefix(resp, []byte("HTTP/1.1 101 ")) {
				t.Fatalf("accepted with n %d of %d, response %q", n, len(b), resp)
			}
			for k := range n {
				if _, _, _, _, err := ParseUpgrade(nil, b[:k], opts); !errors.Is(err, ErrIncomplete) {
					t.Fatalf("the head cut at %d of %d: %v, want ErrIncomplete", k, n, err)
				}
			}
		case errors.As(err, &rerr):
			if !bytes.HasPrefix(resp, []byte("HTTP/1.1 4")) && !bytes.HasPrefix(resp, []byte("HTTP/1.1 5")) {
				t.Fatalf("refused (%v) with response %q", err, resp)
			}
		default:
			t.Fatalf("error %v is neither ErrIncomplete nor a *RequestError", err)
		}
	})
}
