// Package natsbroker links the hubs of several processes through a NATS
// server: it implements hub.Broker with github.com/nats-io/nats.go.
//
// It is for a WebSocket service that runs more than one process behind a
// load balancer, where members of one room connect to different
// processes. Give each process's hub a Broker on its own NATS connection:
//
//	b, err := natsbroker.Dial("nats://127.0.0.1:4222", nil)
//	if err != nil {
//		log.Fatal(err)
//	}
//	defer b.Close()
//	h := hub.New(&hub.Options{Broker: b})
//	defer h.Close()
//
// It is a module of its own so that the library's other packages, hub
// included, never depend on NATS.
//
// # Subjects
//
// A hub topic becomes the subject Options.Prefix + "." + topic. The topic's
// dot-separated tokens are kept; within them, every byte other than an
// ASCII letter, digit or '-' is escaped as '_' and two hex digits, and an
// empty token becomes "_". So different topics never share a subject,
// never contain NATS wildcards, and the hub's topics, "room.<hex>" and
// "presence.<hex>", appear unchanged: a NATS account may be limited to
// "twoway.>". A subject longer than MaxSubjectLen is refused with
// ErrTopicTooLong rather than sent, since a NATS server closes, for good,
// a connection that sends a protocol line longer than its max_control_line
// (4096 bytes by default), and with it every room of the hub.
//
// # Ordering and loss
//
// NATS delivers the messages one connection publishes to one subject in
// the order they were published, and the callbacks of one subscription
// run one at a time, from one goroutine, in that order; so a hub's members
// get each sender's messages in order wherever the sender is connected.
// Delivery is at most once. nats.go reconnects after losing the server,
// resubscribes, and buffers what is published meanwhile (up to its
// ReconnectBufSize, 8 MB by default, beyond which Publish fails); what
// other processes publish while a connection is down is lost to it. Hubs'
// views of each other's members heal by themselves: every hub announces
// its members every hub.Options.PresenceInterval, and forgets those of a
// hub it has not heard from for three intervals.
//
// A message larger than the server's max_payload (1 MB by default) is not
// published (nats.ErrMaxPayload): members on the other processes do not
// get it. A subscription that falls more than nats.go's pending limits
// behind (500,000 messages or 64 MB) drops messages; a hub's delivery
// only queues, so this takes a stalled process.
package natsbroker

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go"
)

// MaxSubjectLen is the longest subject the broker sends: short enough
// that a protocol line carrying it stays within a NATS server's default
// max_control_line of 4096 bytes.
const MaxSubjectLen = 4000

// Errors returned by the broker's methods.
var (
	ErrClosed       = errors.New("natsbroker: broker closed")
	ErrTopicTooLong = errors.New("natsbroker: subject for topic longer than MaxSubjectLen")
)

// Options configure a Broker. The zero value is ready to use.
type Options struct {
	// Prefix is the first token or tokens of every subject, so that
	// several applications can share a NATS server; "" means "twoway".
	// It must be a valid subject without wildcards: non-empty tokens of
	// printable ASCII other than '*' and '>', separated by dots.
	Prefix string
}

// A Broker carries hub messages over a NATS connection. It implements
// hub.Broker and is safe for use by many goroutines.
type Broker struct {
	nc     *nats.Conn
	owned  bool // made by Dial: Close closes nc
	prefix string

	closed atomic.Bool
	mu     sync.Mutex
	subs   map[*subscription]struct{} // live subscriptions, for Close
}

// New returns a Broker that uses nc, which the caller keeps and closes.
// Each hub should have a connection of its own, as it would in a process
// of its own; the connection may then be made with nats.NoEcho, since a
// hub ignores its own messages. New panics if opts.Prefix is invalid.
func New(nc *nats.Conn, opts *Options) *Broker {
	b := &Broker{nc: nc, prefix: "twoway", subs: make(map[*subscription]struct{})}
	if opts != nil && opts.Prefix != "" {
		b.prefix = opts.Prefix
	}
	if !validPrefix(b.prefix) {
		panic("natsbroker: invalid subject prefix " + b.prefix)
	}
	return b
}

// Dial connects to the NATS server at url and returns a Broker that owns
// the connection: Close closes it. The connection reconnects however
// long the server is away, since a hub whose connection has closed is cut
// off from the other processes for good. For other connection options,
// connect with nats.Connect and use New.
func Dial(url string, opts *Options) (*Broker, error) {
	nc, err := nats.Connect(url, nats.Name("twoway hub"), nats.MaxReconnects(-1))
	if err != nil {
		return nil, err
	}
	b := New(nc, opts)
	b.owned = true
	return b, nil
}

// Conn returns the broker's NATS connection.
func (b *Broker) Conn() *nats.Conn { return b.nc }

// Publish sends data to the subscribers of topic in every process,
// including this one. It returns once nats.go has buffered a copy of
// data, before the server has it: ctx is consulted only before then,
// since nats.go writes from a goroutine of its own (or, when its buffer is
// full, within Publish, bounded by the connection's FlusherTimeout). To
// wait until the server has everything published so far, call the
// connection's FlushWithContext.
func (b *Broker) Publish(ctx context.Context, topic string, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if b.closed.Load() {
		return ErrClosed
	}
	subj, err := b.subject(topic)
	if err != nil {
		return err
	}
	return b.nc.Publish(subj, data)
}

// A subscription gates its deliveries, so that none runs once
// unsubscribe has returned: nats.go's Unsubscribe does not wait for a
// callback in progress.
type subscription struct {
	sub     *nats.Subscription
	deliver func([]byte)
	mu      sync.Mutex // held while deliver runs
	stopped bool
}

// handle runs on the subscription's nats.go goroutine, one message at a
// time. nats.go makes each message's Data afresh and never reuses it, so
// it is passed on without a copy.
func (s *subscription) handle(m *nats.Msg) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.stopped {
		s.deliver(m.Data)
	}
}

// stop ends the subscription and waits for a delivery in progress.
func (s *subscription) stop() {
	// The error says only that the subscription or its connection had
	// already ended; either way the server delivers nothing more to it.
	s.sub.Unsubscribe()
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
}

// Subscribe calls deliver with every message published to topic, one at
// a time, from a goroutine nats.go starts for the subscription, until
// unsubscribe is called. deliver must not keep data after it returns.
//
// When Subscribe returns with the connection up, the server has the
// subscription, so that it gets everything published after that from any
// process. It waits for this at most the connection's Timeout, and not
// at all while the connection is down; the subscription stands either
// way, and nats.go makes it again whenever it reconnects. Subscribe fails
// with nats.ErrConnectionClosed if the connection closes for good first.
//
// unsubscribe returns nil: delivery has stopped, whatever the state of
// the connection. It waits for a call of deliver in progress to return,
// so deliver must not call it.
func (b *Broker) Subscribe(topic string, deliver func(data []byte)) (unsubscribe func() error, err error) {
	subj, err := b.subject(topic)
	if err != nil {
		return nil, err
	}
	s := &subscription{deliver: deliver}
	b.mu.Lock()
	if b.closed.Load() {
		b.mu.Unlock()
		return nil, ErrClosed
	}
	s.sub, err = b.nc.Subscribe(subj, s.handle)
	if err != nil {
		b.mu.Unlock()
		return nil, err
	}
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	var once sync.Once
	unsubscribe = func() error {
		once.Do(func() {
			b.mu.Lock()
			delete(b.subs, s)
			b.mu.Unlock()
			s.stop()
		})
		return nil
	}
	if b.nc.IsConnected() {
		timeout := b.nc.Opts.Timeout
		if timeout <= 0 {
			timeout = nats.DefaultTimeout
		}
		// A timeout leaves the subscription standing; a connection
		// closed meanwhile does not, and will not reconnect.
		if err := b.nc.FlushTimeout(timeout); err != nil && b.nc.IsClosed() {
			unsubscribe()
			return nil, nats.ErrConnectionClosed
		}
	}
	return unsubscribe, nil
}

// Close ends the broker's subscriptions, waiting for deliveries in
// progress, and closes the connection if Dial made it. Publish and
// Subscribe then return ErrClosed. Close returns nil.
func (b *Broker) Close() error {
	b.mu.Lock()
	if b.closed.Swap(true) {
		b.mu.Unlock()
		return nil
	}
	subs := b.subs
	b.subs = nil
	b.mu.Unlock()
	for s := range subs {
		s.stop()
	}
	if b.owned {
		b.nc.Close()
	}
	return nil
}

// subject returns the subject for topic, escaped as the package comment
// describes.
func (b *Broker) subject(topic string) (string, error) {
	var sb strings.Builder
	sb.Grow(len(b.prefix) + 1 + len(topic))
	sb.WriteString(b.prefix)
	sb.WriteByte('.')
	if plain(topic) {
		sb.WriteString(topic)
	} else {
		const hex = "0123456789abcdef"
		for i, tok := range strings.Split(topic, ".") {
			if i > 0 {
				sb.WriteByte('.')
			}
			if tok == "" {
				sb.WriteByte('_')
			}
			for j := 0; j < len(tok); j++ {
				if c := tok[j]; isPlain(c) {
					sb.WriteByte(c)
				} else {
					sb.WriteByte('_')
					sb.WriteByte(hex[c>>4])
					sb.WriteByte(hex[c&0xf])
				}
			}
			if sb.Len() > MaxSubjectLen {
				break
			}
		}
	}
	if sb.Len() > MaxSubjectLen {
		return "", ErrTopicTooLong
	}
	return sb.String(), nil
}

func isPlain(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-'
}

// plain reports whether topic needs no escaping: plain bytes in non-empty
// dot-separated tokens.
func plain(topic string) bool {
	prev := byte('.')
	for i := 0; i < len(topic); i++ {
		c := topic[i]
		if c == '.' && prev == '.' || c != '.' && !isPlain(c) {
			return false
		}
		prev = c
	}
	return prev != '.'
}

// validPrefix reports whether p is a subject without wildcards.
func validPrefix(p string) bool {
	for tok := range strings.SplitSeq(p, ".") {
		if tok == "" {
			return false
		}
		for i := 0; i < len(tok); i++ {
			if c := tok[i]; c <= ' ' || c >= 0x7f || c == '*' || c == '>' {
				return false
			}
		}
	}
	return true
}
