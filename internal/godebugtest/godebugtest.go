// Package godebugtest runs a test under a GODEBUG setting that the
// standard library reads only when the program starts, such as
// http2xconnect=1, which makes Go's HTTP/2 server offer extended CONNECT
// (RFC 8441).
package godebugtest

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Run reports whether the test already runs with setting in GODEBUG and
// should go on. Otherwise it runs the test again in a child process of the
// test binary with the setting added, fails t with the child's output
// unless the child passed, and returns false: the caller then returns.
func Run(t *testing.T, setting string) bool {
	t.Helper()
	godebug := os.Getenv("GODEBUG")
	if strings.Contains(","+godebug+",", ","+setting+",") {
		return true
	}
	if godebug != "" {
		godebug += ","
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "GODEBUG="+godebug+setting)
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("--- PASS: "+t.Name())) {
		t.Fatalf("child with GODEBUG=%s%s: %v\n%s", godebug, setting, err, out)
	}
	return false
}
