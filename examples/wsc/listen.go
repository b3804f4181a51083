package main

import (
	"context"
	"crypto/tls"
	"errors"
	"log"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/twoway/websocket/conn"
)

// slotGrace is how long a handshake waits for the connection open to end
// before it is refused.
const slotGrace = time.Second

// incoming is a connection accepted by the handler, which waits for done
// before it returns: over HTTP/2 the connection ends with the handler.
type incoming struct {
	c    *conn.Conn
	r    *http.Request
	done chan struct{}
}

// serve listens on o.listen and runs the connections that clients open,
// one at a time, for the exit status.
func (a *app) serve(ctx context.Context, in *input) int {
	cfg, err := a.o.tlsConfig()
	if err != nil {
		a.errorf("%v", err)
		return exitError
	}
	if cfg != nil && cfg.RootCAs != nil {
		cfg.ClientCAs, cfg.RootCAs = cfg.RootCAs, nil
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	ln, err := net.Listen("tcp", a.o.listen)
	if err != nil {
		a.errorf("%v", err)
		return exitError
	}
	scheme := "ws"
	if cfg != nil {
		scheme = "wss"
	}
	path := a.o.path
	if path == "" {
		path = "/"
	}
	a.infof("listening on %s://%s%s", scheme, ln.Addr(), path)

	accepted := make(chan *incoming)
	stopping := make(chan struct{})
	var handlers sync.WaitGroup
	// slot holds the connection open, if any.
	slot := make(chan struct{}, 1)
	opts := &conn.AcceptOptions{
		Subprotocols:   a.o.subprotocols,
		OriginPatterns: a.o.origins,
		Header:         a.o.header,
		ReadLimit:      -1,
	}
	if a.o.compress {
		opts.Compression = &conn.CompressionOptions{}
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// Counted before the connection is hijacked, while
			// Shutdown still waits for this request.
			handlers.Add(1)
			defer handlers.Done()
			if a.o.path != "" && r.URL.Path != a.o.path {
				http.NotFound(w, r)
				return
			}
			// A client that reconnects as soon as its connection has
			// ended should not find wsc still busy with it.
			grace := time.NewTimer(slotGrace)
			defer grace.Stop()
			select {
			case slot <- struct{}{}:
			case <-grace.C:
				http.Error(w, "wsc serves one connection at a time, and has one", http.StatusServiceUnavailable)
				return
			case <-r.Context().Done():
				return
			}
			// Once the connection is handed over, accept frees the
			// slot, before it reports the end of the connection.
			handedOver := false
			defer func() {
				if !handedOver {
					<-slot
				}
			}()
			if a.o.verbose {
				a.printRequest("< ", r)
			}
			c, err := conn.Accept(w, r, opts)
			if err != nil {
				a.infof("refused a handshake from %s: %v", r.RemoteAddr, err)
				return
			}
			inc := &incoming{c: c, r: r, done: make(chan struct{})}
			select {
			case accepted <- inc:
				handedOver = true
				<-inc.done
			case <-stopping:
				c.Close(conn.CloseGoingAway, "wsc is exiting")
			}
		}),
		TLSConfig:         cfg,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(a.stderr, "wsc: ", 0),
	}
	served := make(chan error, 1)
	go func() {
		if cfg != nil {
			served <- srv.ServeTLS(ln, "", "")
		} else {
			served <- srv.Serve(ln)
		}
	}()
	code := a.accept(ctx, in, accepted, slot)

	close(stopping)
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	if srv.Shutdown(sctx) != nil {
		srv.Close()
	}
	cancel()
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		a.errorf("%v", err)
		code = exitError
	}
	handlers.Wait()
	return code
}

// accept runs the connections that arrive until the input ends, ctx is
// done, or with -once the first connection has ended. It frees the slot
// of each connection that has ended.
func (a *app) accept(ctx context.Context, in *input, accepted <-chan *incoming, slot <-chan struct{}) int {
	status := exitClean
	for n := 0; ; {
		// Input read while no connection is open waits in pending.
		items := in.items
		if in.pending != nil {
			items = nil
		}
		select {
		case <-ctx.Done():
			return status
		case it := <-items:
			switch it.kind {
			case itemEnd:
				if it.err != nil {
					a.errorf("reading input: %v", it.err)
					return exitError
				}
				return status
			case itemPing, itemClose:
				a.errorf("no connection is open")
			default:
				in.pending = &it
			}
		case inc := <-accepted:
			n++
			a.infof("connection %d from %s to %s over %s (%s)", n, inc.r.RemoteAddr, inc.r.URL.Path, inc.r.Proto, describe(inc.c))
			s := &session{app: a, c: inc.c}
			out, inputEnded := s.run(ctx, in)
			// The next client may connect as soon as this one is
			// reported to have ended.
			<-slot
			close(inc.done)
			a.report(out)
			switch out.code {
			case exitError:
				return exitError
			case exitAbnormal:
				status = exitAbnormal
			}
			if inputEnded || a.o.once || ctx.Err() != nil {
				return status
			}
		}
	}
}
