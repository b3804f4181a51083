package pmdeflate

import (
	"errors"
	"fmt"
)

// refInflate is a slow, independent DEFLATE decoder (RFC 1951) for tests.
// It decodes stream, whose back-references may reach into hist, and reports
// the output and the longest back-reference distance used, so that tests
// can check a compressor's window limit, which compress/flate cannot: it
// always accepts 32 KiB. It stops after a final block or where the input
// ends at a block boundary.
func refInflate(hist, stream []byte) (out []byte, maxDist int, err error) {
	br := &refBits{b: stream}
	buf := append([]byte(nil), hist...)
	start := len(buf)
	for br.pos < len(br.b) {
		final, err := br.bits(1)
		if err != nil {
			return nil, 0, err
		}
		typ, err := br.bits(2)
		if err != nil {
			return nil, 0, err
		}
		switch typ {
		case 0:
			br.align()
			if br.pos+4 > len(br.b) {
				return nil, 0, errors.New("short stored header")
			}
			n := int(br.b[br.pos]) | int(br.b[br.pos+1])<<8
			nn := int(br.b[br.pos+2]) | int(br.b[br.pos+3])<<8
			if n != ^nn&0xffff {
				return nil, 0, errors.New("stored length mismatch")
			}
			br.pos += 4
			if br.pos+n > len(br.b) {
				return nil, 0, errors.New("short stored block")
			}
			buf = append(buf, br.b[br.pos:br.pos+n]...)
			br.pos += n
		case 1, 2:
			lit, dist := refFixedLit, refFixedDist
			if typ == 2 {
				if lit, dist, err = br.dynamicTables(); err != nil {
					return nil, 0, err
				}
			}
			for {
				sym, err := lit.decode(br)
				if err != nil {
					return nil, 0, err
				}
				if sym < 256 {
					buf = append(buf, byte(sym))
					continue
				}
				if sym == 256 {
					break
				}
				sym -= 257
				if sym >= 29 {
					return nil, 0, errors.New("bad length symbol")
				}
				extra, err := br.bits(refLenExtra[sym])
				if err != nil {
					return nil, 0, err
				}
				length := refLenBase[sym] + int(extra)
				dsym, err := dist.decode(br)
				if err != nil {
					return nil, 0, err
				}
				if dsym >= 30 {
					return nil, 0, errors.New("bad distance symbol")
				}
				extra, err = br.bits(refDistExtra[dsym])
				if err != nil {
					return nil, 0, err
				}
				d := refDistBase[dsym] + int(extra)
				if d > len(buf) {
					return nil, 0, fmt.Errorf("distance %d beyond %d bytes of output", d, len(buf))
				}
				maxDist = max(maxDist, d)
				for range length {
					buf = append(buf, buf[len(buf)-d])
				}
			}
		default:
			return nil, 0, errors.New("reserved block type")
		}
		if final == 1 {
			break
		}
	}
	return buf[start:], maxDist, nil
}

type refBits struct {
	b     []byte
	pos   int
	bit   uint32 // buffered bits, LSB first
	nbits int
}

func (r *refBits) bits(n int) (uint32, error) {
	for r.nbits < n {
		if r.pos == len(r.b) {
			return 0, errors.New("unexpected end of stream")
		}
		r.bit |= uint32(r.b[r.pos]) << r.nbits
		r.pos++
		r.nbits += 8
	}
	v := r.bit & (1<<n - 1)
	r.bit >>= n
	r.nbits -= n
	return v, nil
}

func (r *refBits) align() { r.bit, r.nbits = 0, 0 }

var refCodeLengthOrder = [19]int{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}

func (r *refBits) dynamicTables() (lit, dist *refHuffman, err error) {
	hlit, err := r.bits(5)
	if err != nil {
		return nil, nil, err
	}
	hdist, err := r.bits(5)
	if err != nil {
		return nil, nil, err
	}
	hclen, err := r.bits(4)
	if err != nil {
		return nil, nil, err
	}
	var clLens [19]int
	for i := range int(hclen) + 4 {
		v, err := r.bits(3)
		if err != nil {
			return nil, nil, err
		}
		clLens[refCodeLengthOrder[i]] = int(v)
	}
	cl, err := newRefHuffman(clLens[:])
	if err != nil {
		return nil, nil, err
	}
	nlit, ndist := int(hlit)+257, int(hdist)+1
	lens := make([]int, 0, nlit+ndist)
	for len(lens) < nlit+ndist {
		sym, err := cl.decode(r)
		if err != nil {
			return nil, nil, err
		}
		var rep, val int
		switch {
		case sym < 16:
			lens = append(lens, sym)
			continue
		case sym == 16:
			if len(lens) == 0 {
				return nil, nil, errors.New("repeat with no previous length")
			}
			v, err := r.bits(2)
			if err != nil {
				return nil, nil, err
			}
			rep, val = 3+int(v), lens[len(lens)-1]
		case sym == 17:
			v, err := r.bits(3)
			if err != nil {
				return nil, nil, err
			}
			rep = 3 + int(v)
		default:
			v, err := r.bits(7)
			if err != nil {
				return nil, nil, err
			}
			rep = 11 + int(v)
		}
		for range rep {
			lens = append(lens, val)
		}
	}
	if len(lens) > nlit+ndist {
		return nil, nil, errors.New("code lengths overflow")
	}
	if lit, err = newRefHuffman(lens[:nlit]); err != nil {
		return nil, nil, err
	}
	if dist, err = newRefHuffman(lens[nlit:]); err != nil {
		return nil, nil, err
	}
	return lit, dist, nil
}

// refHuffman is a canonical Huffman code decoded one bit at a time.
type refHuffman struct {
	count   [16]int
	symbols []int
}

func newRefHuffman(lengths []int) (*refHuffman, error) {
	h := new(refHuffman)
	for _, l := range lengths {
		h.count[l]++
	}
	h.count[0] = 0
	left := 1
	for l := 1; l < 16; l++ {
		left <<= 1
		left -= h.count[l]
		if left < 0 {
			return nil, errors.New("oversubscribed code")
		}
	}
	var offs [16]int
	for l := 1; l < 15; l++ {
		offs[l+1] = offs[l] + h.count[l]
	}
	h.symbols = make([]int, len(lengths))
	for sym, l := range lengths {
		if l != 0 {
			h.symbols[offs[l]] = sym
			offs[l]++
		}
	}
	return h, nil
}

func (h *refHuffman) decode(r *refBits) (int, error) {
	code, first, index := 0, 0, 0
	for l := 1; l < 16; l++ {
		b, err := r.bits(1)
		if err != nil {
			return 0, err
		}
		code |= int(b)
		count := h.count[l]
		if code-count < first {
			return h.symbols[index+code-first], nil
		}
		index += count
		first += count
		first <<= 1
		code <<= 1
	}
	return 0, errors.New("invalid Huffman code")
}

var (
	refLenBase   = [29]int{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	refLenExtra  = [29]int{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	refDistBase  = [30]int{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
	refDistExtra = [30]int{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}

	refFixedLit, refFixedDist = fixedRefCodes()
)

func fixedRefCodes() (lit, dist *refHuffman) {
	var l [288]int
	for i := range l {
		switch {
		case i < 144:
			l[i] = 8
		case i < 256:
			l[i] = 9
		case i < 280:
			l[i] = 7
		default:
			l[i] = 8
		}
	}
	var d [30]int
	for i := range d {
		d[i] = 5
	}
	lit, _ = newRefHuffman(l[:])
	dist, _ = newRefHuffman(d[:])
	return lit, dist
}
