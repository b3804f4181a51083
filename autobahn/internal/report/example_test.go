package report_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/twoway/websocket/autobahn/internal/report"
)

// Load reads wstest's reports; Summarize counts them by section.
func ExampleSummarize() {
	runs, err := report.Load(filepath.Join("testdata", "passing"))
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range runs {
		for _, s := range report.Summarize(r.Index) {
			s.WriteText(os.Stdout)
			fmt.Println("all passed:", s.Passed == s.Total)
		}
	}
	// Output:
	// agent twoway: 2 cases, 2 passed, 0 not
	//   section                             OK INFORMATIONAL
	//   1 Framing                            1             0
	//   7 Close Handling                     0             1
	// all passed: true
}
