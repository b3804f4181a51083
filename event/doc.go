// Package event serves WebSocket connections (RFC 6455) from event loops:
// on Linux, a few goroutines wait on epoll for every connection, so that
// an idle connection holds no goroutine and no buffer, only its
// descriptor, a record of under 300 bytes and what the kernel keeps for
// the socket. It is a package of its own, beside conn, because its model
// is the other way round: conn gives each connection to a goroutine that
// reads and writes it, while here the server reads every connection and
// calls the application back.
//
// # Choosing a mode
//
// Use conn (Accept, AcceptConn) unless memory per connection decides: it
// is the simpler model, a handler is ordinary sequential code, it streams
// messages of any size, works under net/http, HTTP/2 and TLS, and an idle
// connection costs about 5 KiB, mostly its goroutine's stack. Use this
// package for very many connections that are mostly idle, such as
// notifications, presence, feeds or devices: an idle connection costs
// well under 1 KiB here (390 to 490 bytes of resident memory measured
// at 10,000 connections, TestIdleMemory). The price is a callback API,
// messages delivered whole (never streamed), output that waits in memory
// until the peer takes it, a round trip about twice as long for a lone
// client, since a message passes from a loop to a worker, and more CPU
// for messages of megabytes, which are assembled and copied whole (1.2x
// to 1.4x conn's per echo of 1 to 16 MiB, bench's big1m and big16m).
//
// # Serving
//
// A Server upgrades the connections of the listeners given to Serve
// itself: a loop accepts them, reads the handshake request, usually as
// it accepts the connection, parses it where it lies in the loop's
// buffer (handshake.AnswerUpgrade, or ParseUpgrade when OnOpen takes the
// request), with the same checks as conn.AcceptConn, and writes the
// answer. Then it reads frames as they arrive, with frame's header
// parser, rules and sequencer, unmasks them and checks text as it comes
// (an invalid byte fails the connection at once, RFC 6455 §8.1), answers
// pings, runs the closing handshake and the keepalive, and applies the
// read limit, all as conn does: the conformance suite
// (autobahn/internal/suite) passes in both modes.
//
// A listener without a descriptor, such as a tls.Listener, and systems
// other than Linux are served through the same API with a goroutine per
// connection that reads into the same parser.
//
// # Callbacks
//
// OnOpen, OnMessage and OnClose run on a pool of at most Server.Workers
// goroutines, which exist only while there is work, never on a loop: a
// callback that blocks holds one worker and stalls neither the loops nor
// the other connections. The callbacks of one connection run one at a
// time, in the order of its events. A compressed message is inflated on
// the pool, not on the loop.
//
// # Writes
//
// Conn.Write may be called from any goroutine. It encodes the message
// into the connection's output and returns: the writes of callbacks are
// sent together when the callbacks for the messages that had arrived
// have returned, other writes by the loop with whatever else is queued
// by then. When more than Server.MaxPending bytes wait for a slow peer,
// Write waits and the loop stops reading the connection, so that neither
// what we owe a peer nor what waits for the callbacks grows without
// bound. Conn.WritePrepared queues a conn.PreparedMessage's frame, made
// once for every connection of the same form, here or in conn, as
// conn.Conn.WritePrepared writes it: a broadcast is encoded, and
// compressed for connections without context takeover, once.
//
// # Closing
//
// Conn.Close queues a Close frame and returns; OnClose later reports how
// the connection ended, with the same *conn.CloseError values as conn.
// Shutdown closes every connection with CloseGoingAway and waits for
// their handshakes and callbacks, or closes them at once when its context
// ends.
package event
