// Package suite is a native WebSocket conformance suite modeled on the
// Autobahn testsuite (wstest): the same cases, with the same ids, played by
// a scripted peer and judged by the same rules, but run by go test, in
// either role, against any implementation reachable over loopback.
//
// Each Case is a script for the peer (package rawpeer, which shares no code
// with the implementation): what to send, and which events the
// implementation's echo must produce (messages, pings, pongs, or nothing),
// in order. Run plays a case over a connection and judges it as Autobahn
// does: Behavior compares the events received with each expected list (OK,
// NON-STRICT, ...), and BehaviorClose judges the end of the connection: who
// sent the first Close frame, whether the closing handshake completed,
// which close code came, and, when the implementation is a server, whether
// it closed TCP first (RFC 6455 §7.1.1).
//
// The suite is stricter than wstest in three ways: a frame from the
// implementation that breaks RFC 6455 or RFC 7692 (wrong masking, reserved
// bits, invalid close codes, invalid UTF-8 in a text message, a bad
// permessage-deflate response) fails the case; a case where the
// implementation should fail the connection fails if it never does; and
// the echoes of sections 9, 12 and 13 are compared whole, not by length or
// hash.
//
// Where wstest waits a fixed time, the suite waits for the event instead:
// in 5.19 and 5.20 for the first pong; after a Close frame for the
// implementation's answer and, from a server, for the end of TCP (at most
// Options.DropTimeout, 2 s by default; wstest allows 1 s). Only 6.4.x
// still waits a fixed time (Options.Quiet), to see that the valid first
// part of a message does not fail the connection. Other differences: 3.6
// sends, as wstest does, a binary frame, though wstest describes a ping;
// the compression data of section 12 is generated, not wstest's files; and
// as a server the suite may ask any client for client_no_context_takeover
// (RFC 7692 §7.1.1.2), where wstest asks only clients whose offer has that
// parameter.
//
// The implementation under test must echo every message with its type.
//
// The package is internal: it is this repository's conformance test, run
// by its own tests against conn and by the autobahn commands, not an API.
// Its cases and judge change whenever the suite does.
package suite

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/twoway/websocket/autobahn/internal/report"
	"github.com/twoway/websocket/internal/rawpeer"
)

// Options tune a run of the suite. The zero value runs the default suite.
type Options struct {
	// Full runs sections 9, 12 and 13 at Autobahn's sizes and counts:
	// messages up to 16 MiB and 1000 round trips per case. By default
	// section 9 is scaled down 16 times in message size and 10 times in
	// round trips, and the compression cases make 3 round trips, not 1000.
	Full bool

	// Short keeps only the first case of each subsection of section 9,
	// and the first and last of each subsection of 12 and 13.
	Short bool

	// Timeout bounds each wait for the implementation, such as for an echo
	// or for the end of the connection. Conforming implementations never
	// make the suite wait this long; 0 means 10 seconds.
	Timeout time.Duration

	// Quiet is how long the suite watches for a reaction that must not
	// come, such as failing the connection on the valid first part of a
	// message in 6.4.x. 0 means 100 ms.
	Quiet time.Duration

	// DropTimeout is how long a server has to close the TCP connection
	// once both Close frames have gone by (RFC 6455 §7.1.1); after it the
	// suite drops the connection and the case is FAILED BY CLIENT. 0 means
	// 2 seconds; Autobahn allows 1.
	DropTimeout time.Duration
}

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Quiet <= 0 {
		o.Quiet = 100 * time.Millisecond
	}
	if o.DropTimeout <= 0 {
		o.DropTimeout = 2 * time.Second
	}
	return o
}

// Case is one test case of the catalogue.
type Case struct {
	ID          string // Autobahn's id, such as "6.4.1"
	Description string // what the peer does

	script  func(*session)
	deflate *deflateParams // permessage-deflate to negotiate, nil for none
}

// EventKind names what the implementation did, as Autobahn records it.
type EventKind string

// Event kinds.
const (
	Message EventKind = "message"
	Ping    EventKind = "ping"
	Pong    EventKind = "pong"
	Timeout EventKind = "timeout" // the implementation let a wait pass without failing the connection
)

// Event is one thing the implementation did.
type Event struct {
	Kind    EventKind
	Payload []byte
	Binary  bool   // a binary, not a text, message
	Label   string // names the wait of a Timeout
}

func eventsEqual(a, b []Event) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Kind != b[i].Kind || a[i].Binary != b[i].Binary || a[i].Label != b[i].Label || !bytes.Equal(a[i].Payload, b[i].Payload) {
			return false
		}
	}
	return true
}

// String describes e briefly.
func (e Event) String() string {
	switch e.Kind {
	case Timeout:
		return "timeout " + e.Label
	case Message:
		typ := "text"
		if e.Binary {
			typ = "binary"
		}
		return fmt.Sprintf("%s message of %d bytes %s", typ, len(e.Payload), quote(e.Payload))
	}
	return fmt.Sprintf("%s of %d bytes %s", e.Kind, len(e.Payload), quote(e.Payload))
}

// MarshalJSON shortens payloads for the report.
func (e Event) MarshalJSON() ([]byte, error) {
	v := struct {
		Kind    EventKind `json:"kind"`
		Length  int       `json:"length"`
		Payload string    `json:"payload,omitempty"`
		Binary  bool      `json:"binary,omitempty"`
		Label   string    `json:"label,omitempty"`
	}{e.Kind, len(e.Payload), quote(e.Payload), e.Binary, e.Label}
	return json.Marshal(v)
}

// quote shows the start of a payload: as text when it is UTF-8, else in hex.
func quote(p []byte) string {
	const show = 48
	cut := ""
	if len(p) > show {
		p, cut = p[:show], "..."
	}
	if utf8.Valid(p) {
		return strconv.Quote(string(p)) + cut
	}
	return fmt.Sprintf("0x%x%s", p, cut)
}

// Result is the verdict on one case.
type Result struct {
	ID            string          `json:"id"`
	Description   string          `json:"description"`
	Behavior      report.Behavior `json:"behavior"`
	BehaviorClose report.Behavior `json:"behaviorClose"`
	Result        string          `json:"result"`      // why Behavior
	ResultClose   string          `json:"resultClose"` // why BehaviorClose
	Duration      time.Duration   `json:"-"`           // in the report as durationMs

	Expected      map[report.Behavior][]Event `json:"expected"`
	ExpectedClose CloseExpectation            `json:"expectedClose"`
	Received      []Event                     `json:"received"`

	ClosedByMe        bool   `json:"closedByMe"`  // the suite sent the first Close frame
	DroppedByMe       bool   `json:"droppedByMe"` // the suite closed TCP
	WasClean          bool   `json:"wasClean"`    // the closing handshake completed
	RemoteCloseCode   uint16 `json:"remoteCloseCode"`
	RemoteCloseReason string `json:"remoteCloseReason"`

	Notes   []string `json:"notes,omitempty"`
	Wirelog []string `json:"wirelog"`
}

// Passed reports whether both behaviors are OK or INFORMATIONAL.
func (r Result) Passed() bool {
	return r.Behavior.Acceptable() && r.BehaviorClose.Acceptable()
}

// String summarizes r in a line.
func (r Result) String() string {
	s := fmt.Sprintf("%s: behavior %s (%s), close %s (%s), remote close code %d", r.ID, r.Behavior, r.Result, r.BehaviorClose, r.ResultClose, r.RemoteCloseCode)
	for _, n := range r.Notes {
		s += "; " + n
	}
	return s
}

// IndexEntry returns r as an entry of index.json.
func (r Result) IndexEntry(agent string) report.Result {
	e := report.Result{
		Behavior:      r.Behavior,
		BehaviorClose: r.BehaviorClose,
		Duration:      r.Duration.Milliseconds(),
		ReportFile:    report.CaseFilename(agent, r.ID, "json"),
	}
	if r.RemoteCloseCode != 0 {
		code := int(r.RemoteCloseCode)
		e.RemoteCloseCode = &code
	}
	return e
}

// Run plays c over p, which the caller has connected (see DialOptions and
// AcceptHeader), and judges the implementation on the other side. Run
// closes p.
func Run(c Case, p *rawpeer.Peer, opts Options) Result {
	opts = opts.withDefaults()
	s := newSession(p, opts)
	s.began = time.Now()
	s.deflate = c.deflate
	if c.deflate != nil {
		var err error
		s.compress, err = c.deflate.agreed(p)
		if err != nil {
			s.violation = "the implementation broke the negotiation of RFC 7692 §7.1: " + err.Error()
		}
	}
	if s.deflate == nil || s.compress != nil {
		c.script(s)
		s.finish()
	} else {
		// The implementation declined the offer: nothing to test.
		s.expectClose(true, false, 1000)
		s.sendClose(1000)
		s.finish()
	}
	p.Close()
	<-s.readEnd
	return s.judge(c)
}

// judge applies Autobahn's rules (its Case.onConnectionLost) to what the
// session saw.
func (s *session) judge(c Case) Result {
	r := Result{
		ID:                c.ID,
		Description:       c.Description,
		Behavior:          report.Failed,
		Result:            "Actual events differ from any expected.",
		Duration:          time.Since(s.began),
		Expected:          map[report.Behavior][]Event{},
		ExpectedClose:     s.expectedClose,
		Received:          s.received,
		ClosedByMe:        s.closedByMe,
		DroppedByMe:       s.droppedByMe,
		WasClean:          s.wasClean,
		RemoteCloseCode:   s.remoteCode,
		RemoteCloseReason: s.remoteReason,
		Notes:             s.notes,
		Wirelog:           s.wireLog(),
	}
	for _, e := range s.expected {
		r.Expected[e.behavior] = e.events
	}
	for _, e := range s.expected {
		if eventsEqual(s.received, e.events) {
			r.Behavior = e.behavior
			r.Result = "Actual events match at least one expected."
			break
		}
	}
	ec := s.expectedClose
	switch {
	case ec.ClosedByMe != s.closedByMe:
		r.BehaviorClose = report.Failed
		r.ResultClose = "The connection was failed by the wrong endpoint"
	case s.killed && !ec.ClosedByMe:
		r.BehaviorClose = report.Failed
		r.ResultClose = "The implementation never failed the connection"
	case ec.RequireClean && !s.wasClean:
		r.BehaviorClose = report.Unclean
		r.ResultClose = "The spec requires the connection to be failed cleanly here"
	case s.remoteCode != 0 && !containsCode(ec.Codes, s.remoteCode):
		r.BehaviorClose = report.WrongCode
		r.ResultClose = fmt.Sprintf("The close code should have been %v or empty", ec.Codes)
	case s.client && s.droppedByMe:
		r.BehaviorClose = report.FailedByClient
		r.ResultClose = "It is preferred that the server close the TCP connection"
	default:
		r.BehaviorClose = report.OK
		r.ResultClose = "Connection was properly closed"
	}
	if s.deflate != nil && s.compress == nil && s.violation == "" {
		r.Behavior, r.BehaviorClose = report.Unimplemented, report.Unimplemented
		r.Result = "The implementation did not accept the permessage-deflate offer"
	}
	if s.adjust != nil {
		s.adjust(&r)
	}
	if s.violation != "" {
		r.Behavior = report.Failed
		r.Result = s.violation
	}
	return r
}

func containsCode(codes []uint16, c uint16) bool {
	for _, x := range codes {
		if x == c {
			return true
		}
	}
	return false
}

// wrongCodeFails is the adjustment of the close cases (7.x): a wrong close
// code fails the case itself, not only its closing.
func wrongCodeFails(r *Result) {
	if r.BehaviorClose == report.WrongCode {
		r.Behavior = report.Failed
		r.Result = r.ResultClose
	}
}

// informational is the adjustment of cases whose outcome the spec leaves
// open.
func informational(r *Result) {
	switch r.Behavior {
	case report.OK:
		r.Result = "Text message was processed before close."
	case report.NonStrict:
		r.Result = "Close was processed before text message could be returned."
	}
	r.Behavior, r.BehaviorClose = report.Informational, report.Informational
}

// WriteReport writes results to dir as wstest does: dir/index.json under
// agent, and one JSON file per case with what was expected, what was
// received and a log of the frames.
func WriteReport(dir, agent string, results []Result) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("suite: %w", err)
	}
	ix := report.Index{agent: {}}
	for _, r := range results {
		e := r.IndexEntry(agent)
		ix[agent][r.ID] = e
		b, err := json.MarshalIndent(struct {
			Agent string `json:"agent"`
			Result
			DurationMS int64 `json:"durationMs"`
		}{agent, r, r.Duration.Milliseconds()}, "", "  ")
		if err != nil {
			return fmt.Errorf("suite: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, e.ReportFile), append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("suite: %w", err)
		}
	}
	f, err := os.Create(filepath.Join(dir, "index.json"))
	if err != nil {
		return fmt.Errorf("suite: %w", err)
	}
	if err := ix.Write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
