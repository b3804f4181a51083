// Package servertest runs an example server as a process of its own, so
// that a test can send it a signal and watch it exit, as an operator
// would.
package servertest

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/twoway/websocket/conn"
)

// Build compiles the main package pkg (such as ".", the package under
// test) into the test's temporary directory and returns the executable.
// Build skips the test under -short: building takes seconds.
//
// The executable is built without the race detector even when the test
// has it. The race detector makes the server's work per byte (checking
// UTF-8, compressing) some ten times slower, which with large messages
// would make the time a shutdown takes depend on the machine more than on
// the code. The server's code runs under the race detector in its
// package's own tests, and the clients and the library do here.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the server; skipped in -short mode")
	}
	gocmd, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("no go command to build the server with: %v", err)
	}
	exe := filepath.Join(t.TempDir(), "server")
	out, err := exec.CommandContext(t.Context(), gocmd, "build", "-o", exe, pkg).CombinedOutput()
	if err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	return exe
}

// Process is a running server.
type Process struct {
	// Addr is the address the server listens on.
	Addr string

	t      testing.TB
	cmd    *exec.Cmd
	log    *logWriter
	exited chan struct{} // closed once cmd.Wait has returned
	err    error         // of cmd.Wait; set before exited is closed
}

// addrRE finds the address in the line the servers log once they listen,
// such as `level=INFO msg="... listening ..." addr=127.0.0.1:34567`.
var addrRE = regexp.MustCompile(`msg="[^"]*listening[^"]*".* addr=(\S+)`)

// Start runs the server exe with args, which should have it listen on a
// loopback port of its choosing ("-addr 127.0.0.1:0"), and waits for it
// to log the address it listens on. The process is killed, if it is still
// running, when the test ends.
func Start(t testing.TB, exe string, args ...string) *Process {
	t.Helper()
	addr := make(chan string, 1)
	p := &Process{
		t:      t,
		cmd:    exec.Command(exe, args...),
		log:    &logWriter{addr: addr},
		exited: make(chan struct{}),
	}
	p.cmd.Stdout = p.log
	p.cmd.Stderr = p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() || testing.Verbose() {
			t.Logf("server log:\n%s", p.Log())
		}
	})
	select {
	case p.Addr = <-addr:
	case <-p.exited:
		t.Fatalf("server exited before listening: %v\n%s", p.err, p.Log())
	case <-time.After(time.Minute):
		t.Fatalf("server did not report its address within a minute; log:\n%s", p.Log())
	}
	return p
}

// Signal sends sig to the server.
func (p *Process) Signal(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %v: %v", sig, err)
	}
}

// Wait waits up to d for the server to exit, and returns its exit
// status, or -1 when it is still running (or died of a signal).
func (p *Process) Wait(d time.Duration) int {
	select {
	case <-p.exited:
	case <-time.After(d):
		return -1
	}
	if p.err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode() // -1 for a signal
	}
	return -1
}

// Log returns what the server has written so far.
func (p *Process) Log() string { return p.log.String() }

// CheckLog fails the test unless the server's log has a line containing
// want and no line at level WARN or ERROR.
func (p *Process) CheckLog(want string) {
	p.t.Helper()
	log := p.Log()
	if !strings.Contains(log, want) {
		p.t.Errorf("server log lacks %q", want)
	}
	for line := range strings.Lines(log) {
		if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") {
			p.t.Errorf("server logged: %s", strings.TrimSpace(line))
		}
	}
}

// logWriter keeps what the server writes and picks out its address.
type logWriter struct {
	mu   sync.Mutex
	b    bytes.Buffer
	scan int         // how much of b has been searched for the address
	addr chan string // receives the address once
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b.Write(p)
	if w.addr == nil {
		return len(p), nil
	}
	for {
		rest := w.b.Bytes()[w.scan:]
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			return len(p), nil
		}
		w.scan += i + 1
		if m := addrRE.FindSubmatch(rest[:i]); m != nil {
			w.addr <- string(m[1])
			w.addr = nil
			return len(p), nil
		}
	}
}

func (w *logWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// WriteMessage sends p as one message of type typ: whole with Write, or,
// when chunk is positive, streamed through Writer in writes of about
// chunk bytes, calling midway, if not nil, once half of p is written. A
// write of text ends inside a character when one is near, as a write of
// text read from a stream may: the writer must carry the character over
// to the next write.
func WriteMessage(ctx context.Context, c *conn.Conn, typ conn.MessageType, p []byte, chunk int, midway func()) error {
	if chunk <= 0 {
		return c.Write(ctx, typ, p)
	}
	w, err := c.Writer(ctx, typ)
	if err != nil {
		return err
	}
	half := len(p) / 2
	for len(p) > 0 {
		n := min(chunk, len(p))
		if typ == conn.Text {
			for i := n; i < len(p) && i < n+128; i++ {
				if !utf8.RuneStart(p[i]) {
					n = i
					break
				}
			}
		}
		if _, err := w.Write(p[:n]); err != nil {
			w.Close()
			return err
		}
		p = p[n:]
		if midway != nil && len(p) <= half {
			midway()
			midway = nil
		}
	}
	return w.Close()
}

// Ending is how a client's connection ended, in a form that go-cmp can
// compare: the *conn.CloseError, with its Err as text.
type Ending struct {
	Code   conn.CloseCode
	Reason string
	Remote bool
	Err    string
}

// EndingOf returns how a connection ended, from the error a call on it
// returned. An error without a *conn.CloseError gives Code 0 and the
// error's text.
func EndingOf(err error) Ending {
	var ce *conn.CloseError
	if !errors.As(err, &ce) {
		if err == nil {
			return Ending{}
		}
		return Ending{Err: err.Error()}
	}
	e := Ending{Code: ce.Code, Reason: ce.Reason, Remote: ce.Remote}
	if ce.Err != nil {
		e.Err = ce.Err.Error()
	}
	return e
}

// Text returns n bytes of valid UTF-8 text: lines of ASCII, each with
// characters of two, three and four bytes, so that frame and chunk
// boundaries fall inside some. It does not end in white space, which the
// chat would trim. Mostly ASCII, it is cheap to check even under the race
// detector.
func Text(n int) []byte {
	const line = "all work and no play makes jack a dull boy; all work and no play: héllo wörld ✓ 𝄞\n"
	b := bytes.Repeat([]byte(line), n/len(line)+1)[:n]
	for !utf8.Valid(b) {
		b = b[:len(b)-1] // a character cut short
	}
	for len(b) < n {
		b = append(b, '.')
	}
	if n > 0 && (b[n-1] == ' ' || b[n-1] == '\n') {
		b[n-1] = '.'
	}
	return b
}

// Binary returns n bytes, of values from 0 to 250 in a pattern that
// deflate compresses well and fast.
func Binary(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}

// CheckWriteError checks the error that ended client i's writes while the
// server shut down: it must say that the connection is closed and, when
// the connection had ended by then, hold the ending want.
func CheckWriteError(t testing.TB, i int, err error, want Ending) {
	t.Helper()
	if !errors.Is(err, conn.ErrClosed) {
		t.Errorf("client %d: write error %v, want one matching ErrClosed", i, err)
		return
	}
	var ce *conn.CloseError
	if errors.As(err, &ce) {
		if got := EndingOf(err); got != want {
			t.Errorf("client %d: write error %v, ending %+v; want %+v", i, err, got, want)
		}
	}
}

// Wait waits up to d for wg, and reports whether it got to zero.
func Wait(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}
