// Package conn provides the WebSocket connection (RFC 6455) that
// applications hold: Accept upgrades an HTTP request on the server, Dial
// opens a connection as a client, and the resulting *Conn reads and writes
// whole or streamed messages, answers control frames and runs the closing
// handshake.
//
// # Concurrency
//
// One goroutine at a time may read (Read, ReadInto, Reader and the reader
// it returns). Write, Writer, Ping, Close and CloseNow may be called from
// any number of goroutines at once. Control frames, pongs included, may go
// out between the frames of a streamed message.
//
// Control frames arrive only while someone reads: Ping waits for a pong that
// a concurrent reader sees, and a Close from the peer is noticed by the
// reader. A server that never reads should still run a read loop. The
// keepalive (AcceptOptions.PingInterval) is the exception: when nobody is
// reading it handles the control frames that have arrived itself.
//
// # Contexts
//
// A context bounds each blocking call. A call that gives up before it has
// put any byte of a frame on the wire (waiting for another writer, say),
// a read that gives up while it waits for the next message, and a Ping
// waiting for its pong return an error that wraps the context's, and the
// connection stays open: the streams are still in step. A context that
// ends while a frame is half written, or a message half read, closes the
// connection, since the stream could not be framed correctly afterwards;
// the call then returns an error matching ErrClosed whose cause is
// context.Cause of the context. A context without a Done channel, such as
// context.Background(), costs nothing per call.
//
// # Errors
//
// Errors from this package begin with "websocket: ". Once a connection
// has ended, every call returns an error that matches ErrClosed and holds
// a *CloseError (errors.As), the same one for every call and goroutine,
// which says how it ended:
//
//	how the connection ended                  Code            Remote  Err
//	the peer's Close, which we answered       the peer's      true    nil
//	our Close, which the peer answered        ours            false   nil
//	our Close, not answered in time           ours            false   ErrCloseTimeout
//	our Close, then the connection broke      ours            false   the network's error
//	CloseNow                                  CloseAbnormal   false   nil
//	the peer broke the protocol: we sent      1002, 1007,     false   *frame.ProtocolError
//	  the code and closed                     1009
//	the connection broke, no Close frame      CloseAbnormal   true    the network's error
//	a context ended mid-frame                 CloseAbnormal   false   the context's cause
//	the peer did not answer the keepalive     CloseGoingAway  false   ErrKeepaliveTimeout
//
// CloseError.Normal reports the ordinary ending, a completed handshake with
// CloseNormal, CloseGoingAway or no code, begun by either side; Close
// returns nil for any completed handshake. Between our Close frame and the
// end of the handshake, writes return an error that matches ErrClosed but
// holds no *CloseError yet.
//
// Errors that leave the connection open do not match ErrClosed: a context
// that ended before anything was sent, ErrInvalidUTF8 for text that
// is not UTF-8, an invalid close code.
//
// # Writes
//
// Write normally returns once the message is handed to the operating
// system. When the reader already holds the next whole message, as in an
// echo loop answering pipelined requests, a small message may instead wait
// in the output buffer so that several answers leave in one system call; it
// is sent before the reader next waits for input, with the next write that
// does not wait, or within 200 µs. An error writing it is returned by the
// next write.
//
// # Memory
//
// Buffers come from a shared pool and are held only while a frame is in
// flight, so an idle connection costs little more than its goroutine. A
// server with very many idle connections can save net/http's per-request
// state by upgrading connections from its own listener with AcceptConn.
// The goroutine serving such a connection usually keeps the 2 KiB stack a
// goroutine starts with, because the handshake and the wait for the next
// message run near the top of its stack. A stack that has grown to 4 KiB
// stays so while its goroutine waits in a read (Go shrinks a stack only
// when under a quarter of it is in use), so a handler that makes deep
// calls of its own before it reads gives this up.
package conn
