package handshake

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/url"

	"golang.org/x/net/proxy"
)

// dialFunc opens a network connection.
type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// Dial and DialContext let a dialFunc serve as the forward dialer of
// golang.org/x/net/proxy.
func (f dialFunc) Dial(network, addr string) (net.Conn, error) {
	return f(context.Background(), network, addr)
}

func (f dialFunc) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return f(ctx, network, addr)
}

// dialConn opens the connection to t, directly or through proxyURL. For
// an http or https proxy it returns the connection to the proxy; the
// tunnel is opened by connectTunnel. A SOCKS proxy is fully handled
// here.
func dialConn(ctx context.Context, t *target, proxyURL *url.URL, opts *ClientOptions) (net.Conn, error) {
	dial := dialFunc(opts.NetDialContext)
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	if proxyURL == nil {
		return dial(ctx, "tcp", t.addr)
	}
	switch proxyURL.Scheme {
	case "http", "https":
		port := proxyURL.Port()
		if port == "" {
			port = "80"
			if proxyURL.Scheme == "https" {
				port = "443"
			}
		}
		conn, err := dial(ctx, "tcp", net.JoinHostPort(proxyURL.Hostname(), port))
		if err != nil {
			return nil, proxyError(err, "connecting to proxy %s", proxyURL.Redacted())
		}
		return conn, nil
	case "socks5", "socks5h":
		d, err := proxy.FromURL(proxyURL, dial)
		if err != nil {
			return nil, proxyError(err, "proxy %s", proxyURL.Redacted())
		}
		conn, err := d.(proxy.ContextDialer).DialContext(ctx, "tcp", t.addr)
		if err != nil {
			return nil, proxyError(err, "through SOCKS proxy %s", proxyURL.Redacted())
		}
		return conn, nil
	}
	return nil, proxyError(nil, "proxy URL %s has scheme %q; use http, https, socks5 or socks5h", proxyURL.Redacted(), proxyURL.Scheme)
}

// connectTunnel asks the HTTP proxy on conn to open a tunnel to addr
// (RFC 6455 §4.1 step 3, RFC 9110 §9.3.6).
func connectTunnel(conn net.Conn, proxyURL *url.URL, addr string) error {
	b := make([]byte, 0, 256)
	b = fmt.Appendf(b, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n", addr, addr)
	if u := proxyURL.User; u != nil {
		pass, _ := u.Password()
		b = append(b, "Proxy-Authorization: Basic "...)
		b = base64.StdEncoding.AppendEncode(b, []byte(u.Username()+":"+pass))
		b = append(b, "\r\n"...)
	}
	b = append(b, "\r\n"...)
	if _, err := conn.Write(b); err != nil {
		return proxyError(err, "writing CONNECT to proxy %s", proxyURL.Redacted())
	}
	br := bufio.NewReaderSize(&limitedReader{r: conn, n: maxHeaderBytes}, 1024)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		return proxyError(err, "reading the CONNECT response of proxy %s", proxyURL.Redacted())
	}
	if resp.StatusCode/100 != 2 {
		return proxyError(nil, "proxy %s answered CONNECT %s with %s", proxyURL.Redacted(), addr, resp.Status)
	}
	// Neither TLS nor the WebSocket server speaks first, so anything
	// already here came from the proxy and would corrupt the stream.
	if n := br.Buffered(); n > 0 {
		return proxyError(nil, "proxy %s sent %d unexpected bytes after its CONNECT response", proxyURL.Redacted(), n)
	}
	return nil
}

// proxyError describes a proxy failure. It wraps ErrProxy and cause
// without repeating ErrProxy's text, since Dial adds its own prefix.
func proxyError(cause error, format string, args ...any) error {
	e := &wrapError{msg: fmt.Sprintf(format, args...), errs: []error{ErrProxy}}
	if cause != nil {
		e.msg += ": " + cause.Error()
		e.errs = append(e.errs, cause)
	}
	return e
}

// wrapError is an error with its own message that wraps several errors.
type wrapError struct {
	msg  string
	errs []error
}

func (e *wrapError) Error() string   { return e.msg }
func (e *wrapError) Unwrap() []error { return e.errs }
