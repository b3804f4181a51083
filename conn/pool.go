package conn

import "sync"

// Buffers are pooled by power-of-two size class so that a connection holds a
// read or write buffer only while a frame is in flight; an idle connection
// holds none (see readBuffer and writeFrame).
const (
	minBufferSize     = 4 << 10
	maxPooledSize     = 1 << 20
	defaultBufferSize = minBufferSize
	numSizeClasses    = 9 // 4 KiB .. 1 MiB
)

var bufferPools [numSizeClasses]sync.Pool

// sizeClass returns the pool index for a buffer of at least n bytes and the
// capacity it will have, or -1 when n is too large to pool.
func sizeClass(n int) (int, int) {
	size := minBufferSize
	for i := 0; i < numSizeClasses; i++ {
		if n <= size {
			return i, size
		}
		size <<= 1
	}
	return -1, n
}

// getBuffer returns a buffer with len == cap >= n. The pointer is what goes
// back to putBuffer, so that pooling itself allocates nothing.
func getBuffer(n int) *[]byte {
	class, size := sizeClass(n)
	if class < 0 {
		b := make([]byte, n)
		return &b
	}
	if p, ok := bufferPools[class].Get().(*[]byte); ok {
		return p
	}
	b := make([]byte, size)
	return &b
}

// putBuffer returns a buffer from getBuffer to its pool.
func putBuffer(p *[]byte) {
	if p == nil {
		return
	}
	class, size := sizeClass(cap(*p))
	if class < 0 || size != cap(*p) {
		return
	}
	*p = (*p)[:cap(*p)]
	bufferPools[class].Put(p)
}
