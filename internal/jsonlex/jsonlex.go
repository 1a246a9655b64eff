// Package jsonlex owns the lexical layer of JSON text that the hot paths share: where a
// string or a number ends, whether it is valid JSON, and which bytes of a word need a look,
// eight at a time. It decodes nothing and allocates nothing; the packages above it match
// events (pattern), decode records (internal/detect), validate log files (internal/cloudtrail)
// and write findings (internal/finding) with it.
package jsonlex

import (
	"encoding/binary"
	"math/bits"
	"unicode/utf8"
)

// The word masks mark the bytes of x (eight bytes read little-endian) that need a look by
// their high bit. SWAR: for bytes below n <= 128, (x-n)&^x sets a byte's high bit, and
// (v-1)&^v for a zero byte of v = x^c marks a byte equal to c; a borrow can mark a byte
// above a marked one, never below, so the lowest mark is exact (First).
const lo, hi = 0x0101010101010101, 0x8080808080808080

// Special marks quotes, backslashes and control characters: the bytes a JSON string's
// scanner stops at. x^0x02 takes the quote (0x22) to 0x20 and leaves control characters
// below it and every other byte at 0x21 or above, so one comparison finds both, and the
// constants are fewer: this runs on every word of every string a log file holds.
func Special(x uint64) uint64 {
	t, s := x^(lo*0x02), x^(lo*'\\')
	return ((t-lo*0x21)&^t | (s-lo)&^s) & hi
}

// Attention marks what Special marks and bytes above 0x7f (UTF-8 to check or to carry).
func Attention(x uint64) uint64 { return Special(x) | x&hi }

// QuoteOrBackslash marks quotes and backslashes: where a string may end.
func QuoteOrBackslash(x uint64) uint64 {
	q, s := x^(lo*'"'), x^(lo*'\\')
	return ((q-lo)&^q | (s-lo)&^s) & hi
}

// First is the offset in its word of the first byte a mask marks (8 when none).
func First(m uint64) int { return bits.TrailingZeros64(m) >> 3 }

// StringEnd finds the end of the JSON string at b[i] (a quote) and checks it: raw is its
// content between the quotes, plain says it decodes to itself (no escapes, valid UTF-8). ok
// is false for a string that is not valid JSON (a control character, a bad escape, no end).
func StringEnd(b []byte, i int) (raw []byte, end int, plain, ok bool) {
	start := i + 1
	j := start
	plain = true
	for {
		for j+8 <= len(b) {
			if m := Attention(binary.LittleEndian.Uint64(b[j:])); m != 0 {
				j += First(m)
				break
			}
			j += 8
		}
		if j >= len(b) {
			return nil, j, false, false
		}
		switch c := b[j]; {
		case c == '"':
			return b[start:j], j + 1, plain, true
		case c == '\\':
			plain = false
			if j+1 >= len(b) {
				return nil, j, false, false
			}
			switch b[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j += 2
			case 'u':
				if j+6 > len(b) || Hex4(b[j+2:j+6]) < 0 {
					return nil, j, false, false
				}
				j += 6
			default:
				return nil, j, false, false
			}
		case c < 0x20:
			return nil, j, false, false
		case c < 0x80:
			j++
		default:
			r, n := utf8.DecodeRune(b[j:])
			if r == utf8.RuneError && n == 1 {
				plain = false // replaced when decoded
			}
			j += n
		}
	}
}

// SkipSpace returns the offset of the first byte at or after i that is not JSON white space.
// Every byte above the space is not white space, which settles the usual case, compact JSON,
// with one comparison.
func SkipSpace(b []byte, i int) int {
	for i < len(b) && b[i] <= ' ' && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t') {
		i++
	}
	return i
}

// Hex4 reads four hex digits; -1 when they are not (or b is shorter).
func Hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// NumberEnd returns the end of the JSON number at b[i]; ok is false when it is not one.
func NumberEnd(b []byte, i int) (int, bool) {
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		for i++; i < len(b) && '0' <= b[i] && b[i] <= '9'; i++ {
		}
	default:
		return i, false
	}
	if i < len(b) && b[i] == '.' {
		d := i + 1
		for i = d; i < len(b) && '0' <= b[i] && b[i] <= '9'; i++ {
		}
		if i == d {
			return i, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		if i == d {
			return i, false
		}
	}
	return i, true
}
