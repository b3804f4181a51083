package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twoway/websocket/examples/internal/browsertest"
	"github.com/twoway/websocket/examples/internal/servertest"
)

// testPage opens the chat page in an iframe, counting the WebSockets it
// opens, and joins as ME with the Join form, submitted three times: twice
// at once and once more after joining. It checks that one WebSocket
// opened and that the form is hidden, then waits until PEER is in the
// room, says hello and waits for PEER's hello, and posts the outcome of
// this first phase to /result.
//
// Then, with crash=1, it waits for its connection to be cut (the test
// kills the process behind it), for the page to reconnect and for the
// member list to be ME and PEER alone, says hello again and waits for
// PEER's second hello. Without crash=1 it waits for PEER's second hello
// before saying its own. It posts the outcome of this second phase.
const testPage = `<!doctype html>
<meta charset="utf-8">
<title>chat browser test</title>
<iframe id="app" width="800" height="600"></iframe>
<script>
"use strict";
const params = new URLSearchParams(location.search);
const me = params.get("me"), peer = params.get("peer"), crash = params.get("crash") === "1";
let steps = [];
const step = (s) => steps.push(me + ": " + s);
const report = (r) => {
  const body = JSON.stringify(Object.assign({steps}, r));
  steps = [];
  return fetch("/result", {method: "POST", body});
};
window.addEventListener("error", (e) => report({ok: false, error: me + ": uncaught: " + e.message}));

function waitFor(cond, what, ms = 30000) {
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
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const app = document.getElementById("app");
  const loaded = new Promise((r) => app.addEventListener("load", r, {once: true}));
  app.src = "/";
  await loaded;
  const win = app.contentWindow, doc = app.contentDocument;
  let sockets = 0;
  win.WebSocket = class extends win.WebSocket {
    constructor(...args) { super(...args); sockets++; }
  };
  const form = doc.getElementById("join");
  const shown = () => win.getComputedStyle(form).display !== "none";
  if (!shown()) throw new Error(me + ": the Join form is not shown before joining");
  doc.getElementById("name").value = me;
  form.requestSubmit();
  form.requestSubmit();
  const state = () => doc.body.dataset.state;
  await waitFor(() => state() === "open", "the page to join");
  step("joined: " + doc.getElementById("status").textContent);
  if (shown()) throw new Error(me + ": the Join form is still shown after joining");
  form.requestSubmit();
  await sleep(200);
  if (sockets !== 1) throw new Error(me + ": joined three times, opened " + sockets + " WebSockets");

  const members = () => [...doc.querySelectorAll("#members li")].map((li) => li.textContent);
  await waitFor(() => members().includes(peer), peer + " in the member list");
  step("sees members " + members().join(", "));
  const say = (text) => {
    doc.getElementById("text").value = text;
    doc.getElementById("form").requestSubmit();
  };
  const said = (name, text) => [...doc.querySelectorAll("#log .msg")].some(
    (p) => p.dataset.name === name && p.querySelector(".text").textContent === text);
  const hello = (name) => "hello from " + name + " ✓";
  say(hello(me));
  await waitFor(() => said(me, hello(me)), "my own message");
  await waitFor(() => said(peer, hello(peer)), peer + "'s message");
  step("got " + peer + "'s message");
  await report({ok: true, data: {me, phase: 1, sockets}});

  const again = (name) => "again from " + name;
  const alone = [me, peer].sort().join(",");
  if (crash) {
    await waitFor(() => state() !== "open", "the connection to be cut", 60000);
    step("disconnected: " + doc.getElementById("status").textContent);
    if (shown()) throw new Error(me + ": the Join form is shown while reconnecting");
    await waitFor(() => state() === "open", "the page to reconnect");
    step("reconnected: " + doc.getElementById("status").textContent);
    await waitFor(() => members().join(",") === alone, "the member list to be " + alone);
    say(again(me));
    await waitFor(() => said(peer, again(peer)), peer + "'s second message");
  } else {
    await waitFor(() => said(peer, again(peer)), peer + "'s second message", 60000);
    await waitFor(() => members().join(",") === alone, "the member list to be " + alone);
    say(again(me));
    await waitFor(() => said(me, again(me)), "my own second message");
  }
  step("got " + peer + "'s second message; members " + members().join(", "));
  return {ok: true, data: {me, phase: 2, sockets}};
}

main().then(report, (e) => report({ok: false, error: String(e && e.stack || e)}));
</script>
`

// TestBrowser runs two chat processes linked by NATS and two headless
// Chromium pages, ann on the first process and bob on the second, each
// behind a proxy that stands for a load balancer. Each page joins through
// the Join form and checks that one WebSocket opened however often it is
// submitted; each sees the other's message. Then the test kills ann's
// process: her page reconnects through its proxy, which now finds only
// the second process, and the two chat on.
func TestBrowser(t *testing.T) {
	chromium := browsertest.Chromium(t)
	exe := servertest.Build(t, ".")
	ns := startNATS(t)
	ps := startChats(t, exe, ns, 2)
	results := browsertest.NewReporter(4)
	front := func(backends ...string) *httptest.Server {
		mux := http.NewServeMux()
		mux.Handle("/", failover(backends...))
		mux.Handle("/result", results)
		mux.HandleFunc("/test", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write([]byte(testPage))
		})
		s := httptest.NewServer(mux)
		t.Cleanup(s.Close)
		return s
	}
	annFront := front(ps[0].Addr, ps[1].Addr)
	bobFront := front(ps[1].Addr)

	start := time.Now()
	page := func(front *httptest.Server, me, peer string, crash bool) string {
		q := url.Values{"me": {me}, "peer": {peer}}
		if crash {
			q.Set("crash", "1")
		}
		return front.URL + "/test?" + q.Encode()
	}
	ann := browsertest.Start(t, chromium, page(annFront, "ann", "bob", true))
	bob := browsertest.Start(t, chromium, page(bobFront, "bob", "ann", false))
	wait := func(phase int) {
		t.Helper()
		got := map[string]bool{}
		for range 2 {
			res := results.Wait(t, 90*time.Second, ann, bob)
			if !res.OK {
				ann.Stop()
				bob.Stop()
				t.Fatalf("page failed in phase %d: %s\nsteps:\n  %s\nchromium output (ann):\n%s\nchromium output (bob):\n%s",
					phase, res.Error, strings.Join(res.Steps, "\n  "), ann.Log(), bob.Log())
			}
			t.Logf("steps:\n  %s", strings.Join(res.Steps, "\n  "))
			if p := res.Data["phase"]; p != float64(phase) {
				t.Fatalf("result of phase %v, want %d: %+v", p, phase, res)
			}
			got[fmt.Sprint(res.Data["me"])] = true
		}
		if !got["ann"] || !got["bob"] {
			t.Fatalf("phase %d results from %v, want ann and bob", phase, got)
		}
		t.Logf("phase %d done after %v", phase, time.Since(start).Round(time.Millisecond))
	}
	wait(1)
	ps[0].Signal(syscall.SIGKILL)
	wait(2)
	ann.Stop()
	bob.Stop()
}
