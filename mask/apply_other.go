//go:build !amd64 || purego

package mask

func apply(b []byte, key [4]byte, pos int) int {
	return applyGeneric(b, key, pos)
}
