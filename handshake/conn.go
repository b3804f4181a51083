package handshake

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// maxRequestBytes bounds the handshake request UpgradeConn reads, as
// net/http's MaxHeaderBytes does for its server.
const maxRequestBytes = 64 << 10

// UpgradeConn performs the server side of the opening handshake on a
// connection accepted without net/http, such as from a net.Listener or a
// tls.Listener: it reads the HTTP request from nc and applies the same
// rules as [Upgrade]. A server built this way keeps no net/http state per
// connection, which matters when it holds many idle ones. The request head
// is parsed strictly (RFC 9112): no obsolete line folding, no whitespace
// before a field's colon, no control characters, one Host field, at most
// 64 KiB (431 beyond that).
//
// ctx bounds reading the request and writing the response; a client that
// sends its request too slowly is cut off when ctx expires. UpgradeConn
// takes ownership of nc: on failure it writes the HTTP error response, if
// it got as far as a request, and closes nc. On success it returns the
// request, whose Body is empty, so that the caller can route by its URL or
// read its cookies.
func UpgradeConn(ctx context.Context, nc net.Conn, opts *ServerOptions) (*ServerConn, *http.Request, error) {
	if opts == nil {
		opts = &ServerOptions{}
	}
	// Interrupt the handshake once ctx ends. Because this runs only after
	// ctx is done, an error it causes always comes with a non-nil
	// ctx.Err() (setting ctx's deadline on nc instead would race with it).
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(aLongTimeAgo) })
	sc, r, err := upgradeConn(nc, opts)
	if !stop() || ctx.Err() != nil {
		err = errors.Join(err, ctx.Err())
	}
	if err == nil {
		err = nc.SetDeadline(time.Time{})
	}
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	sc.Conn = nc
	return sc, r, nil
}

func upgradeConn(nc net.Conn, opts *ServerOptions) (*ServerConn, *http.Request, error) {
	bufp := requestBuffers.Get().(*[]byte)
	defer func() {
		if cap(*bufp) == requestBufferSize { // not one grown for a large request
			requestBuffers.Put(bufp)
		}
	}()
	r, rest, err := readRequest(nc, bufp)
	if err != nil {
		var rerr *RequestError
		if errors.As(err, &rerr) {
			return nil, nil, writeRefusal(nc, rerr)
		}
		return nil, nil, fmt.Errorf("websocket: reading the handshake request: %w", err)
	}
	r.RemoteAddr = nc.RemoteAddr().String()
	if tc, ok := nc.(*tls.Conn); ok {
		state := tc.ConnectionState()
		r.TLS = &state
	}
	sc, key, rerr := negotiate(r, opts)
	if rerr != nil {
		return nil, nil, writeRefusal(nc, rerr)
	}
	if len(rest) > 0 {
		sc.Buffered = slices.Clone(rest)
	}
	// The head has been parsed into r: its buffer can carry the response.
	if _, err := nc.Write(appendResponse((*bufp)[:0], key, sc, opts.Header)); err != nil {
		return nil, nil, fmt.Errorf("websocket: writing the 101 response: %w", err)
	}
	return sc, r, nil
}

// writeRefusal writes the HTTP error response for e on a connection that
// net/http does not manage, as refuse does through a ResponseWriter.
func writeRefusal(nc net.Conn, e *RequestError) *RequestError {
	body := e.Detail + "\n"
	b := make([]byte, 0, 256+len(body))
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
	b = append(b, body...)
	nc.Write(b)
	return e
}

// aLongTimeAgo is a deadline in the past, to interrupt blocked I/O when a
// context ends.
var aLongTimeAgo = time.Unix(1, 0)
