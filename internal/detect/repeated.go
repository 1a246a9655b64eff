package detect

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
)

// A record that repeats a key ({"eventName":"ListTrails","eventName":"DeleteTrail"}) is
// matched the way EventBridge's engine matches it: every occurrence is a value of the field
// (pattern.Matcher, after aws/event-ruler's Event.traverseObject). So that a finding shows
// the values the rule matched on, not whichever one encoding/json kept, such a record is
// decoded with each repeated key holding all its values, in order, as a repeated list:
// str joins them ("ListTrails | DeleteTrail") and lookup goes through each. The JSON
// output carries the record's bytes unchanged, all occurrences included.

// repeated holds the values of a key that occurs more than once in one object.
type repeated []any

// repeatedKeySep joins the values of a repeated key in a finding's text.
const repeatedKeySep = " | "

// hasRepeatedKey reports whether some object in valid JSON repeats a key. It reads only
// the structure (no values are decoded) and is run on records a rule matched.
func hasRepeatedKey(b []byte) bool {
	type frame struct {
		obj  bool
		keys []string
	}
	var stack []frame
	expectKey := false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case '{':
			stack = append(stack, frame{obj: true})
			expectKey = true
		case '[':
			stack = append(stack, frame{})
			expectKey = false
		case '}', ']':
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		case ',':
			expectKey = len(stack) > 0 && stack[len(stack)-1].obj
		case '"':
			j := i + 1
			escaped := false
			for j < len(b) && b[j] != '"' {
				if b[j] == '\\' {
					escaped = true
					j++
				}
				j++
			}
			if j >= len(b) {
				return false
			}
			if expectKey {
				raw := b[i : j+1]
				key := string(raw[1 : len(raw)-1])
				if escaped {
					if err := json.Unmarshal(raw, &key); err != nil {
						return false
					}
				}
				top := &stack[len(stack)-1]
				for _, k := range top.keys {
					if k == key {
						return true
					}
				}
				top.keys = append(top.keys, key)
				expectKey = false
			}
			i = j
		}
	}
	return false
}

// decodeRepeated decodes a JSON object like encoding/json with UseNumber, except that a
// repeated key holds all its values as a repeated list.
func decodeRepeated(b []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	v, err := decodeValue(d)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("not a JSON object")
	}
	return m, nil
}

func decodeValue(d *json.Decoder) (any, error) {
	tok, err := d.Token()
	if err != nil {
		return nil, err
	}
	switch tok {
	case json.Delim('{'):
		m := map[string]any{}
		for d.More() {
			kt, err := d.Token()
			if err != nil {
				return nil, err
			}
			v, err := decodeValue(d)
			if err != nil {
				return nil, err
			}
			k := kt.(string)
			if old, ok := m[k]; ok {
				r, isRepeated := old.(repeated)
				if !isRepeated {
					r = repeated{old}
				}
				m[k] = append(r, v)
				continue
			}
			m[k] = v
		}
		_, err := d.Token() // '}'
		return m, err
	case json.Delim('['):
		a := []any{}
		for d.More() {
			v, err := decodeValue(d)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
		_, err := d.Token() // ']'
		return a, err
	}
	if tok == nil {
		return nil, nil
	}
	return tok, nil
}

// lookupRepeated continues a lookup through the values of a repeated key: the values at
// the rest of the path, one value when only one has it.
func lookupRepeated(r repeated, path string) any {
	var out repeated
	for _, v := range r {
		if x := lookupPath(v, path); x != nil {
			out = append(out, x)
		}
	}
	switch len(out) {
	case 0:
		return nil
	case 1:
		return out[0]
	}
	return out
}

// repeatedText joins the scalar values of a repeated key.
func repeatedText(r repeated) string {
	var parts []string
	for _, v := range r {
		if s := scalarText(v); s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, repeatedKeySep)
}
