package pattern

import (
	"bytes"
	"encoding/binary"
	"slices"
	"unicode"
	"unicode/utf8"
)

// equals-ignore-case as event-ruler compiles it (input/EqualsIgnoreCaseParser.java at
// 337e8d99): the operand is taken one UTF-16 code unit at a time, and each unit becomes the
// choice between the UTF-8 of String.valueOf(unit).toLowerCase(Locale.ROOT) and of its
// toUpperCase(Locale.ROOT). An event value matches when it is one choice per unit, byte
// for byte; the event value itself is not case-mapped. So "ß" accepts "ß" and "SS" (full
// upper-case mapping) but not "ss"; "SS" accepts "ss", "Ss", "sS", "SS" but not "ß"; the
// Kelvin sign accepts "k" and itself but not "K"; "K" accepts "k" and "K" but not the
// Kelvin sign; final sigma accepts "ς" and "Σ", "σ" accepts "σ" and "Σ". A character
// outside the BMP is two units, each of which Java encodes alone as "?": such an operand
// matches the literal "??" in its place, never the character.
//
// Matching indexes operands by a canonical fold (appendFold) that maps both choices of
// every unit to the same bytes, then checks each candidate exactly.

// foldPattern is an equals-ignore-case operand compiled to its per-unit choices.
type foldPattern struct {
	alts []foldAlt
	// key is the canonical fold of every event value that can match.
	key string
	// simple: every choice is one ASCII byte, so a match is a byte-for-byte test.
	simple bool
}

// foldAlt is one unit's choice; b is empty when lower and upper case are the same.
type foldAlt struct {
	a, b string
}

func newFoldPattern(s string) *foldPattern {
	fp := &foldPattern{simple: true}
	var key []byte
	for _, r := range s {
		if r >= 0x10000 {
			fp.alts = append(fp.alts, foldAlt{a: "?"}, foldAlt{a: "?"})
			key = append(key, "??"...)
			continue
		}
		lo, up := caseOf(javaLower, r, unicode.ToLower), caseOf(javaUpper, r, unicode.ToUpper)
		alt := foldAlt{a: lo}
		if up != lo {
			alt.b = up
		}
		if !oneASCII(alt.a) || alt.b != "" && !oneASCII(alt.b) {
			fp.simple = false
		}
		fp.alts = append(fp.alts, alt)
		key = appendFold(key, []byte(lo))
	}
	fp.key = string(key)
	return fp
}

func oneASCII(s string) bool { return len(s) == 1 && s[0] < utf8.RuneSelf }

// caseOf maps r through a table of Java's mappings, else through Go's.
func caseOf(table []caseEntry, r rune, def func(rune) rune) string {
	if i, ok := slices.BinarySearchFunc(table, r, func(e caseEntry, r rune) int { return int(e.r - r) }); ok {
		return table[i].s
	}
	return string(def(r))
}

// matchWhole reports whether v is one choice per unit.
func (fp *foldPattern) matchWhole(v []byte) bool {
	if fp.simple {
		if len(v) != len(fp.alts) {
			return false
		}
		for i, alt := range fp.alts {
			if c := v[i]; c != alt.a[0] && (alt.b == "" || c != alt.b[0]) {
				return false
			}
		}
		return true
	}
	return slices.Contains(fp.ends(v), len(v))
}

// matchPrefix reports whether v starts with one choice per unit.
func (fp *foldPattern) matchPrefix(v []byte) bool {
	if fp.simple {
		return len(v) >= len(fp.alts) && fp.matchWhole(v[:len(fp.alts)])
	}
	return len(fp.ends(v)) > 0
}

// matchSuffix reports whether v ends with one choice per unit.
func (fp *foldPattern) matchSuffix(v []byte) bool {
	if fp.simple {
		return len(v) >= len(fp.alts) && fp.matchWhole(v[len(v)-len(fp.alts):])
	}
	pos := []int{len(v)}
	for i := len(fp.alts) - 1; i >= 0 && len(pos) > 0; i-- {
		alt := fp.alts[i]
		var next []int
		for _, p := range pos {
			for _, x := range []string{alt.a, alt.b} {
				if x != "" && bytes.HasSuffix(v[:p], []byte(x)) && !slices.Contains(next, p-len(x)) {
					next = append(next, p-len(x))
				}
			}
		}
		pos = next
	}
	return len(pos) > 0
}

// ends returns the offsets in v at which one choice per unit, starting at 0, can end.
func (fp *foldPattern) ends(v []byte) []int {
	pos := []int{0}
	for _, alt := range fp.alts {
		var next []int
		for _, p := range pos {
			for _, x := range []string{alt.a, alt.b} {
				if x != "" && bytes.HasPrefix(v[p:], []byte(x)) && !slices.Contains(next, p+len(x)) {
					next = append(next, p+len(x))
				}
			}
		}
		if pos = next; len(pos) == 0 {
			return nil
		}
	}
	return pos
}

// appendFold appends the canonical fold of b: ASCII letters lowered directly, other runes
// through foldSpecial or unicode.ToLower(unicode.ToUpper(r)), so that the lower and upper
// case of every UTF-16 unit (as Java maps it, see javaLower and javaUpper) fold to the
// same bytes. Invalid UTF-8 bytes are kept as they are.
func appendFold(dst, b []byte) []byte {
	// ASCII runs, eight bytes at a time: add 0x20 to the bytes in 'A'..'Z'.
	i := 0
	for ; i+8 <= len(b); i += 8 {
		v := binary.LittleEndian.Uint64(b[i:])
		if v&swarHi != 0 {
			break
		}
		// For bytes below 0x80: x+(0x80-'A') has its high bit set iff x >= 'A', and
		// x+(0x80-'Z'-1) iff x > 'Z'; no carries cross bytes.
		upper := (v + 0x3f3f3f3f3f3f3f3f) &^ (v + 0x2525252525252525) & swarHi
		dst = binary.LittleEndian.AppendUint64(dst, v|upper>>2)
	}
	for i < len(b) {
		c := b[i]
		if c < utf8.RuneSelf {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			dst = append(dst, c)
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, c)
			i++
			continue
		}
		if j, ok := slices.BinarySearchFunc(foldSpecial, r, func(e caseEntry, r rune) int { return int(e.r - r) }); ok {
			dst = append(dst, foldSpecial[j].s...)
		} else {
			dst = utf8.AppendRune(dst, unicode.ToLower(unicode.ToUpper(r)))
		}
		i += size
	}
	return dst
}
