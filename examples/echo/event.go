package main

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"

	"github.com/twoway/websocket/conn"
	"github.com/twoway/websocket/event"
)

// serveEvent is serve for -event: the WebSockets are served by event
// loops (package event), where an idle connection holds no goroutine,
// and the page by the usual handler, which event.Server.HTTP receives
// from the same listener. Behind -tls-cert the server reads through TLS,
// and so serves each connection with a goroutine, through the same
// callbacks.
func serveEvent(ctx context.Context, stop func(), cfg config, log *slog.Logger) error {
	var ln net.Listener
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	if cfg.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			ln.Close()
			return err
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}})
	}
	page := newServer(cfg, log) // the page; its WebSocket handler refuses plain HTTP
	srv := &event.Server{
		Accept: page.opts,
		HTTP:   page,
		OnOpen: func(c *event.Conn, r *http.Request) {
			if r.URL.Path != cfg.Path {
				c.Close(conn.ClosePolicyViolation, "no endpoint at this path")
				return
			}
			log.Info("connection opened", "remote", r.RemoteAddr, "compressed", c.Compressed())
		},
		OnMessage: func(c *event.Conn, typ conn.MessageType, p []byte) {
			c.Write(context.Background(), typ, p)
		},
		OnClose: func(c *event.Conn, err error) {
			level, msg, attrs := describeEnd(err)
			log.Log(context.Background(), level, msg, attrs...)
		},
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	pageAt := pageURL(cfg.Addr, ln.Addr(), cfg.CertFile != "")
	return runUntilDone(ctx, stop, cfg, log, "echo server listening (event loops)", ln.Addr(), pageAt, errc, func(sctx context.Context) error {
		err := srv.Shutdown(sctx)
		if serr := <-errc; !errors.Is(serr, event.ErrServerClosed) {
			err = errors.Join(err, serr)
		}
		return err
	})
}
