// Package hub sends messages to rooms of WebSocket connections: join and
// leave rooms, publish to a room, and see who is in it, in one process or,
// through a Broker, across many.
//
// Each connection added to a Hub gets a bounded queue and one goroutine
// that writes what is queued, so a member that reads slowly never delays
// the publisher or the other members. A message is encoded once for all
// members (conn.PreparedMessage), however many there are, and a writer
// that finds several messages queued writes them in one system call.
//
// Connections of the event-driven server (event.Conn, added with AddEvent)
// have no queue or goroutine of their own here: a message is queued on
// the connection itself, whose event loop writes it, so that a member that
// is idle costs the hub nothing but its place in its rooms.
//
// # Back-pressure
//
// A message that finds a member's queue full is not queued: the member has
// fallen Options.QueueLen messages behind, and is disconnected with
// Options.SlowCode (1008, policy violation, by default) rather than left
// to miss messages without knowing. The queue is the grace a member has
// for a burst; the Close frame it then gets waits for the write in
// progress at most the connection's close timeout. An event.Conn member's
// grace is its server's MaxPending bytes of unsent output instead.
//
// # Across processes
//
// With a Broker, a Hub also publishes each message to the hubs of other
// processes, which deliver it to their members of the room, in the order
// each publisher sent them. Presence is shared the same way: every hub
// announces its members of each room a moment after they change (a
// burst of changes in one announcement, so that a room that many join at
// once costs the broker a few lists rather than one per member) and
// every Options.PresenceInterval, and forgets another hub's members when that
// hub has been silent for three intervals, as after a crash. The broker
// for NATS is in its own module, github.com/twoway/websocket/natsbroker, so
// that this package needs nothing but the standard library.
package hub

import (
	"context"
	"crypto/rand"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/twoway/websocket/conn"
	"github.com/twoway/websocket/event"
)

// A Broker carries what hubs publish between processes. Topics are
// opaque strings chosen by the hub; a broker maps them to its own names.
type Broker interface {
	// Publish sends data to every subscriber of topic, in any process;
	// the hub recognizes and drops its own. Messages from one publisher
	// to one topic must arrive in the order they were published.
	Publish(ctx context.Context, topic string, data []byte) error

	// Subscribe calls deliver, from one goroutine at a time, with every
	// message published to topic, until the returned function is called.
	// deliver must not keep data after it returns.
	Subscribe(topic string, deliver func(data []byte)) (unsubscribe func() error, err error)
}

// Options configure a Hub. The zero value serves one process.
type Options struct {
	// Broker links this hub with the hubs of other processes; nil keeps
	// everything in this process.
	Broker Broker

	// QueueLen is how many messages a member may fall behind before it is
	// disconnected; 0 means 256.
	QueueLen int

	// SlowCode and SlowReason are sent to a member that fell too far
	// behind; SlowCode 0 means conn.ClosePolicyViolation.
	SlowCode   conn.CloseCode
	SlowReason string

	// PresenceInterval is how often a hub announces its members through
	// the broker; 0 means 5 s.
	PresenceInterval time.Duration
}

// Errors reported by Client.Err and the hub's methods.
var (
	ErrSlow   = errors.New("hub: member fell too far behind and was disconnected")
	ErrClosed = errors.New("hub: closed")
	ErrLeft   = errors.New("hub: member removed")
)

// A Hub holds rooms of members. It is safe for use by many goroutines.
type Hub struct {
	opts   Options
	origin [16]byte // tells our own messages from other hubs' at the broker

	mu      sync.RWMutex
	rooms   map[string]*room
	clients map[*Client]struct{}
	closed  bool

	stop      chan struct{} // closed by Close
	presenter sync.WaitGroup
	// changed holds the rooms whose members changed since they were last
	// announced, guarded by mu; kick tells the presenter of a new one.
	changed map[string]struct{}
	kick    chan struct{}
	// announceMu is held from listing a room's members to publishing
	// them, so that an older list never goes out after a newer one.
	announceMu sync.Mutex
}

// room is the members of one room in this process, and what other hubs
// have announced of theirs.
type room struct {
	name string
	// members are kept in a slice, which deliver walks in the same order
	// every time, and indexed by client for removal.
	members []*Client
	index   map[*Client]int
	unsub   []func() error            // broker subscriptions while members are here
	remote  map[[16]byte]*remoteNames // by hub

	// subscribed is closed once the first member's Join has subscribed
	// to the room's topics, or failed to with subErr; later members wait
	// for it, so that no Join returns before the room hears other hubs.
	subscribed chan struct{}
	subErr     error
}

// add makes cl a member, if it is not one.
func (r *room) add(cl *Client) {
	if _, ok := r.index[cl]; !ok {
		r.index[cl] = len(r.members)
		r.members = append(r.members, cl)
	}
}

// remove takes cl out of the members, moving the last member to its place.
func (r *room) remove(cl *Client) {
	i, ok := r.index[cl]
	if !ok {
		return
	}
	last := r.members[len(r.members)-1]
	r.members[i], r.index[last] = last, i
	r.members[len(r.members)-1] = nil
	r.members = r.members[:len(r.members)-1]
	delete(r.index, cl)
}

type remoteNames struct {
	names []string
	seen  time.Time
}

// New returns a Hub configured by opts, which may be nil.
func New(opts *Options) *Hub {
	h := &Hub{
		rooms:   make(map[string]*room),
		clients: make(map[*Client]struct{}),
		stop:    make(chan struct{}),
		changed: make(map[string]struct{}),
		kick:    make(chan struct{}, 1),
	}
	if opts != nil {
		h.opts = *opts
	}
	if h.opts.QueueLen <= 0 {
		h.opts.QueueLen = 256
	}
	if h.opts.SlowCode == 0 {
		h.opts.SlowCode = conn.ClosePolicyViolation
	}
	if h.opts.SlowReason == "" {
		h.opts.SlowReason = "too slow"
	}
	if h.opts.PresenceInterval <= 0 {
		h.opts.PresenceInterval = 5 * time.Second
	}
	rand.Read(h.origin[:])
	if h.opts.Broker != nil {
		h.presenter.Go(h.announceLoop)
	}
	return h
}

// A Client is a connection added to a hub: a member of any number of its
// rooms, with its queue and writer.
type Client struct {
	hub  *Hub
	conn *conn.Conn
	ev   *event.Conn // instead of conn, queue and the writer, from AddEvent
	name string

	queue chan *conn.PreparedMessage
	rooms map[string]struct{} // guarded by hub.mu

	once sync.Once     // ends the client
	done chan struct{} // closed when the writer has stopped
	quit chan struct{} // closed to stop the writer
	err  error         // why the client ended; set before quit closes
}

// Add adds c to the hub under name, which Members reports, and starts the
// goroutine that writes its queue. The client is in no room until it
// joins one. The caller keeps reading c, and calls Remove (or closes c
// and then calls Remove) when it is done with the connection.
func (h *Hub) Add(c *conn.Conn, name string) (*Client, error) {
	cl := &Client{
		hub:   h,
		conn:  c,
		name:  name,
		queue: make(chan *conn.PreparedMessage, h.opts.QueueLen),
		rooms: make(map[string]struct{}),
		done:  make(chan struct{}),
		quit:  make(chan struct{}),
	}
	if !h.register(cl) {
		return nil, ErrClosed
	}
	go cl.writeLoop()
	return cl, nil
}

// AddEvent adds a connection of the event-driven server to the hub under
// name, as Add does, but without a queue or a goroutine: Publish and Send
// queue each message on c, whose loop writes it. A member whose unsent
// output grows past its server's MaxPending bytes is disconnected as too
// slow. Call Remove from the server's OnClose for c.
func (h *Hub) AddEvent(c *event.Conn, name string) (*Client, error) {
	cl := &Client{
		hub:   h,
		ev:    c,
		name:  name,
		rooms: make(map[string]struct{}),
		done:  make(chan struct{}),
		quit:  make(chan struct{}),
	}
	if !h.register(cl) {
		return nil, ErrClosed
	}
	return cl, nil
}

// register makes cl one of the hub's clients, unless the hub is closed.
func (h *Hub) register(cl *Client) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.clients[cl] = struct{}{}
	return true
}

// Name returns the name the client was added under.
func (cl *Client) Name() string { return cl.name }

// Conn returns the client's connection, or nil for a client added with
// AddEvent.
func (cl *Client) Conn() *conn.Conn { return cl.conn }

// EventConn returns the connection of a client added with AddEvent, or
// nil.
func (cl *Client) EventConn() *event.Conn { return cl.ev }

// Done is closed once the client has ended: removed, disconnected for
// falling behind, or its connection failed under a write.
func (cl *Client) Done() <-chan struct{} { return cl.done }

// Err reports why the client ended, once Done is closed: ErrLeft after
// Remove, ErrSlow, ErrClosed after the hub's Close, or the error of the
// write that failed.
func (cl *Client) Err() error {
	select {
	case <-cl.done:
		return cl.err
	default:
		return nil
	}
}

// maxBatch bounds how many queued messages the writer hands to one
// WritePrepared call, which writes them with one system call.
const maxBatch = 64

// writeLoop writes what is queued until the client ends. It takes
// everything waiting in the queue, up to maxBatch messages, at once: a
// member that fell behind a burst catches up in a few writes rather than
// one per message.
func (cl *Client) writeLoop() {
	defer close(cl.done)
	ctx := context.Background() // a stalled peer is cut by the slow path
	batch := make([]*conn.PreparedMessage, 0, min(cap(cl.queue), maxBatch))
	for {
		select {
		case pm := <-cl.queue:
			batch = append(batch, pm)
		more:
			for len(batch) < cap(batch) {
				select {
				case pm := <-cl.queue:
					batch = append(batch, pm)
				default:
					break more
				}
			}
			err := cl.conn.WritePrepared(ctx, batch...)
			clear(batch) // let the messages go
			batch = batch[:0]
			if err != nil {
				cl.end(err)
				return
			}
		case <-cl.quit:
			return
		}
	}
}

// noWait is a context that has ended: event.Conn.WritePrepared queues
// with it and reports, rather than waits, when the peer is too far behind.
var noWait = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// send queues pm for the client without waiting. A full queue ends the
// client as too slow.
func (cl *Client) send(pm *conn.PreparedMessage) {
	if cl.ev != nil {
		select {
		case <-cl.quit: // ended, and maybe still too far behind
			return
		default:
		}
		switch err := cl.ev.WritePrepared(noWait, pm); {
		case err == nil:
		case errors.Is(err, context.Canceled):
			cl.end(ErrSlow) // queued, but over MaxPending
		default:
			cl.end(err)
		}
		return
	}
	select {
	case cl.queue <- pm:
	default:
		cl.end(ErrSlow)
	}
}

// Send queues pm for this client alone, behind what is queued already. It
// returns the client's error once it has ended.
func (cl *Client) Send(pm *conn.PreparedMessage) error {
	select {
	case <-cl.quit:
		return cl.err
	default:
	}
	cl.send(pm)
	return nil
}

// Remove takes the client out of every room and stops its writer; what is
// still queued is dropped. It does not close the connection. It is safe
// to call more than once, and after the client ended by itself.
func (cl *Client) Remove() {
	cl.end(ErrLeft)
	<-cl.done
	// Now, rather than when end's goroutine gets to it: once Remove has
	// returned, Members does not list the client.
	cl.hub.forget(cl)
}

// end ends the client once, for err: it leaves its rooms, and a client
// that fell behind is disconnected. It never waits for the hub's lock,
// since it may run under it (send, during Publish), so the rooms are left
// in a goroutine of its own.
func (cl *Client) end(err error) {
	cl.once.Do(func() {
		cl.err = err
		close(cl.quit)
		if cl.ev != nil {
			close(cl.done) // no writer to wait for
		}
		go func() {
			cl.hub.forget(cl)
			if err != ErrSlow {
				return
			}
			if cl.ev != nil {
				cl.ev.Close(cl.hub.opts.SlowCode, cl.hub.opts.SlowReason)
			} else {
				cl.conn.Close(cl.hub.opts.SlowCode, cl.hub.opts.SlowReason)
			}
		}()
	})
}

// forget takes cl out of the hub and its rooms.
func (h *Hub) forget(cl *Client) {
	h.mu.Lock()
	delete(h.clients, cl)
	var left []*room
	for name := range cl.rooms {
		if r := h.rooms[name]; r != nil {
			r.remove(cl)
			left = append(left, r)
		}
	}
	clear(cl.rooms)
	unsubs := h.emptyRoomsLocked(left)
	h.mu.Unlock()
	for _, r := range left {
		h.membersChanged(r.name)
	}
	for _, u := range unsubs {
		u()
	}
}

// emptyRoomsLocked drops the rooms of rs that have no members left here
// and returns their broker subscriptions to cancel. h.mu is held.
func (h *Hub) emptyRoomsLocked(rs []*room) []func() error {
	var unsubs []func() error
	for _, r := range rs {
		if len(r.members) == 0 && h.rooms[r.name] == r {
			delete(h.rooms, r.name)
			unsubs = append(unsubs, r.unsub...)
		}
	}
	return unsubs
}

// Join adds the client to the named room.
func (cl *Client) Join(name string) error {
	h := cl.hub
	h.mu.Lock()
	select {
	case <-cl.quit:
		h.mu.Unlock()
		return cl.err
	default:
	}
	if h.closed {
		h.mu.Unlock()
		return ErrClosed
	}
	r := h.rooms[name]
	fresh := r == nil
	if fresh {
		r = &room{
			name:       name,
			index:      make(map[*Client]int),
			remote:     make(map[[16]byte]*remoteNames),
			subscribed: make(chan struct{}),
		}
		h.rooms[name] = r
	}
	r.add(cl)
	cl.rooms[name] = struct{}{}
	h.mu.Unlock()
	if h.opts.Broker != nil {
		if fresh {
			r.subErr = h.subscribe(r)
			close(r.subscribed)
		} else {
			<-r.subscribed
		}
		if r.subErr != nil {
			cl.Leave(name)
			return r.subErr
		}
	}
	h.membersChanged(name)
	return nil
}

// Leave takes the client out of the named room.
func (cl *Client) Leave(name string) error {
	h := cl.hub
	h.mu.Lock()
	r := h.rooms[name]
	if r != nil {
		r.remove(cl)
	}
	delete(cl.rooms, name)
	var unsubs []func() error
	if r != nil {
		unsubs = h.emptyRoomsLocked([]*room{r})
	}
	h.mu.Unlock()
	h.membersChanged(name)
	for _, u := range unsubs {
		u()
	}
	return nil
}

// Publish sends pm to every member of the named room: here at once,
// without waiting for any member, and through the broker to the other
// processes. It returns the broker's error, if any.
func (h *Hub) Publish(ctx context.Context, name string, pm *conn.PreparedMessage) error {
	h.deliver(name, pm)
	if h.opts.Broker == nil {
		return nil
	}
	return h.opts.Broker.Publish(ctx, messageTopic(name), h.encodeMessage(pm))
}

// deliver queues pm for the members of the named room in this process.
func (h *Hub) deliver(name string, pm *conn.PreparedMessage) {
	h.mu.RLock()
	if r := h.rooms[name]; r != nil {
		for _, cl := range r.members {
			cl.send(pm)
		}
	}
	h.mu.RUnlock()
}

// Members returns the names of the room's members, here and, with a
// broker, those other hubs have announced, sorted. Other hubs' members are
// known only while this hub has members in the room itself.
func (h *Hub) Members(name string) []string {
	h.mu.RLock()
	defer h.mu.RUnlock()
	r := h.rooms[name]
	if r == nil {
		return nil
	}
	names := make([]string, 0, len(r.members))
	for _, cl := range r.members {
		names = append(names, cl.name)
	}
	expired := time.Now().Add(-3 * h.opts.PresenceInterval)
	for _, rn := range r.remote {
		if rn.seen.After(expired) {
			names = append(names, rn.names...)
		}
	}
	slices.Sort(names)
	return names
}

// Close ends every client, as Remove does, and stops the hub's work with
// the broker. It does not close the connections: a server that shuts down
// closes them itself, for instance with conn.Conn.Close(CloseGoingAway).
func (h *Hub) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	clients := make([]*Client, 0, len(h.clients))
	for cl := range h.clients {
		clients = append(clients, cl)
	}
	h.mu.Unlock()
	for _, cl := range clients {
		cl.end(ErrClosed)
		<-cl.done
		h.forget(cl) // now, rather than when end's goroutine gets to it
	}
	close(h.stop)
	h.presenter.Wait()
	// Tell the other hubs at once that this one has left its rooms.
	h.announceChanged()
	return nil
}
