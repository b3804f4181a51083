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
// reader. A server that never reads should still run a read loop.
//
// # Contexts
//
// A context bounds each blocking call. When it expires or is canceled
// during a call, the connection is closed and the call returns the
// context's error: a frame may be half read or written, and the stream
// could not be framed correctly afterwards.
// A context without a Done channel, such as context.Background(), costs
// nothing per call.
//
// # Errors
//
// When the peer closes the connection, reads return a *CloseError holding
// the peer's code and reason. When the peer breaks the protocol, the
// connection sends the matching close code and reads return a
// *frame.ProtocolError (1002, 1007 or 1009). After Close or CloseNow every
// call returns an error that matches ErrClosed.
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
