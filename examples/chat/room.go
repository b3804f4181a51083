package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/twoway/websocket/conn"
	"github.com/twoway/websocket/examples/internal/shutdown"
)

// config configures a room.
type config struct {
	// OriginPatterns are the Origins allowed besides the server's own.
	OriginPatterns []string
	// QueueLen is how many messages a member may fall behind before it
	// is disconnected.
	QueueLen int
	// ReadLimit is the largest chat message accepted; 0 means 4 KiB.
	ReadLimit int64
	// CloseTimeout bounds closing handshakes; 0 means the conn default.
	CloseTimeout time.Duration
}

// event is what the server sends, as JSON.
type event struct {
	Type    string   `json:"type"` // welcome, join, leave or message
	Name    string   `json:"name"`
	Text    string   `json:"text,omitempty"`
	Members []string `json:"members,omitempty"`
}

// member is one connection in the room.
type member struct {
	c    *conn.Conn
	name string
	// queue holds encoded events not yet written. A writer goroutine
	// drains it; the room never waits for it to have room.
	queue chan []byte
	done  chan struct{} // closed when the member has left the room

	kick    sync.Once
	closing sync.WaitGroup // the goroutine closing a dropped member
}

//go:embed index.html
var indexHTML []byte

// room is a chat room and the http.Handler serving it: the page at / and
// the WebSocket endpoint at /ws.
type room struct {
	cfg  config
	log  *slog.Logger
	mux  *http.ServeMux
	opts conn.AcceptOptions

	mu      sync.Mutex
	members map[string]*member // by name
	guests  int                // for naming members who chose no name
	closing bool
	active  sync.WaitGroup // WebSocket handlers
}

func newRoom(cfg config, log *slog.Logger) *room {
	if cfg.QueueLen <= 0 {
		cfg.QueueLen = 64
	}
	if cfg.ReadLimit == 0 {
		cfg.ReadLimit = 4 << 10
	}
	rm := &room{
		cfg:     cfg,
		log:     log,
		mux:     http.NewServeMux(),
		members: make(map[string]*member),
		opts: conn.AcceptOptions{
			OriginPatterns: cfg.OriginPatterns,
			ReadLimit:      cfg.ReadLimit,
			CloseTimeout:   cfg.CloseTimeout,
			PingInterval:   30 * time.Second,
		},
	}
	rm.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(indexHTML)
	})
	rm.mux.HandleFunc("/ws", rm.serveWebSocket)
	return rm
}

func (rm *room) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rm.mux.ServeHTTP(w, r)
}

func (rm *room) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	if !rm.enter() {
		http.Error(w, "server shutting down", http.StatusServiceUnavailable)
		return
	}
	defer rm.active.Done()
	c, err := conn.Accept(w, r, &rm.opts)
	if err != nil {
		rm.log.Warn("handshake refused", "remote", r.RemoteAddr, "origin", r.Header.Get("Origin"), "err", err)
		return
	}
	defer c.CloseNow()
	m := &member{c: c, queue: make(chan []byte, rm.cfg.QueueLen), done: make(chan struct{})}
	if !rm.join(m, r.URL.Query().Get("name")) {
		// Shutdown began during the handshake.
		c.Close(conn.CloseGoingAway, "server shutting down")
		return
	}
	log := rm.log.With("remote", r.RemoteAddr, "name", m.name)
	log.Info("joined")

	var writer sync.WaitGroup
	writer.Go(func() { m.write() })
	err = rm.read(m)
	rm.leave(m)
	writer.Wait()
	m.closing.Wait()
	log.Info("left", "why", err)
}

// write sends the member's queued events until it leaves.
func (m *member) write() {
	ctx := context.Background()
	for {
		select {
		case msg := <-m.queue:
			// When the peer reads too slowly, this blocks; the room
			// then drops the member, whose Close ends the wait.
			if err := m.c.Write(ctx, conn.Text, msg); err != nil {
				return
			}
		case <-m.done:
			return
		}
	}
}

// read relays the member's messages to the room until the connection ends.
func (rm *room) read(m *member) error {
	ctx := context.Background()
	for {
		typ, msg, err := m.c.Read(ctx)
		if err != nil {
			return err
		}
		if typ != conn.Text {
			m.c.Close(conn.CloseUnsupportedData, "chat messages are text")
			return errors.New("chat: binary message")
		}
		text := strings.TrimSpace(string(msg))
		if text == "" {
			continue
		}
		rm.mu.Lock()
		rm.broadcastLocked(event{Type: "message", Name: m.name, Text: text})
		rm.mu.Unlock()
	}
}

// enter counts a WebSocket handler in, unless the room is shutting down.
func (rm *room) enter() bool {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	if rm.closing {
		return false
	}
	rm.active.Add(1)
	return true
}

// join adds m to the room under a unique name derived from the one asked
// for, welcomes it and tells the others. It reports false when the room
// is shutting down.
func (rm *room) join(m *member, name string) bool {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	if rm.closing {
		return false
	}
	m.name = rm.uniqueNameLocked(name)
	rm.broadcastLocked(event{Type: "join", Name: m.name})
	rm.members[m.name] = m
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range rm.members {
			if !yield(n) {
				return
			}
		}
	})
	rm.sendLocked(m, encode(event{Type: "welcome", Name: m.name, Members: names}))
	return true
}

// leave removes m from the room, stops its writer and tells the others.
func (rm *room) leave(m *member) {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	delete(rm.members, m.name)
	close(m.done)
	if !rm.closing {
		rm.broadcastLocked(event{Type: "leave", Name: m.name})
	}
}

func (rm *room) broadcastLocked(ev event) {
	msg := encode(ev)
	for _, m := range rm.members {
		rm.sendLocked(m, msg)
	}
}

// sendLocked queues msg for m, or drops m when its queue is full: a
// member that cannot keep up must not slow down the room, nor make it
// hold an unbounded backlog.
func (rm *room) sendLocked(m *member, msg []byte) {
	select {
	case m.queue <- msg:
		return
	default:
	}
	m.kick.Do(func() {
		rm.log.Warn("dropping a member that fell behind", "name", m.name, "queued", len(m.queue))
		// Close waits, up to the close timeout, for the writer to
		// finish its message; the room goes on meanwhile.
		m.closing.Go(func() {
			m.c.Close(conn.ClosePolicyViolation, "too slow: fell "+strconv.Itoa(len(m.queue))+" messages behind")
		})
	})
}

// uniqueNameLocked cleans up the name a member asked for and makes it
// unique in the room.
func (rm *room) uniqueNameLocked(asked string) string {
	name := strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, strings.TrimSpace(asked))
	if r := []rune(name); len(r) > 24 {
		name = string(r[:24])
	}
	if name == "" {
		rm.guests++
		name = "guest-" + strconv.Itoa(rm.guests)
	}
	unique := name
	for i := 2; rm.members[unique] != nil; i++ {
		unique = name + "-" + strconv.Itoa(i)
	}
	return unique
}

func encode(ev event) []byte {
	b, err := json.Marshal(ev)
	if err != nil {
		panic(err) // an event always encodes
	}
	return b
}

// Shutdown closes every member's connection with 1001 (going away) and
// waits for their handlers to return. When ctx ends first, the
// connections whose Close frame has not gone out are cut, the closing
// handshakes in progress are left to finish within the close timeout, and
// Shutdown returns an error wrapping ctx's (see shutdown.CloseAll).
func (rm *room) Shutdown(ctx context.Context) error {
	rm.mu.Lock()
	rm.closing = true
	open := make([]*conn.Conn, 0, len(rm.members))
	for _, m := range rm.members {
		open = append(open, m.c)
	}
	rm.mu.Unlock()

	if err := shutdown.CloseAll(ctx, open, &rm.active); err != nil {
		return fmt.Errorf("chat: %w", err)
	}
	return nil
}
