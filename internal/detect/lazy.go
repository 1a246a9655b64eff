package detect

import (
	"encoding/binary"
	"encoding/json"

	"github.com/trailbell/trailbell/internal/cloudtrail"
	"github.com/trailbell/trailbell/internal/jsonlex"
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
	i, ok := firstMember(b)
	if !ok {
		return nil, false
	}
	out := make([]member, 0, 24)
	var bits uint64 // keyBit of each key so far
	for i < len(b) {
		key, val, next, ok := nextMember(b, i, false)
		if !ok {
			return nil, false
		}
		if bit := keyBit(key); bits&bit == 0 {
			bits |= bit
		} else if find(out, string(key)) != nil {
			return nil, false
		}
		out = append(out, member{key: key, val: val})
		i = next
	}
	return out, true
}

// topOf is splitTop for a record whose member spans the decoder found already (see
// cloudtrail.Event.Members): false for a key given twice.
func topOf(rec []byte, ms []cloudtrail.Member) ([]member, bool) {
	out := make([]member, 0, max(24, len(ms)))
	var bits uint64 // keyBit of each key so far
	for _, m := range ms {
		key := m.Key(rec)
		if bit := keyBit(key); bits&bit == 0 {
			bits |= bit
		} else if find(out, string(key)) != nil {
			return nil, false
		}
		out = append(out, member{key: key, val: m.Value(rec)})
	}
	return out, true
}

// eachMember calls fn with the key (as written, without its quotes) and the raw value of
// each member of a JSON object, in order, without decoding or copying them. It reports false
// for anything but one object, a key given twice, or a key with escapes; fn may have been
// called for the members before the problem by then.
func eachMember(b []byte, fn func(key, val []byte)) bool {
	i, ok := firstMember(b)
	if !ok {
		return false
	}
	// the keys seen, to refuse a repeat: on the stack for the usual handful
	var seenBuf [24][]byte
	seen := seenBuf[:0]
	var bits uint64 // keyBit of each key seen
	for i < len(b) {
		key, val, next, ok := nextMember(b, i, false)
		if !ok {
			return false
		}
		if bit := keyBit(key); bits&bit == 0 {
			bits |= bit
		} else {
			for _, k := range seen {
				if string(k) == string(key) {
					return false
				}
			}
		}
		seen = append(seen, key)
		fn(key, val)
		i = next
	}
	return true
}

// keyBit is a key's bit in a set of an object's keys: a repeat is looked for among the keys
// only when its bit is set already, which a record's twenty-odd keys seldom share, instead of
// comparing every pair.
func keyBit(k []byte) uint64 {
	if len(k) == 0 {
		return 1
	}
	return 1 << ((uint(len(k))*7 + uint(k[0]) + 3*uint(k[len(k)-1])) & 63)
}

// firstMember returns the offset of the first member of the JSON object b, or len(b) for an
// empty object; false when b does not start an object (or is an empty one with more after it).
func firstMember(b []byte) (int, bool) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return 0, false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return len(b), skipSpace(b, i+1) == len(b)
	}
	return i, i < len(b)
}

// nextMember reads the member at b[i] (its key's quote): the key as written (a key with
// escapes is refused, and with exact one with bytes that are not UTF-8: its bytes are then
// the string decoding gives), the raw value, and the offset of the next member, or len(b)
// after the last one when the object ends there, as it must.
func nextMember(b []byte, i int, exact bool) (key, val []byte, next int, ok bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, nil, 0, false
	}
	var end int
	if exact {
		var plain bool
		if key, end, plain, ok = jsonlex.StringEnd(b, i); !ok || !plain {
			return nil, nil, 0, false
		}
	} else {
		var escaped bool
		if end, escaped = stringEnd(b, i); end < 0 || escaped {
			return nil, nil, 0, false
		}
		key = b[i+1 : end-1]
	}
	i = skipSpace(b, end)
	if i >= len(b) || b[i] != ':' {
		return nil, nil, 0, false
	}
	i = skipSpace(b, i+1)
	vend := valueEnd(b, i)
	if vend < 0 {
		return nil, nil, 0, false
	}
	val = b[i:vend]
	i = skipSpace(b, vend)
	switch {
	case i < len(b) && b[i] == ',':
		if next = skipSpace(b, i+1); next < len(b) {
			return key, val, next, true
		}
	case i < len(b) && b[i] == '}' && skipSpace(b, i+1) == len(b):
		return key, val, len(b), true
	}
	return nil, nil, 0, false
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
	if len(b) > 0 && b[0] != '"' {
		switch string(b) {
		case "true":
			return true, true
		case "false":
			return false, true
		case "null":
			return nil, true
		}
	}
	if s, ok := scalarString(b); ok {
		if b[0] == '"' {
			return s, true
		}
		return json.Number(s), true
	}
	return nil, false
}

// scalarString is the text of a string without escapes (valid UTF-8) or of a number, as
// scalarText gives it for what scalar decodes, without boxing it in an interface.
func scalarString(b []byte) (string, bool) {
	switch {
	case len(b) >= 2 && b[0] == '"':
		// a control character, a stray quote or bytes that are not UTF-8 (which encoding/json
		// replaces) leave it to a decoder
		raw, end, plain, ok := jsonlex.StringEnd(b, 0)
		if !ok || !plain || end != len(b) {
			return "", false
		}
		return string(raw), true
	case len(b) > 0 && (b[0] == '-' || '0' <= b[0] && b[0] <= '9'):
		if end, ok := jsonlex.NumberEnd(b, 0); ok && end == len(b) {
			return string(b), true
		}
	}
	return "", false
}

// scalarText is what str gives for the JSON scalar b (a string without escapes, a number,
// true, false or null); false for anything else.
func scalarTextOf(b []byte) (string, bool) {
	switch string(b) {
	case "true", "false":
		return string(b), true
	case "null":
		return "", true
	}
	return scalarString(b)
}

// leafText is what scalarText gives for the value v once decoded (nil: absent), read from
// its bytes: a string's text, a number as written, true and false; "" for null, an object or
// an array. ok is false when v is not valid JSON there.
func leafText(v []byte) (string, bool) {
	if s, ok := scalarTextOf(v); ok {
		return s, true
	}
	switch {
	case len(v) == 0, v[0] == '{', v[0] == '[':
		return "", true
	case v[0] == '"':
		if raw, end, _, ok := jsonlex.StringEnd(v, 0); ok && end == len(v) {
			return unquoteJSON(raw), true
		}
	}
	return "", false
}

func skipSpace(b []byte, i int) int { return jsonlex.SkipSpace(b, i) }

// stringEnd returns the index after the string starting at b[i] (a quote), and whether it
// holds escapes; -1 when it does not end.
func stringEnd(b []byte, i int) (int, bool) {
	escaped := false
	for j := i + 1; j < len(b); j++ {
		// eight bytes at a time while none is a quote or a backslash
		for j+8 <= len(b) {
			if m := jsonlex.QuoteOrBackslash(binary.LittleEndian.Uint64(b[j:])); m != 0 {
				j += jsonlex.First(m)
				break
			}
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
