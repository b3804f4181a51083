// Command benchload is the load generator of the side-by-side benchmark.
// It runs one workload against one benchserver and prints the result as
// one JSON line (see package workload). It speaks the benchmark's own
// minimal WebSocket client (package wsclient), so that every server faces
// the same client, or the raw length-prefixed protocol.
//
// Given the server's -pid, it also reports the server's CPU time per
// message (per delivery for fanout) and, for the idle workload, its
// resident memory per connection.
//
// For the massive workload over more connections than one process may
// hold, given every server's address in -shard-addrs, it shards them
// over worker processes of its own, one per server (see shard.go).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twoway/websocket/bench/internal/fanout"
	"github.com/twoway/websocket/bench/internal/hist"
	"github.com/twoway/websocket/bench/internal/procstat"
	"github.com/twoway/websocket/bench/internal/workload"
	"github.com/twoway/websocket/bench/internal/wsclient"
)

// config is the parsed command line.
type config struct {
	addr     string
	proto    wsclient.Proto
	spec     workload.Spec
	lib      string
	pid      int
	duration time.Duration
	warmup   time.Duration
	settle   time.Duration
	sources  int
	dialers  int
	deflate  bool
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("benchload: ")
	var (
		cfg      config
		proto    = flag.String("proto", "ws", "protocol: ws or raw")
		name     = flag.String("workload", "latency", "workload name")
		conns    = flag.Int("conns", 0, "override the workload's connection count")
		inflight = flag.Int("inflight", 0, "override the workload's messages in flight per connection")
		size     = flag.Int("size", 0, "override the workload's message size")
	)
	flag.StringVar(&cfg.addr, "addr", "", "server address host:port")
	flag.StringVar(&cfg.lib, "lib", "", "server library, only copied into the result")
	flag.IntVar(&cfg.pid, "pid", 0, "server process id, for CPU and memory figures (0: none)")
	flag.DurationVar(&cfg.duration, "d", 3*time.Second, "measured duration of a timed workload")
	flag.DurationVar(&cfg.warmup, "warmup", 500*time.Millisecond, "unmeasured run before the measured duration")
	flag.DurationVar(&cfg.settle, "settle", time.Second, "idle workload: pause before each memory reading")
	flag.IntVar(&cfg.sources, "sources", 8, "loopback source addresses to spread connections over (127.0.0.1..N) when the server is on 127.0.0.1")
	flag.IntVar(&cfg.dialers, "dialers", 32, "handshakes in flight when opening connections")
	flag.BoolVar(&cfg.deflate, "deflate", false, "fanout: offer permessage-deflate and require every message compressed")
	flag.Parse()

	var err error
	switch *proto {
	case "ws":
		cfg.proto = wsclient.WebSocket
	case "raw":
		cfg.proto = wsclient.RawTCP
	default:
		log.Fatalf("unknown -proto %q", *proto)
	}
	if cfg.spec, err = workload.Lookup(*name); err != nil {
		log.Fatal(err)
	}
	for _, o := range []struct {
		v   int
		dst *int
	}{{*conns, &cfg.spec.Conns}, {*inflight, &cfg.spec.InFlight}, {*size, &cfg.spec.Size}} {
		if o.v > 0 {
			*o.dst = o.v
		}
	}
	if cfg.addr == "" || cfg.dialers < 1 || cfg.duration <= 0 || cfg.warmup < 0 {
		log.Fatal("need -addr, -dialers >= 1, -d > 0, -warmup >= 0")
	}
	if cfg.spec.Fanout && cfg.spec.Size != fanout.Size {
		log.Fatalf("fanout messages are %d bytes, which the server fixes", fanout.Size)
	}
	if cfg.deflate && (!cfg.spec.Fanout || cfg.proto != wsclient.WebSocket) {
		log.Fatal("-deflate is for the fanout workload over WebSocket")
	}
	// A sharded run's connections are its workers', each within the
	// limit (runSharded checks); a worker holds its share.
	sharded := cfg.spec.Massive && *shardAddrs != "" && !*shardWorker
	var capped workload.Kernel
	switch {
	case sharded:
		capped.Requested = cfg.spec.Conns
		cfg.sources = max(cfg.sources, workload.MassiveSources)
	case cfg.spec.Massive && !*shardWorker:
		capped = capMassive(&cfg)
	}
	if limit, err := procstat.RaiseNoFile(); err != nil {
		log.Printf("raising RLIMIT_NOFILE: %v", err)
	} else if !sharded && uint64(cfg.spec.Conns)+workload.FDMargin > limit {
		log.Fatalf("%d connections need more than RLIMIT_NOFILE %d", cfg.spec.Conns, limit)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	if *shardWorker {
		err := runShardWorker(ctx, &cfg, os.Stdin, os.Stdout)
		stop()
		if err != nil {
			log.Fatal(err)
		}
		return
	}
	res := workload.Result{Lib: cfg.lib, Workload: cfg.spec.Name, Conns: cfg.spec.Conns, InFlight: cfg.spec.InFlight, Size: cfg.spec.Size}
	res.Kernel = capped
	switch {
	case sharded:
		err = runSharded(ctx, &cfg, &res)
	case cfg.spec.Idle:
		err = runIdle(ctx, &cfg, &res)
	case cfg.spec.Fanout:
		err = runFanout(ctx, &cfg, &res)
	default:
		err = runFlow(ctx, &cfg, &res)
	}
	stop()
	if err != nil {
		res.Err = err.Error()
	}
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
	if err != nil {
		os.Exit(1)
	}
}

// dialer returns the dialer for the i-th connection. Connections are
// spread over several loopback source addresses so that many thousands of
// them never run short of ephemeral ports.
func (cfg *config) dialer(i int) *wsclient.Dialer {
	d := &wsclient.Dialer{Deflate: cfg.deflate}
	d.Net.KeepAlive = -1 // no probes, no system calls to set them up: as the Opener
	switch {
	case cfg.spec.Size > 64<<10:
		d.ReadBufferSize = 1 << 20
	case cfg.spec.Idle:
		d.ReadBufferSize = 4 << 10
	case cfg.spec.Fanout:
		d.ReadBufferSize = 8 << 10 // a few messages; 10,000 of 16 KiB would be 160 MB
	}
	if src := cfg.source(i); src.IsValid() {
		d.Net.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0))
	}
	return d
}

// source returns the loopback source address of the i-th connection, or
// the zero Addr to leave the choice to the kernel.
func (cfg *config) source(i int) netip.Addr {
	host, _, err := net.SplitHostPort(cfg.addr)
	if err != nil || host != "127.0.0.1" || cfg.sources <= 1 {
		return netip.Addr{}
	}
	return netip.AddrFrom4([4]byte{127, 0, 0, byte(1 + i%cfg.sources)})
}

// opener returns the Opener of cfg: the dialers' settings, as many
// handshakes in flight as there are dialers.
func (cfg *config) opener() *wsclient.Opener {
	d := cfg.dialer(0)
	o := &wsclient.Opener{InFlight: cfg.dialers, Timeout: 10 * time.Second, ReadBufferSize: d.ReadBufferSize, Deflate: d.Deflate}
	if cfg.source(0).IsValid() {
		for i := range cfg.sources {
			o.Sources = append(o.Sources, cfg.source(i))
		}
	}
	return o
}

// dialAll opens n connections, cfg.dialers at a time, each bounded by a
// 10-second handshake timeout. If handshaken is not nil, it is called
// once every handshake is done, before the connections are made ready
// for messages, which is no part of the handshake rate. On error it
// closes what it opened.
func dialAll(ctx context.Context, cfg *config, n int, p *wsclient.Payload, handshaken func()) ([]*wsclient.Conn, error) {
	if handshaken == nil {
		handshaken = func() {}
	}
	// One epoll loop of non-blocking handshakes where the platform has
	// it, for a single server address; concurrent Dials otherwise.
	if addr, err := netip.ParseAddrPort(cfg.addr); err == nil && *addr2 == "" {
		opened, err := cfg.opener().Open(ctx, addr, cfg.proto, p, n)
		if err == nil {
			handshaken()
			return opened.Conns()
		}
		if !errors.Is(err, errors.ErrUnsupported) {
			return nil, err
		}
	}
	conns := make([]*wsclient.Conn, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, cfg.dialers)
	for w := range cfg.dialers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				c, err := cfg.dialer(i).Dial(dctx, cfg.addrOf(i), cfg.proto, p)
				cancel()
				if err != nil {
					errs[w] = fmt.Errorf("connection %d: %w", i, err)
					next.Store(int64(n)) // stop the other dialers
					return
				}
				conns[i] = c
			}
		})
	}
	wg.Wait()
	err := errors.Join(errs...)
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		abortAll(conns)
		return nil, err
	}
	handshaken()
	return conns, nil
}

func abortAll(conns []*wsclient.Conn) {
	for _, c := range conns {
		if c != nil {
			c.Abort()
		}
	}
}

// serverCPU returns the server's CPU time, and the user part of it, with
// that of the processes of -pids, or 0 without a -pid.
func (cfg *config) serverCPU() (total, user time.Duration, err error) {
	if cfg.pid == 0 {
		return 0, 0, nil
	}
	for _, pid := range append([]int{cfg.pid}, extraPids()...) {
		u, s, perr := procstat.CPUTimes(pid)
		total += u + s
		user += u
		err = errors.Join(err, perr)
	}
	return total, user, err
}

// counter is a per-connection message counter on its own cache line, so
// that a thousand connections do not contend.
type counter struct {
	n atomic.Uint64
	_ [56]byte
}

// runFlow runs a timed message flow: every connection keeps InFlight
// messages outstanding, sending one more for each echo, and batching the
// refills of echoes that arrived together into one write.
func runFlow(ctx context.Context, cfg *config, res *workload.Result) error {
	spec := cfg.spec
	p, err := newPayload(spec)
	if err != nil {
		return err
	}
	conns, err := dialAll(ctx, cfg, spec.Conns, p, nil)
	if err != nil {
		return err
	}
	defer abortAll(conns)

	var (
		stop, measuring atomic.Bool
		counts          = make([]counter, len(conns))
		hists           = make([]hist.Histogram, len(conns))
		errs            = make([]error, len(conns))
		failed          = make(chan struct{})
		failOnce        sync.Once
		wg              sync.WaitGroup
		base            = time.Now()
	)
	for i, c := range conns {
		wg.Go(func() {
			err := flow(c, spec.InFlight, spec.Size > 64<<10, base, &stop, &measuring, &counts[i].n, &hists[i])
			if err != nil && !stop.Load() {
				errs[i] = fmt.Errorf("connection %d: %w", i, err)
				failOnce.Do(func() { close(failed) })
			}
		})
	}
	total := func() (n uint64) {
		for i := range counts {
			n += counts[i].n.Load()
		}
		return n
	}
	wait := func(d time.Duration) bool {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			return true
		case <-failed:
		case <-ctx.Done():
		}
		return false
	}

	ok := wait(cfg.warmup)
	var n0, n1 uint64
	var cpu0, cpu1, user0, user1, self0, self1 time.Duration
	var t0, t1 time.Time
	if ok {
		measuring.Store(true)
		n0, t0 = total(), time.Now()
		self0, _ = procstat.CPUTime(os.Getpid())
		cpu0, user0, err = cfg.serverCPU()
		ok = err == nil && wait(cfg.duration)
		// A slow server may not finish one big echo within the window:
		// extend it, boundedly, until at least one has completed.
		for ext := 0; ok && total() == n0 && ext < 3000; ext++ {
			ok = wait(10 * time.Millisecond)
		}
		n1, t1 = total(), time.Now()
		if ok {
			cpu1, user1, err = cfg.serverCPU()
			self1, _ = procstat.CPUTime(os.Getpid())
		}
		measuring.Store(false)
	}
	// Stop the workers: a past deadline unblocks any pending read or write.
	stop.Store(true)
	for _, c := range conns {
		c.SetDeadline(time.Unix(1, 0))
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	var h hist.Histogram
	for i := range hists {
		h.Merge(&hists[i])
	}
	secs := t1.Sub(t0).Seconds()
	res.Seconds = secs
	res.Msgs = n1 - n0
	res.MsgsPerSec = float64(res.Msgs) / secs
	res.MBPerSec = res.MsgsPerSec * float64(spec.Size) / 1e6
	res.P50 = float64(h.Quantile(0.50))
	res.P99 = float64(h.Quantile(0.99))
	if cfg.pid != 0 && res.Msgs > 0 {
		res.CPUPerMsg = float64(cpu1-cpu0) / float64(res.Msgs)
		res.UserCPUPerMsg = float64(user1-user0) / float64(res.Msgs)
		res.ServerBusy = (cpu1 - cpu0).Seconds() / secs
	}
	res.LoadBusy = (self1 - self0).Seconds() / secs
	if res.Msgs == 0 {
		return errors.New("no echo completed in the measured window")
	}
	return nil
}

// flow drives one connection until stop is set or an error occurs.
func flow(c *wsclient.Conn, inflight int, big bool, base time.Time, stop, measuring *atomic.Bool, count *atomic.Uint64, h *hist.Histogram) (err error) {
	// Big messages are written in the background while the echo is read,
	// as a server may stream the echo back before it has read everything.
	var pending <-chan error
	send := func(k int) error {
		if big {
			pending = c.SendAsync(k)
			return nil
		}
		return c.Send(k)
	}
	sent := func() error {
		if pending == nil {
			return nil
		}
		err := <-pending
		pending = nil
		return err
	}
	defer func() {
		if werr := sent(); err == nil {
			err = werr
		}
	}()

	sentAt := make([]time.Duration, inflight) // indexed by sequence number mod inflight
	now := time.Since(base)
	for i := range inflight {
		sentAt[i] = now
	}
	if err := send(inflight); err != nil {
		return err
	}
	for !stop.Load() {
		k := 0
		for k == 0 || k < inflight && c.Buffered() {
			seq := c.Received()
			if err := c.Recv(); err != nil {
				return err
			}
			k++
			if measuring.Load() {
				h.Record(time.Since(base) - sentAt[seq%uint64(inflight)])
			}
		}
		count.Add(uint64(k))
		if err := sent(); err != nil {
			return err
		}
		now := time.Since(base)
		for s := c.Sent(); s < c.Sent()+uint64(k); s++ { // send(k) below numbers them
			sentAt[s%uint64(inflight)] = now
		}
		if err := send(k); err != nil {
			return err
		}
	}
	return nil
}

// runIdle opens many connections and leaves them idle, measuring the
// handshake rate and the server's resident memory before, while idle, and
// after one echo on every connection.
func runIdle(ctx context.Context, cfg *config, res *workload.Result) error {
	spec := cfg.spec
	p, err := newPayload(spec)
	if err != nil {
		return err
	}
	rss := func(dst *int64) error {
		if cfg.pid == 0 {
			return nil
		}
		var err error
		*dst, err = procstat.RSS(cfg.pid)
		return err
	}
	if err := rss(&res.RSSBefore); err != nil {
		return err
	}
	var k0 procstat.Kernel
	if spec.Massive {
		if k0, err = procstat.ReadKernel(); err != nil {
			return err
		}
	}
	cpu0, _, err := cfg.serverCPU()
	if err != nil {
		return err
	}
	self0, err := procstat.SelfCPUTime()
	if err != nil {
		return err
	}
	t0 := time.Now()
	var (
		elapsed time.Duration
		self1   time.Duration
		cpu1    time.Duration
		endErr  error
	)
	conns, err := dialAll(ctx, cfg, spec.Conns, p, func() {
		elapsed = time.Since(t0)
		var err1, err2 error
		self1, err1 = procstat.SelfCPUTime()
		cpu1, _, err2 = cfg.serverCPU()
		endErr = errors.Join(err1, err2)
	})
	if err != nil {
		return err
	}
	defer abortAll(conns)
	if endErr != nil {
		return endErr
	}
	// Both sides' CPU over the opening: whichever is nearer a whole CPU
	// bounds the handshake rate.
	res.Seconds = elapsed.Seconds()
	res.HandshakesPerSec = float64(len(conns)) / elapsed.Seconds()
	res.LoadCPUPerMsg = float64(self1-self0) / float64(len(conns))
	res.LoadBusy = (self1 - self0).Seconds() / elapsed.Seconds()
	if cfg.pid != 0 {
		res.CPUPerMsg = float64(cpu1-cpu0) / float64(len(conns))
		res.ServerBusy = (cpu1 - cpu0).Seconds() / elapsed.Seconds()
	}
	if spec.Deflate {
		// One compressed message each before idling: what a
		// compressing connection keeps between messages.
		if err := echoAll(ctx, cfg, conns); err != nil {
			return err
		}
	}
	if err := sleep(ctx, cfg.settle); err != nil {
		return err
	}
	if err := rss(&res.RSSIdle); err != nil {
		return err
	}

	if err := echoAll(ctx, cfg, conns); err != nil {
		return err
	}
	res.Msgs = uint64(len(conns))
	if err := sleep(ctx, cfg.settle); err != nil {
		return err
	}
	if err := rss(&res.RSSEcho); err != nil {
		return err
	}
	if cfg.pid != 0 {
		res.IdleBytesPerConn = float64(res.RSSIdle-res.RSSBefore) / float64(len(conns))
		res.EchoBytesPerConn = float64(res.RSSEcho-res.RSSBefore) / float64(len(conns))
	}
	if spec.Massive {
		if err := kernelPerConn(res, k0, len(conns)); err != nil {
			return err
		}
		return idleCPU(ctx, cfg, res, len(conns), 2*cfg.settle)
	}
	return nil
}

// echoAll sends one message on every connection and checks its echo,
// cfg.dialers connections at a time.
func echoAll(ctx context.Context, cfg *config, conns []*wsclient.Conn) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, cfg.dialers)
	deadline := time.Now().Add(30 * time.Second)
	for w := range cfg.dialers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(conns) || ctx.Err() != nil {
					return
				}
				c := conns[i]
				c.SetDeadline(deadline)
				err := c.Send(1)
				if err == nil {
					err = c.Recv()
				}
				if err != nil {
					errs[w] = fmt.Errorf("echo on connection %d: %w", i, err)
					next.Store(int64(len(conns)))
					return
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// newPayload returns the messages of a workload: compressed JSON-like text
// for the deflate workloads, random binary otherwise.
func newPayload(spec workload.Spec) (*wsclient.Payload, error) {
	if spec.Deflate {
		return wsclient.NewTextPayload(spec.Size, 1)
	}
	return wsclient.NewPayload(spec.Size, 1)
}
