package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"github.com/twoway/websocket/conn"
	"golang.org/x/net/http2"
)

// dial opens a connection to o.url and runs it, for the exit status.
func (a *app) dial(ctx context.Context, in *input) int {
	opts, err := a.dialOptions()
	if err != nil {
		a.errorf("%v", err)
		return exitError
	}
	if t, ok := opts.HTTP2.(interface{ CloseIdleConnections() }); ok {
		// The HTTP/2 connection outlives its stream, idle.
		defer t.CloseIdleConnections()
	}
	dctx, cancel := context.WithTimeout(ctx, a.o.timeout)
	c, resp, err := conn.Dial(dctx, a.o.url, opts)
	cancel()
	if a.o.verbose && resp != nil {
		a.printRequest("> ", resp.Request)
		a.printResponse("< ", resp)
	}
	if err != nil {
		a.errorf("%v", err)
		return exitError
	}
	defer c.CloseNow()
	a.infof("connected to %s over %s (%s)", a.o.url, resp.Proto, describe(c))
	s := &session{app: a, c: c}
	out, _ := s.run(ctx, in)
	a.report(out)
	return out.code
}

// describe names what the handshake agreed for c.
func describe(c *conn.Conn) string {
	sub := "no subprotocol"
	if p := c.Subprotocol(); p != "" {
		sub = "subprotocol " + p
	}
	comp := "uncompressed"
	if c.Compressed() {
		comp = "permessage-deflate"
	}
	return sub + ", " + comp
}

func (a *app) dialOptions() (*conn.DialOptions, error) {
	o := &conn.DialOptions{
		Header:       a.o.header,
		Subprotocols: a.o.subprotocols,
		ReadLimit:    -1, // a person asked for whatever the server sends
	}
	if a.o.compress {
		o.Compression = &conn.CompressionOptions{}
	}
	cfg, err := a.o.tlsConfig()
	if err != nil {
		return nil, err
	}
	if cfg != nil {
		cfg.InsecureSkipVerify = a.o.insecure
	}
	o.TLSConfig = cfg
	if a.o.http2 {
		// net/http's Transport cannot send the :protocol pseudo-header;
		// x/net's HTTP/2 transport can, on Go 1.27 and later only when
		// built with -tags http2legacy.
		//lint:ignore SA1019 x/net's HTTP/2 Transport is deprecated for net/http's, which in Go 1.26 refuses the :protocol pseudo-header RFC 8441 needs.
		o.HTTP2 = &http2.Transport{TLSClientConfig: cfg}
	}
	return o, nil
}

// tlsConfig returns the TLS configuration that the TLS flags ask for, or
// nil when they ask for none: -cacert's CAs as the roots, and -cert's
// certificate.
func (o *options) tlsConfig() (*tls.Config, error) {
	if !o.insecure && o.caFile == "" && o.certFile == "" {
		return nil, nil
	}
	cfg := &tls.Config{}
	if o.caFile != "" {
		pem, err := os.ReadFile(o.caFile)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("-cacert %s: no PEM certificate in it", o.caFile)
		}
	}
	if o.certFile != "" {
		cert, err := tls.LoadX509KeyPair(o.certFile, o.keyFile)
		if err != nil {
			return nil, fmt.Errorf("-cert %s, -key %s: %w", o.certFile, o.keyFile, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}
