package conn

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/url"
	"time"
)

// DefaultReadLimit is the largest message a Conn accepts when no limit is
// set. A larger message fails the connection with CloseMessageTooBig (1009).
const DefaultReadLimit = 32 << 20

// DefaultCloseTimeout bounds how long Close waits for the peer's Close frame
// and, for a client, for the server to close the TCP connection.
const DefaultCloseTimeout = 5 * time.Second

// CompressionOptions configure permessage-deflate (RFC 7692). A nil
// *CompressionOptions disables compression; a pointer to the zero value
// enables it with context takeover in both directions.
//
// Memory: the compressor and the decompressor (about 1 MiB together) are
// pooled and held only while a message is in flight, and, with context
// takeover, by a connection that is busy sending: one whose previous
// message went out less than a second before. Between messages an idle
// connection with context takeover keeps only what the peer may refer to of
// what it received, up to the peer's window, and up to 4 KiB of what it
// sent, in both cases no more than has passed. A server asks a client
// that lets it choose (browsers do) for a 4 KiB window, so an idle
// connection to such a client keeps at most 8 KiB. Without context
// takeover an idle connection keeps nothing.
type CompressionOptions struct {
	// ServerNoContextTakeover and ClientNoContextTakeover ask that the
	// server's or the client's compressor start every message afresh,
	// which saves the memory of its window at some cost in ratio.
	ServerNoContextTakeover bool
	ClientNoContextTakeover bool

	// ServerMaxWindowBits and ClientMaxWindowBits limit the LZ77 window
	// (8..15). 0 means 15, except that a server asks a client that takes
	// over its window and lets the server choose for 12, a 4 KiB window.
	// A smaller window costs proportionally less memory on every
	// connection that takes it over, and compresses less.
	ServerMaxWindowBits int
	ClientMaxWindowBits int

	// Level is the compress/flate level; 0 means a fast default. It
	// applies to 32 KiB windows: a smaller one has an encoder of its own.
	Level int

	// Threshold is the size below which a message is sent uncompressed.
	Threshold int
}

// AcceptOptions configure Accept. The zero value accepts same-origin
// requests without subprotocol or compression.
type AcceptOptions struct {
	// Subprotocols lists the subprotocols the server speaks, in order of
	// preference; the first one the client also offered is chosen.
	Subprotocols []string

	// SelectSubprotocol, if set, chooses the subprotocol instead, from the
	// client's offer. It returns "" to choose none.
	SelectSubprotocol func(r *http.Request, offered []string) string

	// OriginPatterns lists the host patterns (path.Match syntax, such as
	// "example.com", "*.example.com" or "localhost:*") of origins allowed in
	// addition to the request's own host. "*" allows every origin. Requests
	// without an Origin header, which browsers always send, are allowed.
	OriginPatterns []string

	// InsecureSkipOriginCheck turns the Origin check off. This exposes the
	// endpoint to cross-site WebSocket hijacking (RFC 6455 §10.2).
	InsecureSkipOriginCheck bool

	// CheckOrigin, if set, decides instead of OriginPatterns whether a
	// request may connect; see handshake.ServerOptions.CheckOrigin.
	CheckOrigin func(r *http.Request) bool

	// Header holds extra headers for the 101 response, such as cookies.
	Header http.Header

	// Compression enables permessage-deflate when the client offers it.
	Compression *CompressionOptions

	// ReadLimit is the largest message accepted, in bytes after
	// decompression. 0 means DefaultReadLimit; a negative value means none.
	ReadLimit int64

	// ReadBufferSize and WriteBufferSize size the I/O buffers (0 means
	// 4 KiB). Buffers are pooled and held only while a frame is in flight.
	// The write buffer size, rounded up to the pool's size class (a power
	// of two), is also the frame size of streamed messages.
	ReadBufferSize  int
	WriteBufferSize int

	// PingInterval, if positive, makes the connection ping the peer every
	// PingInterval and end the connection (CloseGoingAway, with
	// ErrKeepaliveTimeout as the cause) when the peer has not answered
	// within PingTimeout (0 means PingInterval). When no goroutine is
	// reading, the keepalive reads the pong itself, leaving data for the
	// next read.
	PingInterval time.Duration
	PingTimeout  time.Duration

	// CloseTimeout bounds the closing handshake; 0 means DefaultCloseTimeout.
	CloseTimeout time.Duration

	// OnPing and OnPong, if set, are called with the payload of each Ping
	// and Pong the peer sends, by the goroutine that reads it (the
	// keepalive's, when nobody reads), before a Ping is answered. They
	// observe, for logging or round-trip times: the connection still
	// answers pings itself. They must not block, nor keep payload.
	OnPing, OnPong func(payload []byte)

	// Tracker, if set, tracks the connection until it ends, so that
	// Tracker.Shutdown can close it; once shutdown has begun, handshakes
	// are refused with 503 Service Unavailable.
	Tracker *Tracker
}

// DialOptions configure Dial. The zero value dials without subprotocol or
// compression, through the proxy named by the environment, if any.
type DialOptions struct {
	// Header holds extra request headers, such as Origin, cookies or
	// Authorization.
	Header http.Header

	// Subprotocols lists the subprotocols offered, in order of preference.
	Subprotocols []string

	// TLSConfig configures wss:// connections. ServerName defaults to the
	// URL's host.
	TLSConfig *tls.Config

	// Proxy chooses the proxy for the request: http and https URLs use
	// HTTP CONNECT, socks5 and socks5h URLs use SOCKS5. nil means
	// http.ProxyFromEnvironment; handshake.NoProxy disables proxies.
	Proxy func(*http.Request) (*url.URL, error)

	// NetDialContext dials the TCP connection; nil means a net.Dialer.
	NetDialContext func(ctx context.Context, network, addr string) (net.Conn, error)

	// HTTP2, if set, carries the connection on a stream of an HTTP/2
	// connection (RFC 8441) instead of upgrading an HTTP/1.1 one; see
	// handshake.ClientOptions.HTTP2. It is typically a
	// *golang.org/x/net/http2.Transport, shared by many connections. On
	// Go 1.27 and later, that transport can send the extended CONNECT
	// only in a program built with -tags http2legacy; without the tag,
	// Dial fails with an error that matches
	// [handshake.ErrNoExtendedConnect].
	HTTP2 http.RoundTripper

	// Compression offers permessage-deflate.
	Compression *CompressionOptions

	// ReadLimit, ReadBufferSize, WriteBufferSize, PingInterval, PingTimeout,
	// CloseTimeout, OnPing and OnPong are as in AcceptOptions.
	ReadLimit       int64
	ReadBufferSize  int
	WriteBufferSize int
	PingInterval    time.Duration
	PingTimeout     time.Duration
	CloseTimeout    time.Duration
	OnPing, OnPong  func(payload []byte)
}

// hooks are the callbacks of the options.
type hooks struct{ onPing, onPong func([]byte) }

// settings are the per-connection values common to both roles.
type settings struct {
	readLimit       int64
	readBufferSize  int
	writeBufferSize int
	pingInterval    time.Duration
	pingTimeout     time.Duration
	closeTimeout    time.Duration
}

func newSettings(readLimit int64, rbuf, wbuf int, ping, pingTimeout, closeTimeout time.Duration) settings {
	s := settings{
		readLimit:       readLimit,
		readBufferSize:  rbuf,
		writeBufferSize: wbuf,
		pingInterval:    ping,
		pingTimeout:     pingTimeout,
		closeTimeout:    closeTimeout,
	}
	if s.readLimit == 0 {
		s.readLimit = DefaultReadLimit
	}
	if s.readBufferSize <= 0 {
		s.readBufferSize = defaultBufferSize
	}
	if s.writeBufferSize <= 0 {
		s.writeBufferSize = defaultBufferSize
	}
	if s.pingTimeout <= 0 {
		s.pingTimeout = s.pingInterval
	}
	if s.closeTimeout <= 0 {
		s.closeTimeout = DefaultCloseTimeout
	}
	return s
}
