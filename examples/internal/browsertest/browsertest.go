// Package browsertest runs test pages in headless Chromium. A page does
// its checks in JavaScript and posts a JSON result to the test's server,
// which hands it to the test through a Reporter.
//
// Tests using it are skipped under -short and when no Chromium is
// installed, unless the environment sets TWOWAY_REQUIRE_BROWSER=1, as CI
// does; then a missing browser fails the test. A test binary that skips
// for want of Chromium says so in one line that go test shows without -v.
package browsertest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// RequireEnv is the environment variable that turns a missing browser
// from a skip into a failure.
const RequireEnv = "TWOWAY_REQUIRE_BROWSER"

// Chromium returns the path of the Chromium executable, or skips the
// test (fails it when RequireEnv is set) when there is none. It skips
// under -short in any case.
func Chromium(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("chromium not found on PATH and %s=1", RequireEnv)
	}
	announceSkip.Do(announceMissing)
	t.Skip("chromium not found on PATH; install it (apt-get install chromium) to run browser tests")
	return ""
}

// announceSkip makes the test binary say once that it skips its browser
// tests for want of Chromium.
var announceSkip sync.Once

// announceMissing writes a line saying that the browser tests are
// skipped where the person running go test sees it. go test shows the
// output of a package's tests, stderr included, only when they fail or
// with -v; so the line goes to the stderr of the go command, the test
// binary's parent, when that is a terminal or a pipe, and to the
// binary's own stderr otherwise. A regular file is left alone: the go
// command writes to it at an offset of its own, and the line would
// overwrite its output.
func announceMissing() {
	pkg := "this package"
	if bi, ok := debug.ReadBuildInfo(); ok {
		pkg = strings.TrimSuffix(bi.Path, ".test")
	}
	line := "browsertest: chromium not found on PATH, so the browser tests of " + pkg +
		" are skipped; install it (apt-get update && apt-get install -y chromium) to run them\n"
	if f, err := os.OpenFile("/proc/"+strconv.Itoa(os.Getppid())+"/fd/2", os.O_WRONLY|os.O_APPEND, 0); err == nil {
		defer f.Close()
		if fi, err := f.Stat(); err == nil && fi.Mode()&(os.ModeCharDevice|os.ModeNamedPipe) != 0 {
			if _, err := io.WriteString(f, line); err == nil {
				return
			}
		}
	}
	io.WriteString(os.Stderr, line)
}

// Browser is a running headless Chromium.
type Browser struct {
	t   testing.TB
	cmd *exec.Cmd
	log string // file holding Chromium's output
}

// Start launches Chromium at path on url, with a fresh profile and any
// extra command-line flags. The browser is stopped when the test ends, if
// not before.
func Start(t testing.TB, path, url string, flags ...string) *Browser {
	t.Helper()
	dir := t.TempDir()
	logFile, err := os.Create(filepath.Join(dir, "chromium.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	profile := filepath.Join(dir, "profile")
	args := []string{
		"--headless",
		"--no-sandbox", // needed as root, and in most containers
		"--disable-gpu",
		"--disable-dev-shm-usage",
		"--disable-background-networking",
		"--disable-component-update",
		"--disable-sync",
		"--disable-breakpad",
		"--no-first-run",
		"--no-default-browser-check",
		"--no-proxy-server",
		"--user-data-dir=" + profile,
	}
	args = append(append(args, flags...), url)
	cmd := exec.Command(path, args...)
	// A file rather than a pipe: Chromium's helper processes inherit it,
	// and a pipe would keep Wait waiting for them.
	cmd.Stdout, cmd.Stderr = logFile, logFile
	setProcessGroup(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	b := &Browser{t: t, cmd: cmd, log: logFile.Name()}
	t.Cleanup(b.Stop)
	return b
}

// Stop kills the browser and all its helper processes, and waits for it.
// It may be called more than once.
func (b *Browser) Stop() {
	if b.cmd.ProcessState != nil {
		return
	}
	killProcessGroup(b.cmd)
	b.cmd.Wait()
}

// Log returns the end of the browser's output, for failure messages.
func (b *Browser) Log() string {
	out, err := os.ReadFile(b.log)
	if err != nil {
		return err.Error()
	}
	const max = 4 << 10
	if len(out) > max {
		out = append([]byte("…"), out[len(out)-max:]...)
	}
	return string(out)
}

// Result is what a test page posts when it is done.
type Result struct {
	OK    bool     `json:"ok"`
	Error string   `json:"error"` // why the page failed
	Steps []string `json:"steps"` // what the page did, for failure messages
	// Data holds whatever else the page reports.
	Data map[string]any `json:"data"`
}

// Reporter is an http.Handler that receives the results test pages POST
// as JSON.
type Reporter struct {
	results chan Result
}

// NewReporter returns a Reporter that buffers up to n results.
func NewReporter(n int) *Reporter {
	return &Reporter{results: make(chan Result, n)}
}

func (rp *Reporter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST a JSON result", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var res Result
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(&res); err != nil {
		res = Result{Error: "undecodable result: " + err.Error() + ": " + string(body)}
	}
	select {
	case rp.results <- res:
	default:
		http.Error(w, "too many results", http.StatusTooManyRequests)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// Wait waits up to timeout for the next result. It fails the test, with
// the browsers' output, when none comes in time.
func (rp *Reporter) Wait(t testing.TB, timeout time.Duration, browsers ...*Browser) Result {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case res := <-rp.results:
		return res
	case <-timer.C:
		for _, b := range browsers {
			b.Stop()
			t.Logf("chromium output:\n%s", b.Log())
		}
		t.Fatalf("no result from the test page within %v", timeout)
		return Result{}
	}
}
