package conn

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestPreparedMessage writes one prepared message to connections of every
// form, from many goroutines at once, and checks each receives it whole;
// the server forms share one frame per form.
func TestPreparedMessage(t *testing.T) {
	msg := strings.Repeat(`{"type":"message","name":"ann","text":"héllo"} `, 40)
	forms := []struct {
		name   string
		server bool // the prepared message goes from server to client
		aopts  *AcceptOptions
		dopts  *DialOptions
		shared bool // the server sends a frame shared by the form
	}{
		{"server plain", true, nil, nil, true},
		{"server deflate, no takeover", true,
			&AcceptOptions{Compression: &CompressionOptions{ServerNoContextTakeover: true}},
			&DialOptions{Compression: &CompressionOptions{}}, true},
		{"server deflate, no takeover, 10-bit window", true,
			&AcceptOptions{Compression: &CompressionOptions{ServerNoContextTakeover: true, ServerMaxWindowBits: 10}},
			&DialOptions{Compression: &CompressionOptions{}}, true},
		{"server deflate, takeover", true,
			&AcceptOptions{Compression: &CompressionOptions{}},
			&DialOptions{Compression: &CompressionOptions{}}, false},
		{"server deflate, under the threshold", true,
			&AcceptOptions{Compression: &CompressionOptions{ServerNoContextTakeover: true, Threshold: 1 << 20}},
			&DialOptions{Compression: &CompressionOptions{}}, true},
		{"client plain", false, nil, nil, false},
		{"client deflate", false,
			&AcceptOptions{Compression: &CompressionOptions{}},
			&DialOptions{Compression: &CompressionOptions{ClientNoContextTakeover: true}}, false},
	}
	pm, err := NewPreparedMessage(Text, []byte(msg))
	if err != nil {
		t.Fatal(err)
	}
	const perForm, rounds = 4, 5
	type pair struct{ from, to *Conn }
	var pairs []pair
	for _, f := range forms {
		for range perForm {
			client, server := acceptedPair(t, f.aopts, f.dopts)
			if f.server {
				pairs = append(pairs, pair{server, client})
			} else {
				pairs = append(pairs, pair{client, server})
			}
		}
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	for _, p := range pairs {
		// Two writers per connection, and every connection at once.
		for range 2 {
			wg.Go(func() {
				for range rounds {
					if err := p.from.WritePrepared(ctx, pm); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
	}
	for i, p := range pairs {
		for j := range 2 * rounds {
			typ, got, err := p.to.Read(ctx)
			if err != nil || typ != Text || string(got) != msg {
				t.Fatalf("%s, connection %d, message %d: %v %d bytes, %v", forms[i/perForm].name, i%perForm, j, typ, len(got), err)
			}
		}
	}
	wg.Wait()
	// Plain, and one per distinct compressor among the shared forms.
	if n := pm.m.Forms(); n != 3 {
		t.Errorf("forms made: %d, want 3", n)
	}
}

// TestPreparedMessageAllocs checks that writing a prepared message, or a
// batch of them, to another connection of a form allocates nothing. The
// batch of 1 KiB messages is more than the output buffer holds, compressed
// or not, so it is gathered into one writev.
func TestPreparedMessageAllocs(t *testing.T) {
	if raceEnabled {
		// The race detector drops sync.Pool items at random, and a pooled
		// buffer then allocates; .ci/run runs this test without it.
		t.Skip("allocations are counted without -race")
	}
	for _, compress := range []bool{false, true} {
		for _, batch := range []int{1, 8} {
			t.Run(fmt.Sprint("compress=", compress, ",batch=", batch), func(t *testing.T) {
				var co *CompressionOptions
				if compress {
					co = &CompressionOptions{ServerNoContextTakeover: true}
				}
				client, server := acceptedPair(t, &AcceptOptions{Compression: co}, &DialOptions{Compression: co})
				// AllocsPerRun counts every goroutine's allocations: the
				// reader reuses its buffer, so that it allocates nothing.
				go func() {
					buf := make([]byte, 0, 4<<10)
					for {
						_, msg, err := client.ReadInto(context.Background(), buf)
						if err != nil {
							return
						}
						buf = msg
					}
				}()
				pms := []*PreparedMessage{}
				if batch == 1 {
					pm, _ := NewPreparedMessage(Binary, bytes.Repeat([]byte("tick "), 200))
					pms = append(pms, pm)
				} else {
					for i := range batch {
						pms = append(pms, batchMessage(t, i, 1024))
					}
				}
				ctx := context.Background()
				server.WritePrepared(ctx, pms...)
				if allocs := testing.AllocsPerRun(100, func() {
					if err := server.WritePrepared(ctx, pms...); err != nil {
						t.Fatal(err)
					}
				}); allocs != 0 {
					t.Errorf("%v allocations per WritePrepared of %d messages, want 0", allocs, batch)
				}
			})
		}
	}
}

// TestPreparedMessageRefusesInvalidText checks the checks of
// NewPreparedMessage.
func TestPreparedMessageRefusesInvalidText(t *testing.T) {
	_, err := NewPreparedMessage(Text, []byte("a\xff"))
	_, err2 := NewPreparedMessage(MessageType(9), nil)
	if diff := cmp.Diff([]string{ErrInvalidUTF8.Error(), errMessageType.Error()}, []string{err.Error(), err2.Error()}); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}
