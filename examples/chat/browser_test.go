package main

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twoway/websocket/examples/internal/browsertest"
)

// testPage opens the chat page in an iframe as the member named ME, waits
// until PEER is in the room, says hello through the page's form and waits
// for PEER's hello to appear in the page. It posts the outcome to /result.
const testPage = `<!doctype html>
<meta charset="utf-8">
<title>chat browser test</title>
<iframe id="app" width="800" height="600"></iframe>
<script>
"use strict";
const params = new URLSearchParams(location.search);
const me = params.get("me"), peer = params.get("peer");
const steps = [];
const step = (s) => steps.push(s);
const report = (r) => fetch("/result", {method: "POST", body: JSON.stringify(Object.assign({steps}, r))});
window.addEventListener("error", (e) => report({ok: false, error: me + ": uncaught: " + e.message}));

function waitFor(cond, what, ms = 20000) {
  return new Promise((resolve, reject) => {
    const start = Date.now();
    const poll = () => {
      let v;
      try { v = cond(); } catch (e) { reject(e); return; }
      if (v) { resolve(v); return; }
      if (Date.now() - start > ms) { reject(new Error(me + ": timed out waiting for " + what)); return; }
      setTimeout(poll, 20);
    };
    poll();
  });
}

async function main() {
  const app = document.getElementById("app");
  const loaded = new Promise((r) => app.addEventListener("load", r, {once: true}));
  app.src = "/?name=" + encodeURIComponent(me);
  await loaded;
  const doc = app.contentDocument;
  await waitFor(() => doc.body.dataset.state === "open", "the page to join");
  step(me + " joined: " + doc.getElementById("status").textContent);
  const members = () => [...doc.querySelectorAll("#members li")].map((li) => li.textContent);
  await waitFor(() => members().includes(peer), peer + " in the member list");
  step(me + " sees members " + members().join(", "));
  doc.getElementById("text").value = "hello from " + me + " ✓";
  doc.getElementById("form").requestSubmit();
  const said = (name, text) => [...doc.querySelectorAll("#log .msg")].some(
    (p) => p.dataset.name === name && p.querySelector(".text").textContent === text);
  await waitFor(() => said(me, "hello from " + me + " ✓"), "my own message");
  await waitFor(() => said(peer, "hello from " + peer + " ✓"), peer + "'s message");
  step(me + " got " + peer + "'s message");
  return {ok: true, data: {me, members: members()}};
}

main().then(report, (e) => report({ok: false, error: String(e && e.stack || e)}));
</script>
`

// TestBrowser runs two headless Chromium processes, each chatting through
// the page, and checks that they see each other's messages.
func TestBrowser(t *testing.T) {
	chromium := browsertest.Chromium(t)
	rm := newRoom(config{}, testLogger(t))
	results := browsertest.NewReporter(2)
	mux := http.NewServeMux()
	mux.Handle("/", rm)
	mux.Handle("/result", results)
	mux.HandleFunc("/test", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(testPage))
	})
	hs := httptest.NewServer(mux)
	defer hs.Close()
	defer rm.Shutdown(t.Context())

	start := time.Now()
	page := func(me, peer string) string {
		return hs.URL + "/test?" + url.Values{"me": {me}, "peer": {peer}}.Encode()
	}
	ann := browsertest.Start(t, chromium, page("ann", "bob"))
	bob := browsertest.Start(t, chromium, page("bob", "ann"))
	got := map[string]bool{}
	for range 2 {
		res := results.Wait(t, 45*time.Second, ann, bob)
		if !res.OK {
			ann.Stop()
			bob.Stop()
			t.Fatalf("page failed: %s\nsteps:\n  %s\nchromium output (ann):\n%s\nchromium output (bob):\n%s",
				res.Error, strings.Join(res.Steps, "\n  "), ann.Log(), bob.Log())
		}
		t.Logf("steps:\n  %s", strings.Join(res.Steps, "\n  "))
		me, _ := res.Data["me"].(string)
		got[me] = true
	}
	t.Logf("both pages finished in %v", time.Since(start).Round(time.Millisecond))
	ann.Stop()
	bob.Stop()
	if diff := cmp.Diff(map[string]bool{"ann": true, "bob": true}, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
}
