// Command autobahn-client drives this module's WebSocket client through
// the Autobahn testsuite's fuzzingserver mode (wstest -m fuzzingserver),
// which tests clients.
//
// It asks the fuzzing server for the number of cases (/getCaseCount), runs
// each selected case (/runCase?case=N&agent=A) by echoing every message
// with its type until the server closes, then has the server write its
// reports (/updateReports?agent=A).
//
// Usage:
//
//	autobahn-client [-url ws://127.0.0.1:9001] [-agent twoway] [-cases 1-10,300]
//
// The client offers permessage-deflate with client_no_context_takeover:
// wstest's fuzzing server asks a client for no context takeover (cases
// 13.2, 13.5 and 13.6) only when its offer carries that parameter, and
// declines, marking the cases UNIMPLEMENTED, otherwise.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/twoway/websocket/conn"
)

// readLimit admits Autobahn's largest messages (16 MiB in 9.1.6).
const readLimit = 64 << 20

// config is the command line.
type config struct {
	url   string
	agent string
	cases string // selection such as "1-10,300"; "" for all
}

func main() {
	var cfg config
	flag.StringVar(&cfg.url, "url", "ws://127.0.0.1:9001", "URL of the fuzzing server")
	flag.StringVar(&cfg.agent, "agent", "twoway", "agent name under which the server reports")
	flag.StringVar(&cfg.cases, "cases", "", `cases to run by number, such as "1-10,300"; all by default`)
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "autobahn-client:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg config, out io.Writer) error {
	base := strings.TrimSuffix(cfg.url, "/")
	agent := url.QueryEscape(cfg.agent)

	var count int
	if err := fetchJSON(ctx, base+"/getCaseCount", &count); err != nil {
		return fmt.Errorf("getting the case count: %w", err)
	}
	cases, err := parseSelection(cfg.cases, count)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "running %d of %d cases as agent %q\n", len(cases), count, cfg.agent)
	var failed []int
	for _, n := range cases {
		var info struct {
			ID string `json:"id"`
		}
		if err := fetchJSON(ctx, fmt.Sprintf("%s/getCaseInfo?case=%d&agent=%s", base, n, agent), &info); err != nil {
			return fmt.Errorf("case %d: getting its id: %w", n, err)
		}
		fmt.Fprintf(out, "case %d/%d: %s\n", n, count, info.ID)
		if err := runCase(ctx, fmt.Sprintf("%s/runCase?case=%d&agent=%s", base, n, agent)); err != nil {
			fmt.Fprintf(out, "case %d: %v\n", n, err)
			failed = append(failed, n)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	if err := drain(ctx, base+"/updateReports?agent="+agent); err != nil {
		return fmt.Errorf("updating the reports: %w", err)
	}
	fmt.Fprintln(out, "reports updated")
	if len(failed) > 0 {
		return fmt.Errorf("could not connect for cases %v", failed)
	}
	return nil
}

// runCase echoes every message until the server ends the connection.
// Only a failure to connect is an error: how the case ends is for the
// fuzzing server to judge.
func runCase(ctx context.Context, u string) error {
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, _, err := conn.Dial(dctx, u, &conn.DialOptions{
		Compression: &conn.CompressionOptions{ClientNoContextTakeover: true},
		ReadLimit:   readLimit,
	})
	if err != nil {
		return err
	}
	defer c.CloseNow()
	var buf []byte
	for {
		typ, msg, err := c.ReadInto(ctx, buf)
		if err != nil {
			return nil
		}
		if err := c.Write(ctx, typ, msg); err != nil {
			return nil
		}
		buf = msg
	}
}

// fetchJSON reads the one text message the server sends at u into v.
func fetchJSON(ctx context.Context, u string, v any) error {
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, _, err := conn.Dial(dctx, u, nil)
	if err != nil {
		return err
	}
	defer c.CloseNow()
	_, msg, err := c.Read(dctx)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(msg, v); err != nil {
		return fmt.Errorf("decoding %q: %w", msg, err)
	}
	c.Close(conn.CloseNormal, "")
	return nil
}

// drain connects to u and reads until the server closes.
func drain(ctx context.Context, u string) error {
	dctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	c, _, err := conn.Dial(dctx, u, nil)
	if err != nil {
		return err
	}
	defer c.CloseNow()
	for {
		if _, _, err := c.Read(dctx); err != nil {
			if conn.CloseStatus(err) != 0 {
				return nil
			}
			return err
		}
	}
}

// parseSelection parses case numbers and ranges such as "1-10,300" into
// a sorted list without duplicates, each within 1..count. An empty
// selection is every case.
func parseSelection(s string, count int) ([]int, error) {
	if strings.TrimSpace(s) == "" {
		all := make([]int, count)
		for i := range all {
			all[i] = i + 1
		}
		return all, nil
	}
	var out []int
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(strings.TrimSpace(lo))
		if err != nil {
			return nil, fmt.Errorf("bad case selection %q", part)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(strings.TrimSpace(hi)); err != nil {
				return nil, fmt.Errorf("bad case selection %q", part)
			}
		}
		if a < 1 || b > count || a > b {
			return nil, fmt.Errorf("case selection %q is outside 1..%d", part, count)
		}
		for n := a; n <= b; n++ {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
