// Command autobahn-report summarizes the reports of the Autobahn testsuite
// and fails unless every case passed.
//
// Usage:
//
//	autobahn-report [dir ...]
//
// It reads dir/*/index.json (and dir/index.json) for each dir, "reports"
// by default, which is where wstest writes them (reports/servers and
// reports/clients). For each agent it prints the outcomes counted by
// section and a line for each case that did not pass. A case passes when
// both its behavior and its close behavior are OK or INFORMATIONAL;
// NON-STRICT, UNIMPLEMENTED and the failures do not.
//
// The exit status is 0 when every case passed, 1 when one did not, and 2
// when no report could be read.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/twoway/websocket/autobahn/internal/report"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("autobahn-report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: autobahn-report [dir ...]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	dirs := fs.Args()
	if len(dirs) == 0 {
		dirs = []string{"reports"}
	}
	failed := false
	for _, dir := range dirs {
		runs, err := report.Load(dir)
		if err != nil {
			fmt.Fprintln(stderr, "autobahn-report:", err)
			return 2
		}
		for _, r := range runs {
			fmt.Fprintf(stdout, "%s\n", r.Path)
			for _, s := range report.Summarize(r.Index) {
				if err := s.WriteText(stdout); err != nil {
					fmt.Fprintln(stderr, "autobahn-report:", err)
					return 2
				}
				if s.Passed != s.Total {
					failed = true
				}
			}
		}
	}
	if failed {
		fmt.Fprintln(stdout, "FAIL: some cases did not pass")
		return 1
	}
	fmt.Fprintln(stdout, "PASS: every case passed")
	return 0
}
