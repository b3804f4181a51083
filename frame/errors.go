package frame

import "strconv"

// ProtocolError is a violation of RFC 6455 found while reading. Code is
// the close code to send to the peer before closing the connection
// (RFC 6455 §7.1.7), usually CloseProtocolError, CloseInvalidPayload or
// CloseMessageTooBig.
//
// The package returns the sentinel values below for the rules it checks,
// so a specific violation can be recognised with errors.Is and the close
// code of any of them read with errors.As.
type ProtocolError struct {
	Code   CloseCode
	Reason string // short, valid UTF-8, at most 123 bytes so it fits a close frame
}

// Error returns the reason followed by the close code.
func (e *ProtocolError) Error() string {
	return "frame: " + e.Reason + " (close code " + strconv.Itoa(int(e.Code)) + ")"
}

func protocolError(code CloseCode, reason string) *ProtocolError {
	return &ProtocolError{Code: code, Reason: reason}
}

// Violations of RFC 6455 reported while reading. They are never modified;
// treat them as constants.
var (
	// RFC 6455 §5.2: unknown opcodes and RSV bits not given a meaning by
	// a negotiated extension fail the connection.
	ErrReservedOpcode = protocolError(CloseProtocolError, "reserved opcode")
	ErrReservedBits   = protocolError(CloseProtocolError, "reserved bits set")
	// RFC 6455 §5.2: the most significant bit of a 64-bit length must be 0.
	ErrLengthOverflow = protocolError(CloseProtocolError, "64-bit payload length with most significant bit set")

	// RFC 6455 §5.5: control frames are never fragmented and carry at
	// most 125 bytes.
	ErrFragmentedControl = protocolError(CloseProtocolError, "fragmented control frame")
	ErrControlTooLong    = protocolError(CloseProtocolError, "control frame payload longer than 125 bytes")

	// RFC 6455 §5.1: clients mask every frame, servers none.
	ErrUnmaskedFrame = protocolError(CloseProtocolError, "unmasked frame from client")
	ErrMaskedFrame   = protocolError(CloseProtocolError, "masked frame from server")

	// ErrFrameTooBig reports a frame longer than Rules.MaxLength.
	ErrFrameTooBig = protocolError(CloseMessageTooBig, "frame too big")

	// RFC 6455 §5.4: a continuation needs a fragmented message to
	// continue, and fragments of two messages must not interleave.
	ErrUnexpectedContinuation = protocolError(CloseProtocolError, "continuation frame outside a fragmented message")
	ErrMessageInProgress      = protocolError(CloseProtocolError, "new data frame inside a fragmented message")

	// RFC 6455 §5.6, §8.1: text messages must be valid UTF-8.
	ErrInvalidUTF8 = protocolError(CloseInvalidPayload, "invalid UTF-8 in text message")

	// RFC 6455 §5.5.1, §7.4: a Close payload is empty or a valid status
	// code followed by a UTF-8 reason.
	ErrCloseTooShort      = protocolError(CloseProtocolError, "close payload of 1 byte")
	ErrInvalidCloseCode   = protocolError(CloseProtocolError, "invalid close code")
	ErrInvalidCloseReason = protocolError(CloseInvalidPayload, "invalid UTF-8 in close reason")
)
