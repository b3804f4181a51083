package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twoway/websocket/bench/internal/fanout"
	"github.com/twoway/websocket/bench/internal/hist"
	"github.com/twoway/websocket/bench/internal/procstat"
	"github.com/twoway/websocket/bench/internal/workload"
	"github.com/twoway/websocket/bench/internal/wsclient"
)

// fanoutState is what the subscribers of a broadcast run share.
type fanoutState struct {
	format    *fanout.Format
	n         int64 // subscribers
	ws        bool  // WebSocket, where messages must be text
	deflate   bool  // every message must arrive compressed
	slots     []slot
	complete  chan uint64 // sequence numbers received by every subscriber
	shards    []shard
	stop      atomic.Bool
	measuring atomic.Bool
}

// slot tracks one of the messages in flight, at index seq % len(slots).
type slot struct {
	recvd atomic.Int64 // subscribers that have checked it

	// The first subscriber to inflate the message keeps it here, so that
	// the others, which receive the same compressed bytes from a server
	// that compresses alike for all, compare instead of inflating again:
	// one CPU must keep up with the server's.
	mu    sync.Mutex
	seq   uint64 // message + 1; 0 for none
	comp  []byte
	plain []byte
	_     [64]byte
}

// shard holds the counts and latencies of every 64th subscriber: a
// histogram per subscriber would take 100 MB for 10,000 of them.
type shard struct {
	n  atomic.Uint64 // deliveries
	mu sync.Mutex
	h  hist.Histogram
	_  [64]byte
}

// runFanout measures the broadcast workload. Every connection subscribes;
// connection 0 also asks the server to publish, keeping InFlight messages
// published and not yet received by every subscriber. Each subscriber
// checks every message it receives against the one the server published
// (sequence number, size, every byte of the template) and records the
// time since it was published, which the server wrote into it.
func runFanout(ctx context.Context, cfg *config, res *workload.Result) error {
	spec := cfg.spec
	f, err := fanout.NewFormat(spec.Size)
	if err != nil {
		return err
	}
	trigger, err := wsclient.NewPayload(8, 1) // what the server reads as "publish one"
	if err != nil {
		return err
	}
	conns, err := dialAll(ctx, cfg, spec.Conns, trigger, nil)
	if err != nil {
		return err
	}
	defer abortAll(conns)
	// Publish only once the server has every subscriber.
	deadline := time.Now().Add(30 * time.Second)
	var scratch []byte
	for i, c := range conns {
		if cfg.deflate && !c.Deflate() {
			return fmt.Errorf("connection %d: the server declined permessage-deflate", i)
		}
		c.SetDeadline(deadline)
		m, err := c.Next()
		if err == nil && m.Compressed {
			scratch, err = wsclient.Inflate(scratch[:0], m.Payload)
			m.Payload = scratch
		}
		if err != nil {
			return fmt.Errorf("connection %d: waiting to be subscribed: %w", i, err)
		}
		if string(m.Payload) != fanout.Welcome {
			return fmt.Errorf("connection %d: first message %.40q, want %q", i, m.Payload, fanout.Welcome)
		}
		c.SetDeadline(time.Time{})
	}

	ring := 2 * spec.InFlight
	st := &fanoutState{
		format:   f,
		n:        int64(len(conns)),
		ws:       cfg.proto == wsclient.WebSocket,
		deflate:  cfg.deflate,
		slots:    make([]slot, ring),
		complete: make(chan uint64, ring),
		shards:   make([]shard, 64),
	}
	var (
		errs     = make([]error, len(conns))
		failed   = make(chan struct{})
		failOnce sync.Once
		wg       sync.WaitGroup
	)
	for i, c := range conns {
		wg.Go(func() {
			// subscribe returns only when its connection ends: an error
			// unless the run has stopped.
			if err := st.subscribe(c, &st.shards[i%len(st.shards)]); !st.stop.Load() {
				errs[i] = fmt.Errorf("subscriber %d: %w", i, err)
				failOnce.Do(func() { close(failed) })
			}
		})
	}

	// The publisher: InFlight requests, then one more for every message
	// that has reached all subscribers. Send and the subscriber's Next
	// share no state, so connection 0 may do both at once.
	quit := make(chan struct{})
	pubErr := make(chan error, 1)
	go func() {
		var next uint64
		publish := func() error {
			// The slot was last used by message next-ring, which
			// every subscriber has received.
			st.slots[next%uint64(ring)].recvd.Store(0)
			next++
			err := conns[0].Send(1)
			if err != nil && st.stop.Load() {
				// The stop's past deadline cut this send short: the
				// run is over, not failed.
				return nil
			}
			return err
		}
		pubErr <- func() error {
			for range spec.InFlight {
				if err := publish(); err != nil {
					return err
				}
			}
			for {
				select {
				case <-st.complete:
					if err := publish(); err != nil {
						return err
					}
				case <-quit:
					return nil
				}
			}
		}()
	}()

	total := func() (n uint64) {
		for i := range st.shards {
			n += st.shards[i].n.Load()
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
	var cpu0, cpu1, self0, self1 time.Duration
	var t0, t1 time.Time
	if ok {
		st.measuring.Store(true)
		n0, t0 = total(), time.Now()
		self0, _ = procstat.CPUTime(os.Getpid())
		cpu0, _, err = cfg.serverCPU()
		ok = err == nil && wait(cfg.duration)
		n1, t1 = total(), time.Now()
		if ok {
			cpu1, _, err = cfg.serverCPU()
			self1, _ = procstat.CPUTime(os.Getpid())
		}
		st.measuring.Store(false)
	}
	// Stop: a past deadline unblocks every pending read and write.
	st.stop.Store(true)
	close(quit)
	for _, c := range conns {
		c.SetDeadline(time.Unix(1, 0))
	}
	wg.Wait()
	perr := <-pubErr
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if perr != nil && ok {
		return fmt.Errorf("publishing: %w", perr)
	}

	var h hist.Histogram
	for i := range st.shards {
		h.Merge(&st.shards[i].h)
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
		res.ServerBusy = (cpu1 - cpu0).Seconds() / secs
	}
	res.LoadBusy = (self1 - self0).Seconds() / secs
	if res.Msgs == 0 {
		return errors.New("no message delivered in the measured window")
	}
	return nil
}

// subscribe receives and checks messages until the run stops or fails.
func (st *fanoutState) subscribe(c *wsclient.Conn, sh *shard) error {
	var scratch []byte
	for seq := uint64(0); ; seq++ {
		m, err := c.Next()
		if err != nil {
			return err
		}
		if st.ws && !m.Text {
			return fmt.Errorf("message %d: binary, want text", seq)
		}
		if m.Compressed != st.deflate {
			return fmt.Errorf("message %d: compressed = %v, want %v", seq, m.Compressed, st.deflate)
		}
		p := m.Payload
		if m.Compressed {
			if p, scratch, err = st.inflate(seq, p, scratch); err != nil {
				return fmt.Errorf("message %d: %w", seq, err)
			}
		}
		ts, err := st.format.Check(p, seq)
		if err != nil {
			return err
		}
		if st.measuring.Load() {
			d := time.Duration(time.Now().UnixNano() - ts)
			sh.mu.Lock()
			sh.h.Record(d)
			sh.mu.Unlock()
		}
		sh.n.Add(1)
		// Last: once every subscriber has counted it, the slot (and
		// the inflated text in it) may be reused.
		if st.slots[seq%uint64(len(st.slots))].recvd.Add(1) == st.n {
			st.complete <- seq
		}
	}
}

// inflate returns the text of message seq, whose compressed payload is p,
// inflating it into scratch unless another subscriber has inflated the
// same bytes already.
func (st *fanoutState) inflate(seq uint64, p, scratch []byte) (text, newScratch []byte, err error) {
	s := &st.slots[seq%uint64(len(st.slots))]
	s.mu.Lock()
	first := s.seq != seq+1
	if !first && bytes.Equal(s.comp, p) {
		text = s.plain
	}
	s.mu.Unlock()
	if text != nil {
		return text, scratch, nil
	}
	if scratch, err = wsclient.Inflate(scratch[:0], p); err != nil {
		return nil, scratch, err
	}
	if first {
		s.mu.Lock()
		if s.seq != seq+1 {
			s.seq = seq + 1
			s.comp = append(s.comp[:0], p...)
			s.plain = append(s.plain[:0], scratch...)
		}
		s.mu.Unlock()
	}
	return scratch, scratch, nil
}

// A fanout server may be several processes: subscribers alternate
// between -addr and -addr2 (connection 0, the publisher's, on -addr), and
// the CPU time of every server-side process counts.
var (
	addr2 = flag.String("addr2", "", "fanout: a second server address; connections alternate between -addr and it")
	pids  = flag.String("pids", "", "comma-separated ids of more server-side processes, whose CPU time adds to -pid's")
)

// addrOf returns the address connection i dials.
func (cfg *config) addrOf(i int) string {
	if *addr2 != "" && i%2 == 1 {
		return *addr2
	}
	return cfg.addr
}

// extraPids returns the process ids of -pids.
func extraPids() []int {
	var ids []int
	for f := range strings.SplitSeq(*pids, ",") {
		if id, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && id > 0 {
			ids = append(ids, id)
		}
	}
	return ids
}
