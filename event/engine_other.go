//go:build !linux

package event

import "net"

// Without epoll there are no loops: every connection is served by a
// goroutine of its own, through the same callbacks.
type engine struct{}

type loop struct{}

func (*engine) start(*Server) error { return nil }
func (*engine) goAway()             {}
func (*engine) closeAll()           {}
func (*engine) stop()               {}

// Serve accepts connections from ln and serves them, each with a goroutine
// of its own on this system, until Shutdown is called, when it returns
// ErrServerClosed. Serve closes ln when it returns.
func (s *Server) Serve(ln net.Listener) error {
	if err := s.init(); err != nil {
		return err
	}
	return s.serveGoroutines(ln)
}

// The descriptor methods are never called: every sysConn has a net.Conn.
func (*sysConn) fdQueue(*Conn)               { panic("event: no loops on this system") }
func (*sysConn) fdWrite([]byte) (int, error) { panic("event: no loops on this system") }
func (*sysConn) fdWatch(uint8)               { panic("event: no loops on this system") }
func (*sysConn) fdShutWrite() bool           { panic("event: no loops on this system") }
func (*sysConn) fdClose()                    { panic("event: no loops on this system") }
func (*sysConn) fdDetach() (net.Conn, error) { panic("event: no loops on this system") }
func (*sysConn) fdRemoteAddr() string        { panic("event: no loops on this system") }
func (*sysConn) fdArm(int64)                 { panic("event: no loops on this system") }
