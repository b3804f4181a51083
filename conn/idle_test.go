package conn

import (
	"crypto/tls"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

// TestReadIdleTypes checks which connections wait for their next message in
// a stack array rather than a pooled buffer: TCP, TLS and Unix sockets do;
// others, such as net.Pipe, cannot without the array escaping.
func TestReadIdleTypes(t *testing.T) {
	tcpPair := func(t *testing.T) (net.Conn, net.Conn) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		a, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		b, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		return a, b
	}
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
			path := filepath.Join(t.TempDir(), "s")
			ln, err := net.Listen("unix", path)
			if err != nil {
				t.Skipf("no unix sockets: %v", err)
			}
			defer ln.Close()
			defer os.Remove(path)
			a, err := net.Dial("unix", path)
			if err != nil {
				t.Fatal(err)
			}
			b, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			return a, b
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
