package handshake

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
)

// maxRequestBytes bounds the handshake request UpgradeConn reads, as
// net/http's MaxHeaderBytes does for its server.
const maxRequestBytes = 64 << 10

// requestReaders are the bufio.Readers UpgradeConn reads requests with;
// they go back to the pool once the handshake is done.
var requestReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}

// UpgradeConn performs the server side of the opening handshake on a
// connection accepted without net/http, such as from a net.Listener or a
// tls.Listener: it reads the HTTP request from nc and applies the same
// rules as [Upgrade]. A server built this way keeps no net/http state per
// connection, which matters when it holds many idle ones.
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
	br := requestReaders.Get().(*bufio.Reader)
	defer func() {
		br.Reset(nil)
		requestReaders.Put(br)
	}()
	limited := &io.LimitedReader{R: nc, N: maxRequestBytes}
	br.Reset(limited)
	r, err := http.ReadRequest(br)
	if err != nil {
		if limited.N <= 0 {
			rerr := &RequestError{http.StatusRequestHeaderFieldsTooLarge, ErrBadRequest,
				fmt.Sprintf("request larger than %d bytes", maxRequestBytes)}
			return nil, nil, writeRefusal(nc, rerr)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || isTimeout(err) {
			return nil, nil, fmt.Errorf("websocket: reading the handshake request: %w", err)
		}
		return nil, nil, writeRefusal(nc, &RequestError{http.StatusBadRequest, ErrBadRequest,
			fmt.Sprintf("malformed HTTP request: %v", err)})
	}
	if r.ContentLength != 0 || len(r.TransferEncoding) > 0 {
		// RFC 6455 §4.1: the handshake is a GET without a body, and bytes
		// after the request belong to the WebSocket stream.
		return nil, nil, writeRefusal(nc, &RequestError{http.StatusBadRequest, ErrBadRequest,
			"handshake request has a body"})
	}
	r.Body = http.NoBody
	r.RemoteAddr = nc.RemoteAddr().String()
	if tc, ok := nc.(*tls.Conn); ok {
		state := tc.ConnectionState()
		r.TLS = &state
	}
	sc, key, rerr := negotiate(r, opts)
	if rerr != nil {
		return nil, nil, writeRefusal(nc, rerr)
	}
	if n := br.Buffered(); n > 0 {
		b, _ := br.Peek(n)
		sc.Buffered = slices.Clone(b)
	}
	var buf [512]byte
	if _, err := nc.Write(appendResponse(buf[:0], key, sc, opts.Header)); err != nil {
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

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// aLongTimeAgo is a deadline in the past, to interrupt blocked I/O when a
// context ends.
var aLongTimeAgo = time.Unix(1, 0)
