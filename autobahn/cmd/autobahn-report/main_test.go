package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	testdata := filepath.Join("..", "..", "internal", "report", "testdata")
	tests := []struct {
		name     string
		args     []string
		status   int
		contains []string
	}{
		{
			name:   "failures",
			args:   []string{filepath.Join(testdata, "reports")},
			status: 1,
			contains: []string{
				"agent twoway: 7 cases, 4 passed, 3 not",
				"WRONG CODE 7.9.1",
				"FAILED BY CLIENT 3.1",
				"FAIL: some cases did not pass",
			},
		},
		{
			name:     "passing",
			args:     []string{filepath.Join(testdata, "passing")},
			status:   0,
			contains: []string{"agent twoway: 2 cases, 2 passed, 0 not", "PASS"},
		},
		{
			name:   "one bad among good",
			args:   []string{filepath.Join(testdata, "passing"), filepath.Join(testdata, "reports")},
			status: 1,
		},
		{name: "missing", args: []string{filepath.Join(testdata, "nothing-here")}, status: 2},
		{name: "bad flag", args: []string{"-nope"}, status: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if got := run(tc.args, &out, &errOut); got != tc.status {
				t.Errorf("status %d, want %d\nstdout:\n%s\nstderr:\n%s", got, tc.status, out.String(), errOut.String())
			}
			for _, s := range tc.contains {
				if !strings.Contains(out.String(), s) {
					t.Errorf("output lacks %q:\n%s", s, out.String())
				}
			}
		})
	}
}
