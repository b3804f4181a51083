package conn

import (
	"crypto/tls"
	"net"
	"net/http/httptest"
	"path/filepath"
	"testing"
)

// TestReadIdleTypes checks which connections wait for their next message in
// a stack array rather than a pooled buffer: TCP, TLS and Unix sockets do;
// others, such as net.Pipe, cannot without the array escaping.
func TestReadIdleTypes(t *testing.T) {
	// pair connects a client to a listener on network and address.
	pair := func(t *testing.T, network, address string) (net.Conn, net.Conn) {
		ln, err := net.Listen(network, address)
		if err != nil {
			t.Skipf("cannot listen on %s: %v", network, err)
		}
		defer ln.Close()
		a, err := net.Dial(network, ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		b, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		return a, b
	}
	tcpPair := func(t *testing.T) (net.Conn, net.Conn) { return pair(t, "tcp", "127.0.0.1:0") }
	for _, tt := range []struct {
		name  string
		pair  func(t *testing.T) (ours, peer net.Conn)
		stack bool
	}{
		{"tcp", tcpPair, true},
		{"tls", func(t *testing.T) (net.Conn, net.Conn) {
			a, b := tcpPair(t)
			// Borrow the test server's certificate; the client does not
			// check it.
			srv := httptest.NewUnstartedServer(nil)
			srv.StartTLS()
			defer srv.Close()
			return tls.Server(a, srv.TLS.Clone()), tls.Client(b, &tls.Config{InsecureSkipVerify: true})
		}, true},
		{"unix", func(t *testing.T) (net.Conn, net.Conn) {
			return pair(t, "unix", filepath.Join(t.TempDir(), "s"))
		}, true},
		{"pipe", func(t *testing.T) (net.Conn, net.Conn) { return net.Pipe() }, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ours, peer := tt.pair(t)
			defer ours.Close()
			defer peer.Close()
			go peer.Write([]byte("\x82\x01x"))
			c := newConn(ours, nil, true, "", newSettings(0, 0, 0, 0, 0, 0))
			ok, err := c.readIdle()
			if ok != tt.stack || err != nil {
				t.Fatalf("readIdle = %v, %v; want %v, nil", ok, err, tt.stack)
			}
			if ok {
				if got := string(c.rd.buf[c.rd.pos:c.rd.end]); got != "\x82\x01x"[:len(got)] || got == "" {
					t.Fatalf("buffered %q, want a prefix of the frame sent", got)
				}
			}
		})
	}
}
