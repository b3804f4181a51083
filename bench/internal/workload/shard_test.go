package workload

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestShards(t *testing.T) {
	tests := []struct {
		n, perProcess int
		want          int
		shares        []int
	}{
		{10000, 19936, 1, []int{10000}},
		{19936, 19936, 1, []int{19936}},
		{19937, 19936, 2, []int{9969, 9968}},
		{100000, 19936, 6, []int{16667, 16667, 16667, 16667, 16666, 16666}},
		{1000000, 19936, 51, nil},
		{64, 40, 2, []int{32, 32}},
		{65, 40, 2, []int{33, 32}},
		{5, 0, 1, []int{5}},   // no limit
		{0, 100, 1, []int{0}}, // nothing to shard
	}
	for _, tt := range tests {
		k := Shards(tt.n, tt.perProcess)
		if k != tt.want {
			t.Errorf("Shards(%d, %d) = %d; want %d", tt.n, tt.perProcess, k, tt.want)
		}
		s := Shares(tt.n, k)
		if tt.shares != nil {
			if diff := cmp.Diff(tt.shares, s); diff != "" {
				t.Errorf("Shares(%d, %d) (-want +got):\n%s", tt.n, k, diff)
			}
		}
		sum := 0
		for _, c := range s {
			sum += c
			if tt.perProcess > 0 && c > tt.perProcess {
				t.Errorf("Shares(%d, %d) has a share of %d, over %d", tt.n, k, c, tt.perProcess)
			}
		}
		if sum != tt.n {
			t.Errorf("Shares(%d, %d) sums to %d", tt.n, k, sum)
		}
	}
}
