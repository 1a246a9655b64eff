package detect

import (
	"encoding/json"
	"sync"
	"unicode/utf8"

	"github.com/trailbell/trailbell/internal/jsonlex"
)

// parseJSON decodes the JSON value that starts b (white space allowed around it) into what
// encoding/json gives for an `any` with UseNumber: map[string]any, []any, string,
// json.Number, bool or nil, strings decoded exactly as it decodes them (invalid UTF-8 and
// lone surrogates become U+FFFD). With keepRepeats, a key given twice in one object holds all
// its values, in order, as a repeated list (decodeRepeated's reading); else the last wins, as
// in encoding/json. It returns the offset after the value.
//
// It is encoding/json's decoding in one pass without reflection, for the records rules
// match: a scan whose alerting records are many spends much of its time here. It reports ok
// false for anything it does not read exactly (invalid JSON, nesting deeper than
// encoding/json allows); callers then take encoding/json's way, which words the error.
func parseJSON(b []byte, keepRepeats bool) (v any, end int, ok bool) {
	return parseWith(valueParser{b: b, keepRepeats: keepRepeats})
}

// parseWith reads the value p.b starts with, p's stacks taken from and given back to
// parserStacks.
func parseWith(p valueParser) (any, int, bool) {
	st := parserStacks.Get().(*parserStack)
	p.members, p.elems = st.members[:0], st.elems[:0]
	v, i, ok := p.value(skipSpace(p.b, 0), 0)
	// what the stacks held is not kept alive by them; a large value's are let go
	if cap(p.members)+cap(p.elems) <= maxKeptStack {
		st.members, st.elems = p.members[:0], p.elems[:0]
		clear(st.members[:cap(st.members)])
		clear(st.elems[:cap(st.elems)])
		parserStacks.Put(st)
	}
	if !ok {
		return nil, 0, false
	}
	return v, i, true
}

// parserStack is a parser's stacks, kept from one value to the next: most values read are
// small, and growing the stacks for each cost more allocations than the values themselves.
type parserStack struct {
	members []kv
	elems   []any
}

var parserStacks = sync.Pool{New: func() any { return new(parserStack) }}

// maxKeptStack bounds the stacks kept (each is cleared when given back).
const maxKeptStack = 1024

// parseJSONText is parseJSON for a value held as a string too, s, of the same bytes as b:
// the keys, strings and numbers it decodes without escapes are parts of s rather than
// copies, an allocation each (a policy document's statements are mostly such).
func parseJSONText(b []byte, s string, keepRepeats bool) (v any, end int, ok bool) {
	return parseWith(valueParser{b: b, s: s, keepRepeats: keepRepeats})
}

// maxParseDepth is encoding/json's nesting limit: deeper input is its to refuse.
const maxParseDepth = 10000

type valueParser struct {
	b           []byte
	s           string // b as a string, or "" (see parseJSONText)
	keepRepeats bool
	// members and elems are stacks shared by the objects and arrays being read, so that
	// each map and slice is made once, at its final size
	members []kv
	elems   []any
}

type kv struct {
	k string
	v any
}

func (p *valueParser) value(i, depth int) (any, int, bool) {
	b := p.b
	if i >= len(b) {
		return nil, i, false
	}
	switch c := b[i]; {
	case c == '"':
		return p.str(i)
	case c == '{':
		if depth >= maxParseDepth {
			return nil, i, false
		}
		return p.object(i, depth+1)
	case c == '[':
		if depth >= maxParseDepth {
			return nil, i, false
		}
		return p.array(i, depth+1)
	case c == 't':
		if len(b)-i >= 4 && string(b[i:i+4]) == "true" {
			return true, i + 4, true
		}
	case c == 'f':
		if len(b)-i >= 5 && string(b[i:i+5]) == "false" {
			return false, i + 5, true
		}
	case c == 'n':
		if len(b)-i >= 4 && string(b[i:i+4]) == "null" {
			return nil, i + 4, true
		}
	case c == '-' || '0' <= c && c <= '9':
		end, ok := jsonlex.NumberEnd(b, i)
		if !ok {
			return nil, i, false
		}
		if p.s != "" {
			return json.Number(p.s[i:end]), end, true
		}
		return json.Number(b[i:end]), end, true
	}
	return nil, i, false
}

func (p *valueParser) object(i, depth int) (any, int, bool) {
	b := p.b
	base := len(p.members)
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return map[string]any{}, i + 1, true
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return nil, i, false
		}
		k, next, ok := p.key(i)
		if !ok {
			return nil, i, false
		}
		i = skipSpace(b, next)
		if i >= len(b) || b[i] != ':' {
			return nil, i, false
		}
		v, end, ok := p.value(skipSpace(b, i+1), depth)
		if !ok {
			return nil, end, false
		}
		p.members = append(p.members, kv{k, v})
		i = skipSpace(b, end)
		if i >= len(b) {
			return nil, i, false
		}
		if b[i] == '}' {
			i++
			break
		}
		if b[i] != ',' {
			return nil, i, false
		}
		i = skipSpace(b, i+1)
	}
	ms := p.members[base:]
	m := make(map[string]any, len(ms))
	for _, e := range ms {
		old, seen := m[e.k]
		if !seen || !p.keepRepeats {
			m[e.k] = e.v
			continue
		}
		r, isRepeated := old.(repeated)
		if !isRepeated {
			r = repeated{old}
		}
		m[e.k] = append(r, e.v)
	}
	p.members = p.members[:base]
	return m, i, true
}

func (p *valueParser) array(i, depth int) (any, int, bool) {
	b := p.b
	base := len(p.elems)
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return []any{}, i + 1, true
	}
	for {
		v, end, ok := p.value(i, depth)
		if !ok {
			return nil, end, false
		}
		p.elems = append(p.elems, v)
		i = skipSpace(b, end)
		if i >= len(b) {
			return nil, i, false
		}
		if b[i] == ']' {
			i++
			break
		}
		if b[i] != ',' {
			return nil, i, false
		}
		i = skipSpace(b, i+1)
	}
	a := append([]any(nil), p.elems[base:]...)
	p.elems = p.elems[:base]
	return a, i, true
}

// key reads an object key: the names CloudTrail records use come from a table rather than
// a new string each.
func (p *valueParser) key(i int) (string, int, bool) {
	raw, end, plain, ok := jsonlex.StringEnd(p.b, i)
	if !ok {
		return "", i, false
	}
	if !plain {
		return unquoteJSON(raw), end, true
	}
	if k, known := recordKey(raw); known {
		return k, end, true
	}
	if p.s != "" {
		return p.s[i+1 : i+1+len(raw)], end, true
	}
	return string(raw), end, true
}

func (p *valueParser) str(i int) (any, int, bool) {
	raw, end, plain, ok := jsonlex.StringEnd(p.b, i)
	if !ok {
		return nil, i, false
	}
	if plain {
		if p.s != "" {
			return p.s[i+1 : i+1+len(raw)], end, true
		}
		return string(raw), end, true
	}
	return unquoteJSON(raw), end, true
}

// unquoteJSON decodes the content of a valid JSON string (as jsonlex.StringEnd checked it) the way
// encoding/json does: escapes decoded, a surrogate pair joined, a lone surrogate and each
// byte that is not UTF-8 turned into U+FFFD.
func unquoteJSON(raw []byte) string { return string(appendUnquoted(make([]byte, 0, len(raw)), raw)) }

// appendUnquoted appends what unquoteJSON gives for raw to out.
func appendUnquoted(out, raw []byte) []byte {
	for i := 0; i < len(raw); {
		c := raw[i]
		switch {
		case c == '\\':
			switch e := raw[i+1]; e {
			case 'u':
				r := jsonlex.Hex4(raw[i+2:])
				i += 6
				if 0xD800 <= r && r < 0xE000 {
					// a high surrogate followed by a low one is one character; anything else
					// is replaced, and what follows is read on its own
					if 0xD800 <= r && r < 0xDC00 && i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
						if r2 := jsonlex.Hex4(raw[i+2:]); 0xDC00 <= r2 && r2 < 0xE000 {
							out = utf8.AppendRune(out, (r-0xD800)<<10|(r2-0xDC00)+0x10000)
							i += 6
							continue
						}
					}
					r = utf8.RuneError
				}
				out = utf8.AppendRune(out, r)
				continue
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			default: // " \ /
				out = append(out, e)
			}
			i += 2
		case c < utf8.RuneSelf:
			out = append(out, c)
			i++
		default:
			r, n := utf8.DecodeRune(raw[i:])
			out = utf8.AppendRune(out, r) // RuneError for a byte that is not UTF-8
			i += n
		}
	}
	return out
}

// recordKey returns the string of a key CloudTrail records use often, without allocating.
func recordKey(b []byte) (string, bool) {
	switch string(b) { // compiled without a copy
	case "eventVersion":
		return "eventVersion", true
	case "userIdentity":
		return "userIdentity", true
	case "type":
		return "type", true
	case "principalId":
		return "principalId", true
	case "arn":
		return "arn", true
	case "accountId":
		return "accountId", true
	case "accessKeyId":
		return "accessKeyId", true
	case "userName":
		return "userName", true
	case "sessionContext":
		return "sessionContext", true
	case "sessionIssuer":
		return "sessionIssuer", true
	case "attributes":
		return "attributes", true
	case "creationDate":
		return "creationDate", true
	case "mfaAuthenticated":
		return "mfaAuthenticated", true
	case "webIdFederationData":
		return "webIdFederationData", true
	case "invokedBy":
		return "invokedBy", true
	case "eventTime":
		return "eventTime", true
	case "eventSource":
		return "eventSource", true
	case "eventName":
		return "eventName", true
	case "awsRegion":
		return "awsRegion", true
	case "sourceIPAddress":
		return "sourceIPAddress", true
	case "userAgent":
		return "userAgent", true
	case "requestParameters":
		return "requestParameters", true
	case "responseElements":
		return "responseElements", true
	case "additionalEventData":
		return "additionalEventData", true
	case "requestID":
		return "requestID", true
	case "eventID":
		return "eventID", true
	case "readOnly":
		return "readOnly", true
	case "resources":
		return "resources", true
	case "ARN":
		return "ARN", true
	case "eventType":
		return "eventType", true
	case "managementEvent":
		return "managementEvent", true
	case "recipientAccountId":
		return "recipientAccountId", true
	case "eventCategory":
		return "eventCategory", true
	case "tlsDetails":
		return "tlsDetails", true
	case "tlsVersion":
		return "tlsVersion", true
	case "cipherSuite":
		return "cipherSuite", true
	case "clientProvidedHostHeader":
		return "clientProvidedHostHeader", true
	case "sessionCredentialFromConsole":
		return "sessionCredentialFromConsole", true
	case "errorCode":
		return "errorCode", true
	case "errorMessage":
		return "errorMessage", true
	case "Version":
		return "Version", true
	case "Statement":
		return "Statement", true
	case "Effect":
		return "Effect", true
	case "Action":
		return "Action", true
	case "Resource":
		return "Resource", true
	case "Principal":
		return "Principal", true
	case "Condition":
		return "Condition", true
	case "Sid":
		return "Sid", true
	case "AWS":
		return "AWS", true
	case "Service":
		return "Service", true
	}
	return "", false
}
