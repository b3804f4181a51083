package main

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twoway/websocket/conn"
)

// session is one connection's life.
type session struct {
	*app
	c *conn.Conn

	received atomic.Int64
	arrived  chan struct{} // a message arrived (for script mode)
	pings    sync.WaitGroup
}

// sendResult is how sending stopped.
type sendResult struct {
	sent  int   // messages sent
	ended bool  // the input has ended, or will never go to another connection
	err   error // reading the input failed, or it was not text
	close *item // a /close command
	gone  bool  // the connection ended under a write
}

// stdoutError marks a failure to write standard output.
type stdoutError struct{ err error }

func (e *stdoutError) Error() string { return "writing output: " + e.err.Error() }
func (e *stdoutError) Unwrap() error { return e.err }

// outcome is how a connection ended: the exit status, and what to say.
type outcome struct {
	code int
	msg  string
}

// report says how a connection ended, on standard error.
func (a *app) report(out outcome) {
	if out.code == exitClean {
		a.infof("%s", out.msg)
	} else {
		a.errorf("%s", out.msg)
	}
}

// run relays between c and in until the connection ends, and returns how
// it ended, not yet reported, and whether the input has ended.
func (s *session) run(ctx context.Context, in *input) (out outcome, inputEnded bool) {
	s.arrived = make(chan struct{}, 1)
	readDone := make(chan error, 1)
	go func() { readDone <- s.readLoop() }()
	stop := make(chan struct{})
	streaming := make(chan struct{}) // closed when sending takes stdin for good
	sent := make(chan sendResult, 1)
	// Pings end with the session.
	pctx, stopPings := context.WithCancel(ctx)
	go func() { sent <- s.send(pctx, in, stop, streaming) }()
	if s.o.ping > 0 {
		s.pings.Go(func() { s.pingLoop(pctx) })
	}

	var r sendResult
	sendDone := false
	select {
	case err := <-readDone:
		out = s.ended(err)
	case <-ctx.Done():
		out = s.close(conn.CloseGoingAway, s.o.closeReason, readDone)
	case r = <-sent:
		sendDone = true
		out = s.sendEnded(ctx, r, readDone)
	}

	s.c.CloseNow()
	stopPings()
	close(stop)
	if !sendDone {
		// Sending stops at once, except while it streams stdin into a
		// message: then it may wait for stdin, and the input, half
		// sent, is of no use to another connection.
		select {
		case r = <-sent:
		case <-streaming:
			r.ended = true
		}
	}
	// Only now, since sending starts pings too.
	s.pings.Wait()
	return out, r.ended
}

// sendEnded finishes the connection after sending has stopped.
func (s *session) sendEnded(ctx context.Context, r sendResult, readDone <-chan error) outcome {
	switch {
	case r.err != nil:
		s.errorf("reading input: %v", r.err)
		out := s.close(conn.CloseGoingAway, s.o.closeReason, readDone)
		out.code = exitError
		return out
	case r.close != nil:
		return s.close(r.close.code, r.close.reason, readDone)
	case r.gone:
		return s.ended(<-readDone)
	}
	if s.o.script {
		if out, done := s.awaitReplies(ctx, r.sent, readDone); done {
			return out
		}
	}
	return s.close(s.o.closeCode, s.o.closeReason, readDone)
}

// readLoop prints messages until the connection ends.
func (s *session) readLoop() error {
	var buf, line []byte
	for {
		typ, msg, err := s.c.ReadInto(context.Background(), buf)
		if err != nil {
			return err
		}
		buf = msg
		line = line[:0]
		if s.interactive {
			// Typed lines are echoed by the terminal; these are not.
			line = append(line, "< "...)
			if typ == conn.Binary {
				line = append(line, "(binary) "...)
			}
		}
		switch {
		case typ == conn.Text:
			line = append(line, msg...)
		case s.o.format == "base64":
			line = base64.StdEncoding.AppendEncode(line, msg)
		default:
			line = hex.AppendEncode(line, msg)
		}
		line = append(line, '\n')
		if _, err := s.stdout.Write(line); err != nil {
			return &stdoutError{err}
		}
		s.received.Add(1)
		select {
		case s.arrived <- struct{}{}:
		default:
		}
	}
}

// send sends the items of in until they end, a /close, or stop. It closes
// streaming when it begins to stream stdin, which it then reads to its end.
// Pings it starts end with ctx.
func (s *session) send(ctx context.Context, in *input, stop <-chan struct{}, streaming chan<- struct{}) sendResult {
	typ := conn.Text
	if s.o.binary {
		typ = conn.Binary
	}
	var r sendResult
	for {
		it, ok := in.next(stop)
		if !ok {
			return r
		}
		switch it.kind {
		case itemEnd:
			r.ended, r.err = true, it.err
			return r
		case itemClose:
			r.close = &it
			return r
		case itemPing:
			s.pings.Go(func() { s.ping(ctx, s.o.timeout) })
		case itemStream:
			close(streaming)
			r.ended = true
			r.err, r.gone = s.stream(typ, it.r)
			if r.err == nil && !r.gone {
				r.sent++
			}
			return r
		case itemData:
			err := s.c.Write(context.Background(), typ, it.data)
			switch {
			case errors.Is(err, conn.ErrInvalidUTF8):
				s.errorf("not sent: %.40q is not UTF-8 text; -binary sends bytes", it.data)
			case err != nil:
				// The connection is gone; the reader says why.
				r.gone = true
				return r
			default:
				r.sent++
			}
		}
	}
}

// stream sends what r holds as one message. It returns an error when
// reading r failed or what it read is not text, or gone when the
// connection ended.
func (s *session) stream(typ conn.MessageType, r io.Reader) (err error, gone bool) {
	w, err := s.c.Writer(context.Background(), typ)
	if err != nil {
		return nil, true
	}
	er := &errReader{r: r}
	_, err = io.Copy(w, er)
	if err == nil {
		err = w.Close()
	}
	switch {
	case er.err != nil:
		// The message stays unfinished: the closing handshake ends it.
		return er.err, false
	case errors.Is(err, conn.ErrInvalidUTF8):
		return errors.New("standard input is not UTF-8 text; -binary sends bytes"), false
	case err != nil:
		return nil, true
	}
	return nil, false
}

// errReader records the error of r, other than io.EOF.
type errReader struct {
	r   io.Reader
	err error
}

func (r *errReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		r.err = err
	}
	return n, err
}

// awaitReplies waits for n messages in all, or for s.o.wait. It reports
// done, with an exit status, when the connection ended meanwhile.
func (s *session) awaitReplies(ctx context.Context, n int, readDone <-chan error) (out outcome, done bool) {
	timer := time.NewTimer(s.o.wait)
	defer timer.Stop()
	for s.received.Load() < int64(n) {
		select {
		case <-s.arrived:
		case err := <-readDone:
			return s.ended(err), true
		case <-timer.C:
			s.infof("%d replies to %d messages after %v", s.received.Load(), n, s.o.wait)
			return outcome{}, false
		case <-ctx.Done():
			return s.close(conn.CloseGoingAway, s.o.closeReason, readDone), true
		}
	}
	return outcome{}, false
}

// close runs the closing handshake with code and reason, while the reader
// prints what arrives before the peer's Close.
func (s *session) close(code conn.CloseCode, reason string, readDone <-chan error) outcome {
	err := s.c.Close(code, reason)
	rerr := <-readDone
	if err == nil {
		if code == 0 {
			code = conn.CloseNoStatus
		}
		return outcome{exitClean, (&conn.CloseError{Code: code, Reason: reason}).Error()}
	}
	var ce *conn.CloseError
	var se *stdoutError
	switch {
	case errors.As(err, &ce) && ce.Remote:
		// The peer closed first, or the connection broke.
		return s.ended(err)
	case errors.As(rerr, &se):
		return s.ended(rerr)
	}
	return outcome{exitAbnormal, "closing: " + err.Error()}
}

// ended says why the connection ended, or the reader stopped.
func (s *session) ended(err error) outcome {
	var se *stdoutError
	if errors.As(err, &se) {
		return outcome{exitError, err.Error()}
	}
	var ce *conn.CloseError
	if errors.As(err, &ce) && ce.Normal() {
		return outcome{exitClean, ce.Error()}
	}
	return outcome{exitAbnormal, err.Error()}
}

// pingLoop pings the peer every s.o.ping and reports the round trips.
func (s *session) pingLoop(ctx context.Context) {
	tick := time.NewTicker(s.o.ping)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if !s.ping(ctx, s.o.ping) {
			return
		}
	}
}

// ping sends one ping and reports the round trip, or that none came
// within d. It reports false once the connection has ended.
func (s *session) ping(ctx context.Context, d time.Duration) bool {
	pctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	start := time.Now()
	err := s.c.Ping(pctx)
	switch {
	case err == nil:
		s.infof("pong after %v", time.Since(start).Round(time.Microsecond))
	case ctx.Err() != nil || errors.Is(err, conn.ErrClosed):
		return false
	case errors.Is(err, context.DeadlineExceeded):
		s.infof("no pong within %v", d)
	default:
		s.errorf("ping: %v", err)
		return false
	}
	return true
}

// printRequest prints r's request line and headers, each after mark.
func (a *app) printRequest(mark string, r *http.Request) {
	if r == nil {
		return
	}
	uri := r.RequestURI
	if uri == "" {
		uri = r.URL.RequestURI()
	}
	lines := []string{fmt.Sprintf("%s %s %s", r.Method, uri, r.Proto)}
	if r.Host != "" {
		lines = append(lines, "Host: "+r.Host)
	}
	a.printHeader(mark, lines, r.Header)
}

// printResponse prints resp's status line and headers, each after mark.
func (a *app) printResponse(mark string, resp *http.Response) {
	a.printHeader(mark, []string{resp.Proto + " " + resp.Status}, resp.Header)
}

// printHeader prints lines and h, in the order of names, each after mark.
func (a *app) printHeader(mark string, lines []string, h http.Header) {
	for _, name := range slices.Sorted(maps.Keys(h)) {
		for _, v := range h[name] {
			lines = append(lines, name+": "+v)
		}
	}
	var b []byte
	for _, l := range lines {
		b = append(append(append(b, mark...), l...), '\n')
	}
	a.stderr.Write(b)
}
