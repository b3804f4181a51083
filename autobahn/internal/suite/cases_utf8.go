package suite

import (
	"fmt"
	"unicode/utf8"

	"github.com/twoway/websocket/autobahn/internal/report"
	"github.com/twoway/websocket/internal/rawpeer"
)

// kosme is "κόσμε" in UTF-8: 11 bytes, code points of 2 and 3 bytes.
const kosme = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"

// Section 6: UTF-8 handling.
func utf8Cases() []Case {
	hello := []byte("Hello-µ@ßöäüàá-UTF-8!!")
	// Invalid at byte 12: a UTF-16 surrogate, then valid text.
	invalid := []byte(kosme + "\xed\xa0\x80" + "edited")
	cs := []Case{
		echoCase("6.1.1", "Send text message of length 0.", 0, []Event{textEvent(nil)}, textFrame(nil)),
		echoCase("6.1.2", "Send fragmented text message, 3 fragments each of length 0.", 0, []Event{textEvent(nil)},
			dataFrame(rawpeer.OpText, false, nil), dataFrame(rawpeer.OpContinuation, false, nil), dataFrame(rawpeer.OpContinuation, true, nil)),
		echoCase("6.1.3", "Send fragmented text message, 3 fragments, first and last of length 0, middle non-empty.", 0,
			[]Event{textEvent([]byte("middle frame payload"))},
			dataFrame(rawpeer.OpText, false, nil),
			dataFrame(rawpeer.OpContinuation, false, []byte("middle frame payload")),
			dataFrame(rawpeer.OpContinuation, true, nil)),
		echoCase("6.2.1", "Send a valid UTF-8 text message in one fragment.", 0, []Event{textEvent(hello)}, textFrame(hello)),
		echoCase("6.2.2", "Send a valid UTF-8 text message in two fragments, fragmented on a code point boundary.", 0,
			[]Event{textEvent(hello)},
			dataFrame(rawpeer.OpText, false, []byte("Hello-µ@ßöä")), dataFrame(rawpeer.OpContinuation, true, []byte("üàá-UTF-8!!"))),
		echoCase("6.2.3", "Send a valid UTF-8 text message in fragments of 1 octet, ending within code points.", 0,
			[]Event{textEvent(hello)}, fragments(rawpeer.OpText, hello, 1)...),
		echoCase("6.2.4", "Send a valid UTF-8 text message (κόσμε) in fragments of 1 octet, ending within code points.", 0,
			[]Event{textEvent([]byte(kosme))}, fragments(rawpeer.OpText, []byte(kosme), 1)...),
		failCase("6.3.1", "Send invalid UTF-8 text message unfragmented.", oneWrite, 1007, nil, false, textFrame(invalid)),
		failCase("6.3.2", "Send invalid UTF-8 text message in fragments of 1 octet.", oneWrite, 1007, nil, false,
			fragments(rawpeer.OpText, invalid, 1)...),
	}
	cs = append(cs, failFastCases()...)
	for i, group := range utf8Sequences() {
		for j, seq := range group.seqs {
			id := fmt.Sprintf("6.%d.%d", 5+i, j+1)
			desc := fmt.Sprintf("%s: send text message 0x%x in one fragment.", group.name, seq.bytes)
			if seq.valid {
				cs = append(cs, echoCase(id, desc, 0, []Event{textEvent(seq.bytes)}, textFrame(seq.bytes)))
			} else {
				cs = append(cs, failCase(id, desc, oneWrite, 1007, nil, false, textFrame(seq.bytes)))
			}
		}
	}
	return cs
}

// failFastCases are 6.4.x: the implementation must fail the connection as
// soon as the bytes it has make the text invalid, not at the end of the
// message (RFC 6455 §8.1). The message comes in three parts; the second
// makes it invalid. Failing on the second part is OK, failing only after
// the third NON-STRICT.
func failFastCases() []Case {
	// 0xf4 0x90 0x80 0x80 would be U+110000, beyond Unicode: invalid at
	// its second byte, byte 12 of the message.
	part1 := []byte(kosme)
	part2 := []byte("\xf4\x90\x80\x80")
	part3 := []byte("edited")
	whole := append(append(append([]byte{}, part1...), part2...), part3...)
	type split struct{ a, b, c []byte }
	wide := split{part1, part2, part3}
	tight := split{whole[:12], whole[12:13], whole[13:]} // part 2 is the one bad byte
	var cs []Case
	for i, c := range []struct {
		parts  split
		frames bool // parts are frames; else chops of one frame
		desc   string
	}{
		{wide, true, "Send invalid UTF-8 text message in 3 frames; the second makes it invalid."},
		{tight, true, "Same as 6.4.1, but the second frame is only the octet that makes the text invalid."},
		{wide, false, "Same as 6.4.1, but in 3 chops of one frame."},
		{tight, false, "Same as 6.4.2, but in 3 chops of one frame."},
	} {
		cs = append(cs, Case{ID: fmt.Sprintf("6.4.%d", i+1), Description: c.desc, script: func(s *session) {
			s.expect(report.OK, timeoutEvent("A"))
			s.expect(report.NonStrict, timeoutEvent("A"), timeoutEvent("B"))
			s.expectClose(false, false, 1007)
			var parts [][]byte // the three writes
			if c.frames {
				parts = [][]byte{
					s.encode(dataFrame(rawpeer.OpText, false, c.parts.a)),
					s.encode(dataFrame(rawpeer.OpContinuation, false, c.parts.b)),
					s.encode(dataFrame(rawpeer.OpContinuation, true, c.parts.c)),
				}
			} else {
				// One frame, header and masking included, cut at the parts.
				wire := s.encode(textFrame(whole))
				head := len(wire) - len(whole)
				i, j := head+len(c.parts.a), head+len(c.parts.a)+len(c.parts.b)
				parts = [][]byte{wire[:i], wire[i:j], wire[j:]}
			}
			s.sendRaw(parts[0], "part 1, valid UTF-8")
			// The first part is valid: the implementation must wait.
			if !s.timeout("A", s.opts.Quiet) {
				return
			}
			s.sendRaw(parts[1], "part 2, which makes the text invalid")
			if !s.timeout("B", s.opts.Timeout) {
				return
			}
			s.sendRaw(parts[2], "part 3")
		}})
	}
	return cs
}

type utf8Sequence struct {
	valid bool
	bytes []byte
}

type utf8Group struct {
	name string
	seqs []utf8Sequence
}

// utf8Sequences lists the test vectors of 6.5 onwards, in Autobahn's
// order, which fixes their ids. Most come from Markus Kuhn's UTF-8 decoder
// stress test; the validity of each is that of RFC 3629.
func utf8Sequences() []utf8Group {
	v := func(s ...string) []utf8Sequence {
		var out []utf8Sequence
		for _, x := range s {
			out = append(out, utf8Sequence{true, []byte(x)})
		}
		return out
	}
	bad := func(s ...string) []utf8Sequence {
		var out []utf8Sequence
		for _, x := range s {
			out = append(out, utf8Sequence{false, []byte(x)})
		}
		return out
	}
	var groups []utf8Group
	add := func(name string, seqs ...[]utf8Sequence) {
		var all []utf8Sequence
		for _, s := range seqs {
			all = append(all, s...)
		}
		groups = append(groups, utf8Group{name, all})
	}

	add("Some valid UTF-8 sequences", v("hello\x24world", "hello\xc2\xa2world", "hello\xe2\x82\xacworld", "hello\xf0\xa4\xad\xa2world", kosme))

	var prefixes []utf8Sequence
	for i := 1; i <= len(kosme); i++ {
		prefixes = append(prefixes, utf8Sequence{utf8.ValidString(kosme[:i]), []byte(kosme[:i])})
	}
	add("All prefixes of a valid UTF-8 string that contains multi-byte code points", prefixes)

	add("First possible sequence of a certain length", v("\x00", "\xc2\x80", "\xe0\xa0\x80", "\xf0\x90\x80\x80"))
	add("First possible sequence length 5/6 (invalid codepoints)", bad("\xf8\x88\x80\x80\x80", "\xfc\x84\x80\x80\x80\x80"))
	add("Last possible sequence of a certain length", v("\x7f", "\xdf\xbf", "\xef\xbf\xbf", "\xf4\x8f\xbf\xbf"))
	add("Last possible sequence length 4/5/6 (invalid codepoints)", bad("\xf7\xbf\xbf\xbf", "\xfb\xbf\xbf\xbf\xbf", "\xfd\xbf\xbf\xbf\xbf\xbf"))
	add("Other boundary conditions", v("\xed\x9f\xbf", "\xee\x80\x80", "\xef\xbf\xbd", "\xf4\x8f\xbf\xbf"), bad("\xf4\x90\x80\x80"))

	var allContinuations []byte
	for b := 0x80; b < 0xbf; b++ {
		allContinuations = append(allContinuations, byte(b))
	}
	add("Unexpected continuation bytes",
		bad("\x80", "\xbf", "\x80\xbf", "\x80\xbf\x80", "\x80\xbf\x80\xbf", "\x80\xbf\x80\xbf\x80", "\x80\xbf\x80\xbf\x80\xbf"),
		[]utf8Sequence{{false, allContinuations}})

	var lonely []utf8Sequence
	for _, r := range [][2]int{{0xc0, 0xdf}, {0xe0, 0xef}, {0xf0, 0xf7}, {0xf8, 0xfb}, {0xfc, 0xfd}} {
		var s []byte
		for b := r[0]; b < r[1]; b++ {
			s = append(s, byte(b), ' ')
		}
		lonely = append(lonely, utf8Sequence{false, s})
	}
	add("Lonely start characters", lonely)

	missing := []string{"\xc0", "\xe0\x80", "\xf0\x80\x80", "\xf8\x80\x80\x80", "\xfc\x80\x80\x80\x80",
		"\xdf", "\xef\xbf", "\xf7\xbf\xbf", "\xfb\xbf\xbf\xbf", "\xfd\xbf\xbf\xbf\xbf"}
	add("Sequences with last continuation byte missing", bad(missing...))
	concat := ""
	for _, m := range missing {
		concat += m
	}
	add("Concatenation of incomplete sequences", bad(concat))
	add("Impossible bytes", bad("\xfe", "\xff", "\xfe\xfe\xff\xff"))
	add("Examples of an overlong ASCII character", bad("\xc0\xaf", "\xe0\x80\xaf", "\xf0\x80\x80\xaf", "\xf8\x80\x80\x80\xaf", "\xfc\x80\x80\x80\x80\xaf"))
	add("Maximum overlong sequences", bad("\xc1\xbf", "\xe0\x9f\xbf", "\xf0\x8f\xbf\xbf", "\xf8\x87\xbf\xbf\xbf", "\xfc\x83\xbf\xbf\xbf\xbf"))
	add("Overlong representation of the NUL character", bad("\xc0\x80", "\xe0\x80\x80", "\xf0\x80\x80\x80", "\xf8\x80\x80\x80\x80", "\xfc\x80\x80\x80\x80\x80"))
	add("Single UTF-16 surrogates", bad("\xed\xa0\x80", "\xed\xad\xbf", "\xed\xae\x80", "\xed\xaf\xbf", "\xed\xb0\x80", "\xed\xbe\x80", "\xed\xbf\xbf"))
	add("Paired UTF-16 surrogates", bad(
		"\xed\xa0\x80\xed\xb0\x80", "\xed\xa0\x80\xed\xbf\xbf", "\xed\xad\xbf\xed\xb0\x80", "\xed\xad\xbf\xed\xbf\xbf",
		"\xed\xae\x80\xed\xb0\x80", "\xed\xae\x80\xed\xbf\xbf", "\xed\xaf\xbf\xed\xb0\x80", "\xed\xaf\xbf\xed\xbf\xbf"))

	// Noncharacters are valid UTF-8 (RFC 3629): U+FFFE, U+FFFF, and the
	// last two code points of each supplementary plane.
	nonchars := v("\xef\xbf\xbe", "\xef\xbf\xbf")
	for _, b1 := range []byte{0xf0, 0xf1, 0xf2, 0xf3, 0xf4} {
		for _, b2 := range []byte{0x8f, 0x9f, 0xaf, 0xbf} {
			if b1 == 0xf4 && b2 != 0x8f {
				continue // beyond U+10FFFF
			}
			if b1 == 0xf0 && b2 == 0x8f {
				continue // overlong
			}
			for _, b4 := range []byte{0xbe, 0xbf} {
				nonchars = append(nonchars, utf8Sequence{true, []byte{b1, b2, 0xbf, b4}})
			}
		}
	}
	add("Non-character code points (valid UTF-8)", nonchars)
	add("Unicode specials (i.e. replacement char)", v("\xef\xbf\xb9", "\xef\xbf\xba", "\xef\xbf\xbb", "\xef\xbf\xbc", "\xef\xbf\xbd", "\xef\xbf\xbe", "\xef\xbf\xbf"))
	return groups
}
