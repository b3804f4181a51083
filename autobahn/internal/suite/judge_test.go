package suite

import (
	"net/http"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/twoway/websocket/autobahn/internal/report"
	"github.com/twoway/websocket/internal/rawpeer"
)

// fake is a small echo endpoint, on rawpeer, that can be told to break
// the rules in one way or another. It checks little: only what the cases
// below need.
type fake struct {
	noEcho     bool   // swallow data messages
	noPong     bool   // ignore pings
	echoRSV    bool   // accept and echo reserved bits
	failCode   uint16 // close code for protocol errors; 0 means 1002
	utf8AtEnd  bool   // check text only when the message is complete
	keepTCP    bool   // never close TCP: leave it to the other side
	neverFail  bool   // ignore every protocol error
	maskFrames bool   // mask what it sends, as only a client may
	noMask     bool   // send unmasked, as only a server may
	wrongEcho  bool   // echo text messages as binary
}

// serve runs the endpoint on p until the connection ends.
func (f fake) serve(p *rawpeer.Peer) {
	defer p.Close()
	send := func(fr rawpeer.Frame) {
		fr.Fin = true
		if f.maskFrames || f.noMask {
			fr.Masked, fr.Key = f.maskFrames, [4]byte{1, 2, 3, 4}
			p.SendRaw(fr.Encode())
			return
		}
		p.SendFrame(fr)
	}
	end := func() {
		if f.keepTCP {
			// Read until the other side gives up.
			for {
				if _, err := p.ReadFrame(0); err != nil {
					return
				}
			}
		}
	}
	fail := func(code uint16) {
		if f.neverFail {
			return
		}
		if f.failCode != 0 {
			code = f.failCode
		}
		send(rawpeer.Frame{Opcode: rawpeer.OpClose, Payload: rawpeer.ClosePayload(code, "")})
		p.ExpectClose(time.Second)
		end()
	}
	var msg []byte
	var op byte
	for {
		fr, err := p.ReadFrame(0)
		if err != nil {
			return
		}
		if fr.RSV != 0 && !f.echoRSV {
			fail(1002)
			return
		}
		switch fr.Opcode {
		case rawpeer.OpText, rawpeer.OpBinary, rawpeer.OpContinuation:
			if fr.Opcode != rawpeer.OpContinuation {
				op, msg = fr.Opcode, nil
			}
			msg = append(msg, fr.Payload...)
			if op == rawpeer.OpText && !f.utf8AtEnd && !validPrefix(msg) {
				fail(1007)
				return
			}
			if !fr.Fin {
				continue
			}
			if op == rawpeer.OpText && !utf8.Valid(msg) {
				fail(1007)
				return
			}
			if f.noEcho {
				continue
			}
			echoOp := op
			if f.wrongEcho && op == rawpeer.OpText {
				echoOp = rawpeer.OpBinary
			}
			send(rawpeer.Frame{Opcode: echoOp, RSV: fr.RSV, Payload: msg})
		case rawpeer.OpPing:
			if len(fr.Payload) > 125 {
				fail(1002)
				if !f.neverFail {
					return
				}
			}
			if !f.noPong {
				send(rawpeer.Frame{Opcode: rawpeer.OpPong, Payload: fr.Payload})
			}
		case rawpeer.OpClose:
			send(rawpeer.Frame{Opcode: rawpeer.OpClose, Payload: rawpeer.ClosePayload(1000, "")})
			end()
			return
		}
	}
}

// validPrefix reports whether b could begin valid UTF-8.
func validPrefix(b []byte) bool {
	for k := 0; k < utf8.UTFMax && k <= len(b); k++ {
		head, tail := b[:len(b)-k], b[len(b)-k:]
		if utf8.Valid(head) && (len(tail) == 0 || !utf8.FullRune(tail)) {
			return true
		}
	}
	return false
}

func caseByID(t *testing.T, id string) Case {
	t.Helper()
	for _, c := range Cases(Options{Short: true}) {
		if c.ID == id {
			return c
		}
	}
	t.Fatalf("no case %s", id)
	return Case{}
}

// runAgainstFake plays case id with the suite as client, against f as
// the server.
func runAgainstFake(t *testing.T, id string, f fake) Result {
	t.Helper()
	l, err := rawpeer.Listen(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Not a second: building the cases before the dial can take
		// longer on a loaded machine under -race. 0 is rawpeer's 10 s.
		p, err := l.Accept(0)
		if err != nil {
			return
		}
		f.serve(p)
	}()
	c := caseByID(t, id)
	p, err := rawpeer.Dial(l.URL(), c.DialOptions())
	if err != nil {
		t.Fatal(err)
	}
	r := Run(c, p, fakeOptions)
	<-done
	return r
}

// fakeOptions bound the waits for a fake that answers late or never. A
// fake that answers does so at once, but a loaded machine may not run it
// for a few hundred milliseconds, which must not turn an OK into a
// failure: the bounds are seconds, and the cases run in parallel so that
// those that wait them out wait together. Quiet is a wait during which a
// fake must not act, which a late fake cannot break.
var fakeOptions = Options{Timeout: 2 * time.Second, Quiet: 50 * time.Millisecond, DropTimeout: 2 * time.Second}

// runAgainstFakeClient plays case id with the suite as server, against f
// as the client.
func runAgainstFakeClient(t *testing.T, id string, f fake) Result {
	t.Helper()
	c := caseByID(t, id)
	l, err := rawpeer.Listen(&rawpeer.ListenOptions{Header: c.AcceptHeader})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		p, err := rawpeer.Dial(l.URL(), nil)
		if err != nil {
			return
		}
		f.serve(p)
	}()
	p, err := l.Accept(0)
	if err != nil {
		t.Fatal(err)
	}
	r := Run(c, p, fakeOptions)
	<-done
	return r
}

func TestJudgeClientRole(t *testing.T) {
	tests := []struct {
		name          string
		id            string
		fake          fake
		behavior      report.Behavior
		behaviorClose report.Behavior
	}{
		{"conforming echo", "5.6", fake{}, report.OK, report.OK},
		{"conforming failure", "2.5", fake{}, report.OK, report.OK},
		{"client that does not mask", "1.2.1", fake{noMask: true}, report.Failed, report.Unclean},
		{"client that never fails", "5.18", fake{neverFail: true}, report.Failed, report.Failed},
		{"wrong close code", "6.3.1", fake{failCode: 1002}, report.OK, report.WrongCode},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := runAgainstFakeClient(t, tc.id, tc.fake)
			if r.Behavior != tc.behavior || r.BehaviorClose != tc.behaviorClose {
				t.Errorf("got %s; want behavior %s, close %s\n%v", r, tc.behavior, tc.behaviorClose, r.Wirelog)
			}
		})
	}
}

func TestJudge(t *testing.T) {
	tests := []struct {
		name          string
		id            string
		fake          fake
		behavior      report.Behavior
		behaviorClose report.Behavior
	}{
		{"conforming echo", "1.1.2", fake{}, report.OK, report.OK},
		{"conforming failure", "3.1", fake{}, report.OK, report.OK},
		{"fail fast", "6.4.1", fake{}, report.OK, report.OK},
		{"fail fast in one frame", "6.4.3", fake{}, report.NonStrict, report.OK}, // the fake checks whole frames only
		{"no echo", "1.1.2", fake{noEcho: true}, report.Failed, report.OK},
		{"echo of the wrong type", "1.1.2", fake{wrongEcho: true}, report.Failed, report.OK},
		{"no pong", "2.2", fake{noPong: true}, report.Failed, report.OK},
		{"wrong close code", "3.1", fake{failCode: 1000}, report.OK, report.WrongCode},
		{"wrong close code fails a close case", "7.9.1", fake{}, report.Failed, report.WrongCode}, // the fake answers 1000
		{"UTF-8 checked at the end only", "6.4.1", fake{utf8AtEnd: true}, report.NonStrict, report.OK},
		{"server keeps TCP open", "1.1.2", fake{keepTCP: true}, report.OK, report.Unclean},
		{"server keeps TCP open after failing", "2.5", fake{keepTCP: true}, report.OK, report.FailedByClient},
		{"never fails", "2.5", fake{neverFail: true}, report.Failed, report.Failed},
		{"echoes reserved bits", "3.1", fake{echoRSV: true}, report.Failed, report.Failed},
		{"masks as a server", "1.1.2", fake{maskFrames: true}, report.Failed, report.Unclean},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := runAgainstFake(t, tc.id, tc.fake)
			if r.Behavior != tc.behavior || r.BehaviorClose != tc.behaviorClose {
				t.Errorf("got %s; want behavior %s, close %s\n%v", r, tc.behavior, tc.behaviorClose, r.Wirelog)
			}
		})
	}
}

func TestJudgeNegotiation(t *testing.T) {
	tests := []struct {
		name     string
		id       string
		response string
		behavior report.Behavior
	}{
		{"declined", "12.1.1", "", report.Unimplemented},
		{"window larger than asked", "13.3.1", "permessage-deflate; server_max_window_bits=9", report.Failed},
		{"requested takeover missing", "13.2.1", "permessage-deflate", report.Failed},
		{"unknown parameter", "12.1.1", "permessage-deflate; x=1", report.Failed},
		{"extension not offered", "12.1.1", "x-other", report.Failed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, err := rawpeer.Listen(&rawpeer.ListenOptions{Header: func(*http.Request) http.Header {
				if tc.response == "" {
					return nil
				}
				return http.Header{"Sec-Websocket-Extensions": {tc.response}}
			}})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			done := make(chan struct{})
			go func() {
				defer close(done)
				if p, err := l.Accept(0); err == nil {
					fake{}.serve(p)
				}
			}()
			c := caseByID(t, tc.id)
			p, err := rawpeer.Dial(l.URL(), c.DialOptions())
			if err != nil {
				t.Fatal(err)
			}
			r := Run(c, p, fakeOptions)
			<-done
			if r.Behavior != tc.behavior {
				t.Errorf("got %s; want behavior %s", r, tc.behavior)
			}
		})
	}
}
