package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/twoway/websocket/conn"
)

// fakeFuzzer answers the four requests of wstest's fuzzing server: it has
// three cases, each of which sends a message and records the echo.
type fakeFuzzer struct {
	mu      sync.Mutex
	echoes  []string
	reports []string
}

func (f *fakeFuzzer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, err := conn.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	ctx := r.Context()
	q := r.URL.Query()
	switch r.URL.Path {
	case "/getCaseCount":
		c.Write(ctx, conn.Text, []byte("3"))
	case "/getCaseInfo":
		c.Write(ctx, conn.Text, fmt.Appendf(nil, `{"id": "1.1.%s", "description": "x"}`, q.Get("case")))
	case "/runCase":
		msg := fmt.Sprintf("case %s for %s", q.Get("case"), q.Get("agent"))
		c.Write(ctx, conn.Binary, []byte(msg))
		typ, echo, err := c.Read(ctx)
		if err == nil && typ == conn.Binary {
			f.mu.Lock()
			f.echoes = append(f.echoes, string(echo))
			f.mu.Unlock()
		}
	case "/updateReports":
		f.mu.Lock()
		f.reports = append(f.reports, q.Get("agent"))
		f.mu.Unlock()
	}
	c.Close(conn.CloseNormal, "")
}

func TestRun(t *testing.T) {
	f := &fakeFuzzer{}
	srv := httptest.NewServer(f)
	defer srv.Close()
	var out bytes.Buffer
	cfg := config{url: "ws" + strings.TrimPrefix(srv.URL, "http"), agent: "two way", cases: "3,1"}
	if err := run(context.Background(), cfg, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	if diff := cmp.Diff([]string{"case 1 for two way", "case 3 for two way"}, f.echoes); diff != "" {
		t.Errorf("echoes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"two way"}, f.reports); diff != "" {
		t.Errorf("report updates (-want +got):\n%s", diff)
	}
	for _, s := range []string{"running 2 of 3 cases", "case 3/3: 1.1.3", "reports updated"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("output lacks %q:\n%s", s, out.String())
		}
	}
}

func TestRunBadSelection(t *testing.T) {
	srv := httptest.NewServer(&fakeFuzzer{})
	defer srv.Close()
	cfg := config{url: "ws" + strings.TrimPrefix(srv.URL, "http"), agent: "a", cases: "4"}
	if err := run(context.Background(), cfg, &bytes.Buffer{}); err == nil {
		t.Errorf("run with case 4 of 3: no error")
	}
}

func TestParseSelection(t *testing.T) {
	tests := []struct {
		in    string
		count int
		want  []int
		ok    bool
	}{
		{"", 3, []int{1, 2, 3}, true},
		{"1-10,300", 517, []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 300}, true},
		{" 5 , 2-3 ,3", 9, []int{2, 3, 5}, true},
		{"0", 9, nil, false},
		{"3-2", 9, nil, false},
		{"8-10", 9, nil, false},
		{"a", 9, nil, false},
		{"1-", 9, nil, false},
		{"1,,2", 9, nil, false},
	}
	for _, tc := range tests {
		got, err := parseSelection(tc.in, tc.count)
		if (err == nil) != tc.ok {
			t.Errorf("parseSelection(%q, %d) error %v, want ok %v", tc.in, tc.count, err, tc.ok)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("parseSelection(%q, %d) (-want +got):\n%s", tc.in, tc.count, diff)
		}
	}
}

func FuzzParseSelection(f *testing.F) {
	f.Add("1-10,300", 517)
	f.Add("", 3)
	f.Add(" 5 , 2-3 ,3", 9)
	f.Fuzz(func(t *testing.T, s string, count int) {
		if count < 0 || count > 10000 {
			return
		}
		got, err := parseSelection(s, count)
		if err != nil {
			return
		}
		for i, n := range got {
			if n < 1 || n > count || i > 0 && got[i-1] >= n {
				t.Fatalf("parseSelection(%q, %d) = %v: out of range or order", s, count, got)
			}
		}
	})
}
