package conn

import (
	"context"
	"net"
	"sync"
	"unicode/utf8"

	"github.com/twoway/websocket/frame"
	"github.com/twoway/websocket/internal/prepared"
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
	m prepared.Message // the frames, which package event shares
}

func init() {
	prepared.Of = func(pm any) *prepared.Message { return &pm.(*PreparedMessage).m }
}

// NewPreparedMessage returns a message of type typ holding a copy of
// data. Text must be valid UTF-8: otherwise it returns ErrInvalidUTF8.
func NewPreparedMessage(typ MessageType, data []byte) (*PreparedMessage, error) {
	if typ != Text && typ != Binary {
		return nil, errMessageType
	}
	if typ == Text && !utf8.Valid(data) {
		return nil, ErrInvalidUTF8
	}
	return &PreparedMessage{m: prepared.Message{Opcode: frame.Opcode(typ), Data: append([]byte(nil), data...)}}, nil
}

// Type returns the message's type.
func (pm *PreparedMessage) Type() MessageType { return MessageType(pm.m.Opcode) }

// Data returns the message's payload, which must not be modified.
func (pm *PreparedMessage) Data() []byte { return pm.m.Data }

// WritePrepared writes each of pms as one message, in order, as Write
// does: it is safe to call from many goroutines at once, no other message
// goes out between two of pms (a control frame, Close's say, may), its
// context works as Write's, and a small last message may wait to leave
// with other answers of an echo loop.
//
// A server writes the frames it can share in one system call (a writev),
// so that a writer that has several messages queued for a connection, as
// a broadcast hub's has, pays for one write rather than one per message.
// Once a message has been written to a connection of some form, writing
// it to others of that form allocates nothing; a frame that fits the
// output buffer's free space is copied there, a larger one goes to the
// socket straight from the message. A client masks every message with a
// key of its own (RFC 6455 §5.3), and a connection with context takeover
// compresses its own copy of each message that it compresses; both write
// through the output buffer, in as few system calls as it allows.
//
// It returns at the first error, which is what the same messages written
// by one call each would have returned: the messages before it have been
// sent (or, like those of Write, will be within 200 µs), and the
// connection is open or closed by the same rules as for Write. A context
// that ends between two messages leaves the connection open.
func (c *Conn) WritePrepared(ctx context.Context, pms ...*PreparedMessage) error {
	if err := c.lock(ctx, &c.msem); err != nil {
		return err
	}
	var err error
	for len(pms) > 0 && err == nil {
		if c.ownCompressed(pms[0]) {
			err = c.writeCompressed(ctx, pms[0].Type(), pms[0].Data())
			pms = pms[1:]
			continue
		}
		if err = c.lock(ctx, &c.wsem); err != nil {
			break
		}
		var n int
		if c.client {
			n, err = c.writeMasked(ctx, pms)
		} else {
			n, err = c.writeShared(ctx, pms)
		}
		c.wsem.release()
		pms = pms[n:]
	}
	c.msem.release()
	return err
}

// ownCompressed reports whether this connection compresses pm itself,
// rather than sending it plain or in a form shared with others.
func (c *Conn) ownCompressed(pm *PreparedMessage) bool {
	if c.compress == nil || len(pm.m.Data) < c.compress.threshold {
		return false
	}
	if c.client {
		return true
	}
	_, shared := c.compress.deflate.Shared()
	return !shared // context takeover
}

// frameKey returns the form of pm that this server connection sends; pm
// is not one it compresses itself.
func (c *Conn) frameKey(pm *PreparedMessage) int {
	if c.compress == nil {
		return prepared.Plain
	}
	k, _ := prepared.Form(c.compress.deflate, c.compress.threshold, len(pm.m.Data))
	return k
}

// beginBatch checks that messages may be sent and has ctx watched while
// they are, as writeFrame does for one frame. The caller holds wsem.
func (c *Conn) beginBatch(ctx context.Context) error {
	if c.isClosed() || c.sent.Load() != nil {
		return c.closedError()
	}
	if err := c.watch(ctx, &c.wwatch, true); err != nil {
		return &prefixedError{"websocket: ", err}
	}
	return nil
}

// writeShared writes the leading messages of pms that this server sends
// in a shared form, and returns how many it took. The caller holds wsem.
func (c *Conn) writeShared(ctx context.Context, pms []*PreparedMessage) (int, error) {
	if err := c.beginBatch(ctx); err != nil {
		return 0, err
	}
	if c.out == nil {
		c.out = getBuffer(c.cfg.writeBufferSize)
	}
	// Frames are copied into the output buffer while they fit, and
	// gathered from the messages themselves once they do not; vec is
	// taken only then.
	var vec *vectors
	start := 0 // of the bytes in out not yet in vec: held ones go first
	n := 0
	var err error
	for ; n < len(pms) && err == nil; n++ {
		pm := pms[n]
		if c.ownCompressed(pm) {
			break
		}
		var b []byte
		if b, err = pm.m.Frame(c.frameKey(pm)); err != nil {
			break // made nothing: the connection is as it was
		}
		out := *c.out
		if len(b) <= len(out)-c.outN {
			c.outN += copy(out[c.outN:], b)
			continue
		}
		if vec == nil {
			vec = getVectors()
		}
		if c.outN > start {
			vec.add(out[start:c.outN])
		}
		vec.add(b)
		start = c.outN
		if vec.full() {
			// Write what is gathered, and go on with an empty buffer.
			wctx := ctx
			if ended := ctx.Done() != nil && ctx.Err() != nil; ended {
				// Whole frames: they go out as a returned Write's
				// would, and the connection stays open.
				c.wwatch.Load().unwatch()
				wctx, err = context.Background(), &prefixedError{"websocket: ", ctx.Err()}
			}
			if werr := c.writeVectors(wctx, vec); werr != nil {
				err = werr
			}
			if err != nil {
				putVectors(vec)
				return n + 1, err
			}
			start = 0 // writeVectors emptied out
		}
	}
	if vec != nil && len(vec.iov) > 0 {
		if c.outN > start {
			vec.add((*c.out)[start:c.outN])
		}
		werr := c.writeVectors(ctx, vec)
		putVectors(vec)
		c.releaseOut()
		if werr != nil {
			return n, werr
		}
		return n, err
	}
	if vec != nil {
		putVectors(vec)
	}
	if c.outN == 0 {
		return n, err
	}
	if n == len(pms) && err == nil && c.readAhead.Load() {
		c.armFlush()
		return n, nil
	}
	if ferr := c.flushOut(); ferr != nil {
		return n, c.lostWrite(ctx, ferr)
	}
	return n, err
}

// writeVectors writes what vec gathered, the output buffer's bytes among
// it, with one writev, and empties both, keeping the output buffer. The
// caller holds wsem and watches ctx.
func (c *Conn) writeVectors(ctx context.Context, vec *vectors) error {
	vec.vec = vec.iov
	_, err := vec.vec.WriteTo(c.nc)
	clear(vec.iov) // let the messages go
	vec.iov, vec.vec = vec.iov[:0], nil
	c.outN = 0
	if err != nil {
		c.releaseOut()
		return c.lostWrite(ctx, err)
	}
	return nil
}

// lostWrite ends the connection after a write under ctx's watch failed.
func (c *Conn) lostWrite(ctx context.Context, err error) error {
	err = c.lost(ctx, err)
	c.wwatch.Load().unwatch()
	return err
}

// writeMasked writes the leading messages of pms that this client sends
// uncompressed, each masked with a fresh key, and returns how many it
// took. The caller holds wsem.
func (c *Conn) writeMasked(ctx context.Context, pms []*PreparedMessage) (int, error) {
	if err := c.beginBatch(ctx); err != nil {
		return 0, err
	}
	cancelable := ctx.Done() != nil
	n := 0
	for ; n < len(pms) && !c.ownCompressed(pms[n]); n++ {
		if cancelable && n > 0 && ctx.Err() != nil {
			// Between two messages: what this call holds is whole
			// frames, sent as a returned Write's would be.
			return n, c.endEarly(ctx)
		}
		last := n == len(pms)-1 || c.ownCompressed(pms[n+1])
		hold := !last || c.readAhead.Load()
		pm := pms[n]
		if err := c.writeFrameRaw(true, 0, pm.m.Opcode, pm.m.Data, hold); err != nil {
			return n, c.lostWrite(ctx, err)
		}
	}
	return n, nil
}

// endEarly sends the frames held in the output buffer after ctx ended
// between two messages, and returns ctx's error: the connection stays
// open, as it does when a context ends before a message begins.
func (c *Conn) endEarly(ctx context.Context) error {
	c.wwatch.Load().unwatch() // undoes the deadline ctx set
	if err := c.flushOut(); err != nil {
		c.lost(context.Background(), err)
	}
	return &prefixedError{"websocket: ", ctx.Err()}
}

// maxVectors bounds the buffers of one writev: Linux takes up to 1024
// (IOV_MAX), and a gathered write of more gains nothing.
const maxVectors = 64

// vectors is the scratch space of a gathered write, pooled so that a
// connection holds it only while it writes.
type vectors struct {
	iov [][]byte
	vec net.Buffers // what WriteTo consumes
	arr [maxVectors][]byte
}

var vectorPool sync.Pool

func getVectors() *vectors {
	if v, ok := vectorPool.Get().(*vectors); ok {
		return v
	}
	v := new(vectors)
	v.iov = v.arr[:0]
	return v
}

func putVectors(v *vectors) {
	clear(v.iov)
	v.iov = v.iov[:0]
	vectorPool.Put(v)
}

func (v *vectors) add(b []byte) { v.iov = append(v.iov, b) }

// full reports that the next frame may need two more buffers than fit.
func (v *vectors) full() bool { return len(v.iov) >= maxVectors-2 }
