package report

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func code(c int) *int { return &c }

func TestLoad(t *testing.T) {
	runs, err := Load(filepath.Join("testdata", "reports"))
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, r := range runs {
		paths = append(paths, r.Path)
	}
	want := []string{
		filepath.Join("testdata", "reports", "clients", "index.json"),
		filepath.Join("testdata", "reports", "servers", "index.json"),
	}
	if diff := cmp.Diff(want, paths); diff != "" {
		t.Fatalf("Load paths (-want +got):\n%s", diff)
	}
	got := runs[0].Index["twoway"]["3.1"]
	wantResult := Result{Behavior: OK, BehaviorClose: FailedByClient, Duration: 1001, RemoteCloseCode: code(1002), ReportFile: "twoway_case_3_1.json"}
	if diff := cmp.Diff(wantResult, got); diff != "" {
		t.Errorf("clients 3.1 (-want +got):\n%s", diff)
	}
	if r := runs[1].Index["twoway"]["12.1.1"]; r.RemoteCloseCode != nil {
		t.Errorf("null remoteCloseCode read as %d", *r.RemoteCloseCode)
	}
}

func TestLoadNothing(t *testing.T) {
	if _, err := Load(t.TempDir()); err == nil {
		t.Errorf("Load of an empty directory: no error")
	}
}

func TestLoadTopLevel(t *testing.T) {
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join("testdata", "passing", "servers", "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "index.json"), src, 0o644)
	runs, err := Load(dir)
	if err != nil || len(runs) != 1 {
		t.Fatalf("Load = %d runs, %v; want 1", len(runs), err)
	}
}

func TestWriteAsWstest(t *testing.T) {
	// Reading and writing an index made in wstest's format gives back
	// the same bytes.
	for _, name := range []string{"reports/servers", "reports/clients", "passing/servers"} {
		path := filepath.Join("testdata", filepath.FromSlash(name), "index.json")
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		ix, err := Read(bytes.NewReader(want))
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		if err := ix.Write(&got); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(string(want), got.String()); diff != "" {
			t.Errorf("%s rewritten (-want +got):\n%s", path, diff)
		}
	}
}

func TestReadErrors(t *testing.T) {
	for _, in := range []string{"", "null", "[]", `{"a": {"1.1.1": {"duration": "slow"}}}`, "{"} {
		if _, err := Read(strings.NewReader(in)); err == nil {
			t.Errorf("Read(%q): no error", in)
		}
	}
}

func TestOutcome(t *testing.T) {
	tests := []struct {
		behavior, close Behavior
		outcome         Behavior
		passed          bool
	}{
		{OK, OK, OK, true},
		{OK, Informational, Informational, true},
		{Informational, Informational, Informational, true},
		{NonStrict, OK, NonStrict, false},
		{Informational, Failed, Failed, false},
		{OK, WrongCode, WrongCode, false},
		{Failed, WrongCode, Failed, false},
		{Unimplemented, Unimplemented, Unimplemented, false},
		{OK, "SOMETHING NEW", "SOMETHING NEW", false},
	}
	for _, tc := range tests {
		r := Result{Behavior: tc.behavior, BehaviorClose: tc.close}
		if got := r.Outcome(); got != tc.outcome {
			t.Errorf("Outcome(%s, %s) = %s, want %s", tc.behavior, tc.close, got, tc.outcome)
		}
		if got := r.Passed(); got != tc.passed {
			t.Errorf("Passed(%s, %s) = %v, want %v", tc.behavior, tc.close, got, tc.passed)
		}
	}
}

func TestCompareIDs(t *testing.T) {
	ordered := []string{"1.1.1", "1.1.2", "1.1.10", "1.2.1", "2.1", "2.9", "2.10", "6.9.1", "6.10", "6.10.1", "9.1.1", "10.1.1", "12.1.1", "13.7.18"}
	for i := range ordered {
		for j := range ordered {
			got := CompareIDs(ordered[i], ordered[j])
			switch {
			case i < j && got >= 0, i > j && got <= 0, i == j && got != 0:
				t.Errorf("CompareIDs(%s, %s) = %d", ordered[i], ordered[j], got)
			}
		}
	}
	if CompareIDs("x.1", "y.1") >= 0 {
		t.Errorf("non-numeric parts should compare as strings")
	}
}

func TestCaseFilename(t *testing.T) {
	tests := []struct{ agent, id, want string }{
		{"twoway", "6.4.1", "twoway_case_6_4_1.json"},
		{"TwoWay Server/1.0", "12.1.1", "twoway_server_1_0_case_12_1_1.json"},
	}
	for _, tc := range tests {
		if got := CaseFilename(tc.agent, tc.id, "json"); got != tc.want {
			t.Errorf("CaseFilename(%q, %q) = %q, want %q", tc.agent, tc.id, got, tc.want)
		}
	}
}

func TestSummarize(t *testing.T) {
	ix, err := ReadFile(filepath.Join("testdata", "reports", "servers", "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	sums := Summarize(ix)
	if len(sums) != 2 || sums[0].Agent != "other" || sums[1].Agent != "twoway" {
		t.Fatalf("Summarize gave %d summaries", len(sums))
	}
	s := sums[1]
	if s.Total != 7 || s.Passed != 4 {
		t.Errorf("twoway: %d cases, %d passed; want 7, 4", s.Total, s.Passed)
	}
	var failed []string
	for _, f := range s.Failures {
		failed = append(failed, f.ID)
	}
	if diff := cmp.Diff([]string{"6.4.3", "7.9.1", "12.1.1"}, failed); diff != "" {
		t.Errorf("failures (-want +got):\n%s", diff)
	}
	wantSections := []SectionCount{
		{"1", map[Behavior]int{OK: 1}},
		{"2", map[Behavior]int{OK: 2}},
		{"6", map[Behavior]int{NonStrict: 1}},
		{"7", map[Behavior]int{Informational: 1, WrongCode: 1}},
		{"12", map[Behavior]int{Unimplemented: 1}},
	}
	if diff := cmp.Diff(wantSections, s.Sections); diff != "" {
		t.Errorf("sections (-want +got):\n%s", diff)
	}

	var out bytes.Buffer
	if err := s.WriteText(&out); err != nil {
		t.Fatal(err)
	}
	want := `agent twoway: 7 cases, 4 passed, 3 not
  section                             OK INFORMATIONAL NON-STRICT UNIMPLEMENTED WRONG CODE
  1 Framing                            1             0          0             0          0
  2 Pings/Pongs                        2             0          0             0          0
  6 UTF-8 Handling                     0             0          1             0          0
  7 Close Handling                     0             1          0             0          1
  12 Compression (payloads)            0             0          0             1          0
  NON-STRICT 6.4.3: behavior NON-STRICT, close OK, remote close code 1007 (twoway_case_6_4_3.json)
  WRONG CODE 7.9.1: behavior OK, close WRONG CODE, remote close code 1000 (twoway_case_7_9_1.json)
  UNIMPLEMENTED 12.1.1: behavior UNIMPLEMENTED, close UNIMPLEMENTED, remote close code none (twoway_case_12_1_1.json)
`
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("WriteText (-want +got):\n%s", diff)
	}
}

func FuzzRead(f *testing.F) {
	for _, name := range []string{"reports/servers", "reports/clients", "passing/servers"} {
		b, err := os.ReadFile(filepath.Join("testdata", filepath.FromSlash(name), "index.json"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"a":{}}`))
	f.Add([]byte(`{"a":{"1":{"behavior":"OK","remoteCloseCode":null}}}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		ix, err := Read(bytes.NewReader(in))
		if err != nil {
			return
		}
		var buf bytes.Buffer
		if err := ix.Write(&buf); err != nil {
			t.Fatalf("Write: %v", err)
		}
		again, err := Read(&buf)
		if err != nil {
			t.Fatalf("Read(Write(index)): %v", err)
		}
		if diff := cmp.Diff(ix, again); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
		for _, s := range Summarize(ix) {
			if s.Passed+len(s.Failures) != s.Total {
				t.Fatalf("summary of %s: %d passed + %d failures != %d", s.Agent, s.Passed, len(s.Failures), s.Total)
			}
			if err := s.WriteText(&bytes.Buffer{}); err != nil {
				t.Fatal(err)
			}
		}
	})
}
