package wsclient

import (
	"context"
	"fmt"
	"net/netip"
	"syscall"
	"time"
)

// handshake is one Opener handshake in progress.
type handshake struct {
	fd       int // -1: the slot is free
	i        int // index of the connection
	wrote    bool
	deadline time.Time
	req      []byte // reused for every connection of the slot
	sent     int    // bytes of req written
	accept   [acceptLen]byte
	resp     []byte // reused response buffer; resp[:n] has been read
	n        int
}

// respBuffer bounds a response head; an upgrade answer is a few hundred
// bytes.
const respBuffer = 4 << 10

func (o *Opener) open(ctx context.Context, addr netip.AddrPort, proto Proto, p *Payload, n int) (*Opened, error) {
	inflight, timeout, bufSize := o.settings()
	out := &Opened{conns: make([]*Conn, n), fds: make([]int, n), rest: make([][]byte, n), buf: bufSize}
	for i := range out.fds {
		out.fds[i] = -1
	}
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("wsclient: epoll_create1: %w", err)
	}
	// Closing the epoll instance also drops every registration, so the
	// descriptors leave it by themselves.
	defer syscall.Close(epfd)

	var ext string
	if proto == WebSocket {
		ext, _ = (&Conn{p: p}).offer(o.Deflate)
	}
	tmpl := newRequest(addr.String(), ext)
	slots := make([]handshake, min(inflight, n))
	for k := range slots {
		slots[k] = handshake{fd: -1, resp: make([]byte, respBuffer)}
	}
	family, dst := sockaddr(addr)
	srcs := make([]syscall.Sockaddr, len(o.Sources))
	for i, a := range o.Sources {
		_, srcs[i] = sockaddr(netip.AddrPortFrom(a, 0))
	}
	next, done := 0, 0
	now := time.Now()

	// start begins connection next on slot k.
	start := func(k int) error {
		h := &slots[k]
		*h = handshake{fd: -1, i: next, deadline: now.Add(timeout), req: h.req[:0], resp: h.resp}
		next++
		fd, err := syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("socket: %w", err)
		}
		h.fd = fd
		if len(srcs) > 0 {
			if err := syscall.Bind(fd, srcs[h.i%len(srcs)]); err != nil {
				return fmt.Errorf("bind: %w", err)
			}
		}
		if err := syscall.Connect(fd, dst); err != nil && err != syscall.EINPROGRESS {
			return fmt.Errorf("connect: %w", err)
		}
		// On loopback the connection is usually established by the time
		// connect returns, so the request goes out before the socket is
		// even registered, and only its readability is waited for.
		events := uint32(syscall.EPOLLIN | syscall.EPOLLRDHUP | -syscall.EPOLLET)
		if proto == WebSocket {
			h.req = tmpl.next(h.req, &h.accept)
			if err := h.write(); err != nil {
				return err
			}
		}
		if !h.wrote {
			events |= syscall.EPOLLOUT
		}
		// The event names the slot and the connection: a finished
		// connection stays registered, and its later events (a server's
		// first message, say) must not be taken for the slot's next one.
		ev := syscall.EpollEvent{Events: events, Fd: int32(k), Pad: int32(h.i)}
		if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
			return fmt.Errorf("epoll_ctl: %w", err)
		}
		return nil
	}
	// finish hands the connection of slot k over to out.
	finish := func(k int, c *Conn) {
		h := &slots[k]
		out.conns[h.i], out.fds[h.i] = c, h.fd
		h.fd = -1
		done++
	}
	// step advances slot k on readiness ev; it reports whether the
	// handshake is over.
	step := func(k int, ev uint32) (bool, error) {
		h := &slots[k]
		if proto == RawTCP {
			// Writable or failed: connect's outcome is in SO_ERROR.
			errno, err := syscall.GetsockoptInt(h.fd, syscall.SOL_SOCKET, syscall.SO_ERROR)
			if err == nil && errno != 0 {
				err = syscall.Errno(errno)
			}
			if err != nil {
				return false, fmt.Errorf("connect: %w", err)
			}
			finish(k, &Conn{proto: proto, p: p})
			return true, nil
		}
		if !h.wrote {
			if ev&(syscall.EPOLLOUT|syscall.EPOLLERR|syscall.EPOLLHUP) == 0 {
				return false, nil
			}
			if err := h.write(); err != nil || !h.wrote {
				return false, err
			}
		}
		if ev&(syscall.EPOLLIN|syscall.EPOLLERR|syscall.EPOLLHUP|syscall.EPOLLRDHUP) == 0 {
			return false, nil
		}
		end, err := h.read()
		if err != nil || end < 0 {
			return false, err
		}
		c := &Conn{proto: proto, p: p}
		_, judge := c.offer(o.Deflate)
		agreed, err := checkHead(h.resp[:end-4], h.accept[:], judge)
		if err != nil {
			return false, err
		}
		c.deflate = agreed
		if p.text && c.text == nil {
			c.text = &textState{plain: true}
		}
		if end < h.n {
			out.rest[h.i] = append([]byte(nil), h.resp[end:h.n]...)
		}
		finish(k, c)
		return true, nil
	}

	fail := func(err error) (*Opened, error) {
		for _, h := range slots {
			if h.fd >= 0 {
				closeReset(h.fd)
			}
		}
		out.Close()
		return nil, err
	}
	for k := range slots {
		if err := start(k); err != nil {
			return fail(fmt.Errorf("wsclient: connection %d: %w", slots[k].i, err))
		}
	}
	events := make([]syscall.EpollEvent, len(slots))
	lastCheck := now
	for done < n {
		m, err := syscall.EpollWait(epfd, events, 50)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return fail(fmt.Errorf("wsclient: epoll_wait: %w", err))
		}
		now = time.Now()
		for _, ev := range events[:m] {
			k := int(ev.Fd)
			if slots[k].fd < 0 || ev.Pad != int32(slots[k].i) {
				continue
			}
			over, err := step(k, ev.Events)
			if err != nil {
				return fail(fmt.Errorf("wsclient: connection %d: %w", slots[k].i, err))
			}
			if over && next < n {
				if err := start(k); err != nil {
					return fail(fmt.Errorf("wsclient: connection %d: %w", slots[k].i, err))
				}
			}
		}
		// The deadlines and ctx are looked at a few times a second
		// rather than for every event.
		if now.Sub(lastCheck) < 50*time.Millisecond {
			continue
		}
		lastCheck = now
		if err := ctx.Err(); err != nil {
			return fail(err)
		}
		for _, h := range slots {
			if h.fd >= 0 && now.After(h.deadline) {
				return fail(fmt.Errorf("wsclient: connection %d: %w: no response within %v", h.i, errHandshake, timeout))
			}
		}
	}
	return out, nil
}

// write sends what is left of the request, if the socket takes it.
func (h *handshake) write() error {
	for h.sent < len(h.req) {
		k, err := syscall.Write(h.fd, h.req[h.sent:])
		if err == syscall.EAGAIN {
			return nil // not connected yet, or full: wait for EPOLLOUT
		}
		if err != nil {
			return fmt.Errorf("%w: %w", errHandshake, err)
		}
		h.sent += k
	}
	h.wrote = true
	return nil
}

// read reads what has arrived and returns the length of the response head
// with its blank line, or -1 while it is incomplete.
func (h *handshake) read() (int, error) {
	for {
		if h.n == len(h.resp) {
			return -1, fmt.Errorf("%w: response head over %d bytes", errHandshake, len(h.resp))
		}
		k, err := syscall.Read(h.fd, h.resp[h.n:])
		switch {
		case err == syscall.EAGAIN:
			return -1, nil
		case err != nil:
			return -1, fmt.Errorf("%w: %w", errHandshake, err)
		case k == 0:
			return -1, fmt.Errorf("%w: connection closed after %q", errHandshake, h.resp[:h.n])
		}
		h.n += k
		if end := headEnd(h.resp[:h.n]); end >= 0 {
			return end, nil
		}
	}
}

// sockaddr returns the socket address of ap and its family.
func sockaddr(ap netip.AddrPort) (int, syscall.Sockaddr) {
	if ap.Addr().Is4() {
		return syscall.AF_INET, &syscall.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	}
	return syscall.AF_INET6, &syscall.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
}

// closeReset closes fd with a TCP reset, as Conn.Abort does.
func closeReset(fd int) {
	syscall.SetsockoptLinger(fd, syscall.SOL_SOCKET, syscall.SO_LINGER, &syscall.Linger{Onoff: 1})
	syscall.Close(fd)
}
