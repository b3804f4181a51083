package conn

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

type event struct {
	Type string   `json:"type"`
	Name string   `json:"name,omitempty"`
	Text string   `json:"text,omitempty"`
	Tags []string `json:"tags,omitempty"`
}

// TestJSON round-trips values through WriteJSON and ReadJSON, and checks
// that messages that are not one JSON value, and values that cannot be
// encoded, fail the call and leave the connection open.
func TestJSON(t *testing.T) {
	for _, co := range compressions {
		t.Run(co.name, func(t *testing.T) {
			co := co.opts
			client, server := acceptedPair(t, &AcceptOptions{Compression: co}, &DialOptions{Compression: co})
			ctx := context.Background()
			for _, want := range []event{
				{Type: "join", Name: "ann"},
				{Type: "message", Name: "bob", Text: strings.Repeat("héllo ", 20000)}, // many frames
			} {
				if err := client.WriteJSON(ctx, want); err != nil {
					t.Fatal(err)
				}
				var got event
				if err := server.ReadJSON(ctx, &got); err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
			}
			// The message on the wire has no trailing newline.
			client.WriteJSON(ctx, event{Type: "x"})
			if _, msg, err := server.Read(ctx); err != nil || string(msg) != `{"type":"x"}` {
				t.Errorf("wire form %q, %v", msg, err)
			}
			if err := client.WriteJSON(ctx, make(chan int)); err == nil || !strings.HasPrefix(err.Error(), "websocket: encoding JSON: ") {
				t.Errorf("WriteJSON(chan) = %v, want an encoding error", err)
			}
			for _, bad := range []string{"", "{", `{"type":"a"} {"type":"b"}`, "not json"} {
				client.Write(ctx, Text, []byte(bad))
				var got event
				if err := server.ReadJSON(ctx, &got); err == nil || errors.Is(err, ErrClosed) {
					t.Errorf("ReadJSON of %q = %v, want an error on an open connection", bad, err)
				}
			}
			// Nothing was sent for the value that could not be encoded.
			client.WriteJSON(ctx, event{Type: "last"})
			var got event
			if err := server.ReadJSON(ctx, &got); err != nil || got.Type != "last" {
				t.Errorf("ReadJSON = %+v, %v; want the last event", got, err)
			}
		})
	}
}

// TestReadJSONConnectionEnds checks that a connection that ends in the
// middle of a JSON message is reported as the connection's ending, as Read
// reports it, not as a JSON error wrapping it.
func TestReadJSONConnectionEnds(t *testing.T) {
	client, server := acceptedPair(t, nil, nil)
	ctx := context.Background()
	w, err := client.Writer(ctx, Text)
	if err != nil {
		t.Fatal(err)
	}
	// Larger than the write buffer, so that it goes out as a first frame.
	w.Write([]byte(`{"type":"` + strings.Repeat("a", 1<<16)))
	go client.Close(CloseGoingAway, "bye")
	var got event
	err = server.ReadJSON(ctx, &got)
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != CloseGoingAway || strings.Contains(err.Error(), "JSON") {
		t.Errorf("ReadJSON = %v; want the peer's 1001, worded as Read words it", err)
	}
}
