package natsbroker_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/twoway/websocket/natsbroker"
)

// startServer runs a NATS server in this process on a random loopback
// port until the test ends.
func startServer(t *testing.T) *server.Server {
	t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		t.Fatal("NATS server not ready")
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

// connect makes a NATS connection of its own, as a separate process
// would have, closed when the test ends.
func connect(t *testing.T, s *server.Server, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(s.ClientURL(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// newBroker returns a broker on a connection of its own.
func newBroker(t *testing.T, s *server.Server, opts ...nats.Option) *natsbroker.Broker {
	t.Helper()
	b := natsbroker.New(connect(t, s, opts...), nil)
	t.Cleanup(func() { b.Close() })
	return b
}

// collector gathers what a subscription delivers, and fails the test if
// two deliveries overlap.
type collector struct {
	t      *testing.T
	active atomic.Int32
	mu     sync.Mutex
	got    []string
	want   int
	done   chan struct{} // closed when want messages have come
}

func newCollector(t *testing.T, want int) *collector {
	return &collector{t: t, want: want, done: make(chan struct{})}
}

func (c *collector) deliver(data []byte) {
	if c.active.Add(1) != 1 {
		c.t.Error("deliver called while another call was in progress")
	}
	defer c.active.Add(-1)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, string(data))
	if len(c.got) == c.want {
		close(c.done)
	}
}

func (c *collector) wait(t *testing.T) []string {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for messages")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.got...)
}

// TestOrder checks that 1,000 messages one connection publishes arrive at
// another connection's subscriber complete, in order, one at a time.
func TestOrder(t *testing.T) {
	s := startServer(t)
	pub, sub := newBroker(t, s), newBroker(t, s)
	const n = 1000
	c := newCollector(t, n)
	unsub, err := sub.Subscribe("room.6f72646572", c.deliver)
	if err != nil {
		t.Fatal(err)
	}
	defer unsub()
	var want []string
	ctx := context.Background()
	for i := range n {
		msg := fmt.Sprintf("message %d", i)
		want = append(want, msg)
		if err := pub.Publish(ctx, "room.6f72646572", []byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff(want, c.wait(t)); diff != "" {
		t.Errorf("delivered (-want +got):\n%s", diff)
	}
}

// TestPublishKeepsNoData checks that Publish is done with data when it
// returns, as a hub that reuses its buffers needs.
func TestPublishKeepsNoData(t *testing.T) {
	s := startServer(t)
	pub, sub := newBroker(t, s), newBroker(t, s)
	c := newCollector(t, 3)
	unsub, err := sub.Subscribe("t", c.deliver)
	if err != nil {
		t.Fatal(err)
	}
	defer unsub()
	buf := []byte("first")
	for _, next := range []string{"again", "third"} {
		if err := pub.Publish(context.Background(), "t", buf); err != nil {
			t.Fatal(err)
		}
		copy(buf, next)
	}
	pub.Publish(context.Background(), "t", buf)
	if diff := cmp.Diff([]string{"first", "again", "third"}, c.wait(t)); diff != "" {
		t.Errorf("delivered (-want +got):\n%s", diff)
	}
}

// TestTopics subscribes to topics that differ only in what subjects must
// escape: each subscriber gets its own topic's messages and no other's.
func TestTopics(t *testing.T) {
	s := startServer(t)
	pub, sub := newBroker(t, s), newBroker(t, s)
	topics := []string{
		"room.61", "room.62", "presence.61", "room", "room.", "room.*", "room.>",
		"", ".", "a b", "a_20b", "a.b", "a_2eb", "_", "é",
	}
	collectors := make(map[string]*collector)
	for _, topic := range topics {
		c := newCollector(t, 3)
		collectors[topic] = c
		unsub, err := sub.Subscribe(topic, c.deliver)
		if err != nil {
			t.Fatalf("Subscribe(%q): %v", topic, err)
		}
		defer unsub()
	}
	ctx := context.Background()
	for _, topic := range topics {
		for i := range 2 {
			if err := pub.Publish(ctx, topic, fmt.Appendf(nil, "%q %d", topic, i)); err != nil {
				t.Fatalf("Publish(%q): %v", topic, err)
			}
		}
	}
	// One connection's messages reach a subscription in the order they
	// were published, whatever their subjects: a topic that caught
	// another's messages would get them before its "end".
	for _, topic := range topics {
		pub.Publish(ctx, topic, []byte("end"))
	}
	for _, topic := range topics {
		want := []string{fmt.Sprintf("%q 0", topic), fmt.Sprintf("%q 1", topic), "end"}
		if diff := cmp.Diff(want, collectors[topic].wait(t)); diff != "" {
			t.Errorf("topic %q got (-want +got):\n%s", topic, diff)
		}
	}
}

// TestUnsubscribe checks that unsubscribe waits for a delivery in
// progress and that nothing is delivered after it returns, though more
// messages were waiting for the subscription.
func TestUnsubscribe(t *testing.T) {
	s := startServer(t)
	pub, sub := newBroker(t, s), newBroker(t, s)
	entered, release := make(chan struct{}), make(chan struct{})
	var returned atomic.Bool
	var calls atomic.Int32
	unsub, err := sub.Subscribe("t", func([]byte) {
		if returned.Load() {
			t.Error("delivery after unsubscribe returned")
		}
		if calls.Add(1) == 1 {
			close(entered)
			<-release
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	// A second subscriber to the topic, on the same connection, tells
	// when the later messages have reached it.
	last := newCollector(t, 20)
	unsubLast, err := sub.Subscribe("t", last.deliver)
	if err != nil {
		t.Fatal(err)
	}
	defer unsubLast()

	ctx := context.Background()
	for range 10 {
		pub.Publish(ctx, "t", []byte("before"))
	}
	<-entered
	unsubDone := make(chan struct{})
	go func() {
		unsub()
		returned.Store(true)
		close(unsubDone)
	}()
	select {
	case <-unsubDone:
		t.Error("unsubscribe returned while deliver was running")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	<-unsubDone
	for range 10 {
		pub.Publish(ctx, "t", []byte("after"))
	}
	last.wait(t)
	if n := calls.Load(); n != 1 {
		t.Errorf("%d deliveries to the unsubscribed; want 1", n)
	}
	if err := unsub(); err != nil {
		t.Errorf("second unsubscribe: %v", err)
	}
}

// TestPublishContext checks that a context that has ended keeps the
// message from going out.
func TestPublishContext(t *testing.T) {
	s := startServer(t)
	pub, sub := newBroker(t, s), newBroker(t, s)
	c := newCollector(t, 1)
	unsub, err := sub.Subscribe("t", c.deliver)
	if err != nil {
		t.Fatal(err)
	}
	defer unsub()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := pub.Publish(ctx, "t", []byte("canceled")); !errors.Is(err, context.Canceled) {
		t.Errorf("Publish with canceled context: %v", err)
	}
	pub.Publish(context.Background(), "t", []byte("sent"))
	if diff := cmp.Diff([]string{"sent"}, c.wait(t)); diff != "" {
		t.Errorf("delivered (-want +got):\n%s", diff)
	}
}

// TestLimits checks that a topic too long for the server's protocol
// lines, and a message over its max_payload, are refused without harm to
// the connection.
func TestLimits(t *testing.T) {
	s := startServer(t)
	b := newBroker(t, s)
	long := "room." + strings.Repeat("61", natsbroker.MaxSubjectLen/2)
	if _, err := b.Subscribe(long, func([]byte) {}); err != natsbroker.ErrTopicTooLong {
		t.Errorf("Subscribe with long topic: %v", err)
	}
	ctx := context.Background()
	if err := b.Publish(ctx, long, nil); err != natsbroker.ErrTopicTooLong {
		t.Errorf("Publish with long topic: %v", err)
	}
	big := make([]byte, b.Conn().MaxPayload()+1)
	if err := b.Publish(ctx, "t", big); !errors.Is(err, nats.ErrMaxPayload) {
		t.Errorf("Publish of %d bytes: %v", len(big), err)
	}
	if err := b.Conn().FlushTimeout(5 * time.Second); err != nil {
		t.Errorf("connection after refusals: %v", err)
	}
}

// TestClose checks that Close ends the subscriptions and refuses more
// work, and that a broker from Dial closes its connection.
func TestClose(t *testing.T) {
	s := startServer(t)
	b, err := natsbroker.Dial(s.ClientURL(), &natsbroker.Options{Prefix: "app"})
	if err != nil {
		t.Fatal(err)
	}
	unsub, err := b.Subscribe("t", func([]byte) {})
	if err != nil {
		t.Fatal(err)
	}
	// A raw subscriber sees the prefix.
	raw := connect(t, s)
	rawSub, err := raw.SubscribeSync("app.t")
	if err != nil {
		t.Fatal(err)
	}
	raw.Flush()
	b.Publish(context.Background(), "t", []byte("x"))
	if _, err := rawSub.NextMsg(5 * time.Second); err != nil {
		t.Fatalf("raw subscriber to app.t: %v", err)
	}

	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if !b.Conn().IsClosed() {
		t.Error("Dial's connection still open after Close")
	}
	if err := b.Publish(context.Background(), "t", nil); err != natsbroker.ErrClosed {
		t.Errorf("Publish after Close: %v", err)
	}
	if _, err := b.Subscribe("t", func([]byte) {}); err != natsbroker.ErrClosed {
		t.Errorf("Subscribe after Close: %v", err)
	}
	if err := unsub(); err != nil {
		t.Errorf("unsubscribe after Close: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}

	// A broker from New leaves the caller's connection open, but ends
	// its subscriptions.
	nc := connect(t, s)
	b = natsbroker.New(nc, &natsbroker.Options{Prefix: "app"})
	var delivered atomic.Bool
	if _, err := b.Subscribe("t", func([]byte) { delivered.Store(true) }); err != nil {
		t.Fatal(err)
	}
	b.Close()
	if nc.IsClosed() {
		t.Error("Close closed the caller's connection")
	}
	raw.Publish("app.t", []byte("after close"))
	raw.Flush()
	nc.Flush() // the message, had it come, came before the PONG
	if delivered.Load() {
		t.Error("delivery after Close")
	}
}

// cutter dials NATS connections that a test can cut, as a crash or a
// network failure would, and keep from reconnecting while it is down.
type cutter struct {
	mu    sync.Mutex
	down  bool
	conns []net.Conn
}

func (c *cutter) Dial(network, address string) (net.Conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.down {
		return nil, errors.New("cutter: down")
	}
	nc, err := net.Dial(network, address)
	if err == nil {
		c.conns = append(c.conns, nc)
	}
	return nc, err
}

// cut closes every connection dialed so far; with down, it refuses new
// ones until it is called again with down false.
func (c *cutter) cut(down bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.down = down
	for _, nc := range c.conns {
		nc.Close()
	}
	c.conns = nil
}
