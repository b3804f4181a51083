package conn

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/twoway/websocket/handshake"
)

var (
	soakDuration  = flag.Duration("soak.duration", 60*time.Second, "how long TestSoak churns connections")
	soakConnsFlag = flag.Int("soak.conns", soakConns, "how many connections TestSoak keeps open at once")
)

const (
	// soakConns is how many connections TestSoak keeps open at once.
	soakConns = 2000
	// soakSeed seeds the choices of every worker, so that a failure can
	// be run again with the same sequence of connections; the
	// interleavings differ from run to run all the same.
	soakSeed = 6455
	// soakStuck is how long one call may take before the watchdog looks
	// at it: no call of the soak waits for anything but the peer, which
	// answers at once, and the close timeout (5 s). See soak.watch for
	// when the watchdog fails the test.
	soakStuck = 20 * time.Second
	// soakStill is how long a call's goroutines must stay parked where
	// they are for the watchdog to call it stuck.
	soakStill = 2 * time.Second
	// soakSettle bounds the wait at the end for goroutines and file
	// descriptors to go.
	soakSettle = 10 * time.Second
	// pmdeflateSweep is how long internal/pmdeflate's idle sweep may take
	// to return the flate state of Compressors that have stopped: their
	// state goes after a second idle, on a timer of a second.
	pmdeflateSweep = 3 * time.Second
)

// A soakEnd is one of the ways in which the soak ends a connection.
type soakEnd int

const (
	endClientClose    soakEnd = iota // the client's Close
	endServerClose                   // the server's Close, at the client's request
	endBothClose                     // both Close at once
	endClientCloseNow                // the client's CloseNow
	endServerCloseNow                // the server's CloseNow, at the client's request
	endReadTimeout                   // a client Read times out between messages; then as endClientClose
	endWriterCancel                  // the context of the client's Writer is canceled mid-message
	endReaderCancel                  // the context of the client's Reader is canceled mid-message
	endClientVanish                  // the client's TCP socket is reset under it
	endServerVanish                  // the server's TCP socket is reset under it
	numSoakEnds

	endNone soakEnd = -1 // a failure before the ending was known
)

var soakEndNames = [numSoakEnds]string{
	"client Close", "server Close", "both Close", "client CloseNow", "server CloseNow",
	"Read timeout, then Close", "Writer canceled", "Reader canceled", "client vanishes", "server vanishes",
}

func (e soakEnd) String() string {
	if e < 0 || e >= numSoakEnds {
		return "no ending yet"
	}
	return soakEndNames[e]
}

// The causes given to the contexts that the soak cancels mid-message.
var (
	errSoakCanceled = errors.New("soak: writer canceled")
	errSoakExpired  = errors.New("soak: reader's time is up")
)

// An ending is what the *CloseError of a connection must hold once it
// has ended a given way (see the table in the package documentation).
type ending struct {
	code   CloseCode
	reason string
	remote bool
	// anyRemote leaves Remote unchecked: when a side's own socket is
	// closed under it, neither it nor its peer ended the connection.
	anyRemote bool
	cause     func(error) bool // nil: Err must be nil
	causeName string
}

func (e ending) String() string {
	s := fmt.Sprintf("Code %d, Reason %q, ", e.code, e.reason)
	if e.anyRemote {
		s += "Remote either"
	} else {
		s += "Remote " + strconv.FormatBool(e.remote)
	}
	if e.cause == nil {
		return s + ", Err nil"
	}
	return s + ", Err " + e.causeName
}

// check checks that err is the error of a connection that has ended as e
// says, and returns its *CloseError.
func (e ending) check(err error) (*CloseError, error) {
	var ce *CloseError
	if !errors.Is(err, ErrClosed) || !errors.As(err, &ce) {
		return nil, fmt.Errorf("got %v, want an error matching ErrClosed with a *CloseError (%v)", err, e)
	}
	ok := ce.Code == e.code && ce.Reason == e.reason && (e.anyRemote || ce.Remote == e.remote)
	if e.cause == nil {
		ok = ok && ce.Err == nil
	} else {
		ok = ok && e.cause(ce.Err)
	}
	if !ok {
		return ce, fmt.Errorf("got %q: Code %d, Reason %q, Remote %v, Err %v; want %v", ce, ce.Code, ce.Reason, ce.Remote, ce.Err, e)
	}
	return ce, nil
}

func causeIs(target error) (func(error) bool, string) {
	return func(err error) bool { return errors.Is(err, target) }, fmt.Sprintf("%q", target)
}

var (
	// The peer's socket is gone: a FIN without a Close frame first, or a
	// reset, the usual answer to data that arrives after a close.
	lostCause = func(err error) bool {
		return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
	}
	lostCauseName = "unexpected EOF, ECONNRESET or EPIPE"

	// The side's own socket was closed under it.
	closedSocket     = func(err error) bool { return errors.Is(err, net.ErrClosed) }
	closedSocketName = "net.ErrClosed"

	canceledCause, canceledName = causeIs(errSoakCanceled)
	expiredCause, expiredName   = causeIs(errSoakExpired)
)

// How each side's connection must end, by the way the soak ends it.
var (
	clientEndings = [numSoakEnds]ending{
		endClientClose:    {code: CloseNormal, reason: "bye"},
		endServerClose:    {code: CloseGoingAway, reason: "server close", remote: true},
		endBothClose:      {code: CloseNormal, reason: "bye"},
		endClientCloseNow: {code: CloseAbnormal},
		endServerCloseNow: {code: CloseAbnormal, remote: true, cause: lostCause, causeName: lostCauseName},
		endReadTimeout:    {code: CloseNormal, reason: "bye"},
		endWriterCancel:   {code: CloseAbnormal, cause: canceledCause, causeName: canceledName},
		endReaderCancel:   {code: CloseAbnormal, cause: expiredCause, causeName: expiredName},
		endClientVanish:   {code: CloseAbnormal, anyRemote: true, cause: closedSocket, causeName: closedSocketName},
		endServerVanish:   {code: CloseAbnormal, remote: true, cause: lostCause, causeName: lostCauseName},
	}
	serverEndings = [numSoakEnds]ending{
		endClientClose:    {code: CloseNormal, reason: "bye", remote: true},
		endServerClose:    {code: CloseGoingAway, reason: "server close"},
		endBothClose:      {code: CloseGoingAway, reason: "server close"},
		endClientCloseNow: {code: CloseAbnormal, remote: true, cause: lostCause, causeName: lostCauseName},
		endServerCloseNow: {code: CloseAbnormal},
		endReadTimeout:    {code: CloseNormal, reason: "bye", remote: true},
		endWriterCancel:   {code: CloseAbnormal, remote: true, cause: lostCause, causeName: lostCauseName},
		endReaderCancel:   {code: CloseAbnormal, remote: true, cause: lostCause, causeName: lostCauseName},
		endClientVanish:   {code: CloseAbnormal, remote: true, cause: lostCause, causeName: lostCauseName},
		endServerVanish:   {code: CloseAbnormal, anyRemote: true, cause: closedSocket, causeName: closedSocketName},
	}
)

// settled checks that every call on c, which has ended, returns an error
// matching ErrClosed that holds ce itself, and that Close and CloseNow
// return nil after a completed handshake or CloseNow, and ce otherwise.
func settled(c *Conn, ce *CloseError) error {
	ctx := context.Background()
	for _, call := range []struct {
		name string
		f    func() error
	}{
		{"Write", func() error { return c.Write(ctx, Binary, []byte("x")) }},
		{"Read", func() error { _, _, err := c.Read(ctx); return err }},
		{"Writer", func() error { _, err := c.Writer(ctx, Text); return err }},
		{"Reader", func() error { _, _, err := c.Reader(ctx); return err }},
		{"Ping", func() error { return c.Ping(ctx) }},
	} {
		var got *CloseError
		if err := call.f(); !errors.Is(err, ErrClosed) || !errors.As(err, &got) || got != ce {
			return fmt.Errorf("%s after the end = %v, want the connection's own *CloseError %q", call.name, err, ce)
		}
	}
	for _, call := range []struct {
		name string
		f    func() error
	}{
		{"Close", func() error { return c.Close(CloseNormal, "") }},
		{"CloseNow", c.CloseNow},
	} {
		err := call.f()
		var got *CloseError
		// Only a completed closing handshake makes them return nil.
		completed := ce.Err == nil && ce.Code != CloseAbnormal
		switch {
		case completed && err != nil:
			return fmt.Errorf("%s after %q = %v, want nil", call.name, ce, err)
		case !completed && (!errors.As(err, &got) || got != ce):
			return fmt.Errorf("%s after %q = %v, want the connection's own *CloseError", call.name, ce, err)
		}
	}
	return nil
}

// soak is the state of TestSoak shared by its servers and workers.
type soak struct {
	stop     chan struct{} // closed when the workers are to finish
	active   chan struct{} // holds a token for each step in progress (see turn)
	hung     chan struct{} // closed when the watchdog finds a stuck call
	hungOnce sync.Once
	stopOnce sync.Once
	start    time.Time

	lnURL, httpURL string
	acceptOpts     *AcceptOptions
	dialer         net.Dialer

	// Payloads are slices of these, which no one writes after they are
	// made: a Conn must not modify what it is given to send.
	text, bin []byte

	workers  []*soakWorker
	suspects map[*soakWorker]suspect // of the watchdog (see watch)
	handlers sync.WaitGroup
	live     sync.Map // *Conn of the server, while its handler runs
	gids     sync.Map // the server's goroutine ID by its peer's address, for the watchdog

	opened, echoed atomic.Int64
	ended          [2][numSoakEnds]atomic.Int64 // by side (client, server) and ending

	mu sync.Mutex
	// Outcomes the documentation does not allow, and up to two examples
	// of each, by side and by ending (endNone first).
	failed   [2][numSoakEnds + 1]int
	examples [2][numSoakEnds + 1][]string
	stuck    []string
}

const (
	client = 0
	server = 1
)

var sideNames = [2]string{"client", "server"}

// failf records an outcome that the documentation does not allow.
func (s *soak) failf(side int, end soakEnd, addr, format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failed[side][end+1]++
	if ex := &s.examples[side][end+1]; len(*ex) < 2 {
		*ex = append(*ex, fmt.Sprintf("%s %s, %s: %s", sideNames[side], addr, end, fmt.Sprintf(format, args...)))
	}
}

func (s *soak) stopping() bool {
	select {
	case <-s.stop:
		return true
	default:
		return false
	}
}

func (s *soak) halt() { s.stopOnce.Do(func() { close(s.stop) }) }

// A soakWorker opens, uses and ends one connection after another.
type soakWorker struct {
	id  int
	rng *rand.Rand
	buf []byte // reused by ReadInto

	mu       sync.Mutex
	gid      uint64
	call     string    // the blocking call in progress, or ""
	since    time.Time // when it began
	conn     *Conn
	raw      net.Conn
	reported bool

	slowest     time.Duration // the longest call so far
	slowestCall string
}

// enter notes that a blocking call begins, for the watchdog; "" that none
// is in progress.
func (w *soakWorker) enter(call string) {
	w.mu.Lock()
	now := time.Now()
	if d := now.Sub(w.since); w.call != "" && d > w.slowest {
		w.slowest, w.slowestCall = d, w.call
	}
	w.call, w.since = call, now
	w.mu.Unlock()
}

func (w *soakWorker) hold(c *Conn, raw net.Conn) {
	w.mu.Lock()
	w.conn, w.raw = c, raw
	w.mu.Unlock()
}

// A soakConn is a worker's connection and how it is to end.
type soakConn struct {
	c      *Conn
	raw    net.Conn // the TCP connection under c
	end    soakEnd
	addr   string
	echoes int  // messages to echo before the end
	failed bool // a step failed, which has been recorded
}

// turn runs f, one step of a worker, while it holds one of the tokens of
// s.active, four for each CPU the test may use. The steps of all workers would otherwise run at once, each
// taking as long as the CPU takes for all of them: under the race
// detector, on two cores, several seconds, which a busy machine would
// stretch past the watchdog's limit. Taking turns in order (a channel
// queues its senders) keeps every call as short as that many steps make
// it, and lets each connection sit idle between its steps, as most
// connections of a real server do.
func (s *soak) turn(w *soakWorker, f func()) {
	s.active <- struct{}{}
	f()
	w.enter("")
	<-s.active
}

// soakSize returns the size of a message: mostly small, some over the
// 16-bit length form and the 4 KiB frame size of streamed messages.
func soakSize(rng *rand.Rand) int {
	switch p := rng.IntN(100); {
	case p < 35:
		return rng.IntN(126)
	case p < 70:
		return 126 + rng.IntN(1<<10-126)
	case p < 90:
		return 1<<10 + rng.IntN(15<<10)
	case p < 98:
		return 16<<10 + rng.IntN(48<<10)
	default:
		return 64<<10 + rng.IntN(64<<10) // over the 64 KiB masking chunk too
	}
}

// payload returns about n bytes of text (whole UTF-8 characters) or of
// random bytes.
func (s *soak) payload(rng *rand.Rand, n int, text bool) []byte {
	src := s.bin
	if text {
		src = s.text
	}
	start := rng.IntN(len(src) - n + 1)
	end := start + n
	if text {
		for start < len(src) && !utf8.RuneStart(src[start]) {
			start++
		}
		end = max(end, start)
		for end < len(src) && !utf8.RuneStart(src[end]) {
			end++
		}
	}
	return src[start:end:end]
}

func newSoakSources(rng *rand.Rand) (text, bin []byte) {
	bin = make([]byte, 1<<20)
	for i := range bin {
		bin[i] = byte(rng.Uint32())
	}
	// No '!', which begins the soak's commands.
	words := []string{"the", "quick", "brown", "fox", "jumps", "över", "déjà", "vu", "日本語", "€", "emoji 🙂", "\n"}
	for len(text) < 1<<20 {
		text = append(text, words[rng.IntN(len(words))]...)
		text = append(text, ' ')
	}
	return text, bin
}

// TestSoak keeps -soak.conns connections (2,000) open for -soak.duration
// (60 s) and churns them: each of as many workers opens a connection,
// echoes a few messages of mixed sizes and types, some compressed, some
// streamed, and ends it one of the ways of soakEnd, chosen at random,
// checking what both sides' calls return against the package
// documentation. The workers take turns (see soak.turn), so that most
// connections are idle at any moment and no call waits long for the CPU:
// a call that is stuck (see soak.watch) is reported with its stack, and
// its peer's. Afterwards the goroutines, the file descriptors
// and the heap must be back to where they were.
//
// Half the connections are served by AcceptConn from a net.Listener, half
// by Accept from an httptest server: the two paths hand the Conn a
// different net.Conn (the hijacked one has been through net/http, with
// its deadlines and buffers) and both must come back clean.
//
// For a longer soak: go test -run 'TestSoak$' -soak.duration=30m ./conn
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("soak test: skipped in -short mode")
	}
	// Start the network poller, whose descriptors stay open for good,
	// before the baseline is taken.
	if ln, err := net.Listen("tcp", "127.0.0.1:0"); err == nil {
		ln.Close()
	}
	conns := *soakConnsFlag
	if fds := countFDs(); fds >= 0 {
		// Two descriptors a connection, one on each side, and room for
		// the listeners and the test runner.
		need := fds + 2*conns + 256
		limit, restore := raiseFDLimit(need)
		defer restore()
		if limit < need {
			conns = (limit - fds - 256) / 2
			if conns < 10 {
				t.Skipf("the limit on open files (%d) leaves no room for connections", limit)
			}
			t.Logf("the limit on open files is %d and cannot be raised to %d: soaking %d connections instead of %d", limit, need, conns, *soakConnsFlag)
		}
	}

	rng := rand.New(rand.NewPCG(soakSeed, 0))
	s := &soak{
		stop:     make(chan struct{}),
		active:   make(chan struct{}, 4*runtime.GOMAXPROCS(0)),
		hung:     make(chan struct{}),
		suspects: make(map[*soakWorker]suspect),
		workers:  make([]*soakWorker, conns),
		acceptOpts: &AcceptOptions{
			// The client chooses whether to offer compression, and
			// with which parameters.
			Compression: &CompressionOptions{},
		},
	}
	s.text, s.bin = newSoakSources(rng)
	for i := range s.workers {
		s.workers[i] = &soakWorker{id: i, rng: rand.New(rand.NewPCG(soakSeed, uint64(i+1)))}
	}

	// The baseline: everything the test keeps to the end is made by now.
	baseFDs := openFDs()
	baseGoroutines := runtime.NumGoroutine()
	baseStacks := goroutineStacks()
	runtime.GC()
	runtime.GC() // the second empties sync.Pool's victim cache
	var baseMem runtime.MemStats
	runtime.ReadMemStats(&baseMem)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.lnURL = "ws://" + ln.Addr().String()
	acceptDone := make(chan struct{})
	go func() {
		defer close(acceptDone)
		for {
			nc, err := ln.Accept()
			if err != nil {
				if !s.stopping() {
					s.failf(server, endNone, ln.Addr().String(), "Accept: %v", err)
					s.halt()
				}
				return
			}
			s.handlers.Add(1)
			go s.serveListener(nc)
		}
	}()
	type rawConnKey struct{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.handlers.Add(1)
		c, err := Accept(w, r, s.acceptOpts)
		if err != nil {
			s.failf(server, endNone, r.RemoteAddr, "Accept: %v", err)
			s.handlers.Done()
			return
		}
		s.serve(c, r, r.Context().Value(rawConnKey{}).(net.Conn))
	}))
	srv.Config.ConnContext = func(ctx context.Context, nc net.Conn) context.Context {
		return context.WithValue(ctx, rawConnKey{}, nc)
	}
	srv.Start()
	s.httpURL = "ws" + strings.TrimPrefix(srv.URL, "http")

	// The watchdog, which also samples the peaks.
	var peakGoroutines, peakFDs int
	var peakHeap uint64
	watchStop, watchDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(watchDone)
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		var ms runtime.MemStats
		for {
			select {
			case <-watchStop:
				return
			case <-tick.C:
			}
			peakGoroutines = max(peakGoroutines, runtime.NumGoroutine())
			peakFDs = max(peakFDs, countFDs())
			runtime.ReadMemStats(&ms)
			peakHeap = max(peakHeap, ms.HeapInuse)
			s.watch()
		}
	}()

	s.start = time.Now()
	var workersWG sync.WaitGroup
	for _, w := range s.workers {
		workersWG.Add(1)
		go func() {
			defer workersWG.Done()
			s.work(w)
		}()
	}
	timer := time.NewTimer(*soakDuration)
	select {
	case <-timer.C:
	case <-s.stop: // the watchdog found a stuck call, or Accept failed
		timer.Stop()
	}
	s.halt()
	// The workers end their connections in turn, which takes as long as
	// it takes: only a stuck call, which the watchdog reports and cuts
	// loose, stops the wait.
	workersDone := make(chan struct{})
	go func() { workersWG.Wait(); close(workersDone) }()
	select {
	case <-workersDone:
	case <-s.hung:
		select {
		case <-workersDone:
		case <-time.After(soakSettle):
			close(watchStop)
			<-watchDone
			t.Fatalf("workers still running %v after a call was cut loose:\n%s\n%s", soakSettle, strings.Join(s.stuck, "\n"), describeGoroutines(newGoroutines(baseStacks)))
		}
	}
	elapsed := time.Since(s.start)

	// Every server handler ends once its client has ended the connection.
	handlersDone := make(chan struct{})
	go func() { s.handlers.Wait(); close(handlersDone) }()
	select {
	case <-handlersDone:
	case <-time.After(soakSettle):
		n := 0
		s.live.Range(func(k, _ any) bool {
			n++
			k.(*Conn).CloseNow()
			return true
		})
		t.Errorf("%d server handlers still running %v after their clients ended; stacks:\n%s", n, soakSettle, describeGoroutines(newGoroutines(baseStacks)))
		<-handlersDone
	}
	ln.Close()
	<-acceptDone
	srv.Close()
	close(watchStop)
	<-watchDone

	// Everything that records outcomes has ended: no lock is needed.
	opened, echoed := s.opened.Load(), s.echoed.Load()
	t.Logf("%v with %d connections at once: %d connections (%.0f/s), %d messages echoed (%.0f/s)",
		elapsed.Round(time.Millisecond), conns, opened, float64(opened)/elapsed.Seconds(), echoed, float64(echoed)/elapsed.Seconds())
	t.Logf("peaks: %d goroutines (%d before), %d file descriptors (%d before), heap in use %.1f MiB (%.1f MiB before)",
		peakGoroutines, baseGoroutines, peakFDs, len(baseFDs), mib(peakHeap), mib(baseMem.HeapInuse))
	var table strings.Builder
	var failures int
	var examples []string
	fmt.Fprintf(&table, "\n\t%-26s %16s %16s", "", "client ok/failed", "server ok/failed")
	for e := endNone; e < numSoakEnds; e++ {
		var ok [2]int64
		if e != endNone {
			ok = [2]int64{s.ended[client][e].Load(), s.ended[server][e].Load()}
		} else if s.failed[client][0]+s.failed[server][0] == 0 {
			continue
		}
		fmt.Fprintf(&table, "\n\t%-26s %9d/%-6d %9d/%-6d", e, ok[client], s.failed[client][e+1], ok[server], s.failed[server][e+1])
		for side := range 2 {
			failures += s.failed[side][e+1]
			examples = append(examples, s.examples[side][e+1]...)
		}
	}
	t.Logf("how connections ended:%s", table.String())
	var slowest time.Duration
	var slowestCall string
	for _, w := range s.workers {
		if w.slowest > slowest {
			slowest, slowestCall = w.slowest, w.slowestCall
		}
	}
	t.Logf("the slowest call took %v (%s)", slowest.Round(time.Millisecond), slowestCall)
	if len(s.stuck) > 0 {
		t.Errorf("%d calls stuck:\n%s", len(s.stuck), strings.Join(s.stuck, "\n"))
	}
	if failures > 0 {
		t.Errorf("%d outcomes the documentation does not allow; examples of each kind:\n\t%s", failures, strings.Join(examples, "\n\t"))
	}
	if opened >= 100*int64(numSoakEnds) {
		for e := range numSoakEnds {
			if s.ended[client][e].Load() == 0 {
				t.Errorf("no connection ended by %s as documented", e)
			}
		}
	}

	// Goroutines and file descriptors, by identity: some of earlier tests'
	// may have gone meanwhile, and must not make room for new ones. The
	// goroutines that close a connection may run on briefly after it.
	var extraG, extraFDs []string
	deadline := time.Now().Add(soakSettle)
	for {
		extraG, extraFDs = newGoroutines(baseStacks), newFDs(baseFDs)
		if len(extraG)+len(extraFDs) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(extraG) > 0 {
		t.Errorf("%d goroutines that were not there before the soak are left %v after it:\n%s", len(extraG), soakSettle, describeGoroutines(extraG))
	}
	if len(extraFDs) > 0 {
		t.Errorf("%d file descriptors that were not open before the soak are left %v after it:\n\t%s", len(extraFDs), soakSettle, strings.Join(extraFDs[:min(len(extraFDs), 20)], "\n\t"))
	}

	// The heap, after two GCs, the second of which empties sync.Pool: the
	// pooled buffers are all free now. HeapAlloc is then what is still
	// reachable; HeapInuse adds the free space of the spans that hold it,
	// which the churn could leave scattered, though runs of the soak show
	// no more than a MiB of that.
	//
	// The runtime keeps a g, some 400 bytes, for every goroutine that
	// ever ran at the same time (they are reused, never freed): 512 bytes
	// are allowed for each goroutine of the peak over the baseline, and
	// 4 MiB for the runtime's and the test's own bookkeeping. That is
	// small next to what a leak would keep: the Conn, net.TCPConn and
	// the rest of every connection opened (2.3 KiB each, measured by
	// keeping them all, times thousands), a message buffer per
	// connection, or a handful of compressors of 0.8 MiB each.
	//
	// Compressors with context takeover keep their flate state across a
	// burst of messages (internal/pmdeflate: warm and parked state, a few
	// places per CPU, up to about 1 MiB each); its sweep returns state
	// idle for a second to the pool, once a second. Wait for it, so that
	// what is measured is what stays, not what a cache holds for a while.
	time.Sleep(pmdeflateSweep)
	runtime.GC()
	runtime.GC()
	var endMem runtime.MemStats
	runtime.ReadMemStats(&endMem)
	runtime.KeepAlive(s) // and its payload sources, part of the baseline
	allow := 4<<20 + 512*uint64(max(peakGoroutines-baseGoroutines, 0))
	t.Logf("heap after GC: %.1f MiB reachable (%.1f MiB before), %.1f MiB in use (%.1f MiB before); %.1f MiB more allowed",
		mib(endMem.HeapAlloc), mib(baseMem.HeapAlloc), mib(endMem.HeapInuse), mib(baseMem.HeapInuse), mib(allow))
	if endMem.HeapAlloc > baseMem.HeapAlloc+allow || endMem.HeapInuse > baseMem.HeapInuse+allow {
		t.Errorf("heap after the soak: %.1f MiB reachable, %.1f MiB in use; before it: %.1f and %.1f MiB; more than %.1f MiB stayed",
			mib(endMem.HeapAlloc), mib(endMem.HeapInuse), mib(baseMem.HeapAlloc), mib(baseMem.HeapInuse), mib(allow))
	}
}

func mib(n uint64) float64 { return float64(n) / (1 << 20) }

// A suspect is a call that has gone on too long, as the watchdog last
// saw it.
type suspect struct {
	call  string
	since time.Time
	seen  time.Time // when stacks was taken
	stack string    // of the worker and of its server, less their headers
}

// watch fails the test on a call that is stuck: it records the stacks of
// the worker and of the server goroutine of its connection, stops the
// soak and closes the connection under the call.
//
// A call is stuck when it has gone on for longer than soakStuck, or five
// times the slowest call that has completed, if that is more, and its
// goroutine and its server's are parked, neither running nor waiting to
// run, with stacks that have not changed for soakStill. On a machine so
// busy that the soak gets a tenth of a CPU a call can take minutes, but
// its goroutines keep moving; a deadlock's do not.
func (s *soak) watch() {
	var stacks map[uint64]string
	var slowest time.Duration
	for _, w := range s.workers {
		w.mu.Lock()
		slowest = max(slowest, w.slowest)
		w.mu.Unlock()
	}
	limit := max(soakStuck, 5*slowest)
	for _, w := range s.workers {
		w.mu.Lock()
		call, since, gid, c, raw := w.call, w.since, w.gid, w.conn, w.raw
		late := call != "" && !w.reported && time.Since(since) > limit
		w.mu.Unlock()
		if !late {
			delete(s.suspects, w)
			continue
		}
		if stacks == nil {
			stacks = goroutineStacks()
		}
		now := time.Now()
		worker, server := stacks[gid], ""
		if c != nil {
			if gid, ok := s.gids.Load(c.LocalAddr().String()); ok {
				server = stacks[gid.(uint64)]
			}
		}
		still := parked(worker) && (server == "" || parked(server))
		body := stackBody(worker) + stackBody(server)
		old, ok := s.suspects[w]
		if !still || !ok || old.call != call || old.since != since || old.stack != body {
			s.suspects[w] = suspect{call: call, since: since, seen: now, stack: body}
			continue
		}
		if now.Sub(old.seen) < soakStill {
			continue
		}
		w.mu.Lock()
		w.reported = true
		w.mu.Unlock()
		report := fmt.Sprintf("worker %d stuck in %s for %v:\n%s", w.id, call, time.Since(since).Round(time.Millisecond), worker)
		if server != "" {
			report += "\nits server:\n" + server
		}
		s.mu.Lock()
		s.stuck = append(s.stuck, report)
		s.mu.Unlock()
		s.hungOnce.Do(func() { close(s.hung) })
		s.halt()
		if c != nil {
			c.CloseNow()
		}
		if raw != nil {
			raw.Close()
		}
	}
}

// parked reports whether the goroutine whose stack trace is st waits for
// something, rather than runs or waits for a CPU, as the state in its
// header says: "goroutine 7 [IO wait, 2 minutes]:".
func parked(st string) bool {
	header, _, _ := strings.Cut(st, "\n")
	_, state, ok := strings.Cut(header, "[")
	if !ok {
		return false // no such goroutine: it has moved on
	}
	state, _, _ = strings.Cut(state, "]")
	state, _, _ = strings.Cut(state, ",")
	switch state {
	case "running", "runnable", "syscall", "preempted", "copystack", "GC assist wait", "GC assist marking":
		return false
	}
	return true
}

// stackBody is a stack trace without its header, whose wait time changes
// while the goroutine stays where it is.
func stackBody(st string) string {
	_, body, _ := strings.Cut(st, "\n")
	return body
}

// work churns connections until the soak stops. It ends each connection
// and opens the next in one turn, so that it holds a connection all along.
func (s *soak) work(w *soakWorker) {
	w.mu.Lock()
	w.gid = goid()
	w.mu.Unlock()
	defer func() { w.buf = nil }()
	var sc *soakConn
	for {
		var next *soakConn
		s.turn(w, func() {
			if sc != nil {
				s.finish(w, sc)
			}
			if !s.stopping() {
				next = s.open(w)
			}
		})
		if next == nil {
			return
		}
		sc = next
		for range sc.echoes {
			if sc.failed || s.stopping() {
				break
			}
			s.turn(w, func() {
				if err := s.echo(w, sc.c); err != nil {
					sc.failed = true
					s.failf(client, sc.end, sc.addr, "echo: %v", err)
				}
			})
		}
	}
}

// open opens a connection, choosing how it is to end. It returns nil if
// it could not.
func (s *soak) open(w *soakWorker) *soakConn {
	rng := w.rng
	sc := &soakConn{end: soakEnd(rng.IntN(int(numSoakEnds))), echoes: 1 + rng.IntN(5)}
	base := s.lnURL
	if rng.IntN(2) == 0 {
		base = s.httpURL
	}
	opts := &DialOptions{
		Proxy: handshake.NoProxy,
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			nc, err := s.dialer.DialContext(ctx, network, addr)
			sc.raw = nc
			return nc, err
		},
	}
	// Compression on one connection in five; on most of those without
	// context takeover, since a kept compressor costs 0.8 MiB.
	compress := rng.IntN(5) == 0
	if compress {
		takeover := rng.IntN(4) == 0
		opts.Compression = &CompressionOptions{ServerNoContextTakeover: !takeover, ClientNoContextTakeover: !takeover}
	}
	// No timeout: the watchdog tells a stuck Dial from a slow one.
	w.enter("Dial")
	c, _, err := Dial(context.Background(), fmt.Sprintf("%s/soak?end=%d", base, sc.end), opts)
	if err != nil {
		s.failf(client, sc.end, base, "Dial: %v", err)
		return nil
	}
	s.opened.Add(1)
	sc.c, sc.addr = c, c.LocalAddr().String()
	w.hold(c, sc.raw)
	if c.Compressed() != compress {
		sc.failed = true
		s.failf(client, sc.end, sc.addr, "Compressed() = %v, want %v", c.Compressed(), compress)
	}
	return sc
}

// finish ends the connection as chosen and checks how it ended.
func (s *soak) finish(w *soakWorker, sc *soakConn) {
	defer w.hold(nil, nil)
	defer sc.c.CloseNow()
	if sc.failed {
		return
	}
	final, err := s.endClient(w, sc.c, sc.raw, sc.end)
	if err == nil {
		var ce *CloseError
		if ce, err = clientEndings[sc.end].check(final); err == nil {
			err = settled(sc.c, ce)
		}
	}
	if err != nil {
		s.failf(client, sc.end, sc.addr, "%v", err)
		return
	}
	s.ended[client][sc.end].Add(1)
}

// echo sends a message and checks that it comes back whole.
func (s *soak) echo(w *soakWorker, c *Conn) error {
	rng := w.rng
	ctx := context.Background()
	typ := Binary
	if rng.IntN(2) == 0 {
		typ = Text
	}
	msg := s.payload(rng, soakSize(rng), typ == Text)
	if rng.IntN(5) == 0 {
		w.enter("Writer")
		mw, err := c.Writer(ctx, typ)
		if err != nil {
			return fmt.Errorf("Writer: %v", err)
		}
		for rest := msg; len(rest) > 0; {
			n := min(len(rest), 1+rng.IntN(8<<10))
			if _, err := mw.Write(rest[:n]); err != nil {
				return fmt.Errorf("Writer's Write: %v", err)
			}
			rest = rest[n:]
		}
		if err := mw.Close(); err != nil {
			return fmt.Errorf("Writer's Close: %v", err)
		}
	} else {
		w.enter("Write")
		if err := c.Write(ctx, typ, msg); err != nil {
			return fmt.Errorf("Write of %d bytes: %v", len(msg), err)
		}
	}
	var gotTyp MessageType
	var got []byte
	var err error
	if rng.IntN(5) == 0 {
		w.enter("Reader")
		var r io.Reader
		if gotTyp, r, err = c.Reader(ctx); err == nil {
			got, err = io.ReadAll(r)
		}
	} else {
		w.enter("Read")
		gotTyp, got, err = c.ReadInto(ctx, w.buf)
		if cap(got) <= 16<<10 { // keep no large buffer for the rest of the soak
			w.buf = got
		}
	}
	if err != nil {
		return fmt.Errorf("reading the echo of %d bytes: %v", len(msg), err)
	}
	if gotTyp != typ || !bytes.Equal(got, msg) {
		return fmt.Errorf("sent %v of %d bytes, got back %v of %d bytes", typ, len(msg), gotTyp, len(got))
	}
	s.echoed.Add(1)
	return nil
}

// endClient ends the client's side of the connection as end says and
// returns the error that says how the connection ended, for the caller to
// check; or an error of its own when a step on the way went wrong.
func (s *soak) endClient(w *soakWorker, c *Conn, raw net.Conn, end soakEnd) (final, err error) {
	rng := w.rng
	ctx := context.Background()
	request := func() error {
		w.enter("Write")
		if err := c.Write(ctx, Text, []byte("!end")); err != nil {
			return fmt.Errorf("Write of the request to end: %v", err)
		}
		return nil
	}
	readErr := func() error {
		w.enter("Read")
		_, _, err := c.Read(ctx)
		return err
	}
	writeErr := func() error { return c.Write(ctx, Binary, []byte("after")) }

	switch end {
	case endReadTimeout:
		// Nothing is on its way: the Read gives up between messages and
		// the connection stays open.
		rctx, cancel := context.WithTimeout(ctx, time.Duration(1+rng.IntN(20))*time.Millisecond)
		w.enter("Read")
		_, _, err := c.Read(rctx)
		cancel()
		var ce *CloseError
		if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrClosed) || errors.As(err, &ce) {
			return nil, fmt.Errorf("Read whose context expires = %v, want DeadlineExceeded with the connection open", err)
		}
		if err := s.echo(w, c); err != nil {
			return nil, fmt.Errorf("echo after a Read expired: %v", err)
		}
		fallthrough
	case endClientClose:
		w.enter("Close")
		if err := c.Close(CloseNormal, "bye"); err != nil {
			return nil, fmt.Errorf("Close = %v, want nil", err)
		}
		return writeErr(), nil

	case endServerClose, endServerCloseNow, endServerVanish:
		if err := request(); err != nil {
			return nil, err
		}
		return readErr(), nil

	case endBothClose:
		if err := request(); err != nil {
			return nil, err
		}
		w.enter("Close")
		if err := c.Close(CloseNormal, "bye"); err != nil {
			return nil, fmt.Errorf("Close while the server closes = %v, want nil", err)
		}
		return writeErr(), nil

	case endClientCloseNow:
		w.enter("CloseNow")
		if err := c.CloseNow(); err != nil {
			return nil, fmt.Errorf("CloseNow = %v, want nil", err)
		}
		return readErr(), nil

	case endWriterCancel:
		wctx, cancel := context.WithCancelCause(ctx)
		defer cancel(nil)
		w.enter("Writer")
		mw, err := c.Writer(wctx, Binary)
		if err != nil {
			return nil, fmt.Errorf("Writer: %v", err)
		}
		// At least the 4 KiB write buffer: out as a frame at once. A
		// compressor holds a block of input back: give it more than one.
		first := 4<<10 + rng.IntN(8<<10)
		if c.Compressed() {
			first += 128 << 10
		}
		if _, err := mw.Write(s.payload(rng, first, false)); err != nil {
			return nil, fmt.Errorf("Writer's first Write: %v", err)
		}
		// Cancel while the next piece is written: before it, or while
		// it goes out, or after.
		canceled := make(chan struct{})
		go func() {
			cancel(errSoakCanceled)
			close(canceled)
		}()
		_, werr := mw.Write(s.payload(rng, rng.IntN(16<<10), false))
		<-canceled
		final := mw.Close()
		if werr != nil {
			var a, b *CloseError
			if !errors.As(werr, &a) || !errors.As(final, &b) || a != b {
				return nil, fmt.Errorf("Writer's Write = %v, then Close = %v, want the same *CloseError", werr, final)
			}
		}
		return final, nil

	case endReaderCancel:
		// The server sends the first part of a message and no more.
		if err := request(); err != nil {
			return nil, err
		}
		rctx, cancel := context.WithCancelCause(ctx)
		defer cancel(nil)
		w.enter("Reader")
		typ, r, err := c.Reader(rctx)
		if err != nil || typ != Binary {
			return nil, fmt.Errorf("Reader = %v, %v, want the start of a binary message", typ, err)
		}
		expire := time.AfterFunc(time.Duration(rng.IntN(5000))*time.Microsecond, func() { cancel(errSoakExpired) })
		defer expire.Stop()
		_, final := io.Copy(io.Discard, r)
		return final, nil

	case endClientVanish:
		raw.(*net.TCPConn).SetLinger(0) // a reset, not a FIN
		raw.Close()
		return readErr(), nil
	}
	panic("unknown ending")
}

// serveListener serves a connection from the listener with AcceptConn.
func (s *soak) serveListener(nc net.Conn) {
	// A deadline bounds the handshake, should the client never finish
	// it: the watchdog reports a Dial that hangs. The Conn starts without
	// one.
	nc.SetDeadline(time.Now().Add(2 * time.Minute))
	c, r, err := AcceptConn(context.Background(), nc, s.acceptOpts)
	if err != nil {
		s.failf(server, endNone, nc.RemoteAddr().String(), "AcceptConn: %v", err)
		s.handlers.Done()
		return
	}
	s.serve(c, r, nc)
}

// serve echoes until the client ends the connection, or asks the server
// to end it, and checks how it ended. raw is the TCP connection under c.
func (s *soak) serve(c *Conn, r *http.Request, raw net.Conn) {
	defer s.handlers.Done()
	s.live.Store(c, nil)
	defer s.live.Delete(c)
	defer c.CloseNow()
	addr := c.RemoteAddr().String()
	s.gids.Store(addr, goid())
	defer s.gids.Delete(addr)

	n, err := strconv.Atoi(r.URL.Query().Get("end"))
	if err != nil || n < 0 || n >= int(numSoakEnds) {
		s.failf(server, endNone, addr, "bad request %q", r.URL)
		return
	}
	end := soakEnd(n)
	ctx := context.Background()
	var buf []byte
	var final error
	for {
		typ, msg, err := c.ReadInto(ctx, buf)
		if err != nil {
			switch end {
			case endClientClose, endReadTimeout, endClientCloseNow, endWriterCancel, endClientVanish:
				final = err
			default:
				s.failf(server, end, addr, "Read = %v before the client asked the server to end", err)
				return
			}
			break
		}
		if typ == Text && len(msg) > 0 && msg[0] == '!' {
			if final, err = s.endServer(c, raw, end); err != nil {
				s.failf(server, end, addr, "%v", err)
				return
			}
			break
		}
		buf = msg
		if cap(buf) > 16<<10 {
			buf = nil
		}
		if len(msg)%3 == 0 {
			// Streamed back, in two pieces.
			mw, err := c.Writer(ctx, typ)
			if err == nil {
				_, err = mw.Write(msg[:len(msg)/2])
				if err == nil {
					_, err = mw.Write(msg[len(msg)/2:])
				}
				if err == nil {
					err = mw.Close()
				}
			}
			if err != nil {
				s.failf(server, end, addr, "echo through a Writer: %v", err)
				return
			}
		} else if err := c.Write(ctx, typ, msg); err != nil {
			s.failf(server, end, addr, "echo: %v", err)
			return
		}
	}
	ce, err := serverEndings[end].check(final)
	if err == nil {
		err = settled(c, ce)
	}
	if err != nil {
		s.failf(server, end, addr, "%v", err)
		return
	}
	s.ended[server][end].Add(1)
}

// endServer ends the server's side of the connection at the client's
// request, as end says, and returns the error that says how the
// connection ended; or an error of its own when a step on the way went
// wrong.
func (s *soak) endServer(c *Conn, raw net.Conn, end soakEnd) (final, err error) {
	ctx := context.Background()
	switch end {
	case endServerClose, endBothClose:
		if err := c.Close(CloseGoingAway, "server close"); err != nil {
			return nil, fmt.Errorf("Close = %v, want nil", err)
		}
		return c.Write(ctx, Binary, []byte("after")), nil

	case endServerCloseNow:
		if err := c.CloseNow(); err != nil {
			return nil, fmt.Errorf("CloseNow = %v, want nil", err)
		}
		return c.Write(ctx, Binary, []byte("after")), nil

	case endServerVanish:
		raw.(*net.TCPConn).SetLinger(0)
		raw.Close()
		_, _, err := c.Read(ctx)
		return err, nil

	case endReaderCancel:
		// Half a message, then wait for the client to give up on it. A
		// compressor may hold what it is given, so it gets enough to
		// send some frames whatever it does.
		n := 6 << 10
		if c.Compressed() {
			n = 256 << 10
		}
		mw, err := c.Writer(ctx, Binary)
		if err != nil {
			return nil, fmt.Errorf("Writer: %v", err)
		}
		// The client may end the connection while this is still going
		// out: then Write fails as the Read below does.
		_, werr := mw.Write(s.bin[:n:n])
		_, _, final := c.Read(ctx)
		cerr := mw.Close()
		var a, b *CloseError
		if !errors.As(final, &a) || !errors.As(cerr, &b) || a != b {
			return nil, fmt.Errorf("Read = %v, then Writer's Close = %v, want the same *CloseError", final, cerr)
		}
		if werr != nil && (!errors.As(werr, &b) || a != b) {
			return nil, fmt.Errorf("Writer's Write = %v, then Read = %v, want the same *CloseError", werr, final)
		}
		return final, nil
	}
	return nil, fmt.Errorf("the client asked to end a connection that it ends itself")
}

// goid returns the ID of the calling goroutine, which its stack trace
// shows.
func goid() uint64 {
	var buf [64]byte
	f := bytes.Fields(buf[:runtime.Stack(buf[:], false)])
	id, _ := strconv.ParseUint(string(f[1]), 10, 64)
	return id
}

// goroutineStacks returns the stack of every goroutine, by ID.
func goroutineStacks() map[uint64]string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	stacks := make(map[uint64]string)
	for _, st := range strings.Split(string(buf), "\n\n") {
		f := strings.Fields(st)
		if len(f) < 2 || f[0] != "goroutine" {
			continue
		}
		if id, err := strconv.ParseUint(f[1], 10, 64); err == nil {
			stacks[id] = st
		}
	}
	return stacks
}

// newGoroutines returns the stacks of the goroutines that are not in
// base.
func newGoroutines(base map[uint64]string) []string {
	var extra []string
	for id, st := range goroutineStacks() {
		if _, ok := base[id]; !ok {
			extra = append(extra, st)
		}
	}
	slices.Sort(extra)
	return extra
}

// describeGoroutines counts stacks by the function at their top and
// lists the first 20.
func describeGoroutines(stacks []string) string {
	byTop := make(map[string]int)
	for _, st := range stacks {
		if lines := strings.SplitN(st, "\n", 3); len(lines) > 1 {
			top := lines[1]
			if i := strings.LastIndexByte(top, '('); i > 0 {
				top = top[:i] // the function, without its arguments
			}
			byTop[top]++
		}
	}
	var b strings.Builder
	for top, n := range byTop {
		fmt.Fprintf(&b, "\t%5d %s\n", n, top)
	}
	for _, st := range stacks[:min(len(stacks), 20)] {
		b.WriteString("\n" + st + "\n")
	}
	return b.String()
}

// newFDs returns the file descriptors open now that were not in base, with
// what they refer to; none where they cannot be told.
func newFDs(base map[int]string) []string {
	var extra []string
	for fd, target := range openFDs() {
		if old, ok := base[fd]; !ok || old != target {
			extra = append(extra, fmt.Sprintf("%d -> %s", fd, target))
		}
	}
	slices.Sort(extra)
	return extra
}

// TestReaderContextEndsMidMessage reads the start of a message through
// Reader and ends the reader's context before the next Read of the
// message. The message is half read, so the connection must close and the
// Read return an error matching ErrClosed whose cause is context.Cause
// (see Contexts in the package documentation), as it does when the
// context ends while the Read waits. TestSoak's "Reader canceled" ending
// found this going wrong.
func TestReaderContextEndsMidMessage(t *testing.T) {
	errCause := errors.New("the reader's time is up")
	want := ending{code: CloseAbnormal, cause: func(err error) bool { return err == errCause }, causeName: fmt.Sprintf("%q", errCause)}
	for _, tt := range []struct {
		name string
		read int // bytes read through the Reader before the context ends
	}{
		{"before the first Read", 0},
		{"between two Reads", 5},
	} {
		t.Run(tt.name, func(t *testing.T) {
			url, peers := serveRaw(t)
			c := dial(t, url, nil)
			p := <-peers
			defer p.nc.Close()
			p.send(false, 0, 0x2, []byte("the first frame")) // and never the rest

			ctx, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			typ, r, err := c.Reader(ctx)
			if err != nil || typ != Binary {
				t.Fatalf("Reader = %v, %v", typ, err)
			}
			if _, err := io.ReadFull(r, make([]byte, tt.read)); err != nil {
				t.Fatal(err)
			}
			cancel(errCause)
			_, err = r.Read(make([]byte, 100))
			if _, err := want.check(err); err != nil {
				t.Fatalf("Read after the context ended mid-message: %v", err)
			}
			if err := p.p.ExpectEOF(peerTimeout); err != nil {
				t.Errorf("the peer's connection stayed open: %v", err)
			}
		})
	}
}
