package conn

import (
	"bytes"
	"crypto/tls"
	"net"
	"net/http/httptest"
	"path/filepath"
	"testing"
)

// TestAwaitMessage checks that a connection of each kind waits for its next
// message in the reader's idle buffer and then buffers what has arrived in
// a pooled buffer, without waiting for the rest of the frame: the parser
// must see the first bytes at once, so that invalid UTF-8 fails fast.
func TestAwaitMessage(t *testing.T) {
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
		name string
		pair func(t *testing.T) (ours, peer net.Conn)
	}{
		{"tcp", tcpPair},
		{"tls", func(t *testing.T) (net.Conn, net.Conn) {
			a, b := tcpPair(t)
			// Borrow the test server's certificate; the client does not
			// check it.
			srv := httptest.NewUnstartedServer(nil)
			srv.StartTLS()
			defer srv.Close()
			return tls.Server(a, srv.TLS.Clone()), tls.Client(b, &tls.Config{InsecureSkipVerify: true})
		}},
		{"unix", func(t *testing.T) (net.Conn, net.Conn) {
			return pair(t, "unix", filepath.Join(t.TempDir(), "s"))
		}},
		{"pipe", func(t *testing.T) (net.Conn, net.Conn) { return net.Pipe() }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ours, peer := tt.pair(t)
			defer ours.Close()
			defer peer.Close()
			// A binary frame of 300 bytes, longer than the idle buffer,
			// of which only the start comes before the test is done.
			frame := append([]byte{0x82, 126, 1, 44}, bytes.Repeat([]byte{'x'}, 300)...)
			go peer.Write(frame[:100])
			c := newConn(ours, nil, true, "", newSettings(0, 0, 0, 0, 0, 0))
			c.awaitMessage()
			r := &c.rd
			if r.pending != nil {
				t.Fatalf("awaitMessage kept error %v", r.pending)
			}
			if got := r.buf[r.pos:r.end]; len(got) == 0 || !bytes.Equal(got, frame[:len(got)]) {
				t.Fatalf("buffered %q, want a prefix of the frame sent", got)
			}
		})
	}
}
