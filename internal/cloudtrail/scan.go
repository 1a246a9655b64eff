package cloudtrail

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/trailbell/trailbell/internal/jsonlex"
)

// A small validating JSON scanner. Decoding a log file only needs the boundaries of each
// record and a handful of its top-level fields, so records are walked byte by byte instead of
// being unmarshalled: it validates as it goes (a malformed record is reported, not passed on)
// and never allocates.

// errShort means the input ended inside a value: more bytes may complete it.
var errShort = errors.New("unexpected end of input")

// maxDepth bounds nesting so hostile input cannot exhaust the stack.
const maxDepth = 512

// syntaxError is a JSON syntax error at a byte offset of the scanned slice.
type syntaxError struct {
	msg string
	off int
}

func (e *syntaxError) Error() string { return e.msg }

func errAt(off int, format string, args ...any) error {
	return &syntaxError{msg: fmt.Sprintf(format, args...), off: off}
}

func skipSpace(b []byte, i int) int { return jsonlex.SkipSpace(b, i) }

// stringSafe marks bytes that need no attention inside a JSON string.
var stringSafe = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// skipString returns the offset after the string starting at b[i] (which is '"') and whether
// the string contains escapes.
func skipString(b []byte, i int) (int, bool, error) {
	i++
	escaped := false
	for {
		// eight bytes at a time, up to the first that is a quote, a backslash or a control
		// character
		for i+8 <= len(b) {
			if m := jsonlex.Special(binary.LittleEndian.Uint64(b[i:])); m != 0 {
				i += jsonlex.First(m)
				goto special
			}
			i += 8
		}
		for i < len(b) && stringSafe[b[i]] {
			i++
		}
	special:
		if i >= len(b) {
			return i, escaped, errShort
		}
		switch c := b[i]; {
		case c == '"':
			return i + 1, escaped, nil
		case c == '\\':
			escaped = true
			if i+1 >= len(b) {
				return i, escaped, errShort
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) {
					return i, escaped, errShort
				}
				for _, h := range b[i+2 : i+6] {
					if !isHex(h) {
						return i, escaped, errAt(i, "invalid \\u escape in string")
					}
				}
				i += 6
			default:
				return i, escaped, errAt(i, "invalid escape %q in string", b[i:i+2])
			}
		default:
			return i, escaped, errAt(i, "control character 0x%02x in string", c)
		}
	}
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// skipNumber validates a JSON number. A number that touches the end of b is reported short,
// since more digits may follow; callers at end of input treat that as the number's end.
func skipNumber(b []byte, i int) (int, error) {
	if b[i] == '-' {
		i++
	}
	if i >= len(b) {
		return i, errShort
	}
	switch {
	case b[i] == '0':
		i++
	case isDigit(b[i]):
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	default:
		return i, errAt(i, "invalid number")
	}
	var err error
	if i < len(b) && b[i] == '.' {
		if i, err = skipDigits(b, i+1); err != nil {
			return i, err
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i, err = skipDigits(b, i); err != nil {
			return i, err
		}
	}
	if i >= len(b) {
		return i, errShort
	}
	return i, nil
}

// skipDigits consumes the one or more digits a fraction or an exponent must have.
func skipDigits(b []byte, i int) (int, error) {
	d := i
	for i < len(b) && isDigit(b[i]) {
		i++
	}
	if i == d {
		if i >= len(b) {
			return i, errShort
		}
		return i, errAt(i, "invalid number")
	}
	return i, nil
}

func skipLiteral(b []byte, i int, lit string) (int, error) {
	for k := 0; k < len(lit); k++ {
		if i+k >= len(b) {
			return i + k, errShort
		}
		if b[i+k] != lit[k] {
			return i + k, errAt(i+k, "invalid literal, want %q", lit)
		}
	}
	return i + len(lit), nil
}

// skipValue returns the offset just after the JSON value that starts at or after b[i]
// (leading white space allowed).
func skipValue(b []byte, i int) (int, error) {
	end, _, err := skipValueDepth(b, i, 0)
	return end, err
}

// skipValueDepth is skipValue for a value nested depth deep. spaced says there was white
// space before or inside it, for a record that may be written out as it is (Event.Compact);
// it is also set for a compact text read by a slower path (an escaped key, an error), which
// costs only a second look later.
func skipValueDepth(b []byte, i, depth int) (end int, spaced bool, err error) {
	i = spaceAt(b, i, &spaced)
	if i >= len(b) {
		return i, spaced, errShort
	}
	switch c := b[i]; c {
	case '"':
		i, _, err = skipString(b, i)
	case '{', '[':
		if depth >= maxDepth {
			return i, spaced, errAt(i, "nesting deeper than %d", maxDepth)
		}
		var inside bool
		i, inside, err = skipContainer(b, i, depth)
		spaced = spaced || inside
	case 't':
		i, err = skipLiteral(b, i, "true")
	case 'f':
		i, err = skipLiteral(b, i, "false")
	case 'n':
		i, err = skipLiteral(b, i, "null")
	default:
		if c != '-' && !isDigit(c) {
			return i, spaced, errAt(i, "invalid character %q looking for a value", c)
		}
		i, err = skipNumber(b, i)
	}
	return i, spaced, err
}

// spaceAt skips the white space at b[i], setting *spaced when there is some.
func spaceAt(b []byte, i int, spaced *bool) int {
	if i < len(b) && b[i] <= ' ' {
		*spaced = true
		return skipSpace(b, i)
	}
	return i
}

// skipContainer skips the object or array at b[i], saying whether it holds white space
// between its tokens (see skipValueDepth).
func skipContainer(b []byte, i, depth int) (end int, spaced bool, err error) {
	obj := b[i] == '{'
	closer := byte(']')
	if obj {
		closer = '}'
	}
	i = spaceAt(b, i+1, &spaced)
	if i >= len(b) {
		return i, spaced, errShort
	}
	if b[i] == closer {
		return i + 1, spaced, nil
	}
	for {
		if obj {
			if _, _, i, err = scanKey(b, i, &spaced); err != nil {
				return i, spaced, err
			}
		}
		if i < len(b) && b[i] == '"' { // the usual value, without going through skipValueDepth
			i, _, err = skipString(b, i)
		} else {
			var inside bool
			i, inside, err = skipValueDepth(b, i, depth+1)
			spaced = spaced || inside
		}
		if err != nil {
			return i, spaced, err
		}
		i = spaceAt(b, i, &spaced)
		if i >= len(b) {
			return i, spaced, errShort
		}
		switch b[i] {
		case ',':
			i = spaceAt(b, i+1, &spaced)
		case closer:
			return i + 1, spaced, nil
		default:
			if obj {
				return i, spaced, errAt(i, "invalid character %q after object value, want ',' or '}'", b[i])
			}
			return i, spaced, errAt(i, "invalid character %q after array element, want ',' or ']'", b[i])
		}
	}
}

// scanKey consumes `"key" :` (with surrounding white space) starting at b[i] and returns the
// key as readKey does. A key followed at once by its colon, as in compact JSON, takes one
// call; anything else readKey reads (and words the error), and sets *spaced.
func scanKey(b []byte, i int, spaced *bool) (key []byte, escaped bool, next int, err error) {
	if i < len(b) && b[i] == '"' {
		if end, esc, err := skipString(b, i); err == nil && end < len(b) && b[end] == ':' {
			return b[i+1 : end-1], esc, end + 1, nil
		}
	}
	*spaced = true
	return readKey(b, i)
}

// readKey reads an object key at b[i] (white space allowed before it) and the colon after it.
// It returns the key's content (raw, still escaped if escaped is true) and the offset of the value.
func readKey(b []byte, i int) (key []byte, escaped bool, next int, err error) {
	i = skipSpace(b, i)
	if i >= len(b) {
		return nil, false, i, errShort
	}
	if b[i] != '"' {
		return nil, false, i, errAt(i, "invalid character %q looking for an object key", b[i])
	}
	end, escaped, err := skipString(b, i)
	if err != nil {
		return nil, false, end, err
	}
	key = b[i+1 : end-1]
	j := skipSpace(b, end)
	if j >= len(b) {
		return nil, false, j, errShort
	}
	if b[j] != ':' {
		return nil, false, j, errAt(j, "invalid character %q after object key, want ':'", b[j])
	}
	return key, escaped, j + 1, nil
}

// keyIs compares a raw key with a plain name, unescaping only when the key has escapes.
func keyIs(raw []byte, escaped bool, name string) bool {
	if !escaped {
		return string(raw) == name
	}
	return unquote(raw) == name
}

// unquote decodes the content of a JSON string (without its quotes). Invalid content gives "".
func unquote(raw []byte) string {
	q := make([]byte, 0, len(raw)+2)
	q = append(q, '"')
	q = append(q, raw...)
	q = append(q, '"')
	var s string
	if json.Unmarshal(q, &s) != nil {
		return ""
	}
	return s
}

// stringContent returns the decoded value of a JSON string value span (with quotes), or ""
// when the span is not a string.
func stringContent(v []byte) string {
	if len(v) < 2 || v[0] != '"' {
		return ""
	}
	raw := v[1 : len(v)-1]
	for _, c := range raw {
		if c == '\\' {
			return unquote(raw)
		}
	}
	return string(raw)
}
