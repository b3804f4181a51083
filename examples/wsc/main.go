// Wsc is a WebSocket client for the command line, in the spirit of wscat
// and websocat: it sends what it reads on standard input as messages and
// prints each message that arrives, one per line. With -l it is the
// server instead: it serves one WebSocket endpoint and relays standard
// input and output through the connection a client opens.
//
// Usage:
//
//	wsc [flags] ws://host[:port]/path
//	wsc [flags] -l [host]:port[/path]
//
// The URL may also be http:// or https://, taken as ws:// and wss://, as
// conn.Dial does. For example, with the echo example running:
//
//	go run ./examples/wsc ws://localhost:8080/ws
//	printf 'one\ntwo\n' | go run ./examples/wsc -n ws://localhost:8080/ws
//	go run ./examples/wsc -n -binary -split eof ws://localhost:8080/ws <photo.jpg
//	go run ./examples/wsc -l 127.0.0.1:9000/ws
//
// -subprotocol offers subprotocols, -H adds request headers, -compress=false
// stops wsc from offering permessage-deflate, and -timeout bounds the
// opening of the connection.
//
// # Messages
//
// Text messages received are printed as they are; binary messages in hex,
// or in base64 with -binary-format base64. Status lines, such as the
// subprotocol agreed, ping times or how the connection ended, go to
// standard error; -q silences them, and -v adds the headers of the opening
// handshake (those sent, marked "> ", and those received, marked "< ").
// -ping reports the round trip of a ping sent at every interval it sets.
//
// Standard input is sent as text messages, or binary ones with -binary.
// -split says how it is cut into messages:
//
//	line  one message per line, without its line end (the default)
//	read  one message per read of standard input, of at most 32 KiB, byte
//	      for byte: what a program writes to a pipe at once usually
//	      makes one message
//	eof   all of standard input as one message, streamed as it is read
//
// With -split read, text is cut only between characters, a character cut
// by a read going with the next message. Text that is not UTF-8 cannot be
// sent: such a line or read is reported and skipped, and with -split eof
// wsc gives up with status 1. With -u, standard input is not read at all.
//
// # Terminals
//
// When standard input is a terminal, or with -i, wsc is interactive
// (-i=false turns this off). To tell the messages it prints from the lines
// typed, it marks them: "< " before a text message, "< (binary) " before a
// binary one. A line that begins with "/" is a command:
//
//	/ping                   send a ping and report the round trip
//	/close [CODE [REASON]]  close the connection with CODE and REASON
//	                        (by default -close-code and -close-reason)
//	/help                   list the commands
//
// A line that begins with "//" is sent without its first "/". Commands need
// -split line.
//
// # Closing
//
// At the end of standard input (Ctrl-D), wsc closes the connection with
// -close-code (1000 unless set; 0 sends no code) and -close-reason, and
// waits for the peer's answer; SIGINT (Ctrl-C) closes it with 1001 and
// -close-reason. Replies still on their way at that moment may be lost, so
// pipelines should use script mode (-n or -script): there wsc first waits
// for one reply per message sent, up to -wait, and then closes. With -u, wsc waits
// for the peer to close, or for SIGINT.
//
// # Listening
//
// With -l, wsc listens on host:port and serves WebSocket handshakes for
// path, or for any path when none is given. It serves one connection at a
// time: a handshake that comes while a connection is open waits a second
// for it to end, and is then refused with 503 Service Unavailable.
// Standard input goes to the connection open at the time; what is read
// while none is waits for the next one. Status lines say when each
// connection opens, from where, and how it ends. wsc goes on listening
// after a connection ends, until the end of standard input or SIGINT, or,
// with -once, until the first connection has ended. With -u it only
// prints what arrives, and so serves until interrupted.
//
// Browsers send an Origin header: a handshake from a page whose origin is
// not host:port is refused with 403 Forbidden unless -origins allows it
// (comma-separated host patterns, such as "example.com" or "*.local:*";
// "*" allows any). -subprotocol lists the subprotocols served, in order of
// preference, -H adds headers to the 101 response, and -v prints each
// handshake request. With -cert and -key wsc serves wss:// (and HTTP/2,
// whose WebSockets, RFC 8441, the server offers only when wsc runs with
// GODEBUG=http2xconnect=1); -cacert then requires each client to present a
// certificate signed by one of its CAs.
//
// # TLS
//
// For wss:// and https:// URLs, -cacert trusts the CA certificates of a
// PEM file instead of the system's, -cert and -key present a client
// certificate (-key defaults to the -cert file, for a PEM file that holds
// both) and -k, or -insecure, accepts any server certificate. -http2 opens
// the connection as a stream of an HTTP/2 connection (RFC 8441) instead of
// an HTTP/1.1 upgrade; the status line names the HTTP version used. Built
// with Go 1.27 or later, wsc needs -tags http2legacy for -http2: without
// it, the HTTP/2 client it uses cannot send the extended CONNECT.
//
// # Exit status
//
// The exit status says how the connection ended:
//
//	0  a closing handshake that completed: begun by wsc, with any code, or
//	   by the peer with 1000 (normal), 1001 (going away) or no status
//	1  an error: the connection could not be opened (DNS, TCP, TLS, a
//	   refused handshake), a TLS file could not be loaded, the address to
//	   listen on could not be opened, reading standard input or writing
//	   standard output failed, or standard input was not UTF-8 text
//	2  bad usage
//	3  the peer ended the connection abnormally: a Close frame with any
//	   other status, a protocol violation, a connection dropped without a
//	   Close frame, or no answer to our Close
//
// With -l, an error ends wsc at once with status 1; otherwise the status is
// 3 when any of the connections served ended abnormally, and 0 if none did.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/twoway/websocket/conn"
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
	url          string // to dial; "" with -l
	listen       string // host:port to listen on, with -l
	path         string // with -l: the path served, or "" for any
	subprotocols []string
	header       http.Header
	binary       bool   // send binary messages
	split        string // how stdin is cut into messages: line, read or eof
	format       string // of binary messages printed: hex or base64
	ping         time.Duration
	script       bool
	wait         time.Duration // in script mode, for the replies
	compress     bool
	insecure     bool
	caFile       string
	certFile     string
	keyFile      string
	http2        bool // open the connection as an HTTP/2 stream (RFC 8441)
	quiet        bool
	verbose      bool
	timeout      time.Duration // for opening the connection
	closeCode    conn.CloseCode
	closeReason  string
	interactive  autoBool
	noInput      bool // -u: do not read stdin
	once         bool
	origins      []string
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
	a := &app{o: o, stdout: stdout, stderr: stderr}
	a.interactive = o.interactive.value(isTerminal(stdin)) && o.split == "line" && !o.noInput

	// The input goroutine ends with run, or, blocked reading stdin, at
	// the next read after that.
	done := make(chan struct{})
	defer close(done)
	in := a.startInput(stdin, done)

	if o.listen != "" {
		return a.serve(ctx, in)
	}
	return a.dial(ctx, in)
}

// newFlagSet returns wsc's flags, which set o.
func newFlagSet(o *options, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("wsc", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: wsc [flags] ws://host[:port]/path\n       wsc [flags] -l [host]:port[/path]\n\n")
		fs.PrintDefaults()
		fmt.Fprintf(stderr, "\nexit status: 0 clean close, 1 error, 2 usage, 3 connection ended abnormally by the peer\n")
	}
	fs.Func("subprotocol", "offer this subprotocol, or with -l serve it (repeatable, or a comma-separated `list`, in order of preference)", func(v string) error {
		for p := range strings.SplitSeq(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				o.subprotocols = append(o.subprotocols, p)
			}
		}
		return nil
	})
	fs.Func("H", "add a request header, or with -l a response header, as `'Name: value'` (repeatable)", func(v string) error {
		name, value, ok := strings.Cut(v, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			return errors.New("want 'Name: value'")
		}
		o.header.Add(name, strings.TrimSpace(value))
		return nil
	})
	fs.BoolVar(&o.binary, "binary", false, "send binary messages instead of text")
	fs.StringVar(&o.split, "split", "line", "cut standard input into messages `by` line, read or eof")
	fs.StringVar(&o.format, "binary-format", "hex", "print binary messages in `format` hex or base64")
	fs.DurationVar(&o.ping, "ping", 0, "send a ping at this `interval` and report the round trip")
	fs.BoolVar(&o.script, "n", false, "script mode: at end of input, wait for a reply to each message, then close")
	fs.BoolVar(&o.script, "script", false, "same as -n")
	fs.DurationVar(&o.wait, "wait", 10*time.Second, "in script mode, wait at most this long for replies")
	fs.BoolVar(&o.compress, "compress", true, "offer (with -l, accept) permessage-deflate compression")
	fs.BoolVar(&o.insecure, "k", false, "accept any TLS certificate (insecure)")
	fs.BoolVar(&o.insecure, "insecure", false, "same as -k")
	fs.StringVar(&o.caFile, "cacert", "", "trust the CA certificates in this PEM `file` (with -l: require client certificates they signed)")
	fs.StringVar(&o.certFile, "cert", "", "present the certificate in this PEM `file` (with -l: serve wss://)")
	fs.StringVar(&o.keyFile, "key", "", "the private key of -cert, in this PEM `file` (default the -cert file)")
	fs.BoolVar(&o.http2, "http2", false, "open the connection as a stream of an HTTP/2 connection (RFC 8441; wss:// only)")
	fs.BoolVar(&o.quiet, "q", false, "print no status lines")
	fs.BoolVar(&o.verbose, "v", false, "print the headers of the opening handshake")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Second, "give up opening the connection after this long")
	fs.Func("close-code", "close with this `code` at the end of input (0: no code; default 1000)", func(v string) error {
		n, err := strconv.ParseUint(v, 10, 16)
		if err != nil {
			return errors.New("want a number")
		}
		o.closeCode = conn.CloseCode(n)
		return nil
	})
	fs.StringVar(&o.closeReason, "close-reason", "", "close with this `reason`")
	fs.Var(&o.interactive, "i", "interactive: commands and marked output (default: when standard input is a terminal)")
	fs.BoolVar(&o.noInput, "u", false, "do not read standard input; only print what arrives")
	fs.Func("l", "serve one WebSocket endpoint at `[host]:port[/path]` instead of dialing", func(v string) error {
		addr, path, ok := strings.Cut(v, "/")
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return err
		}
		o.listen = addr
		if ok {
			o.path = "/" + path
		}
		return nil
	})
	fs.BoolVar(&o.once, "once", false, "with -l: exit once the first connection has ended")
	fs.Func("origins", "with -l: also allow handshakes from these Origin host `patterns` (comma-separated; * for any)", func(v string) error {
		for p := range strings.SplitSeq(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				o.origins = append(o.origins, p)
			}
		}
		return nil
	})
	return fs
}

func parseArgs(args []string, stderr io.Writer) (*options, error) {
	o := &options{header: http.Header{}, closeCode: conn.CloseNormal}
	fs := newFlagSet(o, stderr)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	usage := func(format string, args ...any) (*options, error) {
		err := fmt.Errorf(format, args...)
		fmt.Fprintf(stderr, "wsc: %v\n", err)
		fs.Usage()
		return nil, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if o.listen != "" {
		if fs.NArg() != 0 {
			return usage("-l takes no URL, got %d arguments", fs.NArg())
		}
		for _, name := range []string{"http2", "k", "insecure", "timeout"} {
			if set[name] {
				return usage("-%s is for dialing, not for -l", name)
			}
		}
		if o.caFile != "" && o.certFile == "" {
			return usage("-cacert with -l verifies client certificates over TLS, which needs -cert")
		}
	} else {
		for _, name := range []string{"once", "origins"} {
			if set[name] {
				return usage("-%s needs -l", name)
			}
		}
		if fs.NArg() != 1 {
			return usage("want one URL, got %d arguments", fs.NArg())
		}
		o.url = fs.Arg(0)
		u, err := url.Parse(o.url)
		if err != nil {
			return usage("%v", err)
		}
		// url.Parse lowers the scheme.
		secure := u.Scheme == "wss" || u.Scheme == "https"
		if !secure && u.Scheme != "ws" && u.Scheme != "http" || u.Host == "" {
			return usage("URL %q: want ws://host/path or wss://host/path", o.url)
		}
		if o.http2 && !secure {
			return usage("-http2 needs a wss:// URL: HTTP/2 runs over TLS")
		}
	}
	if o.keyFile != "" && o.certFile == "" {
		return usage("-key needs -cert")
	}
	if o.keyFile == "" {
		o.keyFile = o.certFile
	}
	if o.format != "hex" && o.format != "base64" {
		return usage("-binary-format %q: want hex or base64", o.format)
	}
	if o.split != "line" && o.split != "read" && o.split != "eof" {
		return usage("-split %q: want line, read or eof", o.split)
	}
	if o.interactive.set && o.interactive.v && (o.split != "line" || o.noInput) {
		return usage("-i needs lines from standard input: -split line, without -u")
	}
	if o.ping < 0 || o.wait < 0 || o.timeout <= 0 {
		return usage("durations must be positive")
	}
	if err := checkClose(o.closeCode, o.closeReason); err != nil {
		return usage("%v", err)
	}
	return o, nil
}

// checkClose checks that a Close frame with code and reason can be sent
// (RFC 6455 §5.5.1, §7.4), so that a mistake is caught before it is too
// late to ask again.
func checkClose(code conn.CloseCode, reason string) error {
	switch {
	case code != 0 && !code.ValidOnWire():
		return fmt.Errorf("close code %d cannot be sent: use 1000-1003, 1007-1014 or 3000-4999", code)
	case code == 0 && reason != "":
		return errors.New("a close reason needs a close code")
	case len(reason) > 123:
		return fmt.Errorf("close reason of %d bytes: a Close frame holds at most 123", len(reason))
	case !utf8.ValidString(reason):
		return errors.New("close reason is not UTF-8")
	}
	return nil
}

// autoBool is a boolean flag whose default depends on the environment,
// used when the flag is not set.
type autoBool struct{ set, v bool }

func (b *autoBool) String() string {
	if b == nil || !b.set {
		return "auto"
	}
	return strconv.FormatBool(b.v)
}

func (b *autoBool) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	b.set, b.v = true, v
	return nil
}

func (b *autoBool) IsBoolFlag() bool { return true }

// value returns the flag's value, or auto when it was not set.
func (b *autoBool) value(auto bool) bool {
	if b.set {
		return b.v
	}
	return auto
}

// isTerminal reports whether r is a terminal. /dev/null is a character
// device too, and commonly stands in for an empty input.
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	null, err := os.Stat(os.DevNull)
	return err != nil || !os.SameFile(fi, null)
}

// app is what the connections of one run of wsc share.
type app struct {
	o           *options
	stdout      io.Writer
	stderr      io.Writer // a lockedWriter
	interactive bool
}

func (a *app) infof(format string, args ...any) {
	if !a.o.quiet {
		fmt.Fprintf(a.stderr, "wsc: "+format+"\n", args...)
	}
}

func (a *app) errorf(format string, args ...any) {
	fmt.Fprintf(a.stderr, "wsc: "+format+"\n", args...)
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
