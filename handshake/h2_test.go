//lint:file-ignore SA1019 x/net's HTTP/2 Transport is deprecated in favor of net/http's, but in Go 1.26 net/http's Transport refuses the :protocol pseudo-header that RFC 8441 needs.

package handshake

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twoway/websocket/internal/godebugtest"
	"github.com/twoway/websocket/internal/h2build"
	"golang.org/x/net/http2"
)

// TestExtendedConnect opens WebSocket streams over HTTP/2 (RFC 8441) with
// net/http's client and checks the answers and that bytes flow both ways.
func TestExtendedConnect(t *testing.T) {
	skipWithoutH2Client(t)
	if !godebugtest.Run(t, "http2xconnect=1") {
		return
	}
	served := make(chan error, 1)
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sc, err := Upgrade(w, r, &ServerOptions{Subprotocols: []string{"chat"}, Header: http.Header{"X-Served-By": {"twoway"}}})
		if err != nil {
			served <- err
			return
		}
		defer sc.Conn.Close()
		if sc.Conn.RemoteAddr().String() != r.RemoteAddr || sc.Conn.LocalAddr() == nil {
			served <- errors.New("stream has wrong addresses")
			return
		}
		// Echo what arrives until the client ends its side.
		buf := make([]byte, 64)
		for {
			n, err := sc.Conn.Read(buf)
			if n > 0 {
				if _, err := sc.Conn.Write(buf[:n]); err != nil {
					served <- err
					return
				}
			}
			if err == io.EOF {
				served <- nil
				return
			}
			if err != nil {
				served <- err
				return
			}
		}
	}))
	ts.EnableHTTP2 = true
	ts.StartTLS()
	defer ts.Close()

	client := &http2.Transport{TLSClientConfig: ts.Client().Transport.(*http.Transport).TLSClientConfig}
	defer client.CloseIdleConnections()
	connect := func(protocol, version string, body io.Reader) (*http.Response, error) {
		req, err := http.NewRequest(http.MethodConnect, ts.URL+"/chat", body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set(":protocol", protocol)
		if version != "" {
			req.Header.Set("Sec-WebSocket-Version", version)
		}
		req.Header.Set("Sec-WebSocket-Protocol", "chat, v2")
		// net/http's own Transport refuses the :protocol pseudo-header;
		// x/net's HTTP/2 transport sends it.
		return client.RoundTrip(req)
	}

	t.Run("echo", func(t *testing.T) {
		pr, pw := io.Pipe()
		resp, err := connect("websocket", "13", pr)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusOK {
			t.Fatalf("got %s %s, want HTTP/2 200", resp.Proto, resp.Status)
		}
		if got := resp.Header.Get("Sec-WebSocket-Protocol"); got != "chat" {
			t.Errorf("Sec-WebSocket-Protocol = %q, want chat", got)
		}
		if got := resp.Header.Get("X-Served-By"); got != "twoway" {
			t.Errorf("X-Served-By = %q, want twoway", got)
		}
		for _, msg := range []string{"hello", "\x81\x05world"} {
			if _, err := pw.Write([]byte(msg)); err != nil {
				t.Fatal(err)
			}
			got := make([]byte, len(msg))
			if _, err := io.ReadFull(resp.Body, got); err != nil {
				t.Fatal(err)
			}
			if string(got) != msg {
				t.Fatalf("echo %q, want %q", got, msg)
			}
		}
		pw.Close()
		if err := <-served; err != nil {
			t.Fatal(err)
		}
	})

	for _, tt := range []struct {
		name, protocol, version string
		status                  int
	}{
		{"other protocol", "webtransport", "13", http.StatusBadRequest},
		{"no version", "websocket", "", http.StatusUpgradeRequired},
		{"old version", "websocket", "8", http.StatusUpgradeRequired},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := connect(tt.protocol, tt.version, http.NoBody)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
			}
			var re *RequestError
			if err := <-served; !errors.As(err, &re) || re.Status != tt.status {
				t.Errorf("Upgrade returned %v, want a RequestError with %d", err, tt.status)
			}
		})
	}
}

// TestDialExtendedConnect dials WebSocket streams over HTTP/2 with Dial.
func TestDialExtendedConnect(t *testing.T) {
	if !godebugtest.Run(t, "http2xconnect=1") {
		return
	}
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sc, err := Upgrade(w, r, &ServerOptions{Subprotocols: []string{"v2"}})
		if err != nil {
			return
		}
		defer sc.Conn.Close()
		io.Copy(sc.Conn, sc.Conn)
	}))
	ts.EnableHTTP2 = true
	ts.StartTLS()
	defer ts.Close()
	rt := &http2.Transport{TLSClientConfig: ts.Client().Transport.(*http.Transport).TLSClientConfig}
	defer rt.CloseIdleConnections()
	url := "wss" + strings.TrimPrefix(ts.URL, "https") + "/echo"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	if !h2build.XNetSendsExtendedConnect {
		// Go 1.27 without -tags http2legacy: x/net's transport goes
		// through net/http, which refuses :protocol. Dial must say so
		// and what to do, not pass on net/http's bare complaint.
		_, err := Dial(ctx, url, &ClientOptions{HTTP2: rt})
		checkNoExtendedConnect(t, err)
		return
	}

	t.Run("echo", func(t *testing.T) {
		cc, err := Dial(ctx, url, &ClientOptions{HTTP2: rt, Subprotocols: []string{"v1", "v2"}})
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Conn.Close()
		if cc.Subprotocol != "v2" || cc.Response.StatusCode != http.StatusOK || cc.Response.ProtoMajor != 2 {
			t.Fatalf("subprotocol %q, response %s %s; want v2, HTTP/2 200", cc.Subprotocol, cc.Response.Proto, cc.Response.Status)
		}
		for _, msg := range []string{"one", strings.Repeat("x", 100_000)} {
			errc := make(chan error, 1)
			go func() { _, err := cc.Conn.Write([]byte(msg)); errc <- err }()
			got := make([]byte, len(msg))
			if _, err := io.ReadFull(cc.Conn, got); err != nil {
				t.Fatal(err)
			}
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			if string(got) != msg {
				t.Fatalf("echo of %d bytes differs", len(msg))
			}
		}
	})
	t.Run("read deadline", func(t *testing.T) {
		cc, err := Dial(ctx, url, &ClientOptions{HTTP2: rt})
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Conn.Close()
		cc.Conn.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		if _, err := cc.Conn.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Read = %v, want os.ErrDeadlineExceeded", err)
		}
		if err := cc.Conn.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			t.Fatal(err)
		}
		if _, err := cc.Conn.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Write after Close = %v, want net.ErrClosed", err)
		}
	})
	t.Run("refused", func(t *testing.T) {
		_, err := Dial(ctx, url, &ClientOptions{HTTP2: rt, Header: http.Header{"Origin": {"https://evil.example"}}})
		var re *ResponseError
		if !errors.As(err, &re) || re.StatusCode != http.StatusForbidden || !errors.Is(err, ErrBadStatus) {
			t.Fatalf("Dial = %v, want a ResponseError with 403", err)
		}
	})
}

// TestStreamOutlivesHandler checks that a stream used after its handler
// has returned, as a WebSocket loop started with go and left running
// would, fails with net.ErrClosed instead of panicking in net/http.
func TestStreamOutlivesHandler(t *testing.T) {
	skipWithoutH2Client(t)
	if !godebugtest.Run(t, "http2xconnect=1") {
		return
	}
	errs := make(chan error, 1)
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sc, err := Upgrade(w, r, nil)
		if err != nil {
			errs <- err
			return
		}
		go func() {
			<-r.Context().Done() // the handler has returned
			time.Sleep(10 * time.Millisecond)
			_, werr := sc.Conn.Write([]byte("late"))
			derr := sc.Conn.SetDeadline(time.Now())
			errs <- errors.Join(werr, derr)
		}()
	}))
	ts.EnableHTTP2 = true
	ts.StartTLS()
	defer ts.Close()
	rt := &http2.Transport{TLSClientConfig: ts.Client().Transport.(*http.Transport).TLSClientConfig}
	defer rt.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodConnect, ts.URL+"/", http.NoBody)
	req.Header.Set(":protocol", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if err := <-errs; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Write and SetDeadline after the handler returned: %v, want net.ErrClosed", err)
	}
}

// skipWithoutH2Client skips a test of the server that needs a client able
// to send an extended CONNECT, when this build has none: on Go 1.27 and
// later without -tags http2legacy, x/net's HTTP/2 transport sends through
// net/http, which refuses the :protocol pseudo-header. CI runs these
// tests again with the tag.
func skipWithoutH2Client(t *testing.T) {
	t.Helper()
	if !h2build.XNetSendsExtendedConnect {
		t.Skip("no HTTP/2 client here can send an extended CONNECT: on Go 1.27 and later, it needs -tags http2legacy")
	}
}

// checkNoExtendedConnect checks that err is Dial's account of an HTTP/2
// transport that refused the extended CONNECT: it matches
// ErrNoExtendedConnect and tells the reader to build with -tags
// http2legacy or dial over HTTP/1.1.
func checkNoExtendedConnect(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, ErrNoExtendedConnect) {
		t.Fatalf("Dial = %v, want an error that matches ErrNoExtendedConnect", err)
	}
	for _, want := range []string{"-tags http2legacy", "HTTP/1.1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Dial's error %q does not say %q", err, want)
		}
	}
}

// TestNoExtendedConnect checks how Dial reports an HTTP/2 transport's
// refusal of the :protocol pseudo-header, whatever the Go version:
// net/http's own Transport refuses it in every version so far, and a
// transport that fails otherwise must not be reported as refusing it.
func TestNoExtendedConnect(t *testing.T) {
	ts := httptest.NewTLSServer(http.NotFoundHandler())
	defer ts.Close()
	netHTTP := ts.Client().Transport.(*http.Transport).Clone()
	defer netHTTP.CloseIdleConnections()
	url := "wss" + strings.TrimPrefix(ts.URL, "https") + "/"
	for _, tt := range []struct {
		name    string
		rt      http.RoundTripper
		refused bool
	}{
		{"net/http Transport", netHTTP, true},
		{"net/http ClientConn's text", failingTransport{errors.New(`http: invalid header field name ":protocol"`)}, true},
		{"other error", failingTransport{errors.New("http2: extended connect not supported by peer")}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := Dial(ctx, url, &ClientOptions{HTTP2: tt.rt})
			if !tt.refused {
				if err == nil || errors.Is(err, ErrNoExtendedConnect) {
					t.Fatalf("Dial = %v, want an error that does not match ErrNoExtendedConnect", err)
				}
				return
			}
			checkNoExtendedConnect(t, err)
		})
	}
}

// failingTransport is an http.RoundTripper whose requests all fail with
// err.
type failingTransport struct{ err error }

func (f failingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		r.Body.Close()
	}
	return nil, f.err
}
