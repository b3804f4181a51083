package suite

import (
	"fmt"

	"github.com/twoway/websocket/autobahn/internal/report"
	"github.com/twoway/websocket/internal/rawpeer"
)

// Cases returns the catalogue, in Autobahn's order: sections 1 to 7, 9,
// 10, 12 and 13. Section 9's sizes follow opts.
func Cases(opts Options) []Case {
	var cs []Case
	cs = append(cs, framingCases()...)
	cs = append(cs, pingCases()...)
	cs = append(cs, reservedBitCases()...)
	cs = append(cs, opcodeCases()...)
	cs = append(cs, fragmentationCases()...)
	cs = append(cs, utf8Cases()...)
	cs = append(cs, closeCases()...)
	cs = append(cs, limitCases(opts)...)
	cs = append(cs, autoFragmentationCases()...)
	cs = append(cs, compressionCases(opts)...)
	return cs
}

// Frames the scripts send.

func dataFrame(op byte, fin bool, p []byte) rawpeer.Frame {
	return rawpeer.Frame{Fin: fin, Opcode: op, Payload: p}
}
func textFrame(p []byte) rawpeer.Frame   { return dataFrame(rawpeer.OpText, true, p) }
func binaryFrame(p []byte) rawpeer.Frame { return dataFrame(rawpeer.OpBinary, true, p) }
func pingFrame(p []byte) rawpeer.Frame   { return dataFrame(rawpeer.OpPing, true, p) }
func pongFrame(p []byte) rawpeer.Frame   { return dataFrame(rawpeer.OpPong, true, p) }
func withRSV(f rawpeer.Frame, rsv byte) rawpeer.Frame {
	f.RSV = rsv
	return f
}

// fragments cuts p into frames of size bytes, the first with opcode op.
func fragments(op byte, p []byte, size int) []rawpeer.Frame {
	var fs []rawpeer.Frame
	for first := true; first || len(p) > 0; first = false {
		n := min(size, len(p))
		fop := rawpeer.OpContinuation
		if first {
			fop = op
		}
		fs = append(fs, dataFrame(fop, n == len(p), p[:n]))
		p = p[n:]
	}
	return fs
}

// Events the scripts expect.

func textEvent(p []byte) Event   { return Event{Kind: Message, Payload: p} }
func binaryEvent(p []byte) Event { return Event{Kind: Message, Payload: p, Binary: true} }
func pongEvent(p []byte) Event   { return Event{Kind: Pong, Payload: p} }
func timeoutEvent(l string) Event {
	return Event{Kind: Timeout, Label: l}
}

// echoCase sends frames (cut into chops of chop bytes, if chop > 0) and
// expects want, then a clean close.
func echoCase(id, desc string, chop int, want []Event, frames ...rawpeer.Frame) Case {
	return Case{ID: id, Description: desc, script: func(s *session) {
		s.expectEcho(want...)
		if chop > 0 {
			s.sendChopped(chop, frames...)
		} else {
			s.send(frames...)
		}
	}}
}

// failCase sends frames, in one write or in writes of chop bytes, and
// expects the implementation to fail the connection with code, after
// producing ok (and, if nonStrict, acceptably without producing it).
func failCase(id, desc string, chop int, code uint16, ok []Event, nonStrict bool, frames ...rawpeer.Frame) Case {
	return Case{ID: id, Description: desc, script: func(s *session) {
		s.expectFail(ok, code)
		if nonStrict {
			s.expect(report.NonStrict)
		}
		switch {
		case chop > 0:
			s.sendChopped(chop, frames...)
		case chop < 0:
			s.sendSync(frames...)
		default:
			s.send(frames...)
		}
	}}
}

// Chop settings of failCase besides a positive chop size.
const (
	oneWrite  = 0
	frameWise = -1 // one write per frame: Autobahn's sync
)

// Section 1: framing.
func framingCases() []Case {
	lengths := []int{0, 125, 126, 127, 128, 65535, 65536}
	var cs []Case
	for i, n := range lengths {
		p := bytesOf("*", n)
		cs = append(cs, echoCase(fmt.Sprintf("1.1.%d", i+1),
			fmt.Sprintf("Send text message with payload of length %d.", n),
			0, []Event{textEvent(p)}, textFrame(p)))
	}
	p := bytesOf("*", 65536)
	cs = append(cs, echoCase("1.1.8", "Send text message with payload of length 65536, in chops of 997 octets.",
		997, []Event{textEvent(p)}, textFrame(p)))
	for i, n := range lengths {
		p := bytesOf("\xfe", n)
		cs = append(cs, echoCase(fmt.Sprintf("1.2.%d", i+1),
			fmt.Sprintf("Send binary message with payload of length %d.", n),
			0, []Event{binaryEvent(p)}, binaryFrame(p)))
	}
	p = bytesOf("\xfe", 65536)
	cs = append(cs, echoCase("1.2.8", "Send binary message with payload of length 65536, in chops of 997 octets.",
		997, []Event{binaryEvent(p)}, binaryFrame(p)))
	return cs
}

// Section 2: pings and pongs.
func pingCases() []Case {
	bin := []byte("\x00\xff\xfe\xfd\xfc\xfb\x00\xff")
	p125 := bytesOf("\xfe", 125)
	cs := []Case{
		echoCase("2.1", "Send ping without payload.", 0, []Event{pongEvent([]byte{})}, pingFrame(nil)),
		echoCase("2.2", "Send ping with small text payload.", 0,
			[]Event{pongEvent([]byte("Hello, world!"))}, pingFrame([]byte("Hello, world!"))),
		echoCase("2.3", "Send ping with small binary (non UTF-8) payload.", 0, []Event{pongEvent(bin)}, pingFrame(bin)),
		echoCase("2.4", "Send ping with binary payload of 125 octets.", 0, []Event{pongEvent(p125)}, pingFrame(p125)),
		failCase("2.5", "Send ping with binary payload of 126 octets.", oneWrite, 1002, nil, false,
			pingFrame(bytesOf("\xfe", 126))),
		echoCase("2.6", "Send ping with binary payload of 125 octets, in octet-wise chops.", 1,
			[]Event{pongEvent(p125)}, pingFrame(p125)),
		echoCase("2.7", "Send unsolicited pong without payload.", 0, nil, pongFrame(nil)),
		echoCase("2.8", "Send unsolicited pong with payload.", 0, nil, pongFrame([]byte("unsolicited pong payload"))),
		echoCase("2.9", "Send unsolicited pong with payload, then ping with payload.", 0,
			[]Event{pongEvent([]byte("ping payload"))},
			pongFrame([]byte("unsolicited pong payload")), pingFrame([]byte("ping payload"))),
	}
	for i, chop := range []int{0, 1} {
		var frames []rawpeer.Frame
		var want []Event
		for j := range 10 {
			p := fmt.Appendf(nil, "payload-%d", j)
			frames = append(frames, pingFrame(p))
			want = append(want, pongEvent(p))
		}
		desc := "Send 10 pings with payload."
		if chop > 0 {
			desc = "Send 10 pings with payload, in octet-wise chops."
		}
		id := fmt.Sprintf("2.%d", 10+i)
		cs = append(cs, Case{ID: id, Description: desc, script: func(s *session) {
			s.expectEcho(want...)
			// Autobahn sends each ping as it goes, so octet-wise chops
			// apply to each ping in turn.
			for _, f := range frames {
				if chop > 0 {
					s.sendChopped(chop, f)
				} else {
					s.send(f)
				}
			}
		}})
	}
	return cs
}

// Section 3: reserved bits.
func reservedBitCases() []Case {
	hello := []byte("Hello, world!")
	echo := []Event{textEvent(hello)}
	return []Case{
		failCase("3.1", "Send small text message with RSV = 1.", oneWrite, 1002, nil, false,
			withRSV(textFrame(hello), 1)),
		failCase("3.2", "Send small text message, then again with RSV = 2, then ping.", oneWrite, 1002, echo, true,
			textFrame(hello), withRSV(textFrame(hello), 2), pingFrame(nil)),
		failCase("3.3", "Send small text message, then again with RSV = 3, then ping, in frame-wise chops.", frameWise, 1002, echo, true,
			textFrame(hello), withRSV(textFrame(hello), 3), pingFrame(nil)),
		failCase("3.4", "Send small text message, then again with RSV = 4, then ping, in octet-wise chops.", 1, 1002, echo, true,
			textFrame(hello), withRSV(textFrame(hello), 4), pingFrame(nil)),
		failCase("3.5", "Send small binary message with RSV = 5.", oneWrite, 1002, nil, false,
			withRSV(binaryFrame([]byte("\x00\xff\xfe\xfd\xfc\xfb\x00\xff")), 5)),
		// Autobahn describes 3.6 as a ping, but sends a binary frame.
		failCase("3.6", "Send binary frame with RSV = 6.", oneWrite, 1002, nil, false,
			withRSV(binaryFrame(hello), 6)),
		failCase("3.7", "Send close with RSV = 7.", oneWrite, 1002, nil, false,
			withRSV(dataFrame(rawpeer.OpClose, true, nil), 7)),
	}
}

// Section 4: opcodes.
func opcodeCases() []Case {
	hello := []byte("Hello, world!")
	echo := []Event{textEvent(hello)}
	reserved := []byte("reserved opcode payload")
	var cs []Case
	for _, set := range []struct {
		sub   int
		ops   [5]byte
		class string
	}{
		{1, [5]byte{3, 4, 5, 6, 7}, "non-control"},
		{2, [5]byte{11, 12, 13, 14, 15}, "control"},
	} {
		for i, op := range set.ops {
			id := fmt.Sprintf("4.%d.%d", set.sub, i+1)
			payload := []byte(nil)
			if i == 1 || i >= 3 {
				payload = reserved
			}
			f := dataFrame(op, true, payload)
			if i < 2 {
				cs = append(cs, failCase(id,
					fmt.Sprintf("Send frame with reserved %s opcode %d.", set.class, op),
					oneWrite, 1002, nil, false, f))
				continue
			}
			cs = append(cs, failCase(id,
				fmt.Sprintf("Send small text message, then frame with reserved %s opcode %d, then ping.", set.class, op),
				oneWrite, 1002, echo, true, textFrame(hello), f, pingFrame(nil)))
		}
	}
	return cs
}

// Section 5: fragmentation.
func fragmentationCases() []Case {
	f1, f2 := []byte("fragment1"), []byte("fragment2")
	whole := []byte("fragment1fragment2")
	pingPayload := []byte("ping payload")
	twoFragments := []rawpeer.Frame{dataFrame(rawpeer.OpText, false, f1), dataFrame(rawpeer.OpContinuation, true, f2)}
	withPing := []rawpeer.Frame{twoFragments[0], pingFrame(pingPayload), twoFragments[1]}

	// 5.9 to 5.14: a continuation frame with nothing to continue.
	orphan := func(id string, fin bool, chop int, how string) Case {
		return failCase(id,
			fmt.Sprintf("Send text message after a continuation frame with FIN = %v where there is nothing to continue, %s.", fin, how),
			chop, 1002, nil, false,
			dataFrame(rawpeer.OpContinuation, fin, []byte("non-continuation payload")),
			textFrame([]byte("Hello, world!")))
	}
	sync := func(id, desc string, want []Event, frames []rawpeer.Frame) Case {
		return Case{ID: id, Description: desc, script: func(s *session) {
			s.expectEcho(want...)
			s.sendSync(frames...)
		}}
	}
	cs := []Case{
		failCase("5.1", "Send ping fragmented into 2 fragments.", oneWrite, 1002, nil, false,
			dataFrame(rawpeer.OpPing, false, f1), dataFrame(rawpeer.OpContinuation, true, f2)),
		failCase("5.2", "Send pong fragmented into 2 fragments.", oneWrite, 1002, nil, false,
			dataFrame(rawpeer.OpPong, false, f1), dataFrame(rawpeer.OpContinuation, true, f2)),
		echoCase("5.3", "Send text message fragmented into 2 fragments.", 0, []Event{textEvent(whole)}, twoFragments...),
		sync("5.4", "Send text message fragmented into 2 fragments, in frame-wise chops.", []Event{textEvent(whole)}, twoFragments),
		echoCase("5.5", "Send text message fragmented into 2 fragments, in octet-wise chops.", 1, []Event{textEvent(whole)}, twoFragments...),
		echoCase("5.6", "Send text message fragmented into 2 fragments, one ping with payload in between.", 0,
			[]Event{pongEvent(pingPayload), textEvent(whole)}, withPing...),
		sync("5.7", "Send text message fragmented into 2 fragments, one ping with payload in between, in frame-wise chops.",
			[]Event{pongEvent(pingPayload), textEvent(whole)}, withPing),
		echoCase("5.8", "Send text message fragmented into 2 fragments, one ping with payload in between, in octet-wise chops.", 1,
			[]Event{pongEvent(pingPayload), textEvent(whole)}, withPing...),
		orphan("5.9", true, oneWrite, "in one chop"),
		orphan("5.10", true, frameWise, "in frame-wise chops"),
		orphan("5.11", true, 1, "in octet-wise chops"),
		orphan("5.12", false, oneWrite, "in one chop"),
		orphan("5.13", false, frameWise, "in frame-wise chops"),
		orphan("5.14", false, 1, "in octet-wise chops"),
		failCase("5.15", "Send text message fragmented into 2 fragments, then a continuation frame with FIN = false where there is nothing to continue, then a text message.",
			oneWrite, 1002, []Event{textEvent(whole)}, true,
			twoFragments[0], twoFragments[1],
			dataFrame(rawpeer.OpContinuation, false, []byte("fragment3")),
			dataFrame(rawpeer.OpText, true, []byte("fragment4"))),
	}
	for _, c := range []struct {
		id  string
		fin bool
	}{{"5.16", false}, {"5.17", true}} {
		var frames []rawpeer.Frame
		for range 2 {
			frames = append(frames,
				dataFrame(rawpeer.OpContinuation, c.fin, []byte("fragment1")),
				dataFrame(rawpeer.OpText, false, []byte("fragment2")),
				dataFrame(rawpeer.OpContinuation, true, []byte("fragment3")))
		}
		cs = append(cs, failCase(c.id,
			fmt.Sprintf("Repeated 2x: continuation frame with FIN = %v (where there is nothing to continue), then text message fragmented into 2 fragments.", c.fin),
			oneWrite, 1002, nil, false, frames...))
	}
	cs = append(cs, failCase("5.18", "Send text message fragmented into 2 fragments, with both frame opcodes set to text.",
		oneWrite, 1002, nil, false,
		dataFrame(rawpeer.OpText, false, f1), dataFrame(rawpeer.OpText, true, f2)))
	for _, c := range []struct {
		id   string
		sync bool
	}{{"5.19", false}, {"5.20", true}} {
		cs = append(cs, Case{ID: c.id,
			Description: "Send text message in 5 fragments with a ping after the second and the fourth; " +
				"wait for the first pong before sending the rest (frame-wise chops: " + fmt.Sprint(c.sync) + ").",
			script: func(s *session) {
				frags := [][]byte{[]byte("fragment1"), []byte("fragment2"), []byte("fragment3"), []byte("fragment4"), []byte("fragment5")}
				pings := [][]byte{[]byte("pongme 1!"), []byte("pongme 2!")}
				s.expectEcho(pongEvent(pings[0]), pongEvent(pings[1]), textEvent([]byte("fragment1fragment2fragment3fragment4fragment5")))
				send := s.send
				if c.sync {
					send = s.sendSync
				}
				send(dataFrame(rawpeer.OpText, false, frags[0]),
					dataFrame(rawpeer.OpContinuation, false, frags[1]),
					pingFrame(pings[0]))
				// Autobahn waits a second here; the pong must come before the
				// message is complete, so waiting for it is the same test.
				if !s.waitEvents(1) {
					return
				}
				send(dataFrame(rawpeer.OpContinuation, false, frags[2]),
					dataFrame(rawpeer.OpContinuation, false, frags[3]),
					pingFrame(pings[1]),
					dataFrame(rawpeer.OpContinuation, true, frags[4]))
			}})
	}
	return cs
}
