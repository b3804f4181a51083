package wsclient

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"
)

// Opener opens many connections at once from one goroutine, the cheapest
// way for a load generator to measure a server's handshakes: an epoll
// loop drives InFlight non-blocking handshakes, each costing the client
// little more than its socket, bind, connect, write and read system
// calls. Dialer.Dial, through package net, adds a goroutine wake-up, a
// context watcher and half a dozen more system calls per connection,
// which made the load generator, not the server, the bound of the
// handshake rate. Open is implemented on Linux only; elsewhere it
// returns errors.ErrUnsupported and callers use Dial.
type Opener struct {
	// Sources are local addresses to bind, one connection to each in
	// turn, so that many thousands of connections do not run short of
	// ephemeral ports. None: the kernel chooses.
	Sources []netip.Addr
	// InFlight is how many handshakes are in progress at once; 0 means 32.
	InFlight int
	// Timeout bounds each handshake, from connect to the checked
	// response; 0 means 10 seconds.
	Timeout time.Duration
	// ReadBufferSize and Deflate are as in Dialer.
	ReadBufferSize int
	Deflate        bool
}

// Opened holds the connections of one Open, their handshakes done, as
// bare descriptors: turning them into Conns (Conns) costs the client more
// system calls, which are no part of the handshake rate.
type Opened struct {
	conns []*Conn // in order; nc and in are set by Conns
	fds   []int
	rest  [][]byte // bytes read after each response head
	buf   int      // read buffer size
}

// Len returns the number of connections.
func (o *Opened) Len() int { return len(o.conns) }

// Conns wraps the descriptors as Conns and returns them; o is empty
// afterwards. On error it closes every connection.
func (o *Opened) Conns() ([]*Conn, error) {
	conns := o.conns
	for i, c := range conns {
		f := os.NewFile(uintptr(o.fds[i]), "")
		nc, err := net.FileConn(f) // a duplicate: f is closed below
		f.Close()
		o.fds[i] = -1
		if err != nil {
			for _, c := range conns[:i] {
				c.Abort()
			}
			o.Close()
			return nil, fmt.Errorf("wsclient: connection %d: %w", i, err)
		}
		c.nc = nc
		c.in = make([]byte, o.buf)
		c.w = copy(c.in, o.rest[i])
	}
	*o = Opened{}
	return conns, nil
}

// Close closes the connections not yet turned into Conns, with a reset
// as Conn.Abort does.
func (o *Opened) Close() {
	for i, fd := range o.fds {
		if fd >= 0 {
			closeReset(fd)
			o.fds[i] = -1
		}
	}
}

// Open opens n connections to addr with proto, performing the WebSocket
// opening handshake for each; messages on them are drawn from p. It
// stops at the first failure, closing what it opened.
func (o *Opener) Open(ctx context.Context, addr netip.AddrPort, proto Proto, p *Payload, n int) (*Opened, error) {
	for _, s := range o.Sources {
		if s.Is4() != addr.Addr().Is4() {
			return nil, errors.New("wsclient: source and destination addresses of different families")
		}
	}
	return o.open(ctx, addr, proto, p, n)
}

// settings returns the defaults of the zero fields.
func (o *Opener) settings() (inflight int, timeout time.Duration, bufSize int) {
	inflight, timeout = o.InFlight, o.Timeout
	if inflight <= 0 {
		inflight = 32
	}
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	return inflight, timeout, readBufferSize(o.ReadBufferSize)
}
