package pattern

import (
	"bytes"
	"fmt"
	"unicode/utf8"

	"github.com/trailbell/trailbell/internal/jsonlex"
)

// jvalue is a pattern's JSON value with object members in document order: event-ruler
// reads a pattern as a token stream, so a later member overrides an earlier one that
// flattens to the same field name ({"a":{"b":["1"]},"a.b":["2"]}), and a repeated object
// key merges ({"a":{"b":["1"]},"a":{"c":["2"]}} names a.b and a.c).
type jvalue struct {
	kind  byte   // 'o' object, 'a' array, 's' string, 'n' number, 't', 'f', 'z' (null)
	s     string // string content (unescaped) or a number's text as written
	keys  []string
	vals  []*jvalue // object members (with keys) or array elements
	start int       // byte offset of the value in the pattern
}

// jreader is a strict JSON reader for patterns; its errors name line and column.
type jreader struct {
	data  []byte
	pos   int
	depth int
}

// syntaxError reports malformed pattern JSON at byte offset off.
func syntaxError(data []byte, off int, format string, args ...any) error {
	off = min(off, len(data))
	line := bytes.Count(data[:off], []byte("\n")) + 1
	col := off - bytes.LastIndexByte(data[:off], '\n')
	return &PatternError{Line: line, Column: col, Reason: fmt.Sprintf(format, args...)}
}

func (r *jreader) fail(format string, args ...any) error {
	return syntaxError(r.data, r.pos, format, args...)
}

func (r *jreader) ws() { r.pos = jsonlex.SkipSpace(r.data, r.pos) }

// readPattern reads one JSON value and checks that only white space follows it.
func readPattern(p string) (*jvalue, error) {
	r := &jreader{data: []byte(p)}
	r.ws()
	if r.pos == len(r.data) {
		return nil, r.fail("not valid JSON: empty pattern")
	}
	v, err := r.value()
	if err != nil {
		return nil, err
	}
	r.ws()
	if r.pos != len(r.data) {
		return nil, r.fail("unexpected data after the pattern")
	}
	return v, nil
}

func (r *jreader) value() (*jvalue, error) {
	if r.pos >= len(r.data) {
		return nil, r.fail("unexpected end, expected a value")
	}
	start := r.pos
	switch c := r.data[r.pos]; c {
	case '{', '[':
		if r.depth++; r.depth > maxPatternDepth+8 {
			return nil, r.fail("nested deeper than %d levels", maxPatternDepth)
		}
		defer func() { r.depth-- }()
		if c == '{' {
			return r.object(start)
		}
		return r.array(start)
	case '"':
		s, err := r.str()
		return &jvalue{kind: 's', s: s, start: start}, err
	case 't', 'f', 'n':
		for _, lit := range []string{"true", "false", "null"} {
			if bytes.HasPrefix(r.data[r.pos:], []byte(lit)) {
				r.pos += len(lit)
				kind := lit[0]
				if kind == 'n' {
					kind = 'z'
				}
				return &jvalue{kind: kind, start: start}, nil
			}
		}
		return nil, r.fail("invalid literal")
	default:
		if c == '-' || '0' <= c && c <= '9' {
			return r.number(start)
		}
		return nil, r.fail("invalid character %q looking for a value", c)
	}
}

func (r *jreader) object(start int) (*jvalue, error) {
	v := &jvalue{kind: 'o', start: start}
	r.pos++ // '{'
	r.ws()
	if r.pos < len(r.data) && r.data[r.pos] == '}' {
		r.pos++
		return v, nil
	}
	for {
		r.ws()
		if r.pos >= len(r.data) || r.data[r.pos] != '"' {
			return nil, r.fail("expected a string key")
		}
		k, err := r.str()
		if err != nil {
			return nil, err
		}
		r.ws()
		if r.pos >= len(r.data) || r.data[r.pos] != ':' {
			return nil, r.fail("expected ':' after the key %q", k)
		}
		r.pos++
		r.ws()
		el, err := r.value()
		if err != nil {
			return nil, err
		}
		v.keys = append(v.keys, k)
		v.vals = append(v.vals, el)
		r.ws()
		if r.pos >= len(r.data) {
			return nil, r.fail("unexpected end inside an object")
		}
		switch r.data[r.pos] {
		case ',':
			r.pos++
		case '}':
			r.pos++
			return v, nil
		default:
			return nil, r.fail("expected ',' or '}' after an object member")
		}
	}
}

func (r *jreader) array(start int) (*jvalue, error) {
	v := &jvalue{kind: 'a', start: start}
	r.pos++ // '['
	r.ws()
	if r.pos < len(r.data) && r.data[r.pos] == ']' {
		r.pos++
		return v, nil
	}
	for {
		r.ws()
		el, err := r.value()
		if err != nil {
			return nil, err
		}
		v.vals = append(v.vals, el)
		r.ws()
		if r.pos >= len(r.data) {
			return nil, r.fail("unexpected end inside an array")
		}
		switch r.data[r.pos] {
		case ',':
			r.pos++
		case ']':
			r.pos++
			return v, nil
		default:
			return nil, r.fail("expected ',' or ']' after an array element")
		}
	}
}

// str reads a string: escapes decoded, invalid UTF-8 and lone surrogates replaced by
// U+FFFD (as encoding/json does), control characters rejected.
func (r *jreader) str() (string, error) {
	r.pos++ // '"'
	start := r.pos
	plain := true
	for ; r.pos < len(r.data); r.pos++ {
		c := r.data[r.pos]
		switch {
		case c == '"':
			raw := r.data[start:r.pos]
			r.pos++
			if plain && utf8.Valid(raw) {
				return string(raw), nil
			}
			out, ok := unescape(nil, raw)
			if !ok {
				return "", syntaxError(r.data, start, "invalid escape in string")
			}
			return string(bytes.ToValidUTF8(out, []byte("\uFFFD"))), nil
		case c == '\\':
			plain = false
			r.pos++
			if r.pos >= len(r.data) {
				return "", r.fail("unterminated string")
			}
			switch e := r.data[r.pos]; e {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if jsonlex.Hex4(r.data[r.pos+1:]) < 0 {
					return "", r.fail("invalid \\u escape in string")
				}
				r.pos += 4
			default:
				return "", r.fail("invalid escape \\%c in string", e)
			}
		case c < 0x20:
			return "", r.fail("control character %#02x in string", c)
		}
	}
	return "", syntaxError(r.data, start-1, "unterminated string")
}

// number reads a JSON number, keeping its text as written.
func (r *jreader) number(start int) (*jvalue, error) {
	d := r.data
	i := r.pos
	if d[i] == '-' {
		i++
	}
	digits := func() int {
		j := i
		for i < len(d) && '0' <= d[i] && d[i] <= '9' {
			i++
		}
		return i - j
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case digits() == 0:
		r.pos = i
		return nil, r.fail("invalid number")
	}
	if i < len(d) && d[i] == '.' {
		i++
		if digits() == 0 {
			r.pos = i
			return nil, r.fail("invalid number: no digit after the decimal point")
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if digits() == 0 {
			r.pos = i
			return nil, r.fail("invalid number: no digit in the exponent")
		}
	}
	if i < len(d) && ('0' <= d[i] && d[i] <= '9' || d[i] == '.') {
		r.pos = i
		return nil, r.fail("invalid number")
	}
	r.pos = i
	return &jvalue{kind: 'n', s: string(d[start:i]), start: start}, nil
}

// describe names a value's type for error messages.
func (v *jvalue) describe() string {
	switch v.kind {
	case 'o':
		return "an object"
	case 'a':
		return "an array"
	case 's':
		return fmt.Sprintf("%q", v.s)
	case 'n':
		return "number " + v.s
	case 't':
		return "true"
	case 'f':
		return "false"
	}
	return "null"
}
