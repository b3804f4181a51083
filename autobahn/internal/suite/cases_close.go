package suite

import (
	"fmt"

	"github.com/twoway/websocket/autobahn/internal/report"
	"github.com/twoway/websocket/internal/rawpeer"
)

// closeCase is a case of section 7 whose script starts the closing
// handshake itself.
func closeCase(id, desc string, byMe, clean bool, codes []uint16, script func(s *session)) Case {
	return Case{ID: id, Description: desc, script: func(s *session) {
		s.expect(report.OK)
		s.expectClose(byMe, clean, codes...)
		s.suppressClose = true
		s.adjust = wrongCodeFails
		script(s)
	}}
}

// Section 7: close handling.
func closeCases() []Case {
	hello := []byte("Hello World!")
	normal := []uint16{1000}
	sendClose := func(code uint16, reason string) func(*session) {
		return func(s *session) { s.sendCloseFrame(rawpeer.ClosePayload(code, reason)) }
	}
	cs := []Case{
		{ID: "7.1.1", Description: "Send a message, then close.", script: func(s *session) {
			s.expectEcho(textEvent(hello))
			s.adjust = wrongCodeFails
			s.send(textFrame(hello))
		}},
		closeCase("7.1.2", "Send two close frames.", true, true, normal, func(s *session) {
			s.sendClose(1000)
			s.send(dataFrame(rawpeer.OpClose, true, nil))
		}),
		closeCase("7.1.3", "Send a ping after the close frame.", true, true, normal, func(s *session) {
			s.sendClose(1000)
			s.send(pingFrame(hello))
		}),
		closeCase("7.1.4", "Send a text message after the close frame.", true, true, normal, func(s *session) {
			s.sendClose(1000)
			s.send(textFrame(hello))
		}),
		closeCase("7.1.5", "Send a message fragment, then close, then the last fragment.", true, true, normal, func(s *session) {
			s.send(dataFrame(rawpeer.OpText, false, []byte("fragment1")))
			s.sendClose(1000)
			s.send(dataFrame(rawpeer.OpContinuation, true, []byte("fragment2")))
		}),
		{ID: "7.1.6", Description: "Send a 256 KiB message, then a small one, then close, then a ping.", script: func(s *session) {
			// Whether the echoes come before the Close is up to the
			// implementation: the case is informational.
			s.expect(report.OK, textEvent(hello))
			s.expect(report.NonStrict)
			s.expectClose(true, true, 1000)
			s.suppressClose = true
			s.adjust = informational
			s.send(textFrame(bytesOf("BAsd7&jh23", 256<<10)), textFrame(hello))
			s.sendClose(1000)
			s.send(pingFrame(nil))
		}},
		closeCase("7.3.1", "Send a close frame with payload length 0 (no close code, no close reason).", true, true, normal,
			func(s *session) { s.sendCloseFrame(nil) }),
		closeCase("7.3.2", "Send a close frame with payload length 1.", true, false, []uint16{1002},
			func(s *session) { s.sendCloseFrame([]byte("a")) }),
		closeCase("7.3.3", "Send a close frame with close code and no close reason.", true, true, normal, sendClose(1000, "")),
		closeCase("7.3.4", "Send a close frame with close code and close reason.", true, true, normal, sendClose(1000, "Hello World!")),
		closeCase("7.3.5", "Send a close frame with close code and close reason of maximum length (123).", true, true, normal,
			sendClose(1000, string(bytesOf("*", 123)))),
		closeCase("7.3.6", "Send a close frame with close code and close reason which is too long (124): 126 octets of payload.", true, false, []uint16{1002},
			sendClose(1000, string(bytesOf("*", 124)))),
		closeCase("7.5.1", "Send a close frame with a close reason that is not UTF-8.", true, false, []uint16{1002, 1007},
			sendClose(1000, kosme+"\xed\xa0\x80edited")),
	}
	for i, code := range []uint16{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999} {
		cs = append(cs, closeCase(fmt.Sprintf("7.7.%d", i+1), fmt.Sprintf("Send close with valid close code %d.", code),
			true, true, []uint16{1000, code}, sendClose(code, "")))
	}
	for i, code := range []uint16{0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999} {
		cs = append(cs, closeCase(fmt.Sprintf("7.9.%d", i+1), fmt.Sprintf("Send close with invalid close code %d.", code),
			true, false, []uint16{1002}, func(s *session) {
				// ClosePayload treats 0 as "no code"; send it explicitly.
				s.sendCloseFrame([]byte{byte(code >> 8), byte(code)})
			}))
	}
	for i, code := range []uint16{5000, 65535} {
		cs = append(cs, Case{ID: fmt.Sprintf("7.13.%d", i+1), Description: fmt.Sprintf("Send close with close code %d.", code),
			script: func(s *session) {
				// What to do with codes beyond the registry's range is not
				// defined by the spec.
				s.expect(report.OK)
				s.expectClose(true, false, 1000, code, 1002)
				s.suppressClose = true
				s.adjust = func(r *Result) {
					r.Behavior, r.BehaviorClose = report.Informational, report.Informational
					r.Result = "Actual events are undefined by the spec."
				}
				s.sendCloseFrame([]byte{byte(code >> 8), byte(code)})
			}})
	}
	return cs
}

// Section 9: limits and performance. Autobahn only checks that each echo
// arrives; the suite compares it whole.
func limitCases(opts Options) []Case {
	scale := func(n int) int {
		if opts.Full {
			return n
		}
		return n / 16
	}
	rounds := 1000
	if !opts.Full {
		rounds = 100
	}
	const (
		KiB = 1 << 10
		MiB = 1 << 20
	)
	var cs []Case
	add := func(c Case, first bool) {
		if opts.Short && !first {
			return
		}
		cs = append(cs, c)
	}
	for sub, text := range []bool{true, false} {
		for i, n := range []int{64 * KiB, 256 * KiB, 1 * MiB, 4 * MiB, 8 * MiB, 16 * MiB} {
			p, ev, f := limitPayload(text, scale(n))
			add(echoCase(fmt.Sprintf("9.%d.%d", 1+sub, i+1),
				fmt.Sprintf("Send %s message with payload of length %d.", kind(text), len(p)),
				0, []Event{ev}, f), i == 0)
		}
	}
	for sub, text := range []bool{true, false} {
		for i, frag := range []int{64, 256, 1 * KiB, 4 * KiB, 16 * KiB, 64 * KiB, 256 * KiB, 1 * MiB, 4 * MiB} {
			p, ev, f := limitPayload(text, scale(4*MiB))
			add(echoCase(fmt.Sprintf("9.%d.%d", 3+sub, i+1),
				fmt.Sprintf("Send fragmented %s message of length %d in fragments of %d.", kind(text), len(p), frag),
				0, []Event{ev}, fragments(f.Opcode, p, frag)...), i == 0)
		}
	}
	for sub, text := range []bool{true, false} {
		for i, chop := range []int{64, 128, 256, 512, 1024, 2048} {
			p, ev, f := limitPayload(text, scale(1*MiB))
			add(echoCase(fmt.Sprintf("9.%d.%d", 5+sub, i+1),
				fmt.Sprintf("Send %s message of length %d in chops of %d octets.", kind(text), len(p), chop),
				chop, []Event{ev}, f), i == 0)
		}
	}
	for sub, text := range []bool{true, false} {
		for i, n := range []int{0, 16, 64, 256, 1 * KiB, 4 * KiB} {
			_, ev, f := limitPayload(text, n)
			add(Case{ID: fmt.Sprintf("9.%d.%d", 7+sub, i+1),
				Description: fmt.Sprintf("Send %d %s messages of length %d, one at a time, each after the echo of the last.", rounds, kind(text), n),
				script: func(s *session) {
					want := make([]Event, rounds)
					for j := range want {
						want[j] = ev
					}
					s.roundTrips(want, func(Event) { s.send(f) })
				}}, i == 0)
		}
	}
	return cs
}

func kind(text bool) string {
	if text {
		return "text"
	}
	return "binary"
}

// limitPayload returns a message of n bytes of Autobahn's pattern, its
// echo and its frame.
func limitPayload(text bool, n int) ([]byte, Event, rawpeer.Frame) {
	if text {
		p := bytesOf("BAsd7&jh23", n)
		return p, textEvent(p), textFrame(p)
	}
	p := bytesOf("\xfe", n)
	return p, binaryEvent(p), binaryFrame(p)
}

// Section 10: miscellaneous.
func autoFragmentationCases() []Case {
	p := bytesOf("*", 65536)
	return []Case{
		echoCase("10.1.1", "Send text message with payload of length 65536, auto-fragmented into frames of 1300 octets.", 0,
			[]Event{textEvent(p)}, fragments(rawpeer.OpText, p, 1300)...),
	}
}
