//go:build go1.27 && !http2legacy

package h2build

// XNetSendsExtendedConnect is false: x/net's Transport wraps net/http's
// here, and net/http refuses the :protocol pseudo-header.
const XNetSendsExtendedConnect = false
