package handshake

import (
	"errors"
	"net/http"
	"strconv"
)

// ErrIncomplete is returned by [ParseUpgrade] while the buffer does not yet
// hold a whole request head.
var ErrIncomplete = errors.New("websocket: incomplete handshake request")

// ParseUpgrade performs the server side of the opening handshake on a
// request that the caller read itself, such as an event loop that reads
// many connections without a goroutine each. b holds what the client has
// sent so far. It applies the same rules as [UpgradeConn] and parses the
// head where it lies in b.
//
// While b holds no whole head it returns [ErrIncomplete], and a
// *[RequestError] with status 431 once b holds 64 KiB without one. For a
// whole head, n is its length; bytes after it are frames. On success
// resp is the 101 response, appended to dst. On refusal err is a
// *RequestError and resp the HTTP error response to write before closing
// the connection.
func ParseUpgrade(dst, b []byte, opts *ServerOptions) (sc *ServerConn, r *http.Request, resp []byte, n int, err error) {
	if opts == nil {
		opts = zeroServerOptions()
	}
	// The bound applies to the head wherever it ends, not to the bytes
	// that happen to have arrived before the caller looked: a 70 KiB head
	// read in one go is as much too large as one read in pieces.
	end, _ := findHeadEnd(b[:min(len(b), maxRequestBytes)], 0)
	if end < 0 {
		if len(b) >= maxRequestBytes {
			rerr := tooLarge()
			return nil, nil, appendRefusal(dst, rerr), 0, rerr
		}
		return nil, nil, nil, 0, ErrIncomplete
	}
	r, rerr := parseRequest(b[:end])
	if rerr == nil {
		var key string
		if sc, key, rerr = negotiate(r, opts); rerr == nil {
			return sc, r, appendResponse(dst, key, sc, opts.Header), end, nil
		}
	}
	return nil, nil, appendRefusal(dst, rerr), end, rerr
}

// appendRefusal appends the HTTP error response for e, for a connection
// that net/http does not manage.
func appendRefusal(b []byte, e *RequestError) []byte {
	body := e.Detail + "\n"
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(e.Status), 10)
	b = append(b, ' ')
	b = append(b, http.StatusText(e.Status)...)
	b = append(b, "\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	switch e.Status {
	case http.StatusMethodNotAllowed:
		b = append(b, "\r\nAllow: GET"...)
	case http.StatusUpgradeRequired:
		b = append(b, "\r\nSec-WebSocket-Version: 13"...)
	}
	b = append(b, "\r\n\r\n"...)
	return append(b, body...)
}
