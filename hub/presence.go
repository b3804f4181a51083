package hub

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"time"

	"github.com/twoway/websocket/conn"
)

// What hubs say to each other through the broker. Every envelope starts
// with its kind and the 16-byte origin of the hub that sent it.
const (
	kindMessage  = 'm' // then the message type, then the payload
	kindPresence = 'p' // then the names of the origin's members, each uvarint-prefixed
	kindQuery    = 'q' // a hub new to the room asks the others to announce
)

// Topics: a room's messages, and its presence. A room's name is
// hex-encoded, so that a topic is letters, digits and dots: a broker with
// restricted names (NATS subjects) escapes little else.
func messageTopic(room string) string  { return "room." + hex.EncodeToString([]byte(room)) }
func presenceTopic(room string) string { return "presence." + hex.EncodeToString([]byte(room)) }

func (h *Hub) envelope(kind byte, extra int) []byte {
	b := make([]byte, 0, 1+len(h.origin)+extra)
	b = append(b, kind)
	return append(b, h.origin[:]...)
}

func (h *Hub) encodeMessage(pm *conn.PreparedMessage) []byte {
	b := h.envelope(kindMessage, 1+len(pm.Data()))
	b = append(b, byte(pm.Type()))
	return append(b, pm.Data()...)
}

// subscribe subscribes to the room's topics, the first time a member here
// joins it, and asks the other hubs who is there.
func (h *Hub) subscribe(r *room) error {
	b := h.opts.Broker
	unMsg, err := b.Subscribe(messageTopic(r.name), func(data []byte) { h.received(r.name, data) })
	if err != nil {
		return err
	}
	unPres, err := b.Subscribe(presenceTopic(r.name), func(data []byte) { h.receivedPresence(r.name, data) })
	if err != nil {
		unMsg()
		return err
	}
	h.mu.Lock()
	if h.rooms[r.name] == r {
		r.unsub = append(r.unsub, unMsg, unPres)
		h.mu.Unlock()
	} else { // emptied while we subscribed
		h.mu.Unlock()
		unMsg()
		unPres()
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), h.opts.PresenceInterval)
	defer cancel()
	return b.Publish(ctx, presenceTopic(r.name), h.envelope(kindQuery, 0))
}

// received delivers a message another hub published to the room.
func (h *Hub) received(room string, data []byte) {
	if len(data) < 1+len(h.origin)+1 || data[0] != kindMessage || bytes.Equal(data[1:17], h.origin[:]) {
		return
	}
	pm, err := conn.NewPreparedMessage(conn.MessageType(data[17]), data[18:])
	if err != nil {
		return // not from a hub of ours
	}
	h.deliver(room, pm)
}

// receivedPresence records what another hub says of its members of the
// room, or answers a hub that asks.
func (h *Hub) receivedPresence(room string, data []byte) {
	if len(data) < 1+len(h.origin) || bytes.Equal(data[1:17], h.origin[:]) {
		return
	}
	var origin [16]byte
	copy(origin[:], data[1:17])
	switch data[0] {
	case kindQuery:
		h.membersChanged(room)
	case kindPresence:
		var names []string
		for rest := data[17:]; len(rest) > 0; {
			n, k := binary.Uvarint(rest)
			if k <= 0 || uint64(len(rest)-k) < n {
				return
			}
			names = append(names, string(rest[k:k+int(n)]))
			rest = rest[k+int(n):]
		}
		h.mu.Lock()
		if r := h.rooms[room]; r != nil {
			if len(names) == 0 {
				delete(r.remote, origin)
			} else {
				r.remote[origin] = &remoteNames{names: names, seen: time.Now()}
			}
		}
		h.mu.Unlock()
	}
}

// announce tells the other hubs who is in the room here; an empty list
// tells them this hub has left it.
func (h *Hub) announce(room string) {
	if h.opts.Broker == nil {
		return
	}
	h.announceMu.Lock()
	defer h.announceMu.Unlock()
	h.mu.RLock()
	size := 0
	var names []string
	if r := h.rooms[room]; r != nil {
		names = make([]string, 0, len(r.members))
		for _, cl := range r.members {
			names = append(names, cl.name)
			size += binary.MaxVarintLen64 + len(cl.name)
		}
	}
	h.mu.RUnlock()
	b := h.envelope(kindPresence, size)
	for _, n := range names {
		b = binary.AppendUvarint(b, uint64(len(n)))
		b = append(b, n...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), h.opts.PresenceInterval)
	defer cancel()
	h.opts.Broker.Publish(ctx, presenceTopic(room), b)
}

// membersChanged has the room's members announced soon. Changes that
// come together, as when many members join at once, share one
// announcement: announcing each would send a list as long as the room
// for every member that joins it.
func (h *Hub) membersChanged(room string) {
	if h.opts.Broker == nil {
		return
	}
	h.mu.Lock()
	h.changed[room] = struct{}{}
	h.mu.Unlock()
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

// announceChanged announces the rooms whose members changed.
func (h *Hub) announceChanged() {
	h.mu.Lock()
	rooms := make([]string, 0, len(h.changed))
	for name := range h.changed {
		rooms = append(rooms, name)
	}
	clear(h.changed)
	h.mu.Unlock()
	for _, name := range rooms {
		h.announce(name)
	}
}

// announceLoop announces the rooms whose members changed, a moment after
// the first change so that a burst goes out as one announcement each,
// and every room with members here every interval, so that other hubs
// keep them and learn of a crash by silence.
func (h *Hub) announceLoop() {
	delay := min(20*time.Millisecond, h.opts.PresenceInterval/4)
	t := time.NewTicker(h.opts.PresenceInterval)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-h.kick:
			select {
			case <-h.stop:
				return
			case <-time.After(delay):
			}
			h.announceChanged()
			continue
		case <-t.C:
		}
		h.mu.Lock()
		rooms := make([]string, 0, len(h.rooms)+len(h.changed))
		for name := range h.rooms {
			rooms = append(rooms, name)
		}
		for name := range h.changed { // announced now with the rest
			if h.rooms[name] == nil { // left: announced empty
				rooms = append(rooms, name)
			}
		}
		clear(h.changed)
		h.mu.Unlock()
		for _, name := range rooms {
			h.announce(name)
		}
	}
}
