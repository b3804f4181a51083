package workload

// FDMargin is the number of file descriptors a benchmark process keeps
// for other things than connections (its listener, pipes, epoll sets,
// the files of /proc it reads): one process may hold RLIMIT_NOFILE less
// FDMargin connections.
const FDMargin = 64

// Shards returns how many server processes, each paired with a load
// generator process, n connections need when one process may hold at
// most perProcess of them: ceil(n / perProcess), at least 1. A
// perProcess of 0 or less means no limit.
func Shards(n, perProcess int) int {
	if n <= 0 || perProcess <= 0 || n <= perProcess {
		return 1
	}
	return (n + perProcess - 1) / perProcess
}

// Shares splits n connections over k shards as evenly as possible, the
// larger shares first, so that no shard holds more than ceil(n/k).
func Shares(n, k int) []int {
	k = max(k, 1)
	s := make([]int, k)
	for i := range s {
		s[i] = n / k
		if i < n%k {
			s[i]++
		}
	}
	return s
}
