package frame

import (
	"encoding/binary"
	"strconv"
	"unicode/utf8"

	"github.com/twoway/websocket/internal/utf8check"
)

// CloseCode is a close status code (RFC 6455 §7.4).
type CloseCode uint16

// Close status codes of RFC 6455 §7.4.1 and the IANA "WebSocket Close Code
// Number Registry".
const (
	CloseNormal             CloseCode = 1000
	CloseGoingAway          CloseCode = 1001
	CloseProtocolError      CloseCode = 1002
	CloseUnsupportedData    CloseCode = 1003
	CloseNoStatus           CloseCode = 1005 // never on the wire
	CloseAbnormal           CloseCode = 1006 // never on the wire
	CloseInvalidPayload     CloseCode = 1007
	ClosePolicyViolation    CloseCode = 1008
	CloseMessageTooBig      CloseCode = 1009
	CloseMandatoryExtension CloseCode = 1010
	CloseInternalError      CloseCode = 1011
	CloseServiceRestart     CloseCode = 1012
	CloseTryAgainLater      CloseCode = 1013
	CloseBadGateway         CloseCode = 1014
	CloseTLSHandshake       CloseCode = 1015 // never on the wire
)

// String returns the lower-case name of a defined code, such as
// "normal closure", or the number of any other.
func (c CloseCode) String() string {
	switch c {
	case CloseNormal:
		return "normal closure"
	case CloseGoingAway:
		return "going away"
	case CloseProtocolError:
		return "protocol error"
	case CloseUnsupportedData:
		return "unsupported data"
	case CloseNoStatus:
		return "no status"
	case CloseAbnormal:
		return "abnormal closure"
	case CloseInvalidPayload:
		return "invalid payload data"
	case ClosePolicyViolation:
		return "policy violation"
	case CloseMessageTooBig:
		return "message too big"
	case CloseMandatoryExtension:
		return "mandatory extension"
	case CloseInternalError:
		return "internal error"
	case CloseServiceRestart:
		return "service restart"
	case CloseTryAgainLater:
		return "try again later"
	case CloseBadGateway:
		return "bad gateway"
	case CloseTLSHandshake:
		return "TLS handshake failure"
	}
	return "close code " + strconv.Itoa(int(c))
}

// ValidOnWire reports whether c may appear in a Close frame:
//
//   - 1000-1003 and 1007-1011, defined by RFC 6455 §7.4.1;
//   - 1012 (service restart), 1013 (try again later) and 1014 (bad
//     gateway), registered with IANA after RFC 6455 was published;
//   - 3000-4999, for libraries, frameworks and applications (§7.4.2).
//
// 1012-1014 are accepted because browsers and servers send them and
// rejecting them would fail connections that close for ordinary reasons.
// The Autobahn testsuite agrees: its case 7.9.X once listed 1012-1015 as
// invalid codes and dropped them after its issues #52 and #88 (pull
// request #89); case 7.7.X does not test them either way.
//
// 1015 is invalid although that Autobahn change removed it from the
// invalid list too: RFC 6455 §7.4.1 says it MUST NOT be set in a Close
// frame, like 1005 and 1006, as it stands for a TLS failure that happens
// before any frame could be sent. Codes below 1000, 1004 (reserved),
// 1005, 1006, 1016-2999 (unassigned) and 5000 and above are invalid too.
func (c CloseCode) ValidOnWire() bool {
	switch {
	case c >= 1000 && c <= 1003:
		return true
	case c >= 1007 && c <= 1014:
		return true
	case c >= 3000 && c <= 4999:
		return true
	}
	return false
}

// maxCloseReason is the room a Close payload leaves for the reason after
// the 2-byte status code.
const maxCloseReason = MaxControlPayload - 2

// AppendClosePayload appends the payload of a Close frame to dst and
// returns the extended slice: nothing when code is 0 or CloseNoStatus,
// otherwise the 2-byte big-endian code followed by reason. A reason that
// does not fit into the 125 bytes of a control frame is cut at the last
// UTF-8 character boundary that fits. The code is not checked; see
// ValidOnWire.
func AppendClosePayload(dst []byte, code CloseCode, reason string) []byte {
	if code == 0 || code == CloseNoStatus {
		return dst
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(code))
	if len(reason) > maxCloseReason {
		cut := maxCloseReason
		for cut > 0 && !utf8.RuneStart(reason[cut]) {
			cut--
		}
		reason = reason[:cut]
	}
	return append(dst, reason...)
}

// ParseClosePayload parses the (unmasked) payload of a received Close
// frame (RFC 6455 §5.5.1). An empty payload gives CloseNoStatus and an
// empty reason. It returns ErrCloseTooShort for a 1-byte payload,
// ErrControlTooLong for one longer than 125 bytes, ErrInvalidCloseCode
// for a code that is not ValidOnWire and ErrInvalidCloseReason for a
// reason that is not valid UTF-8. On error code holds the received code
// if there was one, for diagnostics.
func ParseClosePayload(p []byte) (code CloseCode, reason string, err error) {
	switch {
	case len(p) == 0:
		return CloseNoStatus, "", nil
	case len(p) == 1:
		return 0, "", ErrCloseTooShort
	}
	code = CloseCode(binary.BigEndian.Uint16(p))
	switch {
	case len(p) > MaxControlPayload:
		return code, "", ErrControlTooLong
	case !code.ValidOnWire():
		return code, "", ErrInvalidCloseCode
	case !utf8check.Valid(p[2:]):
		return code, "", ErrInvalidCloseReason
	}
	return code, string(p[2:]), nil
}
