package rawpeer

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// wait bounds reads that are expected to succeed; it is generous because
// failing fast is not the point.
const wait = 5 * time.Second

// pair returns a connected client and server Peer, each having checked
// the other's handshake.
func pair(t *testing.T, lo *ListenOptions, do *DialOptions) (client, server *Peer) {
	t.Helper()
	l, err := Listen(lo)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	type result struct {
		p   *Peer
		err error
	}
	ch := make(chan result, 1)
	go func() {
		p, err := l.Accept(wait)
		ch <- result{p, err}
	}()
	client, err = Dial(l.URL(), do)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	r := <-ch
	if r.err != nil {
		t.Fatalf("Accept: %v", r.err)
	}
	t.Cleanup(func() { client.Close(); r.p.Close() })
	return client, r.p
}

func TestHandshake(t *testing.T) {
	lo := &ListenOptions{Header: func(r *http.Request) http.Header {
		return http.Header{"Sec-Websocket-Extensions": {"x-echo; offer=" + r.Header.Get("X-Offer")}}
	}}
	do := &DialOptions{Header: http.Header{"X-Offer": {"42"}}}
	c, s := pair(t, lo, do)
	if !c.IsClient() || s.IsClient() {
		t.Errorf("IsClient: client %v, server %v", c.IsClient(), s.IsClient())
	}
	if got := s.HandshakeHeader().Get("X-Offer"); got != "42" {
		t.Errorf("server saw X-Offer %q, want 42", got)
	}
	if got := c.HandshakeHeader().Get("Sec-WebSocket-Extensions"); got != "x-echo; offer=42" {
		t.Errorf("client saw Sec-WebSocket-Extensions %q", got)
	}
}

func TestAcceptKey(t *testing.T) {
	// The example of RFC 6455 §1.3.
	if got := AcceptKey("dGhlIHNhbXBsZSBub25jZQ=="); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Errorf("AcceptKey = %s", got)
	}
}

func TestMaskingByRole(t *testing.T) {
	c, s := pair(t, nil, nil)
	want := Frame{Fin: true, Opcode: OpText, Payload: []byte("Hello, world!")}
	if err := c.SendFrame(want); err != nil {
		t.Fatal(err)
	}
	got, err := s.ReadFrame(wait)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Masked {
		t.Errorf("client frame arrived unmasked")
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(Frame{}, "Masked", "Key")); diff != "" {
		t.Errorf("client to server (-want +got):\n%s", diff)
	}
	if err := s.SendFrame(want); err != nil {
		t.Fatal(err)
	}
	got, err = c.ReadFrame(wait)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("server to client (-want +got):\n%s", diff)
	}
}

func TestExactMasking(t *testing.T) {
	c, s := pair(t, nil, nil)
	// A client frame sent unmasked, and a server frame sent masked: both
	// against RFC 6455 §5.1, and both must arrive as sent.
	unmasked := Frame{Fin: true, Opcode: OpBinary, Payload: []byte{1, 2, 3}}
	masked := Frame{Fin: true, Opcode: OpBinary, Masked: true, Key: [4]byte{9, 8, 7, 6}, Payload: []byte{1, 2, 3}}
	if err := c.SendRaw(unmasked.Encode()); err != nil {
		t.Fatal(err)
	}
	if err := s.SendRaw(masked.Encode()); err != nil {
		t.Fatal(err)
	}
	if got, err := s.ReadFrame(wait); err != nil || got.Masked {
		t.Errorf("server read %v, %v; want an unmasked frame", got, err)
	}
	got, err := c.ReadFrame(wait)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(masked, got); diff != "" {
		t.Errorf("client read (-want +got):\n%s", diff)
	}
}

func TestSendChoppedAndFrames(t *testing.T) {
	c, s := pair(t, nil, nil)
	frames := []Frame{
		{Opcode: OpText, Payload: []byte("frag")},
		{Fin: true, Opcode: OpPing, Payload: []byte("ping")},
		{Fin: true, Opcode: OpContinuation, Payload: []byte(strings.Repeat("x", 300))},
	}
	var wire []byte
	for _, f := range frames {
		wire = append(wire, c.Encode(f)...)
	}
	if err := c.SendChopped(wire, 1); err != nil {
		t.Fatal(err)
	}
	if err := c.SendFrames(frames...); err != nil {
		t.Fatal(err)
	}
	for round := range 2 {
		for i, want := range frames {
			got, err := s.ReadFrame(wait)
			if err != nil {
				t.Fatalf("round %d frame %d: %v", round, i, err)
			}
			if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(Frame{}, "Masked", "Key")); diff != "" {
				t.Errorf("round %d frame %d (-want +got):\n%s", round, i, diff)
			}
		}
	}
	if err := c.SendChopped(wire, 0); err == nil {
		t.Errorf("SendChopped with chop 0: no error")
	}
}

func TestReadFrameTimeoutKeepsData(t *testing.T) {
	c, s := pair(t, nil, nil)
	wire := s.Encode(Frame{Fin: true, Opcode: OpBinary, Payload: repeat(7, 70000)})
	if err := s.SendRaw(wire[:5000]); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadFrame(50 * time.Millisecond); !IsTimeout(err) {
		t.Fatalf("ReadFrame of half a frame: %v, want a timeout", err)
	}
	if err := s.SendRaw(wire[5000:]); err != nil {
		t.Fatal(err)
	}
	got, err := c.ReadFrame(wait)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Payload) != 70000 || got.Payload[69999] != 7 {
		t.Errorf("read %v after a timeout, want the whole frame", got)
	}
}

func TestReadFrameEOF(t *testing.T) {
	c, s := pair(t, nil, nil)
	if err := s.SendRaw([]byte{0x81, 0x05, 'H', 'e'}); err != nil {
		t.Fatal(err)
	}
	if err := s.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadFrame(wait); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("ReadFrame of a frame cut short: %v, want io.ErrUnexpectedEOF", err)
	}

	c, s = pair(t, nil, nil)
	s.CloseWrite()
	if _, err := c.ReadFrame(wait); err != io.EOF {
		t.Errorf("ReadFrame at a clean end: %v, want io.EOF", err)
	}
	// The half-closed side can still be written to.
	if err := c.SendFrame(Frame{Fin: true, Opcode: OpPing}); err != nil {
		t.Fatal(err)
	}
	if f, err := s.ReadFrame(wait); err != nil || f.Opcode != OpPing {
		t.Errorf("read on a half-closed connection: %v, %v", f, err)
	}
}

func TestReadFrameTooLarge(t *testing.T) {
	c, s := pair(t, nil, nil)
	s.SendRaw([]byte{0x82, 127, 0x7f, 0, 0, 0, 0, 0, 0, 0})
	if _, err := c.ReadFrame(wait); err == nil || IsConnectionEnd(err) {
		t.Errorf("ReadFrame of a frame declaring 2^63 bytes: %v, want a size error", err)
	}
}

func TestExpectClose(t *testing.T) {
	c, s := pair(t, nil, nil)
	s.SendFrames(
		Frame{Fin: true, Opcode: OpText, Payload: []byte("last words")},
		Frame{Fin: true, Opcode: OpClose, Payload: ClosePayload(1001, "going")},
	)
	got, err := c.ExpectClose(wait)
	if err != nil {
		t.Fatal(err)
	}
	want := Closing{
		Frames: []Frame{{Fin: true, Opcode: OpText, Payload: []byte("last words")}},
		Close:  &Frame{Fin: true, Opcode: OpClose, Payload: ClosePayload(1001, "going")},
		Code:   1001,
		Reason: "going",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ExpectClose (-want +got):\n%s", diff)
	}
	s.Close()
	if err := c.ExpectEOF(wait); err != nil {
		t.Errorf("ExpectEOF after the server closed: %v", err)
	}
}

func TestExpectCloseWithoutCloseFrame(t *testing.T) {
	c, s := pair(t, nil, nil)
	s.Close()
	got, err := c.ExpectClose(wait)
	if err != nil {
		t.Fatal(err)
	}
	if !got.EOF || got.Close != nil {
		t.Errorf("ExpectClose after a drop = %+v, want EOF and no Close", got)
	}
}

func TestExpectCloseTimeout(t *testing.T) {
	c, _ := pair(t, nil, nil)
	if _, err := c.ExpectClose(20 * time.Millisecond); !IsTimeout(err) {
		t.Errorf("ExpectClose on a quiet connection: %v, want a timeout", err)
	}
}

func TestExpectEOFGetsFrame(t *testing.T) {
	c, s := pair(t, nil, nil)
	s.SendFrame(Frame{Fin: true, Opcode: OpPing})
	if err := c.ExpectEOF(wait); err == nil {
		t.Errorf("ExpectEOF with a frame coming: no error")
	}
}

func TestAcceptRejectsPlainHTTP(t *testing.T) {
	l, err := Listen(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	errc := make(chan error, 1)
	go func() {
		_, err := l.Accept(wait)
		errc <- err
	}()
	nc, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 400 {
		t.Errorf("status %d, want 400", resp.StatusCode)
	}
	var he *HandshakeError
	if err := <-errc; !errors.As(err, &he) {
		t.Errorf("Accept: %v, want a *HandshakeError", err)
	}
}

func TestDialChecksAccept(t *testing.T) {
	responses := map[string]string{
		"wrong accept": "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: AAAA\r\n\r\n",
		"refused":      "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n",
		"no upgrade":   "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\r\n",
	}
	for name, resp := range responses {
		t.Run(name, func(t *testing.T) {
			l, err := Listen(nil)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			go func() {
				p, _, err := l.AcceptRequest(wait)
				if err != nil {
					return
				}
				p.SendRaw([]byte(resp))
				time.Sleep(100 * time.Millisecond)
				p.Close()
			}()
			var he *HandshakeError
			if _, err := Dial(l.URL(), nil); !errors.As(err, &he) {
				t.Errorf("Dial: %v, want a *HandshakeError", err)
			}
		})
	}
}

func TestFramesRightAfterHandshake(t *testing.T) {
	l, err := Listen(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		p, r, err := l.AcceptRequest(wait)
		if err != nil {
			return
		}
		defer p.Close()
		// The 101 and the first frame in one write: the client must not
		// lose the frame to its HTTP reader.
		resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Accept: " + AcceptKey(r.Header.Get("Sec-WebSocket-Key")) + "\r\n\r\n"
		p.SendRaw(append([]byte(resp), 0x81, 0x02, 'h', 'i'))
		p.ExpectEOF(wait)
	}()
	c, err := Dial(l.URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	f, err := c.ReadFrame(wait)
	if err != nil || string(f.Payload) != "hi" {
		t.Errorf("first frame: %v, %v; want text hi", f, err)
	}
}

func TestDialBadURL(t *testing.T) {
	for _, u := range []string{"http://127.0.0.1:1/", "wss://127.0.0.1:1/", "::"} {
		if _, err := Dial(u, nil); err == nil {
			t.Errorf("Dial(%q): no error", u)
		}
	}
}
