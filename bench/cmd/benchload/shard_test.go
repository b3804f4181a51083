package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twoway/websocket/bench/internal/workload"
	"github.com/twoway/websocket/bench/internal/wsclient"
)

func TestSumOver(t *testing.T) {
	rss := map[int]int64{10: 12 << 20, 11: 13 << 20, 12: 11 << 20}
	read := func(pid int) (int64, error) {
		v, ok := rss[pid]
		if !ok {
			return 0, errors.New("no such process")
		}
		return v, nil
	}
	tests := []struct {
		pids    []int
		want    int64
		wantErr bool
	}{
		{nil, 0, false},
		{[]int{10}, 12 << 20, false},
		{[]int{10, 11, 12}, 36 << 20, false},
		{[]int{10, 99}, 0, true},
	}
	for _, tt := range tests {
		got, err := sumOver(tt.pids, read)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("sumOver(%v) = %d, %v; want %d, error %v", tt.pids, got, err, tt.want, tt.wantErr)
		}
	}
}

// TestShardWorker drives one shard worker over its input and output as
// the coordinator does: it must say it is ready, open its connections
// when told, and return once its input closes; an unknown command is an
// error.
func TestShardWorker(t *testing.T) {
	spec, err := workload.Lookup("massive")
	if err != nil {
		t.Fatal(err)
	}
	spec.Conns = 20
	addr := answerUpgrades(t, wsclient.AcceptKey)
	for _, tt := range []struct {
		name    string
		script  []string
		want    []string // answers, without their figures
		wantErr bool
	}{
		{"open", []string{"open"}, []string{"ready", "opened"}, false},
		{"unknown", []string{"shout"}, []string{"ready"}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &config{addr: addr, proto: wsclient.WebSocket, spec: spec, dialers: 4, sources: 2}
			inR, inW := io.Pipe()
			outR, outW := io.Pipe()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			done := make(chan error, 1)
			go func() {
				err := runShardWorker(ctx, cfg, inR, outW)
				outW.Close()
				done <- err
			}()
			br := bufio.NewReader(outR)
			var got []string
			answer := func() {
				line, err := br.ReadString('\n')
				if err != nil {
					return
				}
				f := strings.Fields(line)
				got = append(got, f[0])
				if f[0] == "opened" {
					if len(f) != 2 {
						t.Errorf("answer %q lacks the CPU time", line)
					} else if _, err := strconv.ParseInt(f[1], 10, 64); err != nil {
						t.Errorf("answer %q: %v", line, err)
					}
				}
			}
			answer()
			for _, cmd := range tt.script {
				io.WriteString(inW, cmd+"\n")
				answer()
			}
			inW.Close()
			go io.Copy(io.Discard, br)
			err := <-done
			if (err != nil) != tt.wantErr {
				t.Errorf("runShardWorker: %v; want error %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("answers (-want +got):\n%s", diff)
			}
		})
	}
}
