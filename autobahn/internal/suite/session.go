package suite

import (
	"bytes"
	"fmt"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/twoway/websocket/autobahn/internal/report"
	"github.com/twoway/websocket/internal/rawpeer"
)

// session plays one case against the implementation: the scripted half of
// the connection, as Autobahn's fuzzer is. It sends what the case script
// says, answers pings, runs its side of the closing handshake, and records
// what the implementation does, to be judged when the connection is over.
//
// One goroutine reads frames into a queue; everything else, the script
// included, runs on the goroutine that called Run, so the protocol state
// needs no locking.
type session struct {
	p      *rawpeer.Peer
	opts   Options
	client bool // the session is the client: the implementation is a server

	// The reader goroutine's queue.
	mu      sync.Mutex
	queue   []incoming
	notify  chan struct{}
	readEnd chan struct{}

	// What the case expects.
	expected      []expectation
	expectedClose CloseExpectation
	suppressClose bool           // the script runs the closing handshake itself
	adjust        func(*Result)  // case-specific corrections to the verdict
	deflate       *deflateParams // permessage-deflate to negotiate, nil for none
	compress      *compressor    // set when the handshake agreed on compression

	// What happened.
	received    []Event
	inMessage   bool
	msgOpcode   byte
	msgDeflated bool
	msgBuf      []byte

	closeSent, closeReceived bool
	closedByMe               bool // the session sent the first Close frame
	droppedByMe              bool // the session closed the TCP connection
	wasClean                 bool // both Close frames went by, and TCP closed in order
	ended                    bool // the TCP connection is over
	killed                   bool // the session gave up waiting and dropped TCP
	remoteCode               uint16
	remoteReason             string
	violation                string // the first protocol violation by the implementation
	notes                    []string

	began    time.Time
	wirelog  []string // the first entries
	wiretail []string // the last entries, a ring once full
	wireLost int      // entries overwritten in wiretail
}

// incoming is a frame, or the error that ended reading.
type incoming struct {
	f   rawpeer.Frame
	err error
}

type expectation struct {
	behavior report.Behavior
	events   []Event
}

// CloseExpectation is how a case expects the connection to end.
type CloseExpectation struct {
	ClosedByMe   bool     `json:"closedByMe"`   // the suite, not the implementation, sends the first Close frame
	RequireClean bool     `json:"requireClean"` // the closing handshake must complete
	Codes        []uint16 `json:"closeCode"`    // the close codes allowed from the implementation
}

// maxWirelog bounds the wire log kept for the report.
const maxWirelog = 200

func newSession(p *rawpeer.Peer, opts Options) *session {
	s := &session{
		p:       p,
		opts:    opts,
		client:  p.IsClient(),
		notify:  make(chan struct{}, 1),
		readEnd: make(chan struct{}),
	}
	go s.read()
	return s
}

// read runs on its own goroutine, queueing frames until the connection
// ends.
func (s *session) read() {
	defer close(s.readEnd)
	for {
		f, err := s.p.ReadFrame(0)
		s.mu.Lock()
		s.queue = append(s.queue, incoming{f, err})
		s.mu.Unlock()
		select {
		case s.notify <- struct{}{}:
		default:
		}
		if err != nil {
			return
		}
	}
}

func (s *session) take() []incoming {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queue
	s.queue = nil
	return q
}

// logf adds an entry to the wire log, which keeps the first and the last
// maxWirelog/2 entries.
func (s *session) logf(format string, args ...any) {
	ms := float64(time.Since(s.began).Microseconds()) / 1000
	e := fmt.Sprintf("%9.3fms ", ms) + fmt.Sprintf(format, args...)
	if len(s.wirelog) < maxWirelog/2 {
		s.wirelog = append(s.wirelog, e)
		return
	}
	if len(s.wiretail) < maxWirelog/2 {
		s.wiretail = append(s.wiretail, e)
		return
	}
	s.wiretail[s.wireLost%len(s.wiretail)] = e
	s.wireLost++
}

// wireLog returns the wire log in order, noting what was left out.
func (s *session) wireLog() []string {
	out := append([]string(nil), s.wirelog...)
	if s.wireLost > 0 {
		out = append(out, fmt.Sprintf("... %d entries not kept", s.wireLost))
	}
	k := s.wireLost % max(len(s.wiretail), 1)
	out = append(out, s.wiretail[k:]...)
	return append(out, s.wiretail[:k]...)
}

// pump handles incoming frames until done reports true, the connection
// ends, or d passes. It reports whether done became true.
func (s *session) pump(d time.Duration, done func() bool) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		if done != nil && done() {
			return true
		}
		if s.ended {
			return false
		}
		if items := s.take(); len(items) > 0 {
			for _, it := range items {
				s.handle(it)
			}
			continue
		}
		select {
		case <-s.notify:
		case <-timer.C:
			return done != nil && done()
		}
	}
}

// handle acts on one frame from the implementation, as a conforming
// endpoint would, and records what the case is judged on.
func (s *session) handle(it incoming) {
	if it.err != nil {
		s.connectionLost(it.err)
		return
	}
	f := it.f
	s.logf("RX %v", f)
	if s.ended {
		return
	}
	if why := s.check(f); why != "" {
		s.protocolViolation(why)
		return
	}
	switch f.Opcode {
	case rawpeer.OpText, rawpeer.OpBinary:
		s.inMessage = true
		s.msgOpcode = f.Opcode
		s.msgDeflated = f.RSV&rawpeer.RSV1 != 0
		s.msgBuf = append([]byte(nil), f.Payload...)
		if f.Fin {
			s.messageDone()
		}
	case rawpeer.OpContinuation:
		s.msgBuf = append(s.msgBuf, f.Payload...)
		if f.Fin {
			s.messageDone()
		}
	case rawpeer.OpPing:
		s.record(Event{Kind: Ping, Payload: f.Payload})
		if !s.closeSent {
			s.send(rawpeer.Frame{Fin: true, Opcode: rawpeer.OpPong, Payload: f.Payload})
		}
	case rawpeer.OpPong:
		s.record(Event{Kind: Pong, Payload: f.Payload})
	case rawpeer.OpClose:
		s.closeFrame(f.Payload)
	}
}

// check returns why f breaks RFC 6455, or "".
func (s *session) check(f rawpeer.Frame) string {
	switch {
	case s.closeReceived:
		return fmt.Sprintf("sent %v after its Close frame", f)
	case f.Masked && s.client:
		return "sent a masked frame, as only a client may (RFC 6455 §5.1)"
	case !f.Masked && !s.client:
		return "sent an unmasked frame, as only a server may (RFC 6455 §5.1)"
	case f.Opcode > rawpeer.OpBinary && f.Opcode < rawpeer.OpClose || f.Opcode > rawpeer.OpPong:
		return fmt.Sprintf("sent a frame with reserved opcode %d", f.Opcode)
	case f.IsControl() && (!f.Fin || len(f.Payload) > 125):
		return fmt.Sprintf("sent a bad control frame %v (RFC 6455 §5.5)", f)
	case f.RSV != 0 && !(s.compress != nil && f.RSV == rawpeer.RSV1 && (f.Opcode == rawpeer.OpText || f.Opcode == rawpeer.OpBinary)):
		return fmt.Sprintf("set reserved bits %d on %v", f.RSV, f)
	case f.Opcode == rawpeer.OpContinuation && !s.inMessage:
		return "sent a continuation frame outside a message"
	case (f.Opcode == rawpeer.OpText || f.Opcode == rawpeer.OpBinary) && s.inMessage:
		return "began a message before the last one ended"
	}
	return ""
}

func (s *session) messageDone() {
	s.inMessage = false
	payload := s.msgBuf
	s.msgBuf = nil
	if s.msgDeflated {
		var err error
		if payload, err = s.compress.inflate(payload); err != nil {
			s.protocolViolation(fmt.Sprintf("sent a message that does not inflate: %v", err))
			return
		}
	}
	if s.msgOpcode == rawpeer.OpText && !utf8.Valid(payload) {
		s.protocolViolation("sent a text message that is not UTF-8")
		return
	}
	s.record(Event{Kind: Message, Payload: payload, Binary: s.msgOpcode == rawpeer.OpBinary})
}

// record adds an event and, as Autobahn does, starts the closing
// handshake as soon as the events match what the case expects.
func (s *session) record(e Event) {
	s.received = append(s.received, e)
	s.finishWhenDone()
}

// finishWhenDone sends the case's Close frame once the events received
// match every expected list, when the case wants the session to close.
func (s *session) finishWhenDone() {
	if len(s.expected) == 0 || !s.expectedClose.ClosedByMe || s.suppressClose {
		return
	}
	for _, e := range s.expected {
		if !eventsEqual(s.received, e.events) {
			return
		}
	}
	s.sendClose(s.expectedClose.Codes[0])
}

// closeFrame handles the implementation's Close frame.
func (s *session) closeFrame(payload []byte) {
	code, reason, err := rawpeer.ParseClose(payload)
	if err != nil {
		s.protocolViolation(fmt.Sprintf("sent a bad Close payload %x: %v", payload, err))
		return
	}
	if code != 0 && !codeValidOnWire(code) {
		s.protocolViolation(fmt.Sprintf("sent close code %d, which may not be sent (RFC 6455 §7.4)", code))
		return
	}
	s.closeReceived = true
	s.remoteCode, s.remoteReason = code, reason
	// Answer with 1000, as Autobahn does by default (RFC 6455 §5.5.1
	// allows any code).
	s.sendClose(1000)
	s.handshakeDone()
}

// handshakeDone finishes the connection once both Close frames have gone
// by: a server closes TCP now; a client waits for the server to do so
// (RFC 6455 §7.1.1), which the end of Run bounds.
func (s *session) handshakeDone() {
	if !s.closeSent || !s.closeReceived {
		return
	}
	if !s.client {
		s.wasClean = true
		s.drop()
	}
}

// codeValidOnWire reports whether a close code may be sent (RFC 6455
// §7.4.1 and §7.4.2; 1012..1014 are registered at IANA since).
func codeValidOnWire(code uint16) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}

// connectionLost records the end of the TCP connection.
func (s *session) connectionLost(err error) {
	if s.ended {
		return
	}
	s.ended = true
	if !rawpeer.IsConnectionEnd(err) {
		s.protocolViolation(fmt.Sprintf("sent garbage: %v", err))
		return
	}
	s.logf("TCP closed by the implementation (%v)", err)
	if s.closeSent && s.closeReceived && s.client {
		s.wasClean = true // the server closed TCP after the handshake
	}
}

// protocolViolation fails the connection as a conforming endpoint would
// (RFC 6455 §7.1.7) and marks the case failed.
func (s *session) protocolViolation(why string) {
	if s.violation == "" {
		s.violation = "the implementation " + why
	}
	s.logf("violation: %s", why)
	s.sendClose(1002)
	s.drop()
}

// drop closes the TCP connection.
func (s *session) drop() {
	if s.ended {
		return
	}
	s.logf("TCP closed by the session")
	s.ended = true
	s.droppedByMe = true
	s.p.Close()
}

// send writes frames in one write; write errors are logged, since the
// implementation may rightly have closed the connection already.
func (s *session) send(frames ...rawpeer.Frame) {
	var b []byte
	for _, f := range frames {
		s.logf("TX %v", f)
		b = append(b, s.encode(f)...)
	}
	s.write(b, 0)
}

// encode masks f as the session's role requires.
func (s *session) encode(f rawpeer.Frame) []byte { return s.p.Encode(f) }

func (s *session) write(b []byte, chop int) {
	if s.ended || len(b) == 0 {
		return
	}
	var err error
	if chop > 0 {
		err = s.p.SendChopped(b, chop)
	} else {
		err = s.p.SendRaw(b)
	}
	if err != nil {
		s.logf("write failed: %v", err)
	}
}

// sendClose starts or answers the closing handshake, once.
func (s *session) sendClose(code uint16) {
	s.sendCloseFrame(rawpeer.ClosePayload(code, ""))
}

// sendCloseFrame sends a Close frame with any payload, once: the first
// Close frame decides who closed the connection.
func (s *session) sendCloseFrame(payload []byte) {
	if s.closeSent || s.ended {
		return
	}
	s.closeSent = true
	if !s.closeReceived {
		s.closedByMe = true
	}
	s.send(rawpeer.Frame{Fin: true, Opcode: rawpeer.OpClose, Payload: payload})
	s.handshakeDone()
}

// finish waits for the connection to end after the script has run, as
// Autobahn's closeAfter and killAfter timers do: within opts.Timeout for
// the implementation to act, and within opts.DropTimeout for a server to
// close TCP once both Close frames have gone by.
func (s *session) finish() {
	s.finishWhenDone()
	handshakeDone := func() bool { return s.ended || s.closeSent && s.closeReceived }
	if !s.pump(s.opts.Timeout, handshakeDone) {
		if s.closeSent || !s.expectedClose.ClosedByMe {
			s.killed = true
			s.notes = append(s.notes, fmt.Sprintf("the connection did not end within %v; the session dropped it", s.opts.Timeout))
			s.drop()
			return
		}
		// closeAfter: start the handshake ourselves, and give it time.
		s.notes = append(s.notes, "the events never matched; the session closed the connection")
		s.sendClose(1000)
		if !s.pump(s.opts.Timeout, handshakeDone) {
			s.killed = true
			s.notes = append(s.notes, "the implementation did not answer the Close frame")
			s.drop()
			return
		}
	}
	if s.ended {
		return
	}
	// Only a client gets here: a server drops TCP as soon as the
	// handshake is done. RFC 6455 §7.1.1 has the server close first.
	if !s.pump(s.opts.DropTimeout, func() bool { return s.ended }) {
		s.notes = append(s.notes, fmt.Sprintf("the server did not close the TCP connection within %v of the closing handshake", s.opts.DropTimeout))
		s.drop()
	}
}

// The script's vocabulary.

// expect adds a list of events that earns behavior b. The lists are
// tried in the order added.
func (s *session) expect(b report.Behavior, events ...Event) {
	s.expected = append(s.expected, expectation{b, events})
}

// expectClose sets how the connection must end.
func (s *session) expectClose(byMe, requireClean bool, codes ...uint16) {
	s.expectedClose = CloseExpectation{ClosedByMe: byMe, RequireClean: requireClean, Codes: codes}
}

// expectEcho expects events, then a clean close started by the session
// with 1000: the path of every well-formed case.
func (s *session) expectEcho(events ...Event) {
	s.expect(report.OK, events...)
	s.expectClose(true, true, 1000)
}

// expectFail expects the implementation to fail the connection with one
// of codes, after the events in ok.
func (s *session) expectFail(ok []Event, codes ...uint16) {
	s.expect(report.OK, ok...)
	s.expectClose(false, false, codes...)
}

// sendSync sends each frame in a write of its own ("frame-wise chops").
func (s *session) sendSync(frames ...rawpeer.Frame) {
	for _, f := range frames {
		s.send(f)
	}
}

// sendChopped sends frames cut into writes of chop bytes.
func (s *session) sendChopped(chop int, frames ...rawpeer.Frame) {
	var b []byte
	for _, f := range frames {
		s.logf("TX %v in chops of %d", f, chop)
		b = append(b, s.encode(f)...)
	}
	s.write(b, chop)
}

// sendRaw sends bytes as they are.
func (s *session) sendRaw(b []byte, what string) {
	s.logf("TX %d bytes: %s", len(b), what)
	s.write(b, 0)
}

// open reports whether neither side has begun to close.
func (s *session) open() bool {
	return !s.ended && !s.closeSent && !s.closeReceived
}

// closing reports whether the implementation has begun to close.
func (s *session) closing() bool { return s.ended || s.closeReceived }

// timeout waits d for the implementation to begin closing. If it does not,
// a timeout event with label is recorded and timeout reports true, for the
// script to go on.
func (s *session) timeout(label string, d time.Duration) bool {
	s.pump(d, s.closing)
	if !s.open() {
		return false
	}
	s.received = append(s.received, Event{Kind: Timeout, Label: label})
	return true
}

// waitEvents waits, within opts.Timeout, until n events have been
// received.
func (s *session) waitEvents(n int) bool {
	return s.pump(s.opts.Timeout, func() bool { return len(s.received) >= n })
}

// bytesOf returns n bytes of pattern repeated.
func bytesOf(pattern string, n int) []byte {
	b := bytes.Repeat([]byte(pattern), n/len(pattern)+1)
	return b[:n]
}

// roundTrips sends each message of want after the echo of the last, as
// Autobahn's round-trip cases do (9.7, 9.8, 12.x, 13.x), and expects the
// echoes in order. It stops at the first wrong echo and closes.
func (s *session) roundTrips(want []Event, send func(Event)) {
	s.expectEcho(want...)
	for i, e := range want {
		send(e)
		if !s.waitEvents(i + 1) {
			return
		}
		if !eventsEqual(s.received[i:i+1], want[i:i+1]) {
			s.notes = append(s.notes, fmt.Sprintf("echo %d of %d differs: got %v, want %v", i+1, len(want), s.received[i], e))
			s.sendClose(1000)
			return
		}
		// Share the expected payload: large runs would otherwise hold
		// every echo twice.
		s.received[i].Payload = e.Payload
	}
}
