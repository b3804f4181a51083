package handshake

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// This file is WebSocket over HTTP/2 (RFC 8441): the client opens a stream
// with an extended CONNECT whose :protocol is "websocket", the server
// answers 200, and the stream's DATA frames then carry the WebSocket
// frames in both directions. Go's HTTP/2 server advertises
// SETTINGS_ENABLE_CONNECT_PROTOCOL only when the process runs with
// GODEBUG=http2xconnect=1; without it, clients never send such a request.

// isExtendedConnect reports whether r asks for a WebSocket over an HTTP/2
// stream.
func isExtendedConnect(r *http.Request) bool {
	return r.ProtoMajor == 2 && r.Method == http.MethodConnect
}

// checkExtendedConnect validates an extended CONNECT (RFC 8441 §5): the
// :protocol is websocket and the version 13; there is no key to answer.
func checkExtendedConnect(r *http.Request) *RequestError {
	if p := r.Header.Get(":protocol"); !strings.EqualFold(p, "websocket") {
		return &RequestError{http.StatusBadRequest, ErrMissingUpgrade,
			fmt.Sprintf("CONNECT for protocol %q; this endpoint only serves WebSocket connections", p)}
	}
	if r.Host == "" {
		return &RequestError{http.StatusBadRequest, ErrBadRequest, "request has no :authority"}
	}
	return checkVersion(r)
}

// acceptStream answers an extended CONNECT with 200 and returns the stream
// as the connection.
func acceptStream(w http.ResponseWriter, r *http.Request, sc *ServerConn, opts *ServerOptions) (*ServerConn, error) {
	h := w.Header()
	for k, v := range opts.Header {
		h[k] = v
	}
	if sc.Subprotocol != "" {
		h.Set("Sec-WebSocket-Protocol", sc.Subprotocol)
	}
	if len(sc.Extensions) > 0 {
		h.Set("Sec-WebSocket-Extensions", string(appendExtensionList(nil, sc.Extensions)))
	}
	rc := http.NewResponseController(w)
	w.WriteHeader(http.StatusOK)
	// net/http's HTTP/2 server fails the Flush with "stream closed" when
	// the peer resets the stream while the Flush waits for its headers to be
	// written, even if they were: a client that closes as soon as it has
	// the 200 would make Upgrade fail or not by the scheduling of this
	// goroutine. The stream's context has ended by then (the server cancels
	// it before it wakes a waiting writer), so such a failure hands over the
	// stream anyway; it fails on use, as a TCP connection closed right after
	// the 101 does.
	if err := rc.Flush(); err != nil && r.Context().Err() == nil {
		return nil, fmt.Errorf("websocket: sending the 200 response: %w", err)
	}
	sc.Conn = newStreamConn(w, r, rc)
	return sc, nil
}

// streamConn is an HTTP/2 stream seen as a net.Conn: reads come from the
// request body, writes go to the response and are flushed at once. Its
// deadlines are those of the ResponseController, with one difference from
// a TCP connection's: once a read deadline has expired, the stream's body
// stays failed, and an expired write deadline resets the stream.
type streamConn struct {
	body    io.ReadCloser
	w       http.ResponseWriter
	rc      *http.ResponseController
	handler context.Context // the request's: done once the handler has returned or the stream has ended
	local   net.Addr
	peer    net.Addr

	wmu sync.Mutex // serializes writes

	mu      sync.Mutex // guards closed and writing
	closed  bool
	writing bool
}

func newStreamConn(w http.ResponseWriter, r *http.Request, rc *http.ResponseController) *streamConn {
	local, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if local == nil {
		local = streamAddr("")
	}
	return &streamConn{body: r.Body, w: w, rc: rc, handler: r.Context(), local: local, peer: streamAddr(r.RemoteAddr)}
}

// use runs f, which uses the ResponseWriter, unless the handler has
// returned. net/http panics on a ResponseWriter used after that, and a
// WebSocket loop in a goroutine of its own easily outlives its handler;
// the recover covers a handler that returns while f runs.
func (s *streamConn) use(f func() error) (err error) {
	if s.handler.Err() != nil {
		return net.ErrClosed
	}
	defer func() {
		if recover() != nil {
			err = net.ErrClosed
		}
	}()
	return f()
}

func (s *streamConn) Read(p []byte) (int, error) {
	n, err := s.body.Read(p)
	if err != nil && s.isClosed() {
		err = net.ErrClosed
	}
	return n, err
}

func (s *streamConn) Write(p []byte) (int, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return 0, net.ErrClosed
	}
	s.writing = true
	s.mu.Unlock()
	var n int
	err := s.use(func() error {
		var err error
		if n, err = s.w.Write(p); err == nil {
			err = s.rc.Flush()
		}
		return err
	})
	s.mu.Lock()
	s.writing = false
	if err != nil && s.closed {
		err = net.ErrClosed
	}
	s.mu.Unlock()
	return n, err
}

// Close ends reading and writing. The stream itself ends, cleanly, when
// the handler that accepted it returns; only a write blocked at the time
// of Close makes it end with a reset. Close waits for such a write to
// give up, and later deadline changes do nothing: once the handler has
// returned, the ResponseWriter must not be touched.
func (s *streamConn) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return net.ErrClosed
	}
	s.closed = true
	if s.writing {
		s.use(func() error { return s.rc.SetWriteDeadline(aLongTimeAgo) })
	}
	s.mu.Unlock()
	s.wmu.Lock() // once a write in progress has returned
	defer s.wmu.Unlock()
	return s.body.Close()
}

func (s *streamConn) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

func (s *streamConn) LocalAddr() net.Addr  { return s.local }
func (s *streamConn) RemoteAddr() net.Addr { return s.peer }

func (s *streamConn) SetDeadline(t time.Time) error {
	if err := s.SetReadDeadline(t); err != nil {
		return err
	}
	return s.SetWriteDeadline(t)
}

func (s *streamConn) SetReadDeadline(t time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return net.ErrClosed
	}
	return s.use(func() error { return s.rc.SetReadDeadline(t) })
}

func (s *streamConn) SetWriteDeadline(t time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return net.ErrClosed
	}
	return s.use(func() error { return s.rc.SetWriteDeadline(t) })
}

// streamAddr is the address of an HTTP/2 peer as net/http reports it.
type streamAddr string

func (a streamAddr) Network() string { return "tcp" }
func (a streamAddr) String() string  { return string(a) }

// dialStream opens a WebSocket as a stream of opts.HTTP2 (RFC 8441 §4-5).
// header is the HTTP/1.1 handshake's; the fields HTTP/2 has no place for
// are dropped.
func dialStream(ctx context.Context, t *target, header http.Header, opts *ClientOptions) (*ClientConn, error) {
	h := header.Clone()
	for _, k := range [...]string{hdrUpgrade, hdrConnection, hdrKey} {
		delete(h, k)
	}
	h.Set(":protocol", "websocket")
	pr, pw := io.Pipe()
	// The request's context lives as long as the stream; ctx bounds only
	// the exchange of headers.
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	req := (&http.Request{
		Method:     http.MethodConnect,
		URL:        t.u,
		Proto:      "HTTP/2.0",
		ProtoMajor: 2,
		Header:     h,
		Host:       t.hostHeader,
		Body:       pr,
	}).WithContext(sctx)
	type result struct {
		resp *http.Response
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := opts.HTTP2.RoundTrip(req)
		done <- result{resp, err}
	}()
	var res result
	select {
	case res = <-done:
	case <-ctx.Done():
		cancel()
		res = <-done
		if res.err == nil {
			res.resp.Body.Close()
			res.err = ctx.Err()
		}
	}
	if res.err != nil {
		cancel()
		pw.Close()
		if refusedProtocol(res.err) {
			return nil, fmt.Errorf("%w (%w)", ErrNoExtendedConnect, res.err)
		}
		return nil, fmt.Errorf("sending the extended CONNECT: %w", res.err)
	}
	cc, err := checkResponse(res.resp, "", opts)
	if err != nil {
		cancel()
		pw.Close()
		return nil, err
	}
	cc.Conn = &clientStream{body: res.resp.Body, pw: pw, cancel: cancel, peer: streamAddr(t.addr)}
	return cc, nil
}

// refusedProtocol reports whether err is net/http's refusal of the
// :protocol pseudo-header, which its header check takes for an invalid
// field name. The check runs before any byte is sent, and the error has
// no type to test, only this text; it is the same from http.Transport and
// http.ClientConn, and from x/net's HTTP/2 transport on Go 1.27 and later,
// which sends through net/http.
func refusedProtocol(err error) bool {
	return strings.Contains(err.Error(), `invalid header field name ":protocol"`)
}

// clientStream is the client's end of a WebSocket over an HTTP/2 stream:
// reads come from the response body, writes go into the request body.
// Deadlines work as on the server side: once one has expired, its
// direction of the stream stays failed.
type clientStream struct {
	body   io.ReadCloser
	pw     *io.PipeWriter
	cancel context.CancelFunc
	peer   net.Addr

	rd, wr streamDeadline

	mu     sync.Mutex
	closed bool
}

func (s *clientStream) Read(p []byte) (int, error) {
	n, err := s.body.Read(p)
	return n, s.ioError(err, &s.rd)
}

func (s *clientStream) Write(p []byte) (int, error) {
	n, err := s.pw.Write(p)
	return n, s.ioError(err, &s.wr)
}

// ioError explains an error of a stream that was closed or timed out.
func (s *clientStream) ioError(err error, d *streamDeadline) error {
	switch {
	case err == nil:
		return nil
	case s.isClosed():
		return net.ErrClosed
	case d.hasExpired():
		return fmt.Errorf("%w (%w)", os.ErrDeadlineExceeded, err)
	}
	return err
}

// Close ends our half of the stream and abandons the other.
func (s *clientStream) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return net.ErrClosed
	}
	s.closed = true
	s.mu.Unlock()
	s.rd.set(time.Time{}, nil)
	s.wr.set(time.Time{}, nil)
	s.pw.Close()
	err := s.body.Close()
	s.cancel()
	return err
}

func (s *clientStream) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

func (s *clientStream) LocalAddr() net.Addr  { return streamAddr("") }
func (s *clientStream) RemoteAddr() net.Addr { return s.peer }

func (s *clientStream) SetDeadline(t time.Time) error {
	s.SetReadDeadline(t)
	return s.SetWriteDeadline(t)
}

func (s *clientStream) SetReadDeadline(t time.Time) error {
	s.rd.set(t, func() { s.body.Close() })
	return nil
}

func (s *clientStream) SetWriteDeadline(t time.Time) error {
	s.wr.set(t, func() { s.pw.CloseWithError(os.ErrDeadlineExceeded) })
	return nil
}

// streamDeadline runs expire when a deadline passes. Expiry is final.
type streamDeadline struct {
	mu      sync.Mutex
	timer   *time.Timer
	expired bool
}

func (d *streamDeadline) set(t time.Time, expire func()) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	if d.expired || t.IsZero() || expire == nil {
		return
	}
	d.timer = time.AfterFunc(time.Until(t), func() {
		d.mu.Lock()
		d.expired = true
		d.mu.Unlock()
		expire()
	})
}

func (d *streamDeadline) hasExpired() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.expired
}
