// Wsc is an interactive WebSocket client for the command line: it sends
// each line typed on standard input as a message and prints each message
// that arrives, one per line.
//
// Usage:
//
//	wsc [flags] ws://host[:port]/path
//
// For example, with the echo example running:
//
//	go run ./examples/wsc ws://localhost:8080/ws
//	printf 'one\ntwo\n' | go run ./examples/wsc -n ws://localhost:8080/ws
//
// Text messages are printed as they are; binary messages in hex, or in
// base64 with -binary-format base64. Status lines, such as the subprotocol
// agreed or ping times, go to standard error; -q silences them.
//
// At the end of standard input (Ctrl-D), wsc closes the connection with
// status 1000 and waits for the server to answer; SIGINT (Ctrl-C) closes
// it with 1001. Replies still on their way at that moment may be lost, so
// pipelines should use script mode (-n): there wsc first waits for one
// reply per line sent, up to -wait, and then closes.
//
// The exit status says how the connection ended:
//
//	0  a closing handshake with status 1000 (normal), 1001 (going away)
//	   or no status, whichever side began it
//	1  an error: the connection could not be opened (DNS, TCP, TLS, a
//	   refused handshake), or reading standard input or writing standard
//	   output failed
//	2  bad usage
//	3  the peer ended the connection abnormally: a Close frame with any
//	   other status, a protocol violation, a connection dropped without a
//	   Close frame, or no answer to our Close
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twoway/websocket/conn"
	"golang.org/x/net/http2"
)

// Exit statuses.
const (
	exitClean    = 0
	exitError    = 1
	exitUsage    = 2
	exitAbnormal = 3
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// options are what the command line asks for.
type options struct {
	url          string
	subprotocols []string
	header       http.Header
	binary       bool   // send lines as binary messages
	format       string // of binary messages printed: hex or base64
	ping         time.Duration
	script       bool
	wait         time.Duration // in script mode, for the replies
	compress     bool
	insecure     bool
	http2        bool // open the connection as an HTTP/2 stream (RFC 8441)
	quiet        bool
	timeout      time.Duration // for opening the connection
}

// run is wsc with its environment as arguments. It returns the exit
// status. When ctx is done, it closes the connection with 1001.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	stderr = &lockedWriter{w: stderr}
	o, err := parseArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitClean
	}
	if err != nil {
		return exitUsage
	}
	s := &session{o: o, stdout: stdout, stderr: stderr}
	return s.run(ctx, stdin)
}

func parseArgs(args []string, stderr io.Writer) (*options, error) {
	o := &options{header: http.Header{}}
	fs := flag.NewFlagSet("wsc", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: wsc [flags] ws://host[:port]/path\n\n")
		fs.PrintDefaults()
		fmt.Fprintf(stderr, "\nexit status: 0 clean close, 1 error, 2 usage, 3 connection ended abnormally by the peer\n")
	}
	fs.Func("subprotocol", "offer this subprotocol (repeatable, or a comma-separated `list`)", func(v string) error {
		for p := range strings.SplitSeq(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				o.subprotocols = append(o.subprotocols, p)
			}
		}
		return nil
	})
	fs.Func("H", "add a request header, as `'Name: value'` (repeatable)", func(v string) error {
		name, value, ok := strings.Cut(v, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			return errors.New("want 'Name: value'")
		}
		o.header.Add(name, strings.TrimSpace(value))
		return nil
	})
	fs.BoolVar(&o.binary, "binary", false, "send lines as binary messages")
	fs.StringVar(&o.format, "binary-format", "hex", "print binary messages in `format` hex or base64")
	fs.DurationVar(&o.ping, "ping", 0, "send a ping at this `interval` and report the round trip")
	fs.BoolVar(&o.script, "n", false, "script mode: at end of input, wait for a reply to each line, then close")
	fs.BoolVar(&o.script, "script", false, "same as -n")
	fs.DurationVar(&o.wait, "wait", 10*time.Second, "in script mode, wait at most this long for replies")
	fs.BoolVar(&o.compress, "compress", true, "offer permessage-deflate compression")
	fs.BoolVar(&o.insecure, "k", false, "accept any TLS certificate (insecure)")
	fs.BoolVar(&o.http2, "http2", false, "open the connection as a stream of an HTTP/2 connection (RFC 8441; wss:// only)")
	fs.BoolVar(&o.quiet, "q", false, "print no status lines")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Second, "give up opening the connection after this long")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	usage := func(format string, args ...any) (*options, error) {
		err := fmt.Errorf(format, args...)
		fmt.Fprintf(stderr, "wsc: %v\n", err)
		fs.Usage()
		return nil, err
	}
	if fs.NArg() != 1 {
		return usage("want one URL, got %d arguments", fs.NArg())
	}
	o.url = fs.Arg(0)
	u, err := url.Parse(o.url)
	if err != nil {
		return usage("%v", err)
	}
	if u.Scheme != "ws" && u.Scheme != "wss" || u.Host == "" {
		return usage("URL %q: want ws://host/path or wss://host/path", o.url)
	}
	if o.http2 && u.Scheme != "wss" {
		return usage("-http2 needs a wss:// URL: HTTP/2 runs over TLS")
	}
	if o.format != "hex" && o.format != "base64" {
		return usage("-binary-format %q: want hex or base64", o.format)
	}
	if o.ping < 0 || o.wait < 0 || o.timeout <= 0 {
		return usage("durations must be positive")
	}
	return o, nil
}

// session is one connection's life.
type session struct {
	o      *options
	stdout io.Writer
	stderr io.Writer
	c      *conn.Conn

	received atomic.Int64
	arrived  chan struct{} // a message arrived (for script mode)
}

// sendResult is how reading standard input ended.
type sendResult struct {
	sent int   // messages sent
	err  error // nil at end of input
}

// stdoutError marks a failure to write standard output.
type stdoutError struct{ err error }

func (e *stdoutError) Error() string { return "writing output: " + e.err.Error() }
func (e *stdoutError) Unwrap() error { return e.err }

func (s *session) run(ctx context.Context, stdin io.Reader) int {
	o := s.opts()
	dctx, cancel := context.WithTimeout(ctx, s.o.timeout)
	c, _, err := conn.Dial(dctx, s.o.url, o)
	cancel()
	if err != nil {
		s.errorf("%v", err)
		return exitError
	}
	s.c = c
	defer c.CloseNow()
	sub := "no subprotocol"
	if p := c.Subprotocol(); p != "" {
		sub = "subprotocol " + p
	}
	comp := "uncompressed"
	if c.Compressed() {
		comp = "permessage-deflate"
	}
	s.infof("connected to %s (%s, %s)", s.o.url, sub, comp)

	s.arrived = make(chan struct{}, 1)
	readDone := make(chan error, 1)
	go func() { readDone <- s.readLoop() }()
	// The sender may outlive run, blocked reading stdin; it touches
	// nothing but c, which is closed by then.
	sent := make(chan sendResult, 1)
	go func() { sent <- s.sendLines(stdin) }()
	if s.o.ping > 0 {
		pctx, stop := context.WithCancel(ctx)
		var pinger sync.WaitGroup
		pinger.Go(func() { s.pingLoop(pctx) })
		defer pinger.Wait()
		defer stop()
	}

	select {
	case err := <-readDone:
		return s.ended(err)
	case <-ctx.Done():
		return s.close(conn.CloseGoingAway, readDone)
	case r := <-sent:
		if r.err != nil {
			s.errorf("reading input: %v", r.err)
			s.close(conn.CloseGoingAway, readDone)
			return exitError
		}
		if s.o.script {
			if code, done := s.awaitReplies(ctx, r.sent, readDone); done {
				return code
			}
		}
		return s.close(conn.CloseNormal, readDone)
	}
}

func (s *session) opts() *conn.DialOptions {
	o := &conn.DialOptions{
		Header:       s.o.header,
		Subprotocols: s.o.subprotocols,
		ReadLimit:    -1, // a person asked for whatever the server sends
	}
	if s.o.compress {
		o.Compression = &conn.CompressionOptions{}
	}
	if s.o.insecure {
		o.TLSConfig = &tls.Config{InsecureSkipVerify: true}
	}
	if s.o.http2 {
		// net/http's Transport cannot send the :protocol pseudo-header
		// in Go 1.26; x/net's HTTP/2 transport can.
		//lint:ignore SA1019 x/net's HTTP/2 Transport is deprecated for net/http's, which in Go 1.26 refuses the :protocol pseudo-header RFC 8441 needs.
		o.HTTP2 = &http2.Transport{TLSClientConfig: o.TLSConfig}
	}
	return o
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

// sendLines sends each line of stdin as a message, without its line end.
func (s *session) sendLines(stdin io.Reader) sendResult {
	typ := conn.Text
	if s.o.binary {
		typ = conn.Binary
	}
	br := bufio.NewReader(stdin)
	var r sendResult
	for {
		line, err := br.ReadBytes('\n')
		if err != nil && err != io.EOF {
			r.err = err
			return r
		}
		if err == io.EOF && len(line) == 0 {
			return r
		}
		line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
		if werr := s.c.Write(context.Background(), typ, line); werr != nil {
			// The connection is gone; the reader says why.
			return r
		}
		r.sent++
		if err == io.EOF {
			return r
		}
	}
}

// awaitReplies waits for n messages in all, or for s.o.wait. It reports
// done, with an exit status, when the connection ended meanwhile.
func (s *session) awaitReplies(ctx context.Context, n int, readDone <-chan error) (code int, done bool) {
	timer := time.NewTimer(s.o.wait)
	defer timer.Stop()
	for s.received.Load() < int64(n) {
		select {
		case <-s.arrived:
		case err := <-readDone:
			return s.ended(err), true
		case <-timer.C:
			s.infof("%d replies to %d messages after %v", s.received.Load(), n, s.o.wait)
			return 0, false
		case <-ctx.Done():
			return s.close(conn.CloseGoingAway, readDone), true
		}
	}
	return 0, false
}

// close runs the closing handshake with code, while the reader prints
// what arrives before the peer's Close.
func (s *session) close(code conn.CloseCode, readDone <-chan error) int {
	err := s.c.Close(code, "")
	rerr := <-readDone
	if err == nil {
		s.infof("closed with %d (%s)", uint16(code), code)
		return exitClean
	}
	// The peer may have closed first, or failed.
	if conn.CloseStatus(rerr) != 0 || !errors.Is(rerr, conn.ErrClosed) {
		return s.ended(rerr)
	}
	s.errorf("closing: %v", err)
	return exitAbnormal
}

// ended reports why the reader stopped and returns the exit status.
func (s *session) ended(err error) int {
	var se *stdoutError
	if errors.As(err, &se) {
		s.errorf("%v", err)
		return exitError
	}
	switch conn.CloseStatus(err) {
	case conn.CloseNormal, conn.CloseGoingAway, conn.CloseNoStatus:
		s.infof("%v", err)
		return exitClean
	}
	s.errorf("%v", err)
	return exitAbnormal
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
		pctx, cancel := context.WithTimeout(ctx, s.o.ping)
		start := time.Now()
		err := s.c.Ping(pctx)
		cancel()
		switch {
		case err == nil:
			s.infof("pong after %v", time.Since(start).Round(time.Microsecond))
		case ctx.Err() != nil || errors.Is(err, conn.ErrClosed):
			return
		case errors.Is(err, context.DeadlineExceeded):
			s.infof("no pong within %v", s.o.ping)
		default:
			s.errorf("ping: %v", err)
			return
		}
	}
}

func (s *session) infof(format string, args ...any) {
	if !s.o.quiet {
		fmt.Fprintf(s.stderr, "wsc: "+format+"\n", args...)
	}
}

func (s *session) errorf(format string, args ...any) {
	fmt.Fprintf(s.stderr, "wsc: "+format+"\n", args...)
}

// lockedWriter serializes writes from several goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}
