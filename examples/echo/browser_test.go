package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twoway/websocket/examples/internal/browsertest"
	"github.com/twoway/websocket/internal/godebugtest"
)

// testPage drives the real page at / in an iframe, as a person would,
// then opens a WebSocket of its own to check compression and large
// messages, and posts what it found to /result.
const testPage = `<!doctype html>
<meta charset="utf-8">
<title>echo browser test</title>
<iframe id="app" width="800" height="600"></iframe>
<script>
"use strict";
const steps = [];
const step = (s) => steps.push(s);
const report = (r) => fetch("/result", {method: "POST", body: JSON.stringify(Object.assign({steps}, r))});
window.addEventListener("error", (e) => report({ok: false, error: "uncaught: " + e.message}));

function waitFor(cond, what, ms = 15000) {
  return new Promise((resolve, reject) => {
    const start = Date.now();
    const poll = () => {
      let v;
      try { v = cond(); } catch (e) { reject(e); return; }
      if (v) { resolve(v); return; }
      if (Date.now() - start > ms) { reject(new Error("timed out waiting for " + what)); return; }
      setTimeout(poll, 20);
    };
    poll();
  });
}

function nextEvent(ws, type) {
  return new Promise((resolve, reject) => {
    ws.addEventListener(type, resolve, {once: true});
    if (type !== "close") {
      ws.addEventListener("close", (e) => reject(new Error("closed " + e.code + " while waiting for " + type)), {once: true});
    }
  });
}

async function main() {
  // 1. The page a person sees: type, submit, see the echo.
  const app = document.getElementById("app");
  const loaded = new Promise((r) => app.addEventListener("load", r, {once: true}));
  app.src = "/";
  await loaded;
  const doc = app.contentDocument;
  await waitFor(() => doc.body.dataset.state === "open", "the page to connect");
  const pageStatus = doc.getElementById("status").textContent;
  step("page connected: " + pageStatus);
  for (const msg of ["hello", "héllo wörld ✓ 🌍", "x".repeat(3000)]) {
    doc.getElementById("text").value = msg;
    doc.getElementById("form").requestSubmit();
    await waitFor(() => [...doc.querySelectorAll("#log .recv")].some((p) => p.textContent === msg),
      "the echo of a " + msg.length + "-character message in the page");
    step("page echoed " + msg.length + " characters");
  }

  // 2. A WebSocket of our own: compression and large messages.
  const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + WS_PATH);
  ws.binaryType = "arraybuffer";
  await nextEvent(ws, "open");
  step("extensions: " + ws.extensions);
  if (!ws.extensions.includes("permessage-deflate")) {
    throw new Error("permessage-deflate not negotiated; extensions: " + JSON.stringify(ws.extensions));
  }
  let big = "";
  for (let i = 0; big.length < (1 << 20); i++) {
    big += "line " + (i % 1000) + ": the quick brown fox jumps over the lazy dog\n";
  }
  ws.send(big);
  const text = await nextEvent(ws, "message");
  if (text.data !== big) {
    throw new Error("large text came back changed: " + text.data.length + " characters, sent " + big.length);
  }
  step("large text echoed: " + big.length + " characters");
  const bin = new Uint8Array(256 << 10);
  for (let i = 0; i < bin.length; i++) bin[i] = i % 251;
  ws.send(bin);
  const back = new Uint8Array((await nextEvent(ws, "message")).data);
  if (back.length !== bin.length || back.some((b, i) => b !== bin[i])) {
    throw new Error("large binary came back changed: " + back.length + " bytes");
  }
  step("large binary echoed: " + bin.length + " bytes");
  const closing = nextEvent(ws, "close");
  ws.close(1000, "done");
  const c = await closing;
  step("closed " + c.code + " clean=" + c.wasClean);
  if (c.code !== 1000 || !c.wasClean) {
    throw new Error("close: code " + c.code + ", clean " + c.wasClean);
  }
  return {ok: true, data: {extensions: ws.extensions, pageStatus, payload: big.length + bin.length}};
}

main().then(report, (e) => report({ok: false, error: String(e && e.stack || e)}));
</script>
`

// TestBrowser runs the echo page and a WebSocket client in headless
// Chromium, and checks that permessage-deflate is negotiated with the
// browser and shrinks what crosses the wire in both directions.
func TestBrowser(t *testing.T) {
	chromium := browsertest.Chromium(t)
	protos := runBrowserTest(t, chromium, false)
	for _, p := range protos {
		if p != "HTTP/1.1 GET" {
			t.Errorf("WebSocket request %s, want HTTP/1.1 GET", p)
		}
	}
}

// TestBrowserHTTP2 runs the same page over HTTPS with HTTP/2, where
// Chromium opens its WebSockets as HTTP/2 streams (RFC 8441) once the
// server offers extended CONNECT.
func TestBrowserHTTP2(t *testing.T) {
	chromium := browsertest.Chromium(t)
	if !godebugtest.Run(t, "http2xconnect=1") {
		return
	}
	protos := runBrowserTest(t, chromium, true)
	if len(protos) < 2 {
		t.Fatalf("WebSocket requests %v, want two", protos)
	}
	for _, p := range protos {
		if p != "HTTP/2.0 CONNECT" {
			t.Errorf("WebSocket request %s, want HTTP/2.0 CONNECT", p)
		}
	}
}

// runBrowserTest serves the echo server and the test page, over HTTPS and
// HTTP/2 with useTLS, runs the page, and returns the protocol and method
// of each WebSocket request the browser made.
func runBrowserTest(t *testing.T, chromium string, useTLS bool) []string {
	cfg := defaultConfig()
	cfg.ReadLimit = 4 << 20
	s := newServer(cfg, testLogger(t))
	results := browsertest.NewReporter(1)
	var mu sync.Mutex
	var protos []string
	mux := http.NewServeMux()
	mux.Handle("/", s)
	mux.HandleFunc(cfg.Path, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		protos = append(protos, r.Proto+" "+r.Method)
		mu.Unlock()
		s.ServeHTTP(w, r)
	})
	mux.Handle("/result", results)
	mux.HandleFunc("/test", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(strings.Replace(testPage, "WS_PATH", `"`+cfg.Path+`"`, 1)))
	})
	hs := httptest.NewUnstartedServer(mux)
	counted := &countingListener{Listener: hs.Listener}
	hs.Listener = counted
	var flags []string
	if useTLS {
		hs.EnableHTTP2 = true
		hs.StartTLS()
		flags = append(flags, "--ignore-certificate-errors") // the test server's certificate
	} else {
		hs.Start()
	}
	defer hs.Close()
	defer s.Shutdown(t.Context())

	start := time.Now()
	b := browsertest.Start(t, chromium, hs.URL+"/test", flags...)
	res := results.Wait(t, 30*time.Second, b)
	t.Logf("page finished in %v", time.Since(start).Round(time.Millisecond))
	b.Stop()
	if !res.OK {
		t.Fatalf("page failed: %s\nsteps:\n  %s\nchromium output:\n%s", res.Error, strings.Join(res.Steps, "\n  "), b.Log())
	}
	t.Logf("steps:\n  %s", strings.Join(res.Steps, "\n  "))

	// The large messages are very compressible: if they crossed the
	// wire uncompressed, the counts would exceed the payload.
	payload, _ := res.Data["payload"].(float64)
	in, out := counted.read.Load(), counted.written.Load()
	t.Logf("payload %.0f bytes each way; on the wire %d bytes in, %d bytes out", payload, in, out)
	if payload < 1<<20 || float64(in) > payload/4 || float64(out) > payload/4 {
		t.Errorf("payload %.0f bytes each way, wire %d bytes in and %d out: want compression to at least 4:1 both ways", payload, in, out)
	}
	mu.Lock()
	defer mu.Unlock()
	return protos
}

// countingListener counts the bytes read and written on its connections.
type countingListener struct {
	net.Listener
	read, written atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, l: l}, nil
}

type countingConn struct {
	net.Conn
	l *countingListener
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.l.read.Add(int64(n))
	return n, err
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.l.written.Add(int64(n))
	return n, err
}
