package jsonlex

import (
	"encoding/binary"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

var masks = []struct {
	name  string
	mask  func(uint64) uint64
	marks func(byte) bool
}{
	{"Special", Special, func(c byte) bool { return c == '"' || c == '\\' || c < 0x20 }},
	{"Attention", Attention, func(c byte) bool { return c == '"' || c == '\\' || c < 0x20 || c > 0x7f }},
	{"QuoteOrBackslash", QuoteOrBackslash, func(c byte) bool { return c == '"' || c == '\\' }},
}

// TestMasks: for every pair of bytes in every two positions of a word (the rest plain), a
// mask's first mark is the first byte it is meant to mark, and it marks nothing in a word
// without one.
func TestMasks(t *testing.T) {
	for _, m := range masks {
		for c1 := range 256 {
			for c2 := range 256 {
				for p1 := range 8 {
					for p2 := p1 + 1; p2 < 8; p2++ {
						b := [8]byte{'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a'}
						b[p1], b[p2] = byte(c1), byte(c2)
						want := 8
						for i, x := range b {
							if m.marks(x) {
								want = i
								break
							}
						}
						if got := First(m.mask(binary.LittleEndian.Uint64(b[:]))); got != want {
							t.Fatalf("%s(%q): first mark at %d, want %d", m.name, b, got, want)
						}
					}
				}
			}
		}
	}
}

// FuzzStringEnd: a string is valid exactly when encoding/json reads it, ends where it says,
// and is plain exactly when it decodes to its own bytes.
func FuzzStringEnd(f *testing.F) {
	for _, s := range []string{`"plain"`, `"q\" \\ \/ \b\f\n\r\t \u00e9"`, "\"\xff\"", "\"\x01\"", `"\q"`, `"\u12"`, `"open`, `"` + "é😀" + `" tail`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) == 0 || b[0] != '"' {
			return
		}
		raw, end, plain, ok := StringEnd(b, 0)
		var s string
		var err error
		if ok {
			err = json.Unmarshal(b[:end], &s)
		}
		switch {
		case ok && err != nil:
			t.Fatalf("%q: read to %d, which encoding/json refuses: %v", b, end, err)
		case !ok:
			// no prefix of b is a valid JSON string: the first closing quote would end it
			for e := 2; e <= len(b); e++ {
				if json.Valid(b[:e]) {
					t.Fatalf("%q: refused, but encoding/json reads %q", b, b[:e])
				}
			}
		case plain != (string(raw) == s && utf8.Valid(raw)):
			t.Fatalf("%q: plain %v, decodes to %q", b, plain, s)
		}
	})
}

// FuzzNumberEnd: a number ends where encoding/json's grammar says, and is refused where it
// refuses it.
func FuzzNumberEnd(f *testing.F) {
	for _, s := range []string{"0", "-0", "12.5e+3", "01", "1.", ".1", "-", "1e", "1E-7x", "123456789012345678901234567890"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		end, ok := NumberEnd(b, 0)
		if ok != (end > 0 && json.Valid(b[:end])) {
			t.Fatalf("%q: end %d, ok %v", b, end, ok)
		}
		if ok && end < len(b) && !strings.ContainsRune(" \t\r\n", rune(b[end])) && json.Valid(b[:end+1]) {
			t.Fatalf("%q: ended at %d, but %q is a number too", b, end, b[:end+1])
		}
	})
}

// TestSkipSpace checks every byte: only JSON's four white-space bytes are skipped.
func TestSkipSpace(t *testing.T) {
	for c := range 256 {
		b := []byte{byte(c), byte(c), 'x'}
		want := 0
		if strings.IndexByte(" \t\n\r", byte(c)) >= 0 {
			want = 2
		}
		if got := SkipSpace(b, 0); got != want {
			t.Errorf("byte %#x: SkipSpace = %d, want %d", c, got, want)
		}
		if got := SkipSpace(b[:2], 2); got != 2 {
			t.Errorf("byte %#x: SkipSpace at the end = %d, want 2", c, got)
		}
	}
}
