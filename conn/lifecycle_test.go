package conn

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/twoway/websocket/frame"
	"github.com/twoway/websocket/internal/rawpeer"
)

// The lifecycle tests run the calls of a connection against each other in
// separate goroutines, one after another in each order and all at once,
// over loopback TCP, with compression off and on and in both roles, and
// check what every call returns against the package documentation (its
// "Concurrency", "Contexts" and "Errors" sections).

// lifeWait bounds every wait: a call still blocked after it has hung.
const lifeWait = 10 * time.Second

// Close codes and reasons that tell the endings apart.
const (
	lifeCode   CloseCode = 4000
	lifeReason           = "lifecycle"
	epiCode    CloseCode = 4001
	epiReason            = "epilogue"
)

// Sizes of the messages: Writer's is cut into many frames by the default
// 4 KiB write buffer, Write's goes out as one frame too large to buffer.
// The matrix, which sends thousands, sends smaller ones.
const (
	writerSize       = 1 << 20
	writeSize        = 256 << 10
	matrixWriterSize = 256 << 10 // 64 frames
	matrixWriteSize  = 64 << 10
)

// lifeData is incompressible bytes that messages are cut from, so that a
// compressed message needs as many frames as a plain one.
var lifeData = sync.OnceValue(func() []byte {
	b := make([]byte, 4<<20)
	rand.NewChaCha8([32]byte{'l', 'i', 'f', 'e'}).Read(b)
	return b
})

// lifePayload returns a message of n bytes; different i give different
// messages.
func lifePayload(i, n int) []byte {
	off := i * (64 << 10)
	return lifeData()[off : off+n : off+n]
}

// lifeProbe is the message with which a test checks that a connection
// still works.
var lifeProbe = []byte("probe")

// await receives from ch, failing the test if nothing comes in lifeWait.
func await[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	timer := time.NewTimer(lifeWait)
	defer timer.Stop()
	select {
	case v := <-ch:
		return v
	case <-timer.C:
		t.Fatalf("%s: still blocked after %v", what, lifeWait)
		panic("unreachable")
	}
}

// within runs f and returns its error, failing the test if f has not
// returned after d.
func within(t testing.TB, d time.Duration, what string, f func() error) error {
	t.Helper()
	ch := make(chan error, 1)
	go func() { ch <- f() }()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case err := <-ch:
		return err
	case <-timer.C:
		t.Fatalf("%s: still blocked after %v", what, d)
		panic("unreachable")
	}
}

// waitUntil polls cond, which has no channel to wait on, failing the test
// if it does not hold within lifeWait.
func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(lifeWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: not after %v", what, lifeWait)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// deflateOpts returns the options that enable compression, or nil.
func deflateOpts(on bool) *CompressionOptions {
	if on {
		return &CompressionOptions{}
	}
	return nil
}

// forRolesAndCompression runs f as a parallel subtest for each role of
// the Conn under test, with compression off and on.
func forRolesAndCompression(t *testing.T, f func(t *testing.T, server, compress bool)) {
	for _, server := range []bool{false, true} {
		for _, compress := range []bool{false, true} {
			name := map[bool]string{false: "client", true: "server"}[server] + "/" +
				map[bool]string{false: "plain", true: "deflate"}[compress]
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				f(t, server, compress)
			})
		}
	}
}

// serveConns serves the WebSocket handshake with opts and hands each
// accepted Conn to the test, which closes it.
func serveConns(t testing.TB, opts *AcceptOptions) (string, <-chan *Conn) {
	t.Helper()
	conns := make(chan *Conn, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, err := Accept(w, r, opts); err == nil {
			conns <- c
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL, conns
}

// lifePair connects a Conn in the given role to a twoway peer over
// loopback TCP, with compression on both ends or on neither.
func lifePair(t testing.TB, server, compress bool) (c, peer *Conn) {
	t.Helper()
	co := deflateOpts(compress)
	url, conns := serveConns(t, &AcceptOptions{Compression: co})
	client := dial(t, wsURL(url), &DialOptions{Compression: co})
	srv := await(t, conns, "Accept")
	t.Cleanup(func() { srv.CloseNow() })
	if srv.Compressed() != compress || client.Compressed() != compress {
		t.Fatalf("compression negotiated: server %v, client %v; want %v", srv.Compressed(), client.Compressed(), compress)
	}
	if server {
		return srv, client
	}
	return client, srv
}

// lifeEcho connects c as lifePair does, to a peer that echoes every
// message and reads until the connection ends. The error that ended the
// peer's reading, how it saw the ending, arrives on the channel.
func lifeEcho(t testing.TB, server, compress bool) (*Conn, <-chan error) {
	t.Helper()
	if !server {
		co := deflateOpts(compress)
		url, errs := echoServer(t, &AcceptOptions{Compression: co})
		return dial(t, wsURL(url), &DialOptions{Compression: co}), errs
	}
	c, peer := lifePair(t, true, compress)
	errs := make(chan error, 1)
	go func() {
		ctx := context.Background()
		var buf []byte
		for {
			typ, msg, err := peer.ReadInto(ctx, buf)
			if err == nil {
				buf = msg
				err = peer.Write(ctx, typ, msg)
			}
			if err != nil {
				errs <- err
				return
			}
		}
	}()
	return c, errs
}

// rawPair connects a Conn in the given role to a raw peer, which does
// nothing unless told, with permessage-deflate agreed or not.
func rawPair(t *testing.T, server, compress bool) (*Conn, *rawPeer) {
	t.Helper()
	offer := http.Header{"Sec-WebSocket-Extensions": {"permessage-deflate"}}
	var c *Conn
	var p *rawPeer
	switch {
	case server:
		url, conns := serveConns(t, &AcceptOptions{Compression: deflateOpts(compress)})
		if compress {
			rp, err := rawpeer.Dial(wsURL(url), &rawpeer.DialOptions{Header: offer})
			if err != nil {
				t.Fatal(err)
			}
			p = newRawPeer(t, rp)
		} else {
			p = dialRaw(t, url)
		}
		c = await(t, conns, "Accept")
		t.Cleanup(func() { c.CloseNow() })
	case compress:
		l, err := rawpeer.Listen(&rawpeer.ListenOptions{Header: func(*http.Request) http.Header { return offer }})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		accepted := make(chan *rawpeer.Peer, 1)
		go func() {
			rp, _ := l.Accept(lifeWait)
			accepted <- rp
		}()
		c = dial(t, l.URL(), &DialOptions{Compression: &CompressionOptions{}})
		rp := await(t, accepted, "raw peer Accept")
		if rp == nil {
			t.Fatal("raw peer: no connection")
		}
		p = newRawPeer(t, rp)
	default:
		url, peers := serveRaw(t)
		c = dial(t, url, nil)
		p = await(t, peers, "raw peer Accept")
		t.Cleanup(func() { p.nc.Close() })
	}
	if c.Compressed() != compress {
		t.Fatalf("Compressed() = %v, want %v", c.Compressed(), compress)
	}
	return c, p
}

// roundTrip checks that c still works: a message of several frames goes
// to the echo peer and comes back whole.
func roundTrip(t *testing.T, c *Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), lifeWait)
	defer cancel()
	want := lifePayload(7, writeSize)
	if err := c.Write(ctx, Binary, want); err != nil {
		t.Fatalf("Write on a connection that should be open: %v", err)
	}
	_, got, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("Read on a connection that should be open: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("echo of %d bytes came back as %d different bytes", len(want), len(got))
	}
}

// endedError returns the *CloseError that err holds, failing the test
// unless err matches ErrClosed and holds one.
func endedError(t *testing.T, what string, err error) *CloseError {
	t.Helper()
	var ce *CloseError
	if !errors.Is(err, ErrClosed) || !errors.As(err, &ce) {
		t.Fatalf("%s = %v, want an error matching ErrClosed that holds a *CloseError", what, err)
	}
	return ce
}

// checkAllEnded checks that once the connection has ended every call fails
// with an error that holds final, the *CloseError of the ending, and that
// Close and CloseNow answer as the ending says.
func checkAllEnded(t *testing.T, c *Conn, final *CloseError) {
	t.Helper()
	ctx := context.Background()
	calls := []struct {
		name string
		call func() error
	}{
		{"Read", func() error { _, msg, err := c.Read(ctx); return readErr(msg, err) }},
		{"Reader", func() error {
			_, r, err := c.Reader(ctx)
			if r != nil {
				return errors.New("returned a reader")
			}
			return err
		}},
		{"Write", func() error { return c.Write(ctx, Text, []byte("late")) }},
		{"Writer", func() error {
			w, err := c.Writer(ctx, Binary)
			if w != nil {
				return errors.New("returned a writer")
			}
			return err
		}},
		{"Ping", func() error { return c.Ping(ctx) }},
	}
	for _, call := range calls {
		err := within(t, lifeWait, call.name+" after the end", call.call)
		var ce *CloseError
		if !errors.Is(err, ErrClosed) || !errors.As(err, &ce) || ce != final {
			t.Errorf("%s after the end = %v, want an error matching ErrClosed holding the connection's *CloseError (%v)", call.name, err, final)
		}
	}
	// Close and CloseNow return nil only for a completed handshake.
	var want error
	if final.Err != nil || final.Code == CloseAbnormal {
		want = final
	}
	for name, call := range map[string]func() error{
		"Close":    func() error { return c.Close(CloseNormal, "") },
		"CloseNow": c.CloseNow,
	} {
		if err := within(t, lifeWait, name+" after the end", call); err != want {
			t.Errorf("%s after the end = %v, want %v", name, err, want)
		}
	}
}

// readErr turns a message that a read returned where none was due into an
// error, so that a read that must fail cannot pass by returning one.
func readErr(msg []byte, err error) error {
	if err == nil {
		return fmt.Errorf("returned a message of %d bytes", len(msg))
	}
	return err
}

// checkPeerSaw checks how the echo peer saw the connection end: our Close
// frame, answered, when final is a completed handshake of ours; otherwise
// a connection lost without a Close frame, or, when the connection failed
// after a Close of ours went out (sent), that Close.
func checkPeerSaw(t *testing.T, peerErr <-chan error, final, sent *CloseError) {
	t.Helper()
	err := await(t, peerErr, "the peer's read")
	var ce *CloseError
	if !errors.Is(err, ErrClosed) || !errors.As(err, &ce) {
		t.Fatalf("the peer's read ended with %v, want an error matching ErrClosed holding a *CloseError", err)
	}
	if final.Err == nil && final.Code != CloseAbnormal {
		sent = final
	} else if ce.Remote && CloseStatus(err) == 0 {
		return // lost
	}
	if sent == nil {
		t.Errorf("the peer saw the ending as %+v, want a connection lost without a Close frame", *ce)
		return
	}
	want := CloseError{Code: sent.Code, Reason: sent.Reason, Remote: true}
	if diff := cmp.Diff(want, *ce, cmpopts.EquateErrors()); diff != "" {
		t.Errorf("the peer saw the ending as (-want +got):\n%s", diff)
	}
}

// The matrix.

// A lifeOp is one call of the matrix, made in a goroutine of its own.
type lifeOp int

const (
	opRead     lifeOp = iota // Read, until a message or the end
	opWrite                  // Write of matrixWriteSize bytes
	opWriter                 // matrixWriterSize bytes through Writer, in pieces smaller than a frame
	opPing                   // Ping, answered once someone reads
	opClose                  // Close(lifeCode, lifeReason)
	opCloseNow               // CloseNow
	opCancel                 // cancels the context that Read, Write, Writer and Ping were given
	numLifeOps
)

func (o lifeOp) String() string {
	return [...]string{"Read", "Write", "Writer", "Ping", "Close", "CloseNow", "Cancel"}[o]
}

// A lifeScenario is calls in steps: the calls of a step start together,
// and the next step starts once each of them has returned or, for Read
// and Ping, which wait for another goroutine, has begun to wait.
type lifeScenario [][]lifeOp

func (s lifeScenario) String() string {
	var steps []string
	for _, step := range s {
		var ops []string
		for _, o := range step {
			ops = append(ops, o.String())
		}
		steps = append(steps, strings.Join(ops, "|"))
	}
	return strings.Join(steps, ";")
}

// lifeScenarios returns every pair of calls in both orders and at once,
// and every triple at once. Two Reads at once are not allowed, and a
// second Cancel does nothing.
func lifeScenarios() []lifeScenario {
	var out []lifeScenario
	for a := range numLifeOps {
		if a != opRead && a != opCancel {
			out = append(out, lifeScenario{{a, a}})
		}
		for b := a + 1; b < numLifeOps; b++ {
			out = append(out, lifeScenario{{a}, {b}}, lifeScenario{{b}, {a}}, lifeScenario{{a, b}})
			for c := b + 1; c < numLifeOps; c++ {
				out = append(out, lifeScenario{{a, b, c}})
			}
		}
	}
	return out
}

// TestLifecycleMatrix runs every scenario of lifeScenarios on a Conn in
// each role, with compression off and on, talking to a peer that echoes,
// and checks each call's result, how the connection ended, how the peer
// saw it, and that every call after the end fails as documented.
func TestLifecycleMatrix(t *testing.T) {
	scenarios := lifeScenarios()
	forRolesAndCompression(t, func(t *testing.T, server, compress bool) {
		for i, s := range scenarios {
			if testing.Short() && i%5 != 0 {
				continue // a sample of each kind: pairs in all orders, triples
			}
			t.Run(s.String(), func(t *testing.T) {
				t.Parallel()
				c, peerErr := lifeEcho(t, server, compress)
				runLife(t, c, peerErr, s)
			})
		}
	})
}

// lifeResult is what a call of the matrix returned.
type lifeResult struct {
	err    error
	msg    []byte // Read's message
	writer bool   // Writer returned a writer with its error
	closed bool   // the writer's Close returned nil after a Write failed
}

type lifeRun struct {
	t      *testing.T
	c      *Conn
	ctx    context.Context
	cancel context.CancelFunc
	ops    []lifeOp
	res    []chan lifeResult
	got    []lifeResult
	done   []bool
	// after[i][j] reports that call j had returned before call i began.
	after [][]bool
}

func runLife(t *testing.T, c *Conn, peerErr <-chan error, s lifeScenario) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := &lifeRun{t: t, c: c, ctx: ctx, cancel: cancel}
	for _, step := range s {
		r.ops = append(r.ops, step...)
	}
	n := len(r.ops)
	r.got, r.done, r.after = make([]lifeResult, n), make([]bool, n), make([][]bool, n)
	for range n {
		r.res = append(r.res, make(chan lifeResult, 1))
	}

	i := 0
	for _, step := range s {
		gate := make(chan struct{})
		first := i
		for range step {
			r.after[i] = slices.Clone(r.done)
			go func(i int) {
				<-gate
				r.res[i] <- r.do(i)
			}(i)
			i++
		}
		close(gate)
		for j := first; j < i; j++ {
			r.settle(j)
		}
	}

	ended := r.has(opClose) || r.has(opCloseNow)
	if r.has(opCancel) {
		// Every call has its answer: it returned, or the context ends it.
		r.awaitAll()
	}
	if !ended && !c.isClosed() {
		r.probe()
	}
	r.awaitAll()
	if !ended && !c.isClosed() {
		if err := within(t, lifeWait, "the final Close", func() error { return c.Close(epiCode, epiReason) }); err != nil {
			t.Fatalf("Close after the scenario = %v, want nil", err)
		}
	}

	final := endedError(t, "Write after the end", c.Write(context.Background(), Binary, lifeProbe))
	r.checkFinal(final)
	for i := range r.ops {
		r.check(i, final)
	}
	checkAllEnded(t, c, final)
	var sent *CloseError
	if r.has(opClose) {
		sent = &CloseError{Code: lifeCode, Reason: lifeReason}
	}
	checkPeerSaw(t, peerErr, final, sent)
}

func (r *lifeRun) has(o lifeOp) bool { return slices.Contains(r.ops, o) }

func (r *lifeRun) payload(i int) []byte {
	if r.ops[i] == opWriter {
		return lifePayload(i, matrixWriterSize)
	}
	return lifePayload(i, matrixWriteSize)
}

// do makes call i.
func (r *lifeRun) do(i int) lifeResult {
	c, ctx := r.c, r.ctx
	switch r.ops[i] {
	case opRead:
		_, msg, err := c.Read(ctx)
		return lifeResult{err: err, msg: msg}
	case opWrite:
		return lifeResult{err: c.Write(ctx, Binary, r.payload(i))}
	case opWriter:
		w, err := c.Writer(ctx, Binary)
		if err != nil {
			return lifeResult{err: err, writer: w != nil}
		}
		err = writePieces(w, r.payload(i))
		cerr := w.Close()
		if err == nil {
			return lifeResult{err: cerr}
		}
		return lifeResult{err: err, closed: cerr == nil}
	case opPing:
		return lifeResult{err: c.Ping(ctx)}
	case opClose:
		return lifeResult{err: c.Close(lifeCode, lifeReason)}
	case opCloseNow:
		return lifeResult{err: c.CloseNow()}
	case opCancel:
		r.cancel()
	}
	return lifeResult{}
}

// settle waits until call i has returned or, for Read and Ping, is
// waiting for another goroutine.
func (r *lifeRun) settle(i int) {
	r.t.Helper()
	if !r.ops[i].waits() {
		r.got[i] = await(r.t, r.res[i], r.ops[i].String())
		r.done[i] = true
		return
	}
	waitUntil(r.t, r.ops[i].String()+" to return or wait", func() bool {
		select {
		case res := <-r.res[i]:
			r.got[i], r.done[i] = res, true
			return true
		default:
			return r.waiting(r.ops[i])
		}
	})
}

// terminal reports whether o ends the connection.
func (o lifeOp) terminal() bool { return o == opClose || o == opCloseNow }

// waits reports whether o may wait for another goroutine: Read for a
// message, Ping for a reader that sees its pong.
func (o lifeOp) waits() bool { return o == opRead || o == opPing }

// waiting reports whether a call of kind o has begun to wait: someone
// holds the read lock, or a Ping awaits its pong.
func (r *lifeRun) waiting(o lifeOp) bool {
	switch o {
	case opRead:
		return readerWaiting(r.c)
	case opPing:
		p := r.c.ping.Load()
		if p == nil {
			return false
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		return len(p.waiting) > 0
	}
	return false
}

func (r *lifeRun) awaitAll() {
	r.t.Helper()
	for i := range r.ops {
		if !r.done[i] {
			r.got[i] = await(r.t, r.res[i], r.ops[i].String()+" (pending at the end)")
			r.done[i] = true
		}
	}
}

// probe checks that a connection that no call ended still works: it
// sends a message and reads until its echo, which also lets a Read of
// the scenario return and a Ping see its pong, and checks that the echoes
// are exactly the messages that calls sent, each whole.
func (r *lifeRun) probe() {
	t := r.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), lifeWait)
	defer cancel()
	if err := r.c.Write(ctx, Binary, lifeProbe); err != nil {
		t.Fatalf("Write after the scenario = %v, want nil", err)
	}
	var msgs [][]byte
	for i, o := range r.ops {
		if o == opRead {
			if !r.done[i] {
				r.got[i] = await(t, r.res[i], "Read, after a message was sent")
				r.done[i] = true
			}
			if r.got[i].err == nil {
				msgs = append(msgs, r.got[i].msg)
			}
		}
	}
	for !slices.ContainsFunc(msgs, func(m []byte) bool { return bytes.Equal(m, lifeProbe) }) {
		_, msg, err := r.c.Read(ctx)
		if err != nil {
			t.Fatalf("Read after the scenario = %v, want the echoes", err)
		}
		msgs = append(msgs, msg)
	}
	// A Ping may send its ping after the probe went out: probe again
	// until every Ping has seen its pong.
	for i, o := range r.ops {
		for o == opPing && !r.done[i] {
			if err := r.c.Write(ctx, Binary, lifeProbe); err != nil {
				t.Fatalf("Write after the scenario = %v, want nil", err)
			}
			if _, msg, err := r.c.Read(ctx); err != nil || !bytes.Equal(msg, lifeProbe) {
				t.Fatalf("Read after the scenario = %d bytes, %v; want the probe", len(msg), err)
			}
			select {
			case r.got[i] = <-r.res[i]:
				r.done[i] = true
			default:
			}
		}
	}
	want := []string{"probe"}
	for i, o := range r.ops {
		if (o == opWrite || o == opWriter) && r.got[i].err == nil {
			want = append(want, r.name(i))
		}
	}
	var got []string
	for _, m := range msgs {
		got = append(got, r.identify(m))
	}
	slices.Sort(want)
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("echoes of the messages sent (-want +got):\n%s", diff)
	}
}

func (r *lifeRun) name(i int) string { return fmt.Sprintf("%v#%d", r.ops[i], i) }

// identify names the call that sent m, or describes m.
func (r *lifeRun) identify(m []byte) string {
	if bytes.Equal(m, lifeProbe) {
		return "probe"
	}
	for i, o := range r.ops {
		if (o == opWrite || o == opWriter) && bytes.Equal(m, r.payload(i)) {
			return r.name(i)
		}
	}
	return fmt.Sprintf("unknown message of %d bytes", len(m))
}

// checkFinal checks how the connection ended against the calls that could
// have ended it.
func (r *lifeRun) checkFinal(final *CloseError) {
	var want []*CloseError
	if r.has(opClose) {
		want = append(want, &CloseError{Code: lifeCode, Reason: lifeReason})
	}
	if r.has(opCloseNow) {
		want = append(want, &CloseError{Code: CloseAbnormal})
	}
	if !r.has(opClose) && !r.has(opCloseNow) {
		want = append(want, &CloseError{Code: epiCode, Reason: epiReason})
	}
	if r.has(opCancel) {
		// A context that ends mid-frame, or mid-message for a reader.
		want = append(want, &CloseError{Code: CloseAbnormal, Err: context.Canceled})
	}
	for _, w := range want {
		// By value: as an error, *CloseError would be compared by errors.Is.
		if cmp.Equal(*w, *final, cmpopts.EquateErrors()) {
			return
		}
	}
	r.t.Errorf("the connection ended with %+v, want one of %s", *final, cmpString(want))
}

func cmpString(ces []*CloseError) string {
	var s []string
	for _, ce := range ces {
		s = append(s, fmt.Sprintf("%+v", *ce))
	}
	return strings.Join(s, ", ")
}

// Outcomes of a call, as sets of bits.
const (
	outOK      = 1 << iota // nil
	outContext             // wraps the context's error; the connection stays open
	outEnded               // matches ErrClosed and holds the connection's *CloseError
	outClosing             // matches ErrClosed, no *CloseError yet: our Close frame has gone out
)

var outNames = []string{"nil", "the context's error, connection open", "ErrClosed with the connection's *CloseError", "ErrClosed while closing"}

func outString(set int) string {
	var s []string
	for i, n := range outNames {
		if set&(1<<i) != 0 {
			s = append(s, n)
		}
	}
	return strings.Join(s, " or ")
}

// outcome classifies err; it returns 0 for an error no call may return.
func outcome(err error, final *CloseError) int {
	var ce *CloseError
	switch {
	case err == nil:
		return outOK
	case errors.Is(err, ErrClosed) && errors.As(err, &ce):
		if ce == final {
			return outEnded
		}
	case errors.Is(err, ErrClosed):
		return outClosing
	case errors.Is(err, context.Canceled):
		return outContext
	}
	return 0
}

// check checks what call i returned against what the documentation allows
// for a call made in that order.
func (r *lifeRun) check(i int, final *CloseError) {
	t, o, res := r.t, r.ops[i], r.got[i]
	t.Helper()
	if o == opCancel {
		return
	}
	if o.terminal() {
		// Close returns nil for a completed handshake and the ending
		// otherwise. CloseNow returns nil when it closed the connection
		// or left a handshake in progress to finish, and the ending when
		// it found the connection ended.
		var want error
		if final.Err != nil || final.Code == CloseAbnormal {
			want = final
		}
		if res.err != want && !(o == opCloseNow && res.err == nil) {
			t.Errorf("%s = %v, want %v", r.name(i), res.err, want)
		}
		return
	}
	var afterEnd, overlapEnd, afterCancel, overlapCancel bool
	for j, p := range r.ops {
		switch {
		case p.terminal() && r.after[i][j]:
			afterEnd = true
		case p.terminal() && !r.after[j][i]:
			overlapEnd = true
		case p == opCancel && r.after[i][j]:
			afterCancel = true
		case p == opCancel && !r.after[j][i]:
			overlapCancel = true
		}
	}
	var allow int
	switch {
	case afterEnd:
		allow = outEnded
	case afterCancel:
		allow = outContext
	default:
		allow = outOK
		if overlapEnd {
			allow |= outEnded | outClosing
			if o == opRead && !(r.has(opClose) && r.has(opCloseNow)) {
				// A reader sees the end itself; only one that
				// CloseNow turned away while a Close waits for the
				// peer finds the connection closing.
				allow &^= outClosing
			}
		}
		if overlapCancel {
			allow |= outContext
			if final.Err == context.Canceled {
				allow |= outEnded
			}
		}
	}
	if outcome(res.err, final)&allow == 0 {
		var ce *CloseError
		if errors.As(res.err, &ce) && ce != final {
			t.Errorf("%s = %v, holding %+v, not the connection's *CloseError %+v", r.name(i), res.err, *ce, *final)
		} else {
			t.Errorf("%s = %v, want %s", r.name(i), res.err, outString(allow))
		}
	}
	if res.writer {
		t.Errorf("%s returned a writer along with its error %v", r.name(i), res.err)
	}
	if res.closed {
		t.Errorf("%s: the writer's Close returned nil after its Write failed with %v", r.name(i), res.err)
	}
	if o == opRead && res.err == nil {
		if id := r.identify(res.msg); strings.HasPrefix(id, "unknown") {
			t.Errorf("%s returned an %s", r.name(i), id)
		}
	}
	var pe *frame.ProtocolError
	if errors.As(res.err, &pe) {
		t.Errorf("%s = %v: a protocol error, though the peer keeps the protocol", r.name(i), res.err)
	}
}

// The single orderings that the matrix reaches only by chance, made
// deterministic.

// closeAndCheck closes c, which the echo peer of peerErr must answer, and
// checks the ending on both sides.
func closeAndCheck(t *testing.T, c *Conn, peerErr <-chan error) {
	t.Helper()
	if err := within(t, lifeWait, "Close", func() error { return c.Close(lifeCode, lifeReason) }); err != nil {
		t.Fatalf("Close = %v, want nil", err)
	}
	final := endedError(t, "Write after Close", c.Write(context.Background(), Binary, lifeProbe))
	if diff := cmp.Diff(CloseError{Code: lifeCode, Reason: lifeReason}, *final, cmpopts.EquateErrors()); diff != "" {
		t.Errorf("ending after Close (-want +got):\n%s", diff)
	}
	checkAllEnded(t, c, final)
	checkPeerSaw(t, peerErr, final, nil)
}

// checkOpen checks that err wraps the context's error want and does not
// report the connection closed, as for a call that gave up while the
// streams were in step.
func checkOpen(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) || errors.Is(err, ErrClosed) {
		t.Fatalf("%s = %v, want an error wrapping %v that does not match ErrClosed", what, err, want)
	}
}

// checkCause checks that err reports the connection closed because a
// context ended, with cause, mid-frame or mid-message, and that every
// call agrees.
func checkCause(t *testing.T, c *Conn, what string, err, cause error) {
	t.Helper()
	final := endedError(t, what, err)
	if !errors.Is(err, cause) {
		t.Errorf("%s = %v, want it to wrap %v", what, err, cause)
	}
	want := CloseError{Code: CloseAbnormal, Err: cause}
	if diff := cmp.Diff(want, *final, cmpopts.EquateErrors()); diff != "" {
		t.Errorf("ending after the context was canceled (-want +got):\n%s", diff)
	}
	checkAllEnded(t, c, final)
}

// readerWaiting reports whether a reader holds c's read lock.
func readerWaiting(c *Conn) bool {
	c.rsem.mu.Lock()
	defer c.rsem.mu.Unlock()
	return c.rsem.held
}

// lifeBig is a message larger than what loopback TCP buffers hold, so that
// a write of it to a peer that does not read blocks mid-frame.
var lifeBig = sync.OnceValue(func() []byte { return bytes.Repeat(lifeData(), 4) })

// stall reads the first bytes of the next frame, so that the test knows
// a message has begun on the wire, and then nothing more.
func stall(t *testing.T, p *rawPeer) {
	t.Helper()
	p.nc.SetReadDeadline(time.Now().Add(lifeWait))
	var b [2]byte
	if _, err := io.ReadFull(p.nc, b[:]); err != nil {
		t.Fatalf("raw peer: the message did not begin: %v", err)
	}
	if op := b[0] & 0x0f; op != 0x2 {
		t.Fatalf("raw peer: first frame has opcode %d, want binary", op)
	}
}

// checkDropped checks that the raw peer's TCP connection has ended.
func checkDropped(t *testing.T, p *rawPeer) {
	t.Helper()
	p.nc.SetReadDeadline(time.Now().Add(lifeWait))
	if _, err := io.Copy(io.Discard, p.nc); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("raw peer: the connection was not closed: %v", err)
	}
}

// TestLifecycleContexts checks each documented effect of a context that
// ends: calls that give up before anything is sent, reads waiting for a
// message and Pings waiting for a pong leave the connection open; a
// context that ends mid-frame or mid-message closes it with the context's
// error as the cause.
func TestLifecycleContexts(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, server, compress bool)
	}{
		{"idle Read canceled", func(t *testing.T, server, compress bool) {
			c, peerErr := lifeEcho(t, server, compress)
			ctx, cancel := context.WithCancel(context.Background())
			read := make(chan error, 1)
			go func() { _, msg, err := c.Read(ctx); read <- readErr(msg, err) }()
			waitUntil(t, "Read to wait", func() bool { return readerWaiting(c) })
			cancel()
			checkOpen(t, "idle Read whose context was canceled", await(t, read, "Read"), context.Canceled)
			roundTrip(t, c)
			closeAndCheck(t, c, peerErr)
		}},
		{"idle Read past its deadline", func(t *testing.T, server, compress bool) {
			c, peerErr := lifeEcho(t, server, compress)
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			err := within(t, lifeWait, "Read", func() error { _, msg, err := c.Read(ctx); return readErr(msg, err) })
			checkOpen(t, "idle Read past its deadline", err, context.DeadlineExceeded)
			roundTrip(t, c)
			closeAndCheck(t, c, peerErr)
		}},
		{"Ping with an expired context", func(t *testing.T, server, compress bool) {
			c, peerErr := lifeEcho(t, server, compress)
			ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
			defer cancel()
			err := within(t, lifeWait, "Ping", func() error { return c.Ping(ctx) })
			checkOpen(t, "Ping with an expired context", err, context.DeadlineExceeded)
			roundTrip(t, c)
			pingWithReader(t, c)
			closeAndCheck(t, c, peerErr)
		}},
		{"Ping without a reader, past its deadline", func(t *testing.T, server, compress bool) {
			c, peerErr := lifeEcho(t, server, compress)
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			err := within(t, lifeWait, "Ping", func() error { return c.Ping(ctx) })
			checkOpen(t, "Ping without a reader", err, context.DeadlineExceeded)
			roundTrip(t, c) // reads the late pong on the way
			pingWithReader(t, c)
			closeAndCheck(t, c, peerErr)
		}},
		{"Write waiting for a Writer, canceled", func(t *testing.T, server, compress bool) {
			c, peerErr := lifeEcho(t, server, compress)
			bg := context.Background()
			msg := lifePayload(0, writerSize)
			w, err := c.Writer(bg, Binary)
			if err != nil {
				t.Fatal(err)
			}
			if err := writePieces(w, msg[:writerSize/2]); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(bg)
			cancel()
			err = within(t, lifeWait, "Write waiting for the Writer", func() error { return c.Write(ctx, Binary, lifeProbe) })
			checkOpen(t, "Write waiting for a Writer", err, context.Canceled)
			if err := writePieces(w, msg[writerSize/2:]); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if _, got, err := c.Read(bg); err != nil || !bytes.Equal(got, msg) {
				t.Fatalf("echo of the Writer's message: %d bytes, %v; want it whole", len(got), err)
			}
			roundTrip(t, c)
			closeAndCheck(t, c, peerErr)
		}},
		{"Write with a canceled context", func(t *testing.T, server, compress bool) {
			c, peerErr := lifeEcho(t, server, compress)
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			err := within(t, lifeWait, "Write", func() error { return c.Write(ctx, Binary, lifePayload(0, writeSize)) })
			checkOpen(t, "Write with a canceled context", err, context.Canceled)
			roundTrip(t, c)
			closeAndCheck(t, c, peerErr)
		}},
		{"Writer with a canceled context", func(t *testing.T, server, compress bool) {
			c, peerErr := lifeEcho(t, server, compress)
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			err := within(t, lifeWait, "Writer", func() error {
				w, err := c.Writer(ctx, Binary)
				if err != nil {
					if w != nil {
						return errors.New("Writer returned a writer with its error")
					}
					return err
				}
				_, err = w.Write(lifePayload(0, writerSize))
				if cerr := w.Close(); err == nil {
					err = cerr
				}
				return err
			})
			checkOpen(t, "Writer with a canceled context", err, context.Canceled)
			roundTrip(t, c)
			closeAndCheck(t, c, peerErr)
		}},
		{"Writer canceled between frames", func(t *testing.T, server, compress bool) {
			c, peerErr := lifeEcho(t, server, compress)
			ctx, cancel := context.WithCancel(context.Background())
			w, err := c.Writer(ctx, Binary)
			if err != nil {
				t.Fatal(err)
			}
			msg := lifePayload(0, writerSize)
			if err := writePieces(w, msg[:writerSize/2]); err != nil {
				t.Fatal(err)
			}
			cancel()
			err = writePieces(w, msg[writerSize/2:])
			if cerr := w.Close(); err == nil {
				err = cerr
			} else if cerr == nil {
				t.Errorf("the writer's Close returned nil after its Write failed with %v", err)
			}
			checkCause(t, c, "Writer after its context was canceled mid-message", err, context.Canceled)
			checkPeerSaw(t, peerErr, &CloseError{Code: CloseAbnormal, Err: context.Canceled}, nil)
		}},
		{"Writer canceled mid-frame", func(t *testing.T, server, compress bool) {
			c, p := rawPair(t, server, compress)
			ctx, cancel := context.WithCancel(context.Background())
			w, err := c.Writer(ctx, Binary)
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() {
				_, err := w.Write(lifeBig())
				if cerr := w.Close(); err == nil {
					err = cerr
				}
				done <- err
			}()
			stall(t, p)
			cancel()
			checkCause(t, c, "Writer blocked mid-frame, its context canceled", await(t, done, "Writer blocked mid-frame"), context.Canceled)
			checkDropped(t, p)
		}},
		{"Write canceled mid-frame", func(t *testing.T, server, compress bool) {
			c, p := rawPair(t, server, compress)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- c.Write(ctx, Binary, lifeBig()) }()
			stall(t, p)
			cancel()
			checkCause(t, c, "Write blocked mid-frame, its context canceled", await(t, done, "Write blocked mid-frame"), context.Canceled)
			checkDropped(t, p)
		}},
		{"Reader past its deadline mid-message", func(t *testing.T, server, compress bool) {
			c, p := rawPair(t, server, compress)
			// The deadline almost always finds the read waiting for the
			// second fragment. On a machine slow enough to reach it
			// before, the read gives up without waiting, which leaves
			// the connection open and in step.
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			first := []byte("the first fragment")
			p.send(false, 0, 0x2, first)
			err := within(t, lifeWait, "Reader", func() error {
				_, rd, err := c.Reader(ctx)
				if err != nil {
					return err
				}
				got := make([]byte, len(first)+1)
				n, err := io.ReadAtLeast(rd, got, len(got))
				if n > len(first) || !bytes.Equal(got[:n], first[:n]) {
					return fmt.Errorf("read %q, want %q and no more", got[:n], first)
				}
				return err
			})
			if errors.Is(err, ErrClosed) {
				checkCause(t, c, "a read of the message's reader past its deadline mid-message", err, context.DeadlineExceeded)
				checkDropped(t, p)
				return
			}
			checkOpen(t, "a read of the message's reader that gave up before waiting", err, context.DeadlineExceeded)
			p.send(true, 0, 0x0, []byte(" and the rest"))
			p.send(true, 0, 0x2, []byte("next"))
			_, msg, err := c.Read(context.Background())
			if err != nil || string(msg) != "next" {
				t.Fatalf("Read after the read that gave up = %q, %v; want \"next\"", msg, err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			forRolesAndCompression(t, tt.run)
		})
	}
}

// pingWithReader checks that Ping succeeds while another goroutine reads,
// and that the reader then gets the next message.
func pingWithReader(t *testing.T, c *Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), lifeWait)
	defer cancel()
	read := make(chan []byte, 1)
	go func() { _, msg, _ := c.Read(ctx); read <- msg }()
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("Ping with a reader = %v, want nil", err)
	}
	if err := c.Write(ctx, Binary, lifeProbe); err != nil {
		t.Fatal(err)
	}
	if msg := await(t, read, "Read"); !bytes.Equal(msg, lifeProbe) {
		t.Fatalf("Read after Ping = %q, want %q", msg, lifeProbe)
	}
}

// writePieces writes p through w in pieces smaller than a frame, so that
// the writer's buffer, not the pieces, makes the frames.
func writePieces(w io.Writer, p []byte) error {
	for len(p) > 0 {
		n := min(len(p), 3000)
		if _, err := w.Write(p[:n]); err != nil {
			return err
		}
		p = p[n:]
	}
	return nil
}

// TestLifecycleCloseDuringWriter runs Close while another goroutine is
// in the middle of a message of many frames: the Close frame goes out
// between two of them, the writer and every later write fail with an
// error matching ErrClosed, the peer answers and Close returns nil.
func TestLifecycleCloseDuringWriter(t *testing.T) {
	msg := lifePayload(0, writerSize)
	t.Run("completes mid-message", func(t *testing.T) {
		t.Parallel()
		forRolesAndCompression(t, func(t *testing.T, server, compress bool) {
			c, peerErr := lifeEcho(t, server, compress)
			w, err := c.Writer(context.Background(), Binary)
			if err != nil {
				t.Fatal(err)
			}
			if err := writePieces(w, msg[:writerSize/2]); err != nil {
				t.Fatal(err)
			}
			if err := within(t, lifeWait, "Close", func() error { return c.Close(lifeCode, lifeReason) }); err != nil {
				t.Fatalf("Close during a message = %v, want nil", err)
			}
			final := endedError(t, "Write after Close", c.Write(context.Background(), Binary, lifeProbe))
			err = writePieces(w, msg[writerSize/2:])
			if ce := endedError(t, "the writer's Write after Close", err); ce != final {
				t.Errorf("the writer's Write after Close holds %+v, not the connection's *CloseError", *ce)
			}
			if ce := endedError(t, "the writer's Close after Close", w.Close()); ce != final {
				t.Errorf("the writer's Close after Close holds %+v, not the connection's *CloseError", *ce)
			}
			checkAllEnded(t, c, final)
			checkPeerSaw(t, peerErr, final, nil)
		})
	})
	t.Run("peer answers late", func(t *testing.T) {
		t.Parallel()
		forRolesAndCompression(t, func(t *testing.T, server, compress bool) {
			c, p := rawPair(t, server, compress)
			saw := make(chan rawpeer.Closing, 1)
			go func() {
				closing, _ := p.p.ExpectClose(lifeWait)
				saw <- closing
			}()
			w, err := c.Writer(context.Background(), Binary)
			if err != nil {
				t.Fatal(err)
			}
			if err := writePieces(w, msg[:writerSize/2]); err != nil {
				t.Fatal(err)
			}
			closed := make(chan error, 1)
			go func() { closed <- c.Close(lifeCode, lifeReason) }()
			if got := await(t, saw, "the peer reading until the Close frame"); got.Close == nil || CloseCode(got.Code) != lifeCode {
				t.Fatalf("the peer saw %+v, want our Close frame", got)
			}
			// The handshake waits for the peer: nothing may be sent.
			if err := writePieces(w, msg[writerSize/2:]); !errors.Is(err, ErrClosed) {
				t.Errorf("the writer's Write after the Close frame = %v, want an error matching ErrClosed", err)
			}
			if err := w.Close(); !errors.Is(err, ErrClosed) {
				t.Errorf("the writer's Close after the Close frame = %v, want an error matching ErrClosed", err)
			}
			if err := c.Write(context.Background(), Binary, lifeProbe); !errors.Is(err, ErrClosed) {
				t.Errorf("Write after the Close frame = %v, want an error matching ErrClosed", err)
			}
			p.send(true, 0, 0x8, frame.AppendClosePayload(nil, lifeCode, ""))
			if server {
				p.expectEOF() // the server closes first
			} else {
				p.nc.Close()
			}
			if err := await(t, closed, "Close"); err != nil {
				t.Fatalf("Close = %v, want nil", err)
			}
			final := endedError(t, "Write after Close", c.Write(context.Background(), Binary, lifeProbe))
			if diff := cmp.Diff(CloseError{Code: lifeCode, Reason: lifeReason}, *final, cmpopts.EquateErrors()); diff != "" {
				t.Errorf("ending after Close (-want +got):\n%s", diff)
			}
			checkAllEnded(t, c, final)
		})
	})
}

// TestLifecycleCloseNowDuringClose calls CloseNow while a Close waits for
// the peer's answer: CloseNow returns at once and lets the handshake
// finish; every call made after it fails at once with an error matching
// ErrClosed; the connection ends as the Close says.
func TestLifecycleCloseNowDuringClose(t *testing.T) {
	forRolesAndCompression(t, func(t *testing.T, server, compress bool) {
		c, p := rawPair(t, server, compress)
		closed := make(chan error, 1)
		go func() { closed <- c.Close(lifeCode, lifeReason) }()
		if got := p.expectClose(); got != int(lifeCode) {
			t.Fatalf("the peer got close code %d, want %d", got, lifeCode)
		}
		// With no reader, Close reads the peer's answer itself.
		waitUntil(t, "Close to wait for the answer", func() bool { return readerWaiting(c) })
		if err := within(t, lifeWait, "CloseNow", c.CloseNow); err != nil {
			t.Fatalf("CloseNow during the closing handshake = %v, want nil", err)
		}
		// "At once": well before the close timeout, while the peer
		// still holds its answer.
		const atOnce = 2 * time.Second
		ctx := context.Background()
		calls := []struct {
			name string
			call func() error
		}{
			{"Read", func() error { _, msg, err := c.Read(ctx); return readErr(msg, err) }},
			{"Write", func() error { return c.Write(ctx, Binary, lifeProbe) }},
			{"Writer", func() error {
				w, err := c.Writer(ctx, Binary)
				if w != nil {
					return errors.New("returned a writer")
				}
				return err
			}},
			{"Ping", func() error { return c.Ping(ctx) }},
		}
		var late []<-chan error
		for _, call := range calls {
			ch := make(chan error, 1)
			go func() { ch <- call.call() }()
			timer := time.NewTimer(atOnce)
			select {
			case err := <-ch:
				if !errors.Is(err, ErrClosed) {
					t.Errorf("%s after CloseNow = %v, want an error matching ErrClosed", call.name, err)
				}
			case <-timer.C:
				t.Errorf("%s after CloseNow: still blocked after %v, waiting for the closing handshake", call.name, atOnce)
				late = append(late, ch)
			}
			timer.Stop()
		}
		p.send(true, 0, 0x8, frame.AppendClosePayload(nil, lifeCode, ""))
		if server {
			p.expectEOF()
		} else {
			p.nc.Close()
		}
		if err := await(t, closed, "Close"); err != nil {
			t.Fatalf("Close = %v, want nil: CloseNow let the handshake finish", err)
		}
		for _, ch := range late {
			await(t, ch, "a call blocked after CloseNow")
		}
		final := endedError(t, "Write after Close", c.Write(ctx, Binary, lifeProbe))
		if diff := cmp.Diff(CloseError{Code: lifeCode, Reason: lifeReason}, *final, cmpopts.EquateErrors()); diff != "" {
			t.Errorf("ending after Close, then CloseNow (-want +got):\n%s", diff)
		}
		checkAllEnded(t, c, final)
	})
}

// TestLifecycleCloseNowBuffered has messages arrive before CloseNow, read
// or not yet: no read after CloseNow returns one, nor, for the second of
// two compressed messages that share a window, a protocol error.
func TestLifecycleCloseNowBuffered(t *testing.T) {
	for _, readFirst := range []bool{false, true} {
		t.Run(map[bool]string{false: "none read", true: "one read"}[readFirst], func(t *testing.T) {
			t.Parallel()
			forRolesAndCompression(t, func(t *testing.T, server, compress bool) {
				c, peer := lifePair(t, server, compress)
				ctx := context.Background()
				// Small, so that one network read takes both; the same
				// text twice, so that the second compresses to
				// references into the first.
				msg := []byte(strings.Repeat("buffered message ", 4))
				for range 2 {
					if err := peer.Write(ctx, Text, msg); err != nil {
						t.Fatal(err)
					}
				}
				if readFirst {
					if _, got, err := c.Read(ctx); err != nil || !bytes.Equal(got, msg) {
						t.Fatalf("Read = %q, %v", got, err)
					}
				}
				if err := c.CloseNow(); err != nil {
					t.Fatalf("CloseNow = %v, want nil", err)
				}
				reads := map[string]func() error{
					"Read": func() error { _, msg, err := c.Read(ctx); return readErr(msg, err) },
					"Reader": func() error {
						_, r, err := c.Reader(ctx)
						if r != nil {
							return errors.New("returned a reader")
						}
						return err
					},
				}
				for name, read := range reads {
					err := within(t, lifeWait, name+" after CloseNow", read)
					var pe *frame.ProtocolError
					if errors.As(err, &pe) {
						t.Errorf("%s after CloseNow = %v: it went on reading what was buffered", name, err)
						continue
					}
					ce := endedError(t, name+" after CloseNow", err)
					if diff := cmp.Diff(CloseError{Code: CloseAbnormal}, *ce, cmpopts.EquateErrors()); diff != "" {
						t.Errorf("%s after CloseNow: ending (-want +got):\n%s", name, diff)
					}
				}
				final := endedError(t, "Write after CloseNow", c.Write(ctx, Binary, lifeProbe))
				checkAllEnded(t, c, final)
				err := within(t, lifeWait, "the peer's Read", func() error { _, msg, err := peer.Read(ctx); return readErr(msg, err) })
				if ce := endedError(t, "the peer's Read", err); !ce.Remote || CloseStatus(err) != 0 {
					t.Errorf("the peer saw the ending as %+v, want a connection lost without a Close frame", *ce)
				}
			})
		})
	}
}

// TestLifecyclePeerCloses has the peer close while one goroutine reads
// and another is in the middle of a message: the reader answers and gets
// the peer's ending, which every call then holds, and Close returns nil
// for the handshake that completed.
func TestLifecyclePeerCloses(t *testing.T) {
	forRolesAndCompression(t, func(t *testing.T, server, compress bool) {
		c, peer := lifePair(t, server, compress)
		ctx := context.Background()
		read := make(chan error, 1)
		go func() { _, msg, err := c.Read(ctx); read <- readErr(msg, err) }()
		msg := lifePayload(0, writerSize)
		w, err := c.Writer(ctx, Binary)
		if err != nil {
			t.Fatal(err)
		}
		if err := writePieces(w, msg[:writerSize/2]); err != nil {
			t.Fatal(err)
		}
		// With no reader of its own, the peer's Close reads our answer
		// itself, discarding the half message.
		peerClosed := make(chan error, 1)
		go func() { peerClosed <- peer.Close(4002, "peer") }()
		final := endedError(t, "Read when the peer closes", await(t, read, "Read when the peer closes"))
		if diff := cmp.Diff(CloseError{Code: 4002, Reason: "peer", Remote: true}, *final, cmpopts.EquateErrors()); diff != "" {
			t.Errorf("ending after the peer's Close (-want +got):\n%s", diff)
		}
		if ce := endedError(t, "the writer's Write after the peer's Close", writePieces(w, msg[writerSize/2:])); ce != final {
			t.Errorf("the writer's Write after the peer's Close holds %+v, not the connection's *CloseError", *ce)
		}
		if ce := endedError(t, "the writer's Close after the peer's Close", w.Close()); ce != final {
			t.Errorf("the writer's Close after the peer's Close holds %+v, not the connection's *CloseError", *ce)
		}
		checkAllEnded(t, c, final)
		if err := await(t, peerClosed, "the peer's Close"); err != nil {
			t.Errorf("the peer's Close = %v, want nil", err)
		}
	})
}
