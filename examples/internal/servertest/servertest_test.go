package servertest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/twoway/websocket/conn"
	"github.com/twoway/websocket/internal/rawpeer"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestText(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 4, 5, 100, 4096, 4097, 1 << 20} {
		b := Text(n)
		if len(b) != n || !utf8.Valid(b) || strings.TrimSpace(string(b)) != string(b) {
			t.Errorf("Text(%d): %d bytes, valid UTF-8 %v, ends %q", n, len(b), utf8.Valid(b), b[max(0, len(b)-4):])
		}
	}
}

// TestWriterDuringClosingHandshake streams a text message through Writer,
// as WriteMessage does for the shutdown tests' clients, while a closing
// handshake begins: conn's documentation says that the writer then fails
// with an error matching ErrClosed while the TCP connection stays up until
// the handshake ends, and that the connection ends as the handshake says.
// The write that fails ends inside a character, as WriteMessage's writes
// of text do.
func TestWriterDuringClosingHandshake(t *testing.T) {
	tests := []struct {
		name string
		// begin starts the closing handshake, with the client's writer
		// in the middle of a message, and returns once the client has
		// sent its Close frame. The handshake ends when the server then
		// closes the TCP connection.
		begin func(t *testing.T, c *conn.Conn, peer *rawpeer.Peer) (clientErr <-chan error)
		// wantErr is the ending that the call begin made returns; the
		// zero Ending stands for nil, what Close returns for a
		// completed handshake. Later calls return want.
		wantErr, want Ending
	}{
		{
			name: "peer's Close",
			begin: func(t *testing.T, c *conn.Conn, peer *rawpeer.Peer) <-chan error {
				errc := make(chan error, 1)
				go func() {
					_, _, err := c.Read(context.Background())
					errc <- err
				}()
				sendFrame(t, peer, rawpeer.Frame{Fin: true, Opcode: rawpeer.OpClose, Payload: rawpeer.ClosePayload(1001, "going")})
				expectClose(t, peer, 1001)
				return errc
			},
			wantErr: Ending{Code: conn.CloseGoingAway, Reason: "going", Remote: true},
			want:    Ending{Code: conn.CloseGoingAway, Reason: "going", Remote: true},
		},
		{
			name: "our Close",
			begin: func(t *testing.T, c *conn.Conn, peer *rawpeer.Peer) <-chan error {
				errc := make(chan error, 1)
				go func() { errc <- c.Close(conn.CloseGoingAway, "going") }()
				expectClose(t, peer, 1001)
				sendFrame(t, peer, rawpeer.Frame{Fin: true, Opcode: rawpeer.OpClose, Payload: rawpeer.ClosePayload(1001, "")})
				return errc
			},
			want: Ending{Code: conn.CloseGoingAway, Reason: "going"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := rawpeer.Listen(nil)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			type accepted struct {
				peer *rawpeer.Peer
				err  error
			}
			acc := make(chan accepted, 1)
			go func() {
				p, err := l.Accept(0)
				acc <- accepted{p, err}
			}()
			c, _, err := conn.Dial(ctx, l.URL(), nil)
			a := <-acc
			if a.err != nil {
				t.Fatal(a.err)
			}
			peer := a.peer
			defer peer.Close()
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseNow()

			// Part of the message goes out, so that it cannot be taken
			// back.
			w, err := c.Writer(ctx, conn.Text)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write(Text(8192)); err != nil {
				t.Fatal(err)
			}
			errc := tt.begin(t, c, peer)

			// Longer than the write buffer, so that it tries to send a
			// frame, and cut inside a character.
			chunk := []byte(strings.Repeat("é", 5000))[:9999]
			if _, err := w.Write(chunk); !errors.Is(err, conn.ErrClosed) {
				t.Errorf("Write during the closing handshake: %v, want an error matching ErrClosed", err)
			}
			if err := w.Close(); !errors.Is(err, conn.ErrClosed) {
				t.Errorf("writer's Close during the closing handshake: %v, want an error matching ErrClosed", err)
			}
			// The server closes first (RFC 6455 §7.1.1): the client must
			// still be waiting for it.
			if f, err := peer.ReadFrame(100 * time.Millisecond); err == nil {
				t.Errorf("server read %v after the client's Close frame", f)
			} else if !rawpeer.IsTimeout(err) {
				t.Errorf("server read: %v; want the connection to stay up until the server closes it", err)
			}
			peer.Close()
			if diff := cmp.Diff(tt.wantErr, EndingOf(<-errc)); diff != "" {
				t.Errorf("how the call that began the handshake ended (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.want, EndingOf(c.Write(ctx, conn.Text, nil))); diff != "" {
				t.Errorf("Write after the handshake (-want +got):\n%s", diff)
			}
		})
	}
}

func sendFrame(t *testing.T, peer *rawpeer.Peer, f rawpeer.Frame) {
	t.Helper()
	if err := peer.SendFrame(f); err != nil {
		t.Fatal(err)
	}
}

// expectClose reads frames up to the client's Close frame, which must carry
// code.
func expectClose(t *testing.T, peer *rawpeer.Peer, code uint16) {
	t.Helper()
	cl, err := peer.ExpectClose(10 * time.Second)
	if err != nil || cl.Close == nil || cl.Code != code {
		t.Fatalf("ExpectClose: %+v, %v; want a Close frame with %d", cl, err, code)
	}
}
