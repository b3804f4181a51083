package conn

import (
	"context"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestPingPongHooks checks that the hooks see the peer's pings and pongs
// and that pings are still answered.
func TestPingPongHooks(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	record := func(kind string) func([]byte) {
		return func(p []byte) {
			mu.Lock()
			seen = append(seen, kind+" "+string(p))
			mu.Unlock()
		}
	}
	url, peers := serveRaw(t)
	c := dial(t, url, &DialOptions{OnPing: record("ping"), OnPong: record("pong")})
	p := <-peers
	defer p.nc.Close()
	read := make(chan error, 1)
	go func() { _, _, err := c.Read(context.Background()); read <- err }()
	p.send(true, 0, 0x9, []byte("are you there"))
	if f, err := p.recv(); err != nil || f.op != 0xA || string(f.payload) != "are you there" {
		t.Fatalf("answer to the ping: %+v, %v", f, err)
	}
	p.send(true, 0, 0xA, []byte("unsolicited"))
	p.send(true, 0, 0x1, []byte("sync")) // the hooks ran once this is read
	if err := await(t, read, "Read"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff([]string{"ping are you there", "pong unsolicited"}, seen); diff != "" {
		t.Errorf("hooks saw (-want +got):\n%s", diff)
	}
}
