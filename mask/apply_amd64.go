//go:build amd64 && !purego

package mask

// apply uses the SSE2 kernel, which every amd64 CPU has, from one 16-byte
// vector up. An AVX2 variant measured no faster on the AMD EPYC this was
// tuned on (the loop is bound by stores, not by vector width), so it was
// left out rather than carry CPUID detection for nothing.
func apply(b []byte, key [4]byte, pos int) int {
	if len(b) < 16 {
		return applyGeneric(b, key, pos)
	}
	maskSSE2(b, keyWord(key, pos))
	return (pos + len(b)) & 3
}

// maskSSE2 XORs b with the repeating little-endian key word k, whose low
// byte applies to b[0]. len(b) must be at least 16. It is implemented in
// mask_amd64.s.
//
//go:noescape
func maskSSE2(b []byte, k uint32)
