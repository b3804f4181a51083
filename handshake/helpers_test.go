package handshake

import (
	"bufio"
	"bytes"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// sampleKey and sampleAccept are the example of RFC 6455 §4.2.2.
const (
	sampleKey    = "dGhlIHNhbXBsZSBub25jZQ=="
	sampleAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
)

// stubConn is a net.Conn that records writes and has nothing to read.
type stubConn struct {
	net.Conn // nil; calling an unlisted method panics
	mu       sync.Mutex
	written  bytes.Buffer
	writes   int
	deadline time.Time
	closed   bool
}

func (c *stubConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes++
	return c.written.Write(p)
}

func (c *stubConn) Read([]byte) (int, error) { return 0, net.ErrClosed }

func (c *stubConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	return nil
}

func (c *stubConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadline = t
	return nil
}

// hijackWriter is an http.ResponseWriter that supports Hijack, over a
// stubConn. Status and body record what was written before any hijack.
type hijackWriter struct {
	header   http.Header
	status   int
	body     bytes.Buffer
	conn     *stubConn
	brw      *bufio.ReadWriter
	hijacked bool
}

// newHijackWriter returns a writer whose hijacked reader already holds
// clientBytes, as if net/http had read them past the request.
func newHijackWriter(clientBytes string) *hijackWriter {
	c := &stubConn{deadline: time.Unix(1e9, 0)} // as if net/http set a timeout
	r := bufio.NewReader(strings.NewReader(clientBytes))
	if clientBytes != "" {
		r.Peek(len(clientBytes))
	}
	return &hijackWriter{
		header: http.Header{},
		conn:   c,
		brw:    bufio.NewReadWriter(r, bufio.NewWriterSize(c, 4096)),
	}
}

func (w *hijackWriter) Header() http.Header { return w.header }

func (w *hijackWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *hijackWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(p)
}

func (w *hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.hijacked = true
	return w.conn, w.brw, nil
}

// wrappedWriter hides Hijack behind Unwrap, like middleware does.
type wrappedWriter struct{ http.ResponseWriter }

func (w wrappedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// upgradeRequest returns a valid handshake request for
// http://example.com/chat.
func upgradeRequest() *http.Request {
	r, _ := http.NewRequest(http.MethodGet, "http://example.com/chat", nil)
	r.Header.Set("Upgrade", "websocket")
	r.Header.Set("Connection", "Upgrade")
	r.Header.Set("Sec-WebSocket-Key", sampleKey)
	r.Header.Set("Sec-WebSocket-Version", "13")
	return r
}

// serverExt is a ServerExtension for tests. It accepts the offers for
// which accept returns true, answering with respond (or the offer).
type serverExt struct {
	name    string
	accept  func(Extension) bool
	respond *Extension
	offers  []Extension // what Negotiate was called with
}

func (e *serverExt) Name() string { return e.name }

func (e *serverExt) Negotiate(offer Extension) (Extension, bool) {
	e.offers = append(e.offers, offer)
	if e.accept != nil && !e.accept(offer) {
		return Extension{}, false
	}
	if e.respond != nil {
		return *e.respond, true
	}
	return offer, true
}

// clientExt is a ClientExtension for tests.
type clientExt struct {
	offers []Extension
	err    error       // returned by Accept
	got    []Extension // what Accept was called with
}

func (e *clientExt) Offers() []Extension { return e.offers }

func (e *clientExt) Accept(resp Extension) error {
	e.got = append(e.got, resp)
	return e.err
}

// ext builds an Extension from a name and name/value pairs.
func ext(name string, params ...string) Extension {
	e := Extension{Name: name}
	for i := 0; i+1 < len(params); i += 2 {
		e.Params = append(e.Params, ExtensionParam{params[i], params[i+1]})
	}
	return e
}
