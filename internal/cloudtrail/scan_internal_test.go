package cloudtrail

import (
	"encoding/binary"
	"testing"
)

// TestSpecial8 checks the word-at-a-time test against the byte table on every byte in every
// position.
func TestSpecial8(t *testing.T) {
	for c := 0; c < 256; c++ {
		for pos := range 8 {
			var b [8]byte
			for i := range b {
				b[i] = 'a'
			}
			b[pos] = byte(c)
			got := special8(binary.LittleEndian.Uint64(b[:]))
			if want := !stringSafe[c]; got != want {
				t.Fatalf("byte 0x%02x at %d: special8 = %v, want %v", c, pos, got, want)
			}
		}
	}
}
