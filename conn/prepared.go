package conn

import (
	"context"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/twoway/websocket/frame"
	"github.com/twoway/websocket/internal/pmdeflate"
)

// A PreparedMessage is a message to be sent to many connections, encoded
// once for each form it takes on the wire rather than once per connection:
// a server sends every connection the same frame, and compresses the
// message once for all connections that compress without context
// takeover with the same window and level. Connections that keep context
// between messages compress their own copy, since their output depends on
// what they sent before, and clients mask their own copy (RFC 6455 §5.3).
//
// A PreparedMessage is safe for use by many goroutines at once.
type PreparedMessage struct {
	typ  MessageType
	data []byte

	mu    sync.Mutex                     // held while a form is made
	forms atomic.Pointer[[]preparedForm] // read without the lock
}

// preparedForm is a message's frame as one kind of connection sends it.
type preparedForm struct {
	key   int // plainForm, or the compressor's pmdeflate Shared key
	frame []byte
}

const plainForm = -1

// NewPreparedMessage returns a message of type typ holding a copy of
// data. Text must be valid UTF-8: otherwise it returns ErrInvalidUTF8.
func NewPreparedMessage(typ MessageType, data []byte) (*PreparedMessage, error) {
	if typ != Text && typ != Binary {
		return nil, errMessageType
	}
	if typ == Text && !utf8.Valid(data) {
		return nil, ErrInvalidUTF8
	}
	return &PreparedMessage{typ: typ, data: append([]byte(nil), data...)}, nil
}

// Type returns the message's type.
func (pm *PreparedMessage) Type() MessageType { return pm.typ }

// Data returns the message's payload, which must not be modified.
func (pm *PreparedMessage) Data() []byte { return pm.data }

// frame returns the message's frame for connections of the given form,
// making it the first time that form is asked for.
func (pm *PreparedMessage) frame(key int) ([]byte, error) {
	if forms := pm.forms.Load(); forms != nil {
		for _, f := range *forms {
			if f.key == key {
				return f.frame, nil
			}
		}
	}
	pm.mu.Lock()
	defer pm.mu.Unlock()
	var forms []preparedForm
	if p := pm.forms.Load(); p != nil {
		forms = *p
		for _, f := range forms {
			if f.key == key { // made while we waited for the lock
				return f.frame, nil
			}
		}
	}
	payload, rsv := pm.data, byte(0)
	if key != plainForm {
		var err error
		if payload, err = pmdeflate.CompressMessage(nil, pm.data, key); err != nil {
			return nil, err
		}
		rsv = frame.RSV1 // RFC 7692 §6: the message is compressed
	}
	h := frame.Header{Fin: true, RSV: rsv, Opcode: frame.Opcode(pm.typ), Length: int64(len(payload))}
	b := frame.AppendHeader(make([]byte, 0, frame.MaxHeaderSize+len(payload)), h)
	b = append(b, payload...)
	// Readers hold the old slice: publish a new one.
	forms = append(forms[:len(forms):len(forms)], preparedForm{key, b})
	pm.forms.Store(&forms)
	return b, nil
}

// WritePrepared writes pm as one message, as Write does: it is safe to
// call from many goroutines at once, its context works as Write's, and a
// small message may wait to leave with other answers of an echo loop.
// Once pm has been written to a connection of some form, writing it to
// others of that form allocates nothing and copies the frame once, into
// the output buffer (a large frame goes to the socket straight from pm).
func (c *Conn) WritePrepared(ctx context.Context, pm *PreparedMessage) error {
	if c.client {
		return c.Write(ctx, pm.typ, pm.data) // masked with a key of its own
	}
	key := plainForm
	if c.compress != nil && len(pm.data) >= c.compress.threshold {
		k, ok := c.compress.deflate.Shared()
		if !ok {
			return c.Write(ctx, pm.typ, pm.data) // context takeover
		}
		key = k
	}
	b, err := pm.frame(key)
	if err != nil {
		return err
	}
	if err := c.lock(ctx, &c.msem); err != nil {
		return err
	}
	if err = c.lock(ctx, &c.wsem); err == nil {
		err = c.writeEncoded(ctx, b, c.readAhead.Load())
		c.wsem.release()
	}
	c.msem.release()
	return err
}

// writeEncoded writes a frame that is encoded already, as writeFrame
// writes one it encodes. The caller holds wsem; we are the server.
func (c *Conn) writeEncoded(ctx context.Context, b []byte, hold bool) error {
	if c.isClosed() || c.sent.Load() != nil {
		return c.closedError()
	}
	if err := c.watch(ctx, &c.wwatch, true); err != nil {
		return &prefixedError{"websocket: ", err}
	}
	if err := c.writeEncodedRaw(b, hold); err != nil {
		err = c.lost(ctx, err)
		c.wwatch.Load().unwatch()
		return err
	}
	return nil
}

func (c *Conn) writeEncodedRaw(b []byte, hold bool) error {
	if c.out == nil {
		c.out = getBuffer(c.cfg.writeBufferSize)
	}
	if c.outN > 0 && len(b) > len(*c.out)-c.outN {
		if err := c.flushOut(); err != nil {
			return err
		}
		c.out = getBuffer(c.cfg.writeBufferSize)
	}
	if len(b) > len(*c.out)-c.outN {
		return c.writeLarge(frame.Header{}, b) // one writev of what is pending and b
	}
	c.outN += copy((*c.out)[c.outN:], b)
	if hold {
		c.armFlush()
		return nil
	}
	return c.flushOut()
}
