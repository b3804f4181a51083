package rawpeer

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// acceptGUID is the GUID of RFC 6455 §1.3.
const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// DefaultTimeout bounds the opening handshake when no timeout is given.
const DefaultTimeout = 10 * time.Second

// AcceptKey returns the Sec-WebSocket-Accept value for a
// Sec-WebSocket-Key (RFC 6455 §4.2.2).
func AcceptKey(key string) string {
	h := sha1.Sum([]byte(key + acceptGUID))
	return base64.StdEncoding.EncodeToString(h[:])
}

// newKey returns a random Sec-WebSocket-Key: 16 bytes in base64.
func newKey() string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(b[8:], rand.Uint64())
	return base64.StdEncoding.EncodeToString(b[:])
}

// HandshakeError is a refused or malformed opening handshake.
type HandshakeError struct {
	Status int // the HTTP status received (Dial) or sent (Accept), if any
	Reason string
}

func (e *HandshakeError) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("rawpeer: handshake: status %d: %s", e.Status, e.Reason)
	}
	return "rawpeer: handshake: " + e.Reason
}

// DialOptions configure Dial. The zero value sends a plain handshake.
type DialOptions struct {
	// Header holds extra request headers, such as Sec-WebSocket-Extensions
	// or Sec-WebSocket-Protocol.
	Header http.Header

	// Timeout bounds the dial and the handshake; 0 means DefaultTimeout.
	Timeout time.Duration
}

// Dial connects to a ws:// URL as a client and performs the opening
// handshake (RFC 6455 §4.1), checking that the server answered 101 with
// the right Sec-WebSocket-Accept. It does not judge the extensions the
// server chose: HandshakeHeader has them.
func Dial(rawurl string, opts *DialOptions) (*Peer, error) {
	if opts == nil {
		opts = &DialOptions{}
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	u, err := url.Parse(rawurl)
	if err != nil {
		return nil, fmt.Errorf("rawpeer: %w", err)
	}
	if u.Scheme != "ws" {
		return nil, fmt.Errorf("rawpeer: unsupported scheme %q, want ws", u.Scheme)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "80")
	}
	nc, err := net.DialTimeout("tcp", host, timeout)
	if err != nil {
		return nil, fmt.Errorf("rawpeer: %w", err)
	}
	nc.SetDeadline(time.Now().Add(timeout))
	p, err := clientHandshake(nc, u, opts.Header)
	if err != nil {
		nc.Close()
		return nil, err
	}
	nc.SetDeadline(time.Time{})
	return p, nil
}

func clientHandshake(nc net.Conn, u *url.URL, extra http.Header) (*Peer, error) {
	key := newKey()
	var b strings.Builder
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\n", u.RequestURI())
	fmt.Fprintf(&b, "Host: %s\r\n", u.Host)
	b.WriteString("Upgrade: websocket\r\nConnection: Upgrade\r\n")
	fmt.Fprintf(&b, "Sec-WebSocket-Key: %s\r\n", key)
	b.WriteString("Sec-WebSocket-Version: 13\r\n")
	extra.Write(&b)
	b.WriteString("\r\n")
	if _, err := nc.Write([]byte(b.String())); err != nil {
		return nil, fmt.Errorf("rawpeer: handshake: %w", err)
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, fmt.Errorf("rawpeer: handshake: %w", err)
	}
	switch {
	case resp.StatusCode != http.StatusSwitchingProtocols:
		return nil, &HandshakeError{Status: resp.StatusCode, Reason: "server refused the upgrade"}
	case !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket"):
		return nil, &HandshakeError{Status: resp.StatusCode, Reason: "no Upgrade: websocket"}
	case !headerHasToken(resp.Header, "Connection", "upgrade"):
		return nil, &HandshakeError{Status: resp.StatusCode, Reason: "no Connection: Upgrade"}
	case resp.Header.Get("Sec-WebSocket-Accept") != AcceptKey(key):
		return nil, &HandshakeError{Status: resp.StatusCode, Reason: "wrong Sec-WebSocket-Accept"}
	}
	return newPeer(nc, true, resp.Header, buffered(br)), nil
}

// buffered returns what br read past the HTTP head: the first frames.
func buffered(br *bufio.Reader) []byte {
	b, _ := br.Peek(br.Buffered())
	return b
}

// headerHasToken reports whether the comma-separated header name lists
// token, in any case.
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// ListenOptions configure Listen.
type ListenOptions struct {
	// Header, if set, returns extra response headers for a handshake
	// request, such as the Sec-WebSocket-Extensions the server agrees to.
	Header func(r *http.Request) http.Header
}

// Listener accepts WebSocket connections from clients under test, on a
// loopback port.
type Listener struct {
	ln   net.Listener
	opts ListenOptions
}

// Listen listens on a free port of 127.0.0.1.
func Listen(opts *ListenOptions) (*Listener, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("rawpeer: %w", err)
	}
	l := &Listener{ln: ln}
	if opts != nil {
		l.opts = *opts
	}
	return l, nil
}

// URL returns the ws:// URL that reaches l.
func (l *Listener) URL() string { return "ws://" + l.ln.Addr().String() + "/" }

// Addr returns the address l listens on.
func (l *Listener) Addr() net.Addr { return l.ln.Addr() }

// Close stops listening. Peers already accepted stay open.
func (l *Listener) Close() error { return l.ln.Close() }

// Accept waits at most timeout (0 means DefaultTimeout) for a client,
// reads its handshake request and answers 101 (RFC 6455 §4.2.2). A request
// that is not a WebSocket handshake is answered 400 and returned as a
// *HandshakeError.
func (l *Listener) Accept(timeout time.Duration) (*Peer, error) {
	p, r, err := l.AcceptRequest(timeout)
	if err != nil {
		return nil, err
	}
	if err := checkRequest(r); err != nil {
		p.SendRaw([]byte("HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"))
		p.Close()
		return nil, err
	}
	var extra http.Header
	if l.opts.Header != nil {
		extra = l.opts.Header(r)
	}
	if err := p.WriteUpgrade(r, extra); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// AcceptRequest waits at most timeout (0 means DefaultTimeout) for a
// client and reads its handshake request, without answering: the caller
// answers with WriteUpgrade or with any bytes it likes, through SendRaw.
func (l *Listener) AcceptRequest(timeout time.Duration) (*Peer, *http.Request, error) {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	deadline := time.Now().Add(timeout)
	if tl, ok := l.ln.(*net.TCPListener); ok {
		tl.SetDeadline(deadline)
	}
	nc, err := l.ln.Accept()
	if err != nil {
		return nil, nil, fmt.Errorf("rawpeer: accept: %w", err)
	}
	nc.SetReadDeadline(deadline)
	br := bufio.NewReader(nc)
	r, err := http.ReadRequest(br)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("rawpeer: handshake: %w", err)
	}
	nc.SetReadDeadline(time.Time{})
	return newPeer(nc, false, r.Header, buffered(br)), r, nil
}

func checkRequest(r *http.Request) error {
	switch {
	case r.Method != http.MethodGet:
		return &HandshakeError{Status: 400, Reason: "method " + r.Method + ", want GET"}
	case !strings.EqualFold(r.Header.Get("Upgrade"), "websocket"):
		return &HandshakeError{Status: 400, Reason: "no Upgrade: websocket"}
	case !headerHasToken(r.Header, "Connection", "upgrade"):
		return &HandshakeError{Status: 400, Reason: "no Connection: Upgrade"}
	case r.Header.Get("Sec-WebSocket-Version") != "13":
		return &HandshakeError{Status: 400, Reason: "Sec-WebSocket-Version is not 13"}
	}
	key := r.Header.Get("Sec-WebSocket-Key")
	if b, err := base64.StdEncoding.DecodeString(key); err != nil || len(b) != 16 {
		return &HandshakeError{Status: 400, Reason: fmt.Sprintf("bad Sec-WebSocket-Key %q", key)}
	}
	return nil
}

// WriteUpgrade answers the handshake request r with 101 Switching
// Protocols, adding the headers in extra.
func (p *Peer) WriteUpgrade(r *http.Request, extra http.Header) error {
	var b strings.Builder
	b.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n")
	fmt.Fprintf(&b, "Sec-WebSocket-Accept: %s\r\n", AcceptKey(r.Header.Get("Sec-WebSocket-Key")))
	extra.Write(&b)
	b.WriteString("\r\n")
	return p.SendRaw([]byte(b.String()))
}
