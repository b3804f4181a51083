// Package report reads, writes and summarizes reports in the format of the
// Autobahn testsuite (wstest): an index.json per run that maps each agent
// (the implementation tested) to the result of each case it ran.
//
// wstest writes reports/servers/index.json when it tests servers
// (fuzzingclient mode) and reports/clients/index.json when it tests
// clients (fuzzingserver mode); this module's native conformance suite
// writes the same format.
//
// The package is internal: it serves the conformance suite and the
// autobahn-report command of this repository, which checks any directory
// of wstest reports from the command line.
package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Behavior is the verdict on one aspect of a case.
type Behavior string

// The verdicts wstest gives. A case passes when both its behaviors are OK
// or INFORMATIONAL.
const (
	OK             Behavior = "OK"
	NonStrict      Behavior = "NON-STRICT"    // acceptable to the spec, but not the best behavior
	Informational  Behavior = "INFORMATIONAL" // the spec leaves the outcome open; nothing to judge
	Unimplemented  Behavior = "UNIMPLEMENTED" // the feature (such as compression) was not offered
	Unclean        Behavior = "UNCLEAN"       // the closing handshake was required but did not complete
	FailedByClient Behavior = "FAILED BY CLIENT"
	WrongCode      Behavior = "WRONG CODE"
	Failed         Behavior = "FAILED"
)

// severity orders behaviors from best to worst; unknown ones are worst.
func (b Behavior) severity() int {
	switch b {
	case OK:
		return 0
	case Informational:
		return 1
	case NonStrict:
		return 2
	case Unimplemented:
		return 3
	case Unclean:
		return 4
	case FailedByClient:
		return 5
	case WrongCode:
		return 6
	case Failed:
		return 7
	}
	return 8
}

// Acceptable reports whether b lets a case pass: OK or INFORMATIONAL.
func (b Behavior) Acceptable() bool { return b == OK || b == Informational }

// Result is one case's entry in index.json.
type Result struct {
	Behavior      Behavior `json:"behavior"`      // of the messages exchanged
	BehaviorClose Behavior `json:"behaviorClose"` // of the closing of the connection
	Duration      int64    `json:"duration"`      // milliseconds

	// RemoteCloseCode is the code of the Close frame the tested
	// implementation sent, nil when it sent none or one without a code.
	RemoteCloseCode *int `json:"remoteCloseCode"`

	// ReportFile names the case's detailed report, beside index.json.
	ReportFile string `json:"reportfile"`
}

// Outcome is the worse of the two behaviors.
func (r Result) Outcome() Behavior {
	if r.BehaviorClose.severity() > r.Behavior.severity() {
		return r.BehaviorClose
	}
	return r.Behavior
}

// Passed reports whether both behaviors are acceptable.
func (r Result) Passed() bool {
	return r.Behavior.Acceptable() && r.BehaviorClose.Acceptable()
}

// Index is the content of an index.json: agent, then case id, then result.
type Index map[string]map[string]Result

// Read decodes an index.json.
func Read(r io.Reader) (Index, error) {
	var ix Index
	dec := json.NewDecoder(r)
	if err := dec.Decode(&ix); err != nil {
		return nil, fmt.Errorf("report: decoding index: %w", err)
	}
	if ix == nil {
		return nil, errors.New("report: index is null")
	}
	return ix, nil
}

// ReadFile reads the index.json at path.
func ReadFile(path string) (Index, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	defer f.Close()
	ix, err := Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ix, nil
}

// Write encodes ix as wstest does: keys sorted, indented by three spaces.
func (ix Index) Write(w io.Writer) error {
	b, err := json.MarshalIndent(ix, "", "   ")
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// Run is one index.json and where it was found.
type Run struct {
	Path  string
	Index Index
}

// Load reads dir/index.json, if there is one, and every dir/*/index.json,
// such as reports/servers and reports/clients. It is an error to find
// none.
func Load(dir string) ([]Run, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*", "index.json"))
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	top := filepath.Join(dir, "index.json")
	if _, err := os.Stat(top); err == nil {
		paths = append([]string{top}, paths...)
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("report: no index.json in %s or its subdirectories", dir)
	}
	var runs []Run
	for _, p := range paths {
		ix, err := ReadFile(p)
		if err != nil {
			return nil, err
		}
		runs = append(runs, Run{Path: p, Index: ix})
	}
	return runs, nil
}

// CompareIDs orders case ids such as "6.9.1" and "6.10.1" by their numbers,
// part by part; parts that are not numbers compare as strings.
func CompareIDs(a, b string) int {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := range min(len(pa), len(pb)) {
		na, ea := strconv.Atoi(pa[i])
		nb, eb := strconv.Atoi(pb[i])
		var c int
		if ea == nil && eb == nil {
			c = na - nb
		} else {
			c = strings.Compare(pa[i], pb[i])
		}
		if c != 0 {
			return c
		}
	}
	return len(pa) - len(pb)
}

// Section returns the section of a case id: "6" for "6.4.1".
func Section(id string) string {
	s, _, _ := strings.Cut(id, ".")
	return s
}

// SectionName returns the title wstest gives a section, or "".
func SectionName(section string) string {
	switch section {
	case "1":
		return "Framing"
	case "2":
		return "Pings/Pongs"
	case "3":
		return "Reserved Bits"
	case "4":
		return "Opcodes"
	case "5":
		return "Fragmentation"
	case "6":
		return "UTF-8 Handling"
	case "7":
		return "Close Handling"
	case "8":
		return "Misc"
	case "9":
		return "Limits/Performance"
	case "10":
		return "Auto-Fragmentation"
	case "12":
		return "Compression (payloads)"
	case "13":
		return "Compression (parameters)"
	}
	return ""
}

// CaseFilename returns the name wstest gives a case's detailed report.
func CaseFilename(agent, id, ext string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(agent)) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte(' ')
		}
	}
	name := strings.ReplaceAll(strings.TrimSpace(b.String()), " ", "_")
	return name + "_case_" + strings.ReplaceAll(id, ".", "_") + "." + ext
}

// Summary tallies one agent's results.
type Summary struct {
	Agent    string
	Total    int
	Passed   int
	Sections []SectionCount // in section order
	Failures []Case         // the cases that did not pass, in case order
}

// SectionCount counts the outcomes of the cases of one section.
type SectionCount struct {
	Section string
	Counts  map[Behavior]int
}

// Case is a case id with its result.
type Case struct {
	ID string
	Result
}

// Summarize tallies each agent of ix, agents in name order.
func Summarize(ix Index) []Summary {
	agents := make([]string, 0, len(ix))
	for a := range ix {
		agents = append(agents, a)
	}
	slices.Sort(agents)
	var out []Summary
	for _, agent := range agents {
		cases := ix[agent]
		ids := make([]string, 0, len(cases))
		for id := range cases {
			ids = append(ids, id)
		}
		slices.SortFunc(ids, CompareIDs)
		s := Summary{Agent: agent, Total: len(ids)}
		for _, id := range ids {
			r := cases[id]
			sec := Section(id)
			if n := len(s.Sections); n == 0 || s.Sections[n-1].Section != sec {
				s.Sections = append(s.Sections, SectionCount{Section: sec, Counts: map[Behavior]int{}})
			}
			s.Sections[len(s.Sections)-1].Counts[r.Outcome()]++
			if r.Passed() {
				s.Passed++
			} else {
				s.Failures = append(s.Failures, Case{ID: id, Result: r})
			}
		}
		out = append(out, s)
	}
	return out
}

// WriteText prints s as a table of outcome counts by section, followed by
// one line for each case that did not pass.
func (s Summary) WriteText(w io.Writer) error {
	var seen []Behavior
	for _, sec := range s.Sections {
		for b := range sec.Counts {
			if !slices.Contains(seen, b) {
				seen = append(seen, b)
			}
		}
	}
	slices.SortFunc(seen, func(a, b Behavior) int {
		if c := a.severity() - b.severity(); c != 0 {
			return c
		}
		return strings.Compare(string(a), string(b))
	})
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "agent %s: %d cases, %d passed, %d not\n", s.Agent, s.Total, s.Passed, s.Total-s.Passed)
	fmt.Fprintf(&buf, "  %-32s", "section")
	for _, b := range seen {
		fmt.Fprintf(&buf, " %*s", max(len(b), 5), b)
	}
	buf.WriteByte('\n')
	for _, sec := range s.Sections {
		fmt.Fprintf(&buf, "  %-32s", sec.Section+" "+SectionName(sec.Section))
		for _, b := range seen {
			fmt.Fprintf(&buf, " %*d", max(len(b), 5), sec.Counts[b])
		}
		buf.WriteByte('\n')
	}
	for _, f := range s.Failures {
		code := "none"
		if f.RemoteCloseCode != nil {
			code = strconv.Itoa(*f.RemoteCloseCode)
		}
		fmt.Fprintf(&buf, "  %s %s: behavior %s, close %s, remote close code %s", f.Outcome(), f.ID, f.Behavior, f.BehaviorClose, code)
		if f.ReportFile != "" {
			fmt.Fprintf(&buf, " (%s)", f.ReportFile)
		}
		buf.WriteByte('\n')
	}
	_, err := w.Write(buf.Bytes())
	return err
}
