package event_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twoway/websocket/conn"
	"github.com/twoway/websocket/event"
	"github.com/twoway/websocket/frame"
	"github.com/twoway/websocket/internal/prepared"
	"github.com/twoway/websocket/internal/rawpeer"
)

// serveOpened serves on loopback with opts, on the loops or, if plain, on
// goroutines, and returns its URL and a channel that receives each
// connection once it has opened.
func serveOpened(t testing.TB, opts conn.AcceptOptions, plain bool, n int) (string, <-chan *event.Conn) {
	t.Helper()
	opened := make(chan *event.Conn, n)
	srv := &event.Server{
		Accept: opts,
		OnOpen: func(c *event.Conn, _ *http.Request) { opened <- c },
		// Clients here never send messages.
		OnMessage: func(*event.Conn, conn.MessageType, []byte) {},
	}
	return startEchoOn(t, srv, plain), opened
}

// nextOpened returns the next connection opened on the server.
func nextOpened(t testing.TB, opened <-chan *event.Conn) *event.Conn {
	t.Helper()
	select {
	case c := <-opened:
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not open the connection")
		return nil
	}
}

// TestWritePrepared writes one prepared message to connections of every
// form, on the loops and on goroutines, from two goroutines per
// connection and every connection at once, and checks that each client
// reads it whole every time. The forms that can share a frame share one
// with each other and with conn.
func TestWritePrepared(t *testing.T) {
	msg := strings.Repeat(`{"type":"message","name":"ann","text":"héllo"} `, 40)
	forms := []struct {
		name string
		co   *conn.CompressionOptions
	}{
		{"plain", nil},
		{"deflate, no takeover", &conn.CompressionOptions{ServerNoContextTakeover: true}},
		{"deflate, no takeover, 10-bit window", &conn.CompressionOptions{ServerNoContextTakeover: true, ServerMaxWindowBits: 10}},
		{"deflate, takeover", &conn.CompressionOptions{}},
		{"deflate, under the threshold", &conn.CompressionOptions{ServerNoContextTakeover: true, Threshold: 1 << 20}},
	}
	pm, err := conn.NewPreparedMessage(conn.Text, []byte(msg))
	if err != nil {
		t.Fatal(err)
	}
	const perForm, rounds = 6, 5
	type pair struct {
		form   string
		server *event.Conn
		client *conn.Conn
	}
	var pairs []pair
	ctx := context.Background()
	for _, f := range forms {
		for _, plain := range []bool{false, true} {
			url, opened := serveOpened(t, conn.AcceptOptions{Compression: f.co}, plain, perForm)
			var dopts *conn.DialOptions
			if f.co != nil {
				dopts = &conn.DialOptions{Compression: &conn.CompressionOptions{}}
			}
			for range perForm {
				client, _, err := conn.Dial(ctx, url, dopts)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { client.CloseNow() })
				// The pairing of servers and clients does not matter:
				// each client reads what one server connection sends.
				name := fmt.Sprintf("%s, goroutines=%v", f.name, plain)
				pairs = append(pairs, pair{name, nextOpened(t, opened), client})
			}
		}
	}
	var wg sync.WaitGroup
	for _, p := range pairs {
		for range 2 {
			wg.Go(func() {
				for range rounds {
					if err := p.server.WritePrepared(ctx, pm); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
	}
	for i, p := range pairs {
		for j := range 2 * rounds {
			typ, got, err := p.client.Read(ctx)
			if err != nil || typ != conn.Text || string(got) != msg {
				t.Fatalf("%s, connection %d, message %d: %v %d bytes, %v", p.form, i%perForm, j, typ, len(got), err)
			}
		}
	}
	wg.Wait()
	// Plain, and one per distinct compressor among the shared forms.
	if n := prepared.Of(pm).Forms(); n != 3 {
		t.Errorf("forms made: %d, want 3", n)
	}
}

// rawClients dials n clients that send handshake header h and then
// count the data frames they read, calling got for each; they stop when
// the test ends.
func rawClients(tb testing.TB, url string, h http.Header, n int, got func()) {
	tb.Helper()
	for range n {
		p, err := rawpeer.Dial(url, &rawpeer.DialOptions{Header: h})
		if err != nil {
			tb.Fatal(err)
		}
		done := make(chan struct{})
		tb.Cleanup(func() { p.Close(); <-done })
		go func() {
			defer close(done)
			countFrames(p.NetConn(), got)
		}()
	}
}

// countFrames reads frames from nc until it fails, calling got for each
// data frame, without allocating once it has begun.
func countFrames(nc net.Conn, got func()) {
	buf := make([]byte, 64<<10)
	have := 0      // bytes at the start of buf not yet taken
	var rest int64 // of the current frame's payload
	var data bool  // the current frame is a data frame
	for {
		n, err := nc.Read(buf[have:])
		if err != nil {
			return
		}
		have += n
		p := 0
		for p < have || rest == 0 && data {
			if rest > 0 {
				k := min(rest, int64(have-p))
				p += int(k)
				if rest -= k; rest > 0 {
					break
				}
			}
			if data {
				data = false
				got()
				continue
			}
			h, hn, err := frame.ParseHeader(buf[p:have])
			if err == frame.ErrShortHeader {
				break
			}
			if err != nil {
				return
			}
			p += hn
			rest, data = h.Length, !h.Opcode.IsControl()
		}
		have = copy(buf, buf[p:have])
	}
}

// broadcastForms are the forms of server connections in the allocation
// test and the benchmark: the header a raw client offers compression
// with, and the server's options.
var broadcastForms = []struct {
	name   string
	co     *conn.CompressionOptions
	shared bool // the connections share one frame
}{
	{"plain", nil, true},
	{"no-takeover", &conn.CompressionOptions{ServerNoContextTakeover: true}, true},
	{"takeover", &conn.CompressionOptions{}, false},
}

// broadcaster is an event server's connections to n raw clients that
// count what they read.
type broadcaster struct {
	conns []*event.Conn
	wg    sync.WaitGroup // a client is done with a message
}

func newBroadcaster(tb testing.TB, co *conn.CompressionOptions, n int) *broadcaster {
	tb.Helper()
	url, opened := serveOpened(tb, conn.AcceptOptions{Compression: co}, false, n)
	var h http.Header
	if co != nil {
		h = http.Header{"Sec-Websocket-Extensions": {"permessage-deflate"}}
	}
	b := &broadcaster{}
	rawClients(tb, url, h, n, b.wg.Done)
	for range n {
		c := nextOpened(tb, opened)
		if co != nil && !c.Compressed() {
			tb.Fatal("compression was not agreed")
		}
		b.conns = append(b.conns, c)
	}
	return b
}

// send writes pm to every connection, with WritePrepared or, if
// encodeEach, with Write, and waits until every client has read it.
func (b *broadcaster) send(tb testing.TB, pm *conn.PreparedMessage, encodeEach bool) {
	ctx := context.Background()
	b.wg.Add(len(b.conns))
	for _, c := range b.conns {
		var err error
		if encodeEach {
			err = c.Write(ctx, pm.Type(), pm.Data())
		} else {
			err = c.WritePrepared(ctx, pm)
		}
		if err != nil {
			tb.Fatal(err)
		}
	}
	b.wg.Wait()
}

// broadcastMessage is a message of the sort a server broadcasts: 1 KiB of
// JSON.
func broadcastMessage(tb testing.TB) *conn.PreparedMessage {
	return broadcastMessageOf(tb, 19)
}

// broadcastMessageOf is broadcastMessage's JSON, n events of 55 bytes.
func broadcastMessageOf(tb testing.TB, n int) *conn.PreparedMessage {
	msg := strings.Repeat(`{"room":"lobby","from":"ann","text":"hello, everyone"},`, n)
	pm, err := conn.NewPreparedMessage(conn.Text, []byte(msg))
	if err != nil {
		tb.Fatal(err)
	}
	return pm
}
