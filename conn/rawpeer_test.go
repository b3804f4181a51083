package conn

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/twoway/websocket/internal/rawpeer"
)

// rawPeer adapts internal/rawpeer, a peer with its own handshake and
// framing code, to the tests of this package: a bug in our encoder or
// decoder cannot cancel out in a round trip through it.
type rawPeer struct {
	t  testing.TB
	p  *rawpeer.Peer
	nc net.Conn
}

// rawFrame is a frame as the raw peer saw it; rsv holds the bits as they
// sit in the first header byte (0x40 is RSV1).
type rawFrame struct {
	fin     bool
	rsv     byte
	op      byte
	payload []byte
}

const peerTimeout = 5 * time.Second

func newRawPeer(t testing.TB, p *rawpeer.Peer) *rawPeer {
	t.Cleanup(func() { p.Close() })
	return &rawPeer{t: t, p: p, nc: p.NetConn()}
}

func toRaw(fin bool, rsv, op byte, payload []byte) rawpeer.Frame {
	return rawpeer.Frame{Fin: fin, RSV: rsv >> 4, Opcode: op, Payload: payload}
}

// send writes one frame, masked when the peer is the client.
func (p *rawPeer) send(fin bool, rsv, op byte, payload []byte) {
	p.t.Helper()
	if err := p.p.SendFrame(toRaw(fin, rsv, op, payload)); err != nil {
		p.t.Fatalf("raw peer: %v", err)
	}
}

// sendUnmasked writes a frame without masking, whatever the role.
func (p *rawPeer) sendUnmasked(fin bool, rsv, op byte, payload []byte) {
	p.write(toRaw(fin, rsv, op, payload).Encode())
}

// encode returns the bytes of a frame as the peer's role sends it.
func (p *rawPeer) encode(fin bool, rsv, op byte, payload []byte) []byte {
	return p.p.Encode(toRaw(fin, rsv, op, payload))
}

func (p *rawPeer) write(b []byte) {
	p.t.Helper()
	if err := p.p.SendRaw(b); err != nil {
		p.t.Fatalf("raw peer: %v", err)
	}
}

// recv reads one frame and checks that its masking suits the sender's role.
func (p *rawPeer) recv() (rawFrame, error) {
	f, err := p.p.ReadFrame(peerTimeout)
	if err != nil {
		return rawFrame{}, err
	}
	if f.Masked == p.p.IsClient() {
		p.t.Errorf("frame masking is wrong for the role (masked=%v)", f.Masked)
	}
	return rawFrame{fin: f.Fin, rsv: f.RSV << 4, op: f.Opcode, payload: f.Payload}, nil
}

// expectClose reads until a Close frame and returns its code (0 when none,
// -1 when the connection ended without one).
func (p *rawPeer) expectClose() int {
	p.t.Helper()
	c, err := p.p.ExpectClose(peerTimeout)
	if err != nil || c.Close == nil {
		return -1
	}
	return int(c.Code)
}

// expectEOF checks that the other side closes TCP, then closes ours.
func (p *rawPeer) expectEOF() {
	p.t.Helper()
	if err := p.p.ExpectEOF(peerTimeout); err != nil {
		p.t.Fatalf("waiting for EOF: %v", err)
	}
	p.p.Close()
}

// dialRaw connects a raw client peer to a server URL (http://...).
func dialRaw(t testing.TB, serverURL string) *rawPeer {
	t.Helper()
	p, err := rawpeer.Dial(wsURL(serverURL), nil)
	if err != nil {
		t.Fatal(err)
	}
	return newRawPeer(t, p)
}

// serveRaw starts a raw server peer and returns its ws:// URL and a
// channel that yields the peer once a client has connected.
func serveRaw(t testing.TB) (string, <-chan *rawPeer) {
	t.Helper()
	l, err := rawpeer.Listen(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	peers := make(chan *rawPeer, 1)
	go func() {
		p, err := l.Accept(peerTimeout)
		if err != nil {
			return
		}
		peers <- &rawPeer{t: t, p: p, nc: p.NetConn()}
	}()
	return l.URL(), peers
}

// echoServer serves an echo handler built on Accept and returns its URL.
// Errors of the server side are sent on the returned channel.
func echoServer(t testing.TB, opts *AcceptOptions) (string, <-chan error) {
	t.Helper()
	errs := make(chan error, 16)
	report := func(err error) {
		select {
		case errs <- err:
		default: // nobody is listening
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, opts)
		if err != nil {
			report(err)
			return
		}
		defer c.CloseNow()
		ctx := context.Background()
		var buf []byte
		for {
			typ, msg, err := c.ReadInto(ctx, buf)
			if err != nil {
				report(err)
				return
			}
			buf = msg
			if err := c.Write(ctx, typ, msg); err != nil {
				report(err)
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL, errs
}
