package frame

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestValidOnWire(t *testing.T) {
	valid := map[CloseCode]bool{}
	for c := 1000; c <= 1003; c++ {
		valid[CloseCode(c)] = true
	}
	for c := 1007; c <= 1014; c++ {
		valid[CloseCode(c)] = true
	}
	for c := 3000; c <= 4999; c++ {
		valid[CloseCode(c)] = true
	}
	for c := 0; c <= 0xFFFF; c++ {
		if got := CloseCode(c).ValidOnWire(); got != valid[CloseCode(c)] {
			t.Errorf("CloseCode(%d).ValidOnWire() = %v", c, got)
		}
	}
	// The codes Autobahn case 7.9.X sends as invalid and 7.7.X as valid.
	for _, c := range []CloseCode{0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535} {
		if c.ValidOnWire() {
			t.Errorf("%d is valid", c)
		}
	}
	for _, c := range []CloseCode{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999} {
		if !c.ValidOnWire() {
			t.Errorf("%d is invalid", c)
		}
	}
}

func TestCloseCodeString(t *testing.T) {
	tests := map[CloseCode]string{
		CloseNormal:        "normal closure",
		CloseProtocolError: "protocol error",
		CloseNoStatus:      "no status",
		CloseBadGateway:    "bad gateway",
		CloseTLSHandshake:  "TLS handshake failure",
		4000:               "close code 4000",
	}
	for c, want := range tests {
		if got := c.String(); got != want {
			t.Errorf("CloseCode(%d).String() = %q, want %q", uint16(c), got, want)
		}
	}
	for c := CloseNormal; c <= CloseTLSHandshake; c++ {
		if c != 1004 && strings.HasPrefix(c.String(), "close code") {
			t.Errorf("CloseCode(%d) has no name", uint16(c))
		}
	}
}

func TestAppendClosePayload(t *testing.T) {
	long := strings.Repeat("a", 200)
	// 122 ASCII bytes then a 3-byte character that crosses the limit.
	split := strings.Repeat("b", 122) + "€" + "tail"
	tests := []struct {
		name   string
		code   CloseCode
		reason string
		want   []byte
	}{
		{"no code", 0, "ignored", nil},
		{"no status", CloseNoStatus, "ignored", nil},
		{"code only", CloseNormal, "", []byte{0x03, 0xE8}},
		{"code and reason", CloseGoingAway, "bye", []byte{0x03, 0xE9, 'b', 'y', 'e'}},
		{"application code", 4321, "", []byte{0x10, 0xE1}},
		{"reason cut", CloseNormal, long, append([]byte{0x03, 0xE8}, long[:123]...)},
		{"reason cut at character", CloseNormal, split, append([]byte{0x03, 0xE8}, split[:122]...)},
		{"reason of exactly 123", CloseNormal, long[:123], append([]byte{0x03, 0xE8}, long[:123]...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := []byte("xy")
			got := AppendClosePayload(bytes.Clone(prefix), tt.code, tt.reason)
			if diff := cmp.Diff(append(prefix, tt.want...), got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if len(got)-len(prefix) > MaxControlPayload {
				t.Errorf("payload of %d bytes", len(got)-len(prefix))
			}
			if !utf8.Valid(got[len(prefix):][min(2, len(got)-len(prefix)):]) {
				t.Errorf("reason is not valid UTF-8")
			}
		})
	}
}

func TestParseClosePayload(t *testing.T) {
	type result struct {
		Code   CloseCode
		Reason string
		Err    error
	}
	tests := []struct {
		name    string
		payload []byte
		want    result
	}{
		{"empty", nil, result{CloseNoStatus, "", nil}},
		{"one byte", []byte{0x03}, result{0, "", ErrCloseTooShort}},
		{"normal", []byte{0x03, 0xE8}, result{CloseNormal, "", nil}},
		{"with reason", []byte{0x03, 0xE9, 'b', 'y', 'e'}, result{CloseGoingAway, "bye", nil}},
		{"utf-8 reason", append([]byte{0x0F, 0xA0}, "κόσμε"...), result{4000, "κόσμε", nil}},
		{"service restart", []byte{0x03, 0xF4}, result{CloseServiceRestart, "", nil}},
		{"bad gateway", []byte{0x03, 0xF6}, result{CloseBadGateway, "", nil}},
		{"code 0", []byte{0, 0}, result{0, "", ErrInvalidCloseCode}},
		{"code 999", []byte{0x03, 0xE7}, result{999, "", ErrInvalidCloseCode}},
		{"code 1004", []byte{0x03, 0xEC}, result{1004, "", ErrInvalidCloseCode}},
		{"code 1005", []byte{0x03, 0xED}, result{CloseNoStatus, "", ErrInvalidCloseCode}},
		{"code 1006", []byte{0x03, 0xEE}, result{CloseAbnormal, "", ErrInvalidCloseCode}},
		{"code 1015", []byte{0x03, 0xF7}, result{CloseTLSHandshake, "", ErrInvalidCloseCode}},
		{"code 1016", []byte{0x03, 0xF8}, result{1016, "", ErrInvalidCloseCode}},
		{"code 2999", []byte{0x0B, 0xB7}, result{2999, "", ErrInvalidCloseCode}},
		{"code 5000", []byte{0x13, 0x88}, result{5000, "", ErrInvalidCloseCode}},
		{"invalid code before invalid reason", []byte{0x03, 0xEC, 0xFF}, result{1004, "", ErrInvalidCloseCode}},
		{"invalid utf-8", []byte{0x03, 0xE8, 0xCE, 0xBA, 0xFF}, result{CloseNormal, "", ErrInvalidCloseReason}},
		{"truncated utf-8", []byte{0x03, 0xE8, 0xE2, 0x82}, result{CloseNormal, "", ErrInvalidCloseReason}},
		{"surrogate", []byte{0x03, 0xE8, 0xED, 0xA0, 0x80}, result{CloseNormal, "", ErrInvalidCloseReason}},
		{"too long", append([]byte{0x03, 0xE8}, make([]byte, 124)...), result{CloseNormal, "", ErrControlTooLong}},
		{"longest", append([]byte{0x03, 0xE8}, strings.Repeat("z", 123)...), result{CloseNormal, strings.Repeat("z", 123), nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, reason, err := ParseClosePayload(tt.payload)
			got := result{code, reason, err}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateErrors()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if err == nil && tt.want.Code != CloseNoStatus {
				// What parses must build back to the same bytes.
				if back := AppendClosePayload(nil, code, reason); !bytes.Equal(back, tt.payload) {
					t.Errorf("AppendClosePayload = % x, want % x", back, tt.payload)
				}
			}
		})
	}
}
