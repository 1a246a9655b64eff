package cloudtrail

import (
	"encoding/binary"
	"math/bits"
	"testing"
)

// TestSpecial8 checks the word-at-a-time test against the byte table: every byte in every
// position, and for every pair of bytes in every two positions, the lowest mark is the first
// byte that needs attention (the one skipString stops at).
func TestSpecial8(t *testing.T) {
	for c := 0; c < 256; c++ {
		for pos := range 8 {
			var b [8]byte
			for i := range b {
				b[i] = 'a'
			}
			b[pos] = byte(c)
			got := special8(binary.LittleEndian.Uint64(b[:])) != 0
			if want := !stringSafe[c]; got != want {
				t.Fatalf("byte 0x%02x at %d: special8 = %v, want %v", c, pos, got, want)
			}
		}
	}
	for c1 := range 256 {
		for c2 := range 256 {
			for p1 := range 8 {
				for p2 := p1 + 1; p2 < 8; p2++ {
					b := [8]byte{'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a'}
					b[p1], b[p2] = byte(c1), byte(c2)
					m := special8(binary.LittleEndian.Uint64(b[:]))
					want := 8
					for i, c := range b {
						if !stringSafe[c] {
							want = i
							break
						}
					}
					if got := bits.TrailingZeros64(m) >> 3; got != want {
						t.Fatalf("%q: first mark at %d, want %d", b, got, want)
					}
				}
			}
		}
	}
}
