//go:build !go1.27 || http2legacy

package h2build

// XNetSendsExtendedConnect is true: x/net's own HTTP/2 client sends the
// requests, :protocol included.
const XNetSendsExtendedConnect = true
