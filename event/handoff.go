package event

import (
	"net"
	"net/http"
	"sync"
)

// handHTTP gives a connection whose request is not a WebSocket handshake
// to Server.HTTP. pre is what was read of it.
func (s *Server) handHTTP(nc net.Conn, pre []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutdown.Load() {
		nc.Close()
		return
	}
	if s.httpSrv == nil {
		s.httpLn = &handoffListener{conns: make(chan net.Conn, 256), done: make(chan struct{}), addr: nc.LocalAddr()}
		s.httpSrv = &http.Server{Handler: s.HTTP, ReadHeaderTimeout: s.settings.hsTimeout}
		s.goWG.Add(1)
		go func() {
			defer s.goWG.Done()
			s.httpSrv.Serve(s.httpLn)
		}()
	}
	select {
	case s.httpLn.conns <- &prefixConn{Conn: nc, pre: pre}:
	default:
		nc.Close() // HTTP is not keeping up
	}
}

// handoffListener passes the connections handed to HTTP to its server.
type handoffListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
	addr  net.Addr
}

func (l *handoffListener) Accept() (net.Conn, error) {
	select {
	case nc := <-l.conns:
		return nc, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *handoffListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *handoffListener) Addr() net.Addr { return l.addr }

// prefixConn reads pre before what its Conn reads.
type prefixConn struct {
	net.Conn
	pre []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.pre) > 0 {
		n := copy(p, c.pre)
		c.pre = c.pre[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}
