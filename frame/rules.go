package frame

import (
	"bufio"
	"io"
	"strconv"
)

// Role is the side of a connection an endpoint plays. It decides which
// frames are masked (RFC 6455 §5.1).
type Role uint8

// Roles. The zero Role is neither: Rules with it do not check masking.
const (
	RoleServer Role = iota + 1 // receives masked frames, sends unmasked
	RoleClient                 // receives unmasked frames, sends masked
)

// String returns "server", "client" or "role(N)".
func (r Role) String() string {
	switch r {
	case RoleServer:
		return "server"
	case RoleClient:
		return "client"
	}
	return "role(" + strconv.Itoa(int(r)) + ")"
}

// Rules say which frame headers a receiver accepts. The zero value
// accepts only the opcodes and bits of RFC 6455 without extensions, checks
// no masking and no length limit.
type Rules struct {
	Role       Role  // the receiving side
	AllowedRSV byte  // RSV bits that a negotiated extension permits (e.g. RSV1 for permessage-deflate)
	MaxLength  int64 // largest payload accepted in one frame; 0 means no limit
}

// Check validates h against RFC 6455 §5 and r. It returns, in this order
// of precedence:
//
//   - ErrReservedOpcode for an opcode RFC 6455 does not define (§5.2);
//   - ErrReservedBits for an RSV bit outside r.AllowedRSV (§5.2);
//   - ErrFragmentedControl for a control frame without Fin and
//     ErrControlTooLong for one longer than 125 bytes (§5.5);
//   - ErrUnmaskedFrame when a server receives an unmasked frame and
//     ErrMaskedFrame when a client receives a masked one (§5.1);
//   - ErrFrameTooBig when r.MaxLength > 0 and h.Length exceeds it.
//
// All but the last carry CloseProtocolError; ErrFrameTooBig carries
// CloseMessageTooBig. Check never allocates.
func (r Rules) Check(h Header) error {
	switch {
	case h.Opcode.IsReserved():
		return ErrReservedOpcode
	case h.RSV&^r.AllowedRSV != 0:
		return ErrReservedBits
	}
	if h.Opcode.IsControl() {
		switch {
		case !h.Fin:
			return ErrFragmentedControl
		case h.Length > MaxControlPayload:
			return ErrControlTooLong
		}
	}
	switch {
	case r.Role == RoleServer && !h.Masked:
		return ErrUnmaskedFrame
	case r.Role == RoleClient && h.Masked:
		return ErrMaskedFrame
	case r.MaxLength > 0 && h.Length > r.MaxLength:
		return ErrFrameTooBig
	}
	return nil
}

// ReadHeader reads one frame header from br, validates it with rules and
// returns it. It uses br.Peek and br.Discard, so it does not allocate.
//
// If br ends before a byte of the header is read, ReadHeader returns
// io.EOF; if it ends within the header, io.ErrUnexpectedEOF. Other read
// errors, such as timeouts, are returned as they are and leave the
// partial header unread in br, so the call can be repeated. A header that
// fails decoding or rules is consumed and returned with its error.
func ReadHeader(br *bufio.Reader, rules Rules) (Header, error) {
	b, err := br.Peek(2)
	if err != nil {
		if err == io.EOF && len(b) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return Header{}, err
	}
	if size := HeaderSize(b[1]); size > 2 {
		if b, err = br.Peek(size); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return Header{}, err
		}
	}
	h, n, err := ParseHeader(b)
	if err != nil {
		br.Discard(HeaderSize(b[1]))
		return h, err
	}
	br.Discard(n)
	return h, rules.Check(h)
}
