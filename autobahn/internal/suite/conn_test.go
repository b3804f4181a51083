package suite_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twoway/websocket/autobahn/internal/report"
	"github.com/twoway/websocket/autobahn/internal/suite"
	"github.com/twoway/websocket/conn"
	"github.com/twoway/websocket/event"
	"github.com/twoway/websocket/internal/rawpeer"
)

var full = flag.Bool("autobahn.full", false, "run sections 9, 12 and 13 at the Autobahn testsuite's full sizes and counts")

// implTimeout bounds how long the echo endpoint may take to return after
// a case; a conforming one returns at once.
const implTimeout = 10 * time.Second

func options() suite.Options {
	return suite.Options{Full: *full, Short: testing.Short()}
}

// echo sends back every message with its type until the connection ends.
func echo(c *conn.Conn) {
	defer c.CloseNow()
	ctx := context.Background()
	var buf []byte
	for {
		typ, msg, err := c.ReadInto(ctx, buf)
		if err != nil {
			return
		}
		if err := c.Write(ctx, typ, msg); err != nil {
			return
		}
		buf = msg
	}
}

// TestServer runs the catalogue against conn.Accept: the suite is the
// client.
func TestServer(t *testing.T) {
	ended := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := conn.Accept(w, r, &conn.AcceptOptions{
			InsecureSkipOriginCheck: true,
			Compression:             &conn.CompressionOptions{},
			ReadLimit:               64 << 20,
		})
		if err != nil {
			ended <- err
			return
		}
		echo(c)
		ended <- nil
	}))
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/"

	runSuite(t, "servers", func(c suite.Case) (*rawpeer.Peer, func() error, error) {
		select {
		case <-ended: // left by a case that failed to connect
		default:
		}
		p, err := rawpeer.Dial(url, c.DialOptions())
		if err != nil {
			return nil, nil, err
		}
		return p, func() error { return waitEnd(ended) }, nil
	})
}

// TestServerEvent runs the catalogue against an event.Server: the suite
// is the client. The server serves through its loops, and through
// goroutines for a listener without a descriptor.
func TestServerEvent(t *testing.T) {
	for _, plain := range []bool{false, true} {
		name := "loops"
		if plain {
			name = "goroutines"
		}
		t.Run(name, func(t *testing.T) { testServerEvent(t, plain) })
	}
}

// plainListener hides its listener's descriptor.
type plainListener struct{ net.Listener }

func testServerEvent(t *testing.T, plain bool) {
	ended := make(chan error, 1)
	srv := &event.Server{
		Accept: conn.AcceptOptions{
			InsecureSkipOriginCheck: true,
			Compression:             &conn.CompressionOptions{},
			ReadLimit:               64 << 20,
		},
		OnMessage: func(c *event.Conn, typ conn.MessageType, p []byte) {
			c.Write(context.Background(), typ, p)
		},
		OnClose: func(*event.Conn, error) { ended <- nil },
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "ws://" + ln.Addr().String() + "/"
	var l net.Listener = ln
	if plain {
		l = plainListener{ln}
	}
	go srv.Serve(l)
	defer srv.Shutdown(context.Background())

	// A report directory of its own, beside TestServer's.
	role := "servers-event"
	if plain {
		role = "servers-event-goroutines"
	}
	runSuite(t, role, func(c suite.Case) (*rawpeer.Peer, func() error, error) {
		select {
		case <-ended:
		default:
		}
		p, err := rawpeer.Dial(url, c.DialOptions())
		if err != nil {
			return nil, nil, err
		}
		return p, func() error { return waitEnd(ended) }, nil
	})
}

// TestClient runs the catalogue against conn.Dial: the suite is the
// server.
func TestClient(t *testing.T) {
	var current suite.Case
	ln, err := rawpeer.Listen(&rawpeer.ListenOptions{Header: func(r *http.Request) http.Header {
		return current.AcceptHeader(r)
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	runSuite(t, "clients", func(c suite.Case) (*rawpeer.Peer, func() error, error) {
		current = c
		ended := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), implTimeout)
			defer cancel()
			cc, _, err := conn.Dial(ctx, ln.URL(), &conn.DialOptions{
				Compression: &conn.CompressionOptions{},
				ReadLimit:   64 << 20,
			})
			if err != nil {
				ended <- err
				return
			}
			echo(cc)
			ended <- nil
		}()
		p, err := ln.Accept(implTimeout)
		if err != nil {
			return nil, nil, errors.Join(err, waitEnd(ended))
		}
		return p, func() error { return waitEnd(ended) }, nil
	})
}

func waitEnd(ended chan error) error {
	select {
	case err := <-ended:
		return err
	case <-time.After(implTimeout):
		return errors.New("the echo endpoint did not return after the connection ended")
	}
}

// connectFunc connects the suite's peer to the implementation for one
// case, and returns a function that waits for the implementation's side
// to finish.
type connectFunc func(suite.Case) (*rawpeer.Peer, func() error, error)

// runSuite runs every case as a subtest named by its id, then writes the
// report to $AUTOBAHN_REPORT_DIR/role, or to a temporary directory, and
// logs the summary.
func runSuite(t *testing.T, role string, connect connectFunc) {
	opts := options()
	var results []suite.Result
	for _, c := range suite.Cases(opts) {
		t.Run(c.ID, func(t *testing.T) {
			p, wait, err := connect(c)
			if err != nil {
				t.Fatalf("connecting: %v", err)
			}
			r := suite.Run(c, p, opts)
			results = append(results, r)
			if err := wait(); err != nil {
				t.Errorf("implementation: %v", err)
			}
			if !r.Passed() {
				t.Errorf("%s\n%s", r.Description, r)
				for _, l := range r.Wirelog[:min(len(r.Wirelog), 40)] {
					t.Log(l)
				}
			}
		})
	}
	if len(results) == 0 {
		return
	}
	dir := os.Getenv("AUTOBAHN_REPORT_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	dir = filepath.Join(dir, role)
	const agent = "twoway"
	if err := suite.WriteReport(dir, agent, results); err != nil {
		t.Fatal(err)
	}
	ix, err := report.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	for _, s := range report.Summarize(ix) {
		s.WriteText(&buf)
	}
	t.Logf("report in %s\n%s", dir, buf.String())
}
