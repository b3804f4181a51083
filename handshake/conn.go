package handshake

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
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
// sends its request too slowly is cut off when ctx expires. A deadline set
// on nc beforehand bounds them too, and is the cheaper way when the
// handshake need not be canceled otherwise: UpgradeConn watches a context
// that can end, which costs a few allocations per handshake, while
// context.Background() costs nothing. Either way, a successful UpgradeConn
// leaves nc with no deadline. UpgradeConn
// takes ownership of nc: on failure it writes the HTTP error response, if
// it got as far as a request, and closes nc. On success it returns the
// request, whose Body is empty, so that the caller can route by its URL or
// read its cookies.
func UpgradeConn(ctx context.Context, nc net.Conn, opts *ServerOptions) (*ServerConn, *http.Request, error) {
	// This runs on the goroutine that will serve the connection, usually
	// one per connection. Go doubles a goroutine's stack the first time a
	// call goes past it and does not shrink it back while the goroutine
	// waits in a read, so the deepest call of the handshake sets the stack
	// every idle connection keeps. The reads and the write are therefore
	// made here, near the top of the stack, and the parsing and the
	// negotiation, whose frames are larger, in calls that have returned by
	// the time of the write (see conn's TestIdleServerStack).
	if opts == nil {
		opts = zeroServerOptions()
	}
	// Interrupt the handshake once ctx ends. Because this runs only after
	// ctx is done, an error it causes always comes with a non-nil
	// ctx.Err() (setting ctx's deadline on nc instead would race with it).
	// A context that cannot end needs no watch.
	var stop func() bool
	if ctx.Done() != nil {
		stop = context.AfterFunc(ctx, func() { nc.SetDeadline(aLongTimeAgo) })
	}
	bufp := requestBuffers.Get().(*[]byte)
	var sc *ServerConn
	var r *http.Request
	headEnd, n, err := readHead(nc, bufp)
	if err == nil {
		var rerr *RequestError
		if r, rerr = parseRequest((*bufp)[:headEnd]); rerr != nil {
			err = rerr
		} else {
			r.RemoteAddr = nc.RemoteAddr().String()
		}
	}
	if err != nil {
		err = readFailed(nc, err)
	} else {
		sc, n, err = respond(nc, r, bufp, headEnd, n, opts)
		if err == nil {
			_, err = nc.Write((*bufp)[:n])
			err = writeFailed(err)
		}
	}
	putRequestBuffer(bufp)
	if err := settle(ctx, nc, stop, err); err != nil {
		return nil, nil, err
	}
	sc.Conn = nc
	return sc, r, nil
}

// zeroServerOptions stands for nil options. It is not inlined, so that
// the zero value is on the heap rather than in UpgradeConn's frame.
//
//go:noinline
func zeroServerOptions() *ServerOptions { return new(ServerOptions) }

// settle ends UpgradeConn's watch of ctx, if it has one (stop), and
// decides its error: the handshake's, joined with ctx's if ctx ended
// first. On error it closes nc; otherwise it clears the deadline the watch
// may have set.
//
//go:noinline
func settle(ctx context.Context, nc net.Conn, stop func() bool, err error) error {
	if stop != nil && !stop() || ctx.Err() != nil {
		err = errors.Join(err, ctx.Err())
	}
	if err == nil {
		err = nc.SetDeadline(time.Time{})
	}
	if err != nil {
		nc.Close()
	}
	return err
}

// writeFailed wraps an error writing the 101 response, if any.
//
//go:noinline
func writeFailed(err error) error {
	if err != nil {
		return fmt.Errorf("websocket: writing the 101 response: %w", err)
	}
	return nil
}

func putRequestBuffer(bufp *[]byte) {
	if cap(*bufp) == requestBufferSize { // not one grown for a large request
		requestBuffers.Put(bufp)
	}
}

// growRequestBufferTo makes *bufp hold b, a larger copy of it, and gives
// the pool back the buffer it held, if the pool's, in a holder of its own:
// the grown one is not kept.
func growRequestBufferTo(bufp *[]byte, b []byte) {
	if cap(*bufp) == requestBufferSize {
		orig := new([]byte)
		*orig = *bufp
		requestBuffers.Put(orig)
	}
	*bufp = b
}

// readFailed answers a request that could not be read, if it was read but
// refused, and returns the error for UpgradeConn.
//
//go:noinline
func readFailed(nc net.Conn, err error) error {
	var rerr *RequestError
	if errors.As(err, &rerr) {
		return writeRefusal(nc, rerr)
	}
	return fmt.Errorf("websocket: reading the handshake request: %w", err)
}

// connectionState returns tc's state, kept out of respond's frame.
//
//go:noinline
func connectionState(tc *tls.Conn) *tls.ConnectionState {
	state := tc.ConnectionState()
	return &state
}

// respond negotiates the connection for r, whose head is
// (*bufp)[:headEnd]; (*bufp)[headEnd:n] arrived after it. When the request
// is acceptable it writes the 101 response over the head and returns its
// length; otherwise it writes the refusal and returns its error.
//
//go:noinline
func respond(nc net.Conn, r *http.Request, bufp *[]byte, headEnd, n int, opts *ServerOptions) (*ServerConn, int, error) {
	if tc, ok := nc.(*tls.Conn); ok {
		r.TLS = connectionState(tc)
	}
	sc, key, rerr := negotiate(r, opts)
	if rerr != nil {
		return nil, 0, writeRefusal(nc, rerr)
	}
	if rest := (*bufp)[headEnd:n]; len(rest) > 0 {
		sc.Buffered = slices.Clone(rest)
	}
	// The head has been parsed into r: its buffer can carry the response.
	resp := appendResponse((*bufp)[:0], key, sc, opts.Header)
	if cap(resp) != cap(*bufp) {
		growRequestBufferTo(bufp, resp[:cap(resp)]) // large extra headers
	}
	return sc, len(resp), nil
}

// writeRefusal writes the HTTP error response for e on a connection that
// net/http does not manage, as refuse does through a ResponseWriter.
func writeRefusal(nc net.Conn, e *RequestError) *RequestError {
	nc.Write(appendRefusal(make([]byte, 0, 256+len(e.Detail)), e))
	return e
}

// aLongTimeAgo is a deadline in the past, to interrupt blocked I/O when a
// context ends.
var aLongTimeAgo = time.Unix(1, 0)
