package finding

import (
	"unicode/utf8"

	"github.com/trailbell/trailbell/internal/jsonlex"
)

// AppendJSON appends f as encoding/json encodes it with SetEscapeHTML(false), byte for byte
// (`scan --format json` writes one such line per finding), without reflection: a scan where
// many records alert spends a large share of its time encoding findings. ok is false when f
// cannot be encoded (a Record that is not valid JSON); b is then returned as it was, for the
// caller to encode with encoding/json, which says why. TestAppendJSONAsEncodingJSON keeps the
// two in step, every field included.
func (f *Finding) AppendJSON(b []byte) ([]byte, bool) { return f.appendJSON(b, nil) }

// An Encoder appends findings as AppendJSON does, remembering the JSON of the descriptions it
// wrote: a rule's description, the same in all of its findings and a fifth of a finding's
// text, is escaped once. Not safe for concurrent use; the zero value is ready.
type Encoder struct {
	descriptions map[string][]byte
}

// maxDescriptions bounds an Encoder's memory: descriptions are the rules', a few hundred.
const maxDescriptions = 1024

// Append is AppendJSON.
func (e *Encoder) Append(b []byte, f *Finding) ([]byte, bool) { return f.appendJSON(b, e) }

// description appends s's JSON as appendString does, from e when e has it.
func (e *Encoder) description(b []byte, s string) []byte {
	if e == nil {
		return appendString(b, s)
	}
	if j, ok := e.descriptions[s]; ok {
		return append(b, j...)
	}
	start := len(b)
	b = appendString(b, s)
	if len(e.descriptions) < maxDescriptions {
		if e.descriptions == nil {
			e.descriptions = map[string][]byte{}
		}
		e.descriptions[s] = append([]byte(nil), b[start:]...)
	}
	return b
}

func (f *Finding) appendJSON(b []byte, e *Encoder) ([]byte, bool) {
	orig := len(b)
	b = append(b, `{"rule":`...)
	b = appendString(b, f.Rule)
	b = append(b, `,"severity":`...)
	b = appendString(b, f.Severity.String())
	b = append(b, `,"title":`...)
	b = appendString(b, f.Title)
	if f.Description != "" {
		b = append(b, `,"description":`...)
		b = e.description(b, f.Description)
	}
	b = appendStrings(b, `,"tags":`, f.Tags)
	b = appendStrings(b, `,"references":`, f.References)
	b = appendOmitEmpty(b, `,"runbook":`, f.Runbook)
	b = append(b, `,"eventID":`...)
	b = appendString(b, f.EventID)
	b = append(b, `,"eventName":`...)
	b = appendString(b, f.EventName)
	b = appendOmitEmpty(b, `,"eventSource":`, f.EventSource)
	b = append(b, `,"eventTime":`...)
	b = appendString(b, f.EventTime)
	b = append(b, `,"account":`...)
	b = appendString(b, f.Account)
	b = append(b, `,"region":`...)
	b = appendString(b, f.Region)
	b = append(b, `,"principal":`...)
	b = appendString(b, f.Principal)
	b = appendOmitEmpty(b, `,"principalType":`, f.PrincipalType)
	b = append(b, `,"sourceIPAddress":`...)
	b = appendString(b, f.SourceIPAddress)
	b = appendOmitEmpty(b, `,"userAgent":`, f.UserAgent)
	b = appendOmitEmpty(b, `,"attackTool":`, f.AttackTool)
	b = appendOmitEmpty(b, `,"errorCode":`, f.ErrorCode)
	b = appendOmitEmpty(b, `,"errorMessage":`, f.ErrorMessage)
	b = appendOmitEmpty(b, `,"target":`, f.Target)
	if len(f.Params) > 0 {
		b = append(b, `,"params":[`...)
		for i, p := range f.Params {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"name":`...)
			b = appendString(b, p.Name)
			b = append(b, `,"value":`...)
			b = appendString(b, p.Value)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = appendStrings(b, `,"grants":`, f.Grants)
	if a := f.Actor; a != nil {
		b = append(b, `,"actor":{"id":`...)
		b = appendString(b, a.ID)
		b = append(b, `,"type":`...)
		b = appendString(b, a.Type)
		b = append(b, `,"name":`...)
		b = appendString(b, a.Name)
		b = appendStrings(b, `,"via":`, a.Via)
		b = append(b, '}')
	}
	b = appendStrings(b, `,"related":`, f.Related)
	if len(f.Events) > 0 {
		b = append(b, `,"events":[`...)
		for i, e := range f.Events {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '{')
			if e.Step != "" {
				b = append(b, `"step":`...)
				b = appendString(b, e.Step)
				b = append(b, ',')
			}
			b = append(b, `"eventID":`...)
			b = appendString(b, e.EventID)
			b = append(b, `,"eventName":`...)
			b = appendString(b, e.EventName)
			b = append(b, `,"eventTime":`...)
			b = appendString(b, e.EventTime)
			b = appendOmitEmpty(b, `,"value":`, e.Value)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if len(f.Also) > 0 {
		b = append(b, `,"also":[`...)
		for i, m := range f.Also {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"rule":`...)
			b = appendString(b, m.Rule)
			b = append(b, `,"severity":`...)
			b = appendString(b, m.Severity.String())
			b = append(b, `,"title":`...)
			b = appendString(b, m.Title)
			b = appendStrings(b, `,"tags":`, m.Tags)
			b = appendOmitEmpty(b, `,"runbook":`, m.Runbook)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = appendOmitEmpty(b, `,"origin":`, f.Origin)
	b = append(b, `,"record":`...)
	switch {
	case f.Record == nil:
		b = append(b, "null"...)
	case f.PlainRecord():
		b = append(b, f.Record...)
	default:
		var ok bool
		if b, ok = appendCompact(b, f.Record); !ok {
			return b[:orig], false
		}
	}
	return append(b, '}'), true
}

func appendOmitEmpty(b []byte, key, s string) []byte {
	if s == "" {
		return b
	}
	return appendString(append(b, key...), s)
}

// appendStrings appends key and a list of strings, or nothing for an empty list (omitempty).
func appendStrings(b []byte, key string, ss []string) []byte {
	if len(ss) == 0 {
		return b
	}
	b = append(b, key...)
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	return append(b, ']')
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string the way encoding/json writes it without HTML
// escaping: quotes, backslashes and control characters escaped (\n, \t ... short where JSON
// has a short form), each byte that is not UTF-8 written as \ufffd, and U+2028 and U+2029
// escaped, since some JavaScript readers take them for line ends.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		// eight bytes at a time while none needs a look
		for i+8 <= len(s) {
			if m := jsonlex.Attention(load8(s, i)); m != 0 {
				i += jsonlex.First(m)
				break
			}
			i += 8
		}
		if i >= len(s) {
			break
		}
		if i+8 > len(s) && len(s) >= 8 {
			// the last bytes, most of a short string's: the word that ends s, less the bytes
			// before i (whose marks may carry into s[i], which is then looked at and passed)
			m := jsonlex.Attention(load8(s, len(s)-8)) >> (8 * (i + 8 - len(s)))
			if m == 0 {
				break
			}
			i += jsonlex.First(m)
		}
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += n
			continue
		}
		i += n
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// load8 reads s[i:i+8] as a little-endian word: one bounds check, then one load (indexing
// s[i+1] ... s[i+7] had the compiler check each).
func load8(s string, i int) uint64 {
	w := s[i : i+8]
	return uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
		uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
}

// plainJSON reports whether b, one valid JSON value, is valid UTF-8 with no white space
// between its tokens: appendCompact would write it as it is.
func plainJSON(b []byte) bool {
	for i := 0; i < len(b); {
		if c := b[i]; c != '"' {
			if c <= ' ' {
				return false // outside strings, only white space is below '!' in valid JSON
			}
			i++
			continue
		}
		// a string, to its closing quote, eight bytes at a time up to what needs a look
		for i++; ; {
			for i+8 <= len(b) {
				if m := jsonlex.Attention(load8b(b, i)); m != 0 {
					i += jsonlex.First(m)
					break
				}
				i += 8
			}
			if i >= len(b) {
				return false // not valid JSON after all
			}
			c := b[i]
			if c == '"' {
				i++
				break
			}
			switch {
			case c == '\\':
				i += 2 // an escape: the rest of a \u escape is hex digits
			case c < utf8.RuneSelf:
				i++ // a control character, not in valid JSON: the caller's to ensure
			default:
				r, n := utf8.DecodeRune(b[i:])
				if r == utf8.RuneError && n == 1 {
					return false
				}
				i += n
			}
		}
	}
	return true
}

// load8b is load8 for bytes.
func load8b(b []byte, i int) uint64 {
	w := b[i : i+8]
	return uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
		uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
}

// appendCompact appends the JSON value src without the white space between its tokens, as
// encoding/json writes a json.RawMessage; ok is false when src is not exactly one valid JSON
// value (white space around it allowed), which encoding/json refuses to write.
func appendCompact(b, src []byte) ([]byte, bool) {
	c := compactor{src: src, dst: b}
	i, ok := c.value(c.space(0), 0)
	if !ok {
		return b, false
	}
	for _, ch := range src[i:] {
		if ch != ' ' && ch != '\n' && ch != '\r' && ch != '\t' {
			return b, false
		}
	}
	return append(c.dst, src[c.start:i]...), true
}

// compactor validates a JSON value and copies it without white space: runs of src without
// white space are copied whole, from start up to the next space skipped.
type compactor struct {
	src, dst []byte
	start    int
}

// str checks the JSON string at src[i] (a quote) and returns its end; its bytes are copied
// as they are.
func (c *compactor) str(i int) (int, bool) {
	_, end, _, ok := jsonlex.StringEnd(c.src, i)
	return end, ok
}

// maxCompactDepth is encoding/json's nesting limit.
const maxCompactDepth = 10000

// space skips white space at src[i:], leaving it out of the copy.
func (c *compactor) space(i int) int {
	j := i
	for j < len(c.src) && (c.src[j] == ' ' || c.src[j] == '\n' || c.src[j] == '\r' || c.src[j] == '\t') {
		j++
	}
	if j > i {
		c.dst = append(c.dst, c.src[c.start:i]...)
		c.start = j
	}
	return j
}

func (c *compactor) value(i, depth int) (int, bool) {
	s := c.src
	if i >= len(s) {
		return i, false
	}
	switch ch := s[i]; {
	case ch == '"':
		return c.str(i)
	case ch == '{' || ch == '[':
		if depth >= maxCompactDepth {
			return i, false
		}
		closer := byte('}')
		if ch == '[' {
			closer = ']'
		}
		i = c.space(i + 1)
		if i < len(s) && s[i] == closer {
			return i + 1, true
		}
		for {
			var ok bool
			if ch == '{' {
				if i >= len(s) || s[i] != '"' {
					return i, false
				}
				if i, ok = c.str(i); !ok {
					return i, false
				}
				if i = c.space(i); i >= len(s) || s[i] != ':' {
					return i, false
				}
				i = c.space(i + 1)
			}
			if i, ok = c.value(i, depth+1); !ok {
				return i, false
			}
			if i = c.space(i); i >= len(s) {
				return i, false
			}
			switch s[i] {
			case ',':
				i = c.space(i + 1)
			case closer:
				return i + 1, true
			default:
				return i, false
			}
		}
	case ch == 't':
		return i + 4, len(s)-i >= 4 && string(s[i:i+4]) == "true"
	case ch == 'f':
		return i + 5, len(s)-i >= 5 && string(s[i:i+5]) == "false"
	case ch == 'n':
		return i + 4, len(s)-i >= 4 && string(s[i:i+4]) == "null"
	case ch == '-' || '0' <= ch && ch <= '9':
		return jsonlex.NumberEnd(s, i)
	}
	return i, false
}
