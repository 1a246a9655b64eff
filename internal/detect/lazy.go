package detect

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// member is one top-level member of a record: its key and raw value, slices of the record.
type member struct {
	key, val []byte
	done     bool // decoded into record.m already
}

// splitTop splits a JSON object into its members' raw values, without decoding or copying
// them. It reports false for anything but one object, a key given twice, or a key with
// escapes (those take the whole decode, which reads them exactly).
func splitTop(b []byte) ([]member, bool) {
	out := make([]member, 0, 20)
	ok := eachMember(b, func(key, val []byte) { out = append(out, member{key: key, val: val}) })
	if !ok {
		return nil, false
	}
	return out, true
}

// eachMember calls fn with the key (as written, without its quotes) and the raw value of
// each member of a JSON object, in order, without decoding or copying them. It reports false
// for anything but one object, a key given twice, or a key with escapes; fn may have been
// called for the members before the problem by then.
func eachMember(b []byte, fn func(key, val []byte)) bool {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	// the keys seen, to refuse a repeat: on the stack for the usual handful
	var seenBuf [24][]byte
	seen := seenBuf[:0]
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return skipSpace(b, i+1) == len(b)
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return false
		}
		end, escaped := stringEnd(b, i)
		if end < 0 || escaped {
			return false
		}
		key := b[i+1 : end-1]
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return false
		}
		i = skipSpace(b, i+1)
		vend := valueEnd(b, i)
		if vend < 0 {
			return false
		}
		for _, k := range seen {
			if string(k) == string(key) {
				return false
			}
		}
		seen = append(seen, key)
		fn(key, b[i:vend])
		i = skipSpace(b, vend)
		switch {
		case i < len(b) && b[i] == ',':
			i = skipSpace(b, i+1)
		case i < len(b) && b[i] == '}':
			return skipSpace(b, i+1) == len(b)
		default:
			return false
		}
	}
}

// find returns the member named key, or nil.
func find(ms []member, key string) *member {
	for i := range ms {
		if string(ms[i].key) == key {
			return &ms[i]
		}
	}
	return nil
}

// scalar decodes the common scalars without a decoder: a string without escapes, a number,
// true, false, null. ok is false for anything else.
func scalar(b []byte) (any, bool) {
	switch {
	case len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' && bytes.IndexByte(b, '\\') < 0:
		for _, c := range b[1 : len(b)-1] {
			if c < 0x20 || c == '"' {
				return nil, false // a control character or a stray quote: invalid JSON
			}
		}
		if !utf8.Valid(b[1 : len(b)-1]) {
			return nil, false // encoding/json replaces what is not UTF-8: let it
		}
		return string(b[1 : len(b)-1]), true
	case string(b) == "true":
		return true, true
	case string(b) == "false":
		return false, true
	case string(b) == "null":
		return nil, true
	case len(b) > 0 && (b[0] == '-' || b[0] >= '0' && b[0] <= '9'):
		if _, err := strconv.ParseFloat(string(b), 64); err == nil && json.Valid(b) {
			return json.Number(b), true
		}
	}
	return nil, false
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index after the string starting at b[i] (a quote), and whether it
// holds escapes; -1 when it does not end.
func stringEnd(b []byte, i int) (int, bool) {
	escaped := false
	for j := i + 1; j < len(b); j++ {
		// eight bytes at a time while none is a quote or a backslash
		for j+8 <= len(b) && !quoteOrBackslash8(binary.LittleEndian.Uint64(b[j:])) {
			j += 8
		}
		if j >= len(b) {
			break
		}
		switch b[j] {
		case '\\':
			escaped = true
			j++
		case '"':
			return j + 1, escaped
		}
	}
	return -1, false
}

// quoteOrBackslash8 reports whether a byte of x is '"' or '\\' (SWAR, as attention8).
func quoteOrBackslash8(x uint64) bool {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	q := x ^ (lo * '"')
	s := x ^ (lo * '\\')
	return ((q-lo)&^q|(s-lo)&^s)&hi != 0
}

// valueEnd returns the index after the value starting at b[i]; -1 when it does not end.
func valueEnd(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		end, _ := stringEnd(b, i)
		return end
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, _ := stringEnd(b, j)
				if end < 0 {
					return -1
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\t' && b[j] != '\n' && b[j] != '\r' {
		j++
	}
	if j == i {
		return -1
	}
	return j
}
