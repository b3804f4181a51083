// Package mask implements the WebSocket masking transform of
// RFC 6455 §5.3: octet i of a payload is XORed with octet i mod 4 of a
// 32-bit masking key. The transform is its own inverse, so the same call
// masks and unmasks.
//
// On amd64 payloads of 16 bytes or more are masked by SSE2 assembly; the
// build tag purego selects the portable Go implementation everywhere.
package mask

// Apply XORs b in place with key, starting at key byte index pos (0..3),
// and returns the key index that follows b, (pos+len(b))&3, so a payload
// masked in several chunks gives the same bytes as one masked at once:
//
//	pos := 0
//	for _, chunk := range chunks {
//		pos = mask.Apply(chunk, key, pos)
//	}
//
// Only the two low bits of pos are used.
func Apply(b []byte, key [4]byte, pos int) int {
	return apply(b, key, pos)
}
