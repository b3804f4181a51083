package conn

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestStaleWriter checks that a writer kept after its Close neither
// writes into nor ends the message a later Writer call started.
func TestStaleWriter(t *testing.T) {
	for _, tc := range compressions {
		t.Run(tc.name, func(t *testing.T) {
			client, server := acceptedPair(t, &AcceptOptions{Compression: tc.opts}, &DialOptions{Compression: tc.opts})
			ctx := context.Background()
			w1, err := client.Writer(ctx, Text)
			if err != nil {
				t.Fatal(err)
			}
			w1.Write([]byte("first"))
			if err := w1.Close(); err != nil {
				t.Fatal(err)
			}
			w2, err := client.Writer(ctx, Text)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w1.Write([]byte("stale")); err == nil {
				t.Error("Write on a closed writer succeeded while another message was open")
			}
			if err := w1.Close(); err == nil {
				t.Error("Close on a closed writer succeeded while another message was open")
			}
			if _, err := w2.Write([]byte("second")); err != nil {
				t.Fatalf("Write after the stale writer's calls: %v", err)
			}
			if err := w2.Close(); err != nil {
				t.Fatal(err)
			}
			var got []string
			for range 2 {
				_, msg, err := server.Read(ctx)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, string(msg))
			}
			if diff := cmp.Diff([]string{"first", "second"}, got); diff != "" {
				t.Errorf("messages (-want +got):\n%s", diff)
			}
		})
	}
}

// TestWriterAfterCloseFrame checks that a write to an open Writer after
// the connection's Close fails at once, rather than being buffered for a
// flush that can never happen.
func TestWriterAfterCloseFrame(t *testing.T) {
	for _, tc := range compressions {
		t.Run(tc.name, func(t *testing.T) {
			client, server := acceptedPair(t, &AcceptOptions{Compression: tc.opts}, &DialOptions{Compression: tc.opts})
			ctx := context.Background()
			go func() { // answer the Close
				for {
					if _, _, err := server.Read(ctx); err != nil {
						return
					}
				}
			}()
			w, err := client.Writer(ctx, Text)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write([]byte("begun")); err != nil {
				t.Fatal(err)
			}
			if err := client.Close(CloseNormal, ""); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if n, err := w.Write([]byte("x")); n != 0 || !errors.Is(err, ErrClosed) {
				t.Errorf("Write after Close = %d, %v; want 0, ErrClosed", n, err)
			}
			if err := w.Close(); !errors.Is(err, ErrClosed) {
				t.Errorf("writer's Close after Close = %v; want ErrClosed", err)
			}
		})
	}
}
