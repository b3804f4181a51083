package natsbroker

import (
	"encoding/hex"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestSubject(t *testing.T) {
	fill := strings.Repeat("a", MaxSubjectLen-len("twoway."))
	tests := []struct {
		prefix, topic string
		want          string // "" for ErrTopicTooLong
	}{
		{"", "room.616263", "twoway.room.616263"},
		{"", "presence.00ff", "twoway.presence.00ff"},
		{"app.v-1", "room.61", "app.v-1.room.61"},
		{"", "Mixed-Case-9", "twoway.Mixed-Case-9"},
		{"", "", "twoway._"},
		{"", "room.", "twoway.room._"},
		{"", ".x", "twoway._.x"},
		{"", "a..b", "twoway.a._.b"},
		{"", ".", "twoway._._"},
		{"", "*", "twoway._2a"},
		{"", "a.>", "twoway.a._3e"},
		{"", "a b\r\n\t", "twoway.a_20b_0d_0a_09"},
		{"", "a_b", "twoway.a_5fb"},
		{"", "_", "twoway._5f"},
		{"", "é", "twoway._c3_a9"},
		{"", fill, "twoway." + fill},
		{"", fill + "a", ""},
		{"", fill[3:] + "*", "twoway." + fill[3:] + "_2a"},
		{"", fill[2:] + "*", ""}, // escaping makes it too long
		{"", strings.Repeat(".", MaxSubjectLen), ""},
	}
	for _, tt := range tests {
		b := New(nil, &Options{Prefix: tt.prefix})
		got, err := b.subject(tt.topic)
		if tt.want == "" {
			if err != ErrTopicTooLong {
				t.Errorf("subject(%.20q...) = %.20q..., %v; want ErrTopicTooLong", tt.topic, got, err)
			}
			continue
		}
		if got != tt.want || err != nil {
			t.Errorf("prefix %q: subject(%q) = %q, %v; want %q", tt.prefix, tt.topic, got, err, tt.want)
		}
	}
}

func TestInvalidPrefix(t *testing.T) {
	for _, p := range []string{".", "a.", ".a", "a..b", "a b", "a\tb", "*", "a.>", "a.*.b", "é"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("New with prefix %q did not panic", p)
				}
			}()
			New(nil, &Options{Prefix: p})
		}()
	}
}

// unescape inverts subject's escaping, so that FuzzSubject can check that
// no two topics share a subject.
func unescape(t *testing.T, subj, prefix string) string {
	rest, ok := strings.CutPrefix(subj, prefix+".")
	if !ok {
		t.Fatalf("subject %q lacks prefix %q", subj, prefix)
	}
	toks := strings.Split(rest, ".")
	for i, tok := range toks {
		if tok == "_" {
			toks[i] = ""
			continue
		}
		var sb strings.Builder
		for j := 0; j < len(tok); j++ {
			if tok[j] != '_' {
				sb.WriteByte(tok[j])
				continue
			}
			if j+3 > len(tok) {
				t.Fatalf("subject %q: truncated escape", subj)
			}
			c, err := hex.DecodeString(tok[j+1 : j+3])
			if err != nil {
				t.Fatalf("subject %q: %v", subj, err)
			}
			sb.Write(c)
			j += 2
		}
		toks[i] = sb.String()
	}
	return strings.Join(toks, ".")
}

// FuzzSubject checks that every subject is one NATS accepts as a literal
// (no whitespace, no empty token, no wildcard) and that it gives back its
// topic, so that topics never share a subject.
func FuzzSubject(f *testing.F) {
	for _, s := range []string{"room.6162", "", ".", "a..b", "*", ">", "a_5fb", "_", "a b", "\x00\xff"} {
		f.Add(s)
	}
	b := New(nil, nil)
	f.Fuzz(func(t *testing.T, topic string) {
		subj, err := b.subject(topic)
		if err == ErrTopicTooLong {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		for tok := range strings.SplitSeq(subj, ".") {
			if tok == "" || tok == "*" || tok == ">" || strings.ContainsFunc(tok, func(r rune) bool { return r <= ' ' || r >= 0x7f }) {
				t.Fatalf("subject(%q) = %q: bad token %q", topic, subj, tok)
			}
		}
		if got := unescape(t, subj, "twoway"); got != topic {
			t.Fatalf("subject(%q) = %q, which reads back as %q", topic, subj, got)
		}
	})
}
