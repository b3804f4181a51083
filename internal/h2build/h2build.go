// Package h2build tells tests whether golang.org/x/net/http2.Transport can
// send an extended CONNECT (RFC 8441) in this build. From Go 1.27 on, x/net
// sends its requests through net/http's Transport, whose header check
// refuses the :protocol pseudo-header, unless the build has the
// http2legacy tag, which keeps x/net's own HTTP/2 client. The files of
// this package carry the same build constraints as x/net's.
package h2build
