package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/twoway/websocket/conn"
	"github.com/twoway/websocket/hub"
)

// config configures a chat server.
type config struct {
	// OriginPatterns are the Origins allowed besides the server's own.
	OriginPatterns []string
	// QueueLen is how many messages a member may fall behind before it
	// is disconnected; 0 means the hub's default.
	QueueLen int
	// ReadLimit is the largest message accepted; 0 means 4 KiB.
	ReadLimit int64
	// CloseTimeout bounds closing handshakes; 0 means the conn default.
	CloseTimeout time.Duration
	// Broker links the server with the chat servers of other processes;
	// nil runs alone.
	Broker hub.Broker
	// PresenceInterval is how often, with a Broker, the server announces
	// its members to the others; 0 means the hub's default.
	PresenceInterval time.Duration
	// PresenceEvery is how often the server sends a room's members here
	// the changes in its member list, here and, with a Broker,
	// elsewhere: at most one presence event per room per period; 0
	// means 100 ms. Every event carries the whole list, so one per join
	// would cost O(n²) bytes when n members join at once, as when the
	// members of a process that went away come back. The hub keeps what
	// other processes announce but does not say when it changes, so
	// with a Broker the server looks every period.
	PresenceEvery time.Duration
}

// welcomeTimeout bounds the write of a new member's welcome, the first
// message on its connection.
const welcomeTimeout = 10 * time.Second

// event is what the server sends, as JSON.
type event struct {
	Type    string   `json:"type"` // welcome, presence or message
	Name    string   `json:"name,omitempty"`
	Room    string   `json:"room,omitempty"`
	Text    string   `json:"text,omitempty"`
	Members []string `json:"members,omitempty"`
	Joined  []string `json:"joined,omitempty"`
	Left    []string `json:"left,omitempty"`
}

// said is what a client sends, as JSON.
type said struct {
	Text string `json:"text"`
}

//go:embed index.html
var indexHTML []byte

// server is the chat and the http.Handler serving it: the page at / and
// the WebSocket endpoint at /ws.
type server struct {
	cfg     config
	log     *slog.Logger
	mux     *http.ServeMux
	opts    conn.AcceptOptions
	hub     *hub.Hub
	tracker conn.Tracker
	guests  atomic.Int64 // for naming members who chose no name

	mu       sync.Mutex
	rooms    map[string]*room // rooms with a handler here, by name
	closing  bool
	handlers sync.WaitGroup // WebSocket handlers

	stop     chan struct{}  // closed by Shutdown
	presence sync.WaitGroup // sendPresence
}

// room is what this process knows of a room that it has members in.
type room struct {
	name string
	refs int // handlers using the room; guarded by server.mu

	// mu orders joins, leaves and presence events, so that every member
	// here gets the same sequence of presence events.
	mu      sync.Mutex
	names   map[string]int           // names taken here, members and members to be
	local   map[*hub.Client]struct{} // members here
	fresh   map[*hub.Client]struct{} // members here yet to get a presence event
	members []string                 // the list last sent to them
	changed bool                     // members here came or went since the last event
}

// withDefaults returns cfg with the defaults its zero fields stand for.
func (cfg config) withDefaults() config {
	if cfg.ReadLimit == 0 {
		cfg.ReadLimit = 4 << 10
	}
	if cfg.PresenceEvery <= 0 {
		cfg.PresenceEvery = 100 * time.Millisecond
	}
	return cfg
}

func newServer(cfg config, log *slog.Logger) *server {
	cfg = cfg.withDefaults()
	s := &server{
		cfg: cfg,
		log: log,
		mux: http.NewServeMux(),
		hub: hub.New(&hub.Options{
			Broker:           cfg.Broker,
			QueueLen:         cfg.QueueLen,
			PresenceInterval: cfg.PresenceInterval,
		}),
		rooms: make(map[string]*room),
		stop:  make(chan struct{}),
	}
	s.opts = conn.AcceptOptions{
		OriginPatterns: cfg.OriginPatterns,
		ReadLimit:      cfg.ReadLimit,
		CloseTimeout:   cfg.CloseTimeout,
		PingInterval:   30 * time.Second,
		Tracker:        &s.tracker,
		// Browsers offer compression on every connection, so its cost
		// is paid on every member. Without context takeover each event
		// the hub sends is compressed once for all members (a
		// PreparedMessage shares one compressed copy among connections
		// that start every message afresh; with takeover each would
		// compress its own), and an idle member keeps no compression
		// window. Chat events are short and unlike one another, so a
		// window carried between them would gain little; the shortest
		// are not worth compressing at all. Measured here with 500
		// members and 1000-byte messages: 0.64x the server CPU per
		// delivery of context takeover both ways.
		Compression: &conn.CompressionOptions{
			ServerNoContextTakeover: true,
			ClientNoContextTakeover: true,
			Threshold:               256,
		},
	}
	s.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(indexHTML)
	})
	s.mux.HandleFunc("/ws", s.serveWebSocket)
	s.presence.Go(s.sendPresence)
	return s
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

func (s *server) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	if !s.enter() {
		http.Error(w, "server shutting down", http.StatusServiceUnavailable)
		return
	}
	defer s.handlers.Done()
	c, err := conn.Accept(w, r, &s.opts)
	if err != nil {
		s.log.Warn("handshake refused", "remote", r.RemoteAddr, "origin", r.Header.Get("Origin"), "err", err)
		return
	}
	defer c.CloseNow()

	q := r.URL.Query()
	rm := s.openRoom(cleanName(q.Get("room"), "lobby"))
	defer s.closeRoom(rm)
	name := rm.reserve(q.Get("name"), &s.guests)
	log := s.log.With("remote", r.RemoteAddr, "name", name, "room", rm.name)

	// The welcome goes first, before the hub's writer has anything to
	// write: the member learns its name before any event of the room.
	wctx, cancel := context.WithTimeout(context.Background(), welcomeTimeout)
	err = c.WriteJSON(wctx, event{Type: "welcome", Name: name, Room: rm.name})
	cancel()
	if err != nil {
		rm.release(name)
		log.Info("gone before its welcome", "err", err)
		return
	}
	member, err := s.hub.Add(c, name)
	if err != nil { // the hub has closed: shutting down
		rm.release(name)
		c.Close(conn.CloseGoingAway, "server shutting down")
		return
	}
	if err := s.join(rm, member); err != nil {
		member.Remove()
		rm.release(name)
		log.Warn("cannot join", "err", err)
		c.Close(conn.CloseInternalError, "cannot join the room")
		return
	}
	log.Info("joined")
	err = s.read(c, member, rm)
	s.leave(rm, member)
	log.Info("left", "why", err)
}

// read publishes the member's messages to the room until the connection
// ends or the member goes.
func (s *server) read(c *conn.Conn, member *hub.Client, rm *room) error {
	ctx := context.Background()
	for {
		var in said
		if err := c.ReadJSON(ctx, &in); err != nil {
			if !errors.Is(err, conn.ErrClosed) {
				// Not JSON, or not an object with a text: the
				// connection is open, and the client is not ours.
				c.Close(conn.CloseUnsupportedData, `chat messages are {"text": "..."}`)
			}
			return err
		}
		text := strings.TrimSpace(in.Text)
		if text == "" {
			continue
		}
		if err := s.hub.Publish(ctx, rm.name, prepare(event{Type: "message", Name: member.Name(), Text: text})); err != nil {
			// Members here have it; those of other processes do not.
			s.log.Warn("publishing to other processes failed", "room", rm.name, "err", err)
		}
		select {
		case <-member.Done(): // dropped as too slow, or the hub closed
			return member.Err()
		default:
		}
	}
}

// enter counts a WebSocket handler in, unless the server is shutting
// down.
func (s *server) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.handlers.Add(1)
	return true
}

// openRoom returns the named room, which stays known until closeRoom.
func (s *server) openRoom(name string) *room {
	s.mu.Lock()
	defer s.mu.Unlock()
	rm := s.rooms[name]
	if rm == nil {
		rm = &room{
			name:  name,
			names: make(map[string]int),
			local: make(map[*hub.Client]struct{}),
			fresh: make(map[*hub.Client]struct{}),
		}
		s.rooms[name] = rm
	}
	rm.refs++
	return rm
}

func (s *server) closeRoom(rm *room) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rm.refs--; rm.refs == 0 {
		delete(s.rooms, rm.name)
	}
}

// join makes member a member of the room. The next presence event tells
// the room's members here, the new one included.
func (s *server) join(rm *room, member *hub.Client) error {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	if err := member.Join(rm.name); err != nil {
		return err
	}
	rm.local[member] = struct{}{}
	rm.fresh[member] = struct{}{}
	rm.changed = true
	return nil
}

// leave takes member out of the hub and frees its name. The next
// presence event tells the room's members here; the hub tells the other
// processes.
func (s *server) leave(rm *room, member *hub.Client) {
	rm.mu.Lock()
	delete(rm.local, member)
	delete(rm.fresh, member)
	rm.mu.Unlock()
	// Remove waits for a write in progress, which a peer that does not
	// read holds up to the close timeout: not with the room locked.
	member.Remove()
	rm.mu.Lock()
	rm.releaseLocked(member.Name())
	rm.changed = true
	rm.mu.Unlock()
}

// refreshLocked sends the room's members here a presence event if the
// room's members, here and elsewhere, have changed since the last, and
// in any case the list to members that have yet to get one. rm.mu is
// held.
func (s *server) refreshLocked(rm *room) {
	rm.changed = false
	now := s.hub.Members(rm.name)
	joined, left := diff(rm.members, now)
	to := rm.local
	if len(joined) == 0 && len(left) == 0 {
		if len(rm.fresh) == 0 {
			return
		}
		to = rm.fresh // one left and one of the same name came
	}
	rm.members = now
	ev := prepare(event{Type: "presence", Members: now, Joined: joined, Left: left})
	for member := range to {
		// A member that has ended is about to leave; Send tells it
		// nothing more.
		member.Send(ev)
	}
	clear(rm.fresh)
}

// sendPresence sends presence events every PresenceEvery until
// Shutdown.
func (s *server) sendPresence() {
	t := time.NewTicker(s.cfg.PresenceEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		s.refreshRooms()
	}
}

// refreshRooms sends presence events for the rooms whose members have
// changed.
func (s *server) refreshRooms() {
	s.mu.Lock()
	rooms := make([]*room, 0, len(s.rooms))
	for _, rm := range s.rooms {
		rooms = append(rooms, rm)
	}
	s.mu.Unlock()
	for _, rm := range rooms {
		rm.mu.Lock()
		// Only a broker changes the list behind our back.
		if rm.changed || s.cfg.Broker != nil {
			s.refreshLocked(rm)
		}
		rm.mu.Unlock()
	}
}

// diff returns the names in now and not in before, and those in before
// and not in now, counting repeated names: both lists are sorted.
func diff(before, now []string) (joined, left []string) {
	i, j := 0, 0
	for i < len(before) || j < len(now) {
		switch {
		case j == len(now) || i < len(before) && before[i] < now[j]:
			left = append(left, before[i])
			i++
		case i == len(before) || now[j] < before[i]:
			joined = append(joined, now[j])
			j++
		default:
			i++
			j++
		}
	}
	return joined, left
}

// reserve takes a name for a member of the room, derived from the one
// asked for and unique among the names taken here, until release.
func (rm *room) reserve(asked string, guests *atomic.Int64) string {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	name := cleanName(asked, "")
	if name == "" {
		name = "guest-" + strconv.FormatInt(guests.Add(1), 10)
	}
	unique := name
	for i := 2; rm.names[unique] > 0; i++ {
		unique = name + "-" + strconv.Itoa(i)
	}
	rm.names[unique]++
	return unique
}

// release frees a name that reserve took.
func (rm *room) release(name string) {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	rm.releaseLocked(name)
}

func (rm *room) releaseLocked(name string) {
	if rm.names[name]--; rm.names[name] <= 0 {
		delete(rm.names, name)
	}
}

// cleanName trims asked, drops control characters and keeps 24
// characters at most; it returns def for a name that ends up empty.
func cleanName(asked, def string) string {
	name := strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, strings.TrimSpace(asked))
	if r := []rune(name); len(r) > 24 {
		name = strings.TrimSpace(string(r[:24]))
	}
	if name == "" {
		return def
	}
	return name
}

// prepare encodes ev once for every member it goes to.
func prepare(ev event) *conn.PreparedMessage {
	b, err := json.Marshal(ev)
	if err != nil {
		panic(err) // an event always encodes
	}
	pm, err := conn.NewPreparedMessage(conn.Text, b)
	if err != nil {
		panic(err) // json.Marshal writes valid UTF-8
	}
	return pm
}

// Shutdown closes every member's connection with 1001 (going away),
// waits for their handlers to return, and closes the hub, which tells
// the other processes that this one's members have left. When ctx ends
// first, the connections still closing are cut, and Shutdown returns an
// error wrapping ctx's (see conn.Tracker.Shutdown).
func (s *server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	already := s.closing
	s.closing = true
	s.mu.Unlock()
	if already {
		return nil
	}
	err := s.tracker.Shutdown(ctx)
	s.handlers.Wait() // their connections have ended
	close(s.stop)
	s.presence.Wait()
	s.hub.Close()
	if err != nil {
		return fmt.Errorf("chat: %w", err)
	}
	return nil
}
