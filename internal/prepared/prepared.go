// Package prepared holds a message sent to many connections together with
// its frames, encoded once for each form the message takes on the wire,
// so that every package that writes such messages shares them: conn's
// PreparedMessage is one, and package event writes it to its own
// connections, reaching it through Of.
package prepared

import (
	"sync"
	"sync/atomic"

	"github.com/twoway/websocket/frame"
	"github.com/twoway/websocket/internal/pmdeflate"
)

// A Message is a data message and the server frames made of it so far.
// It is safe for use by many goroutines at once.
type Message struct {
	Opcode frame.Opcode // OpText or OpBinary
	Data   []byte       // never modified

	mu    sync.Mutex             // held while a form is made
	forms atomic.Pointer[[]form] // read without the lock
}

// form is the message's frame as one kind of connection sends it.
type form struct {
	key   int // Plain, or the compressor's pmdeflate Shared key
	frame []byte
}

// Plain is the form of a message that a server sends uncompressed.
const Plain = -1

// Of returns the Message of a *conn.PreparedMessage. Package conn sets it
// when it is initialized, before any package that imports conn, such as
// event, can call it. It lives here because event cannot see inside
// conn's types, and conn exports nothing that users do not need.
var Of func(pm any) *Message

// Form returns the form of a message of n bytes that a server connection
// compressing with d (nil if it does not compress) and threshold sends:
// Plain, or d's Shared key. It reports false when the connection
// compresses the message itself, because its compressor keeps context
// from one message to the next (RFC 7692 §7.2.1).
func Form(d *pmdeflate.Compressor, threshold, n int) (key int, shared bool) {
	if d == nil || n < threshold {
		return Plain, true
	}
	return d.Shared()
}

// Frame returns the message's frame in the given form, a value of Form,
// making it the first time that form is asked for. The frame is shared:
// it must not be modified.
func (m *Message) Frame(key int) ([]byte, error) {
	if forms := m.forms.Load(); forms != nil {
		for _, f := range *forms {
			if f.key == key {
				return f.frame, nil
			}
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var forms []form
	if p := m.forms.Load(); p != nil {
		forms = *p
		for _, f := range forms {
			if f.key == key { // made while we waited for the lock
				return f.frame, nil
			}
		}
	}
	payload, rsv := m.Data, byte(0)
	if key != Plain {
		var err error
		if payload, err = pmdeflate.CompressMessage(nil, m.Data, key); err != nil {
			return nil, err
		}
		rsv = frame.RSV1 // RFC 7692 §6: the message is compressed
	}
	h := frame.Header{Fin: true, RSV: rsv, Opcode: m.Opcode, Length: int64(len(payload))}
	b := frame.AppendHeader(make([]byte, 0, frame.MaxHeaderSize+len(payload)), h)
	b = append(b, payload...)
	// Readers hold the old slice: publish a new one.
	forms = append(forms[:len(forms):len(forms)], form{key, b})
	m.forms.Store(&forms)
	return b, nil
}

// Forms returns how many forms of the message have been made.
func (m *Message) Forms() int {
	if p := m.forms.Load(); p != nil {
		return len(*p)
	}
	return 0
}
