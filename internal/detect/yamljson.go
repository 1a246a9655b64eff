package detect

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"
)

// stringValue reports the text of a scalar string node (plain, quoted or block literal).
func stringValue(n ast.Node) (string, bool) {
	switch v := n.(type) {
	case *ast.StringNode:
		return v.Value, true
	case *ast.LiteralNode:
		return v.Value.Value, true
	case *ast.TagNode:
		return stringValue(v.Value)
	}
	return "", false
}

// nodeJSON writes a YAML node as JSON. Numbers keep their written spelling (when it is valid
// JSON) because the pattern language compares numbers by value and must see what the author
// wrote; anchors and aliases are refused to keep rule files plain.
func nodeJSON(b *strings.Builder, n ast.Node) error {
	switch v := n.(type) {
	case *ast.MappingNode:
		b.WriteByte('{')
		for i, kv := range v.Values {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := mappingValueJSON(b, kv); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	case *ast.MappingValueNode:
		b.WriteByte('{')
		if err := mappingValueJSON(b, v); err != nil {
			return err
		}
		b.WriteByte('}')
	case *ast.SequenceNode:
		b.WriteByte('[')
		for i, e := range v.Values {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := nodeJSON(b, e); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case *ast.StringNode, *ast.LiteralNode:
		s, _ := stringValue(v)
		writeJSONString(b, s)
	case *ast.IntegerNode:
		if lit := v.Token.Value; json.Valid([]byte(lit)) {
			b.WriteString(lit)
		} else {
			fmt.Fprint(b, v.Value)
		}
	case *ast.FloatNode:
		if lit := v.Token.Value; json.Valid([]byte(lit)) {
			b.WriteString(lit)
		} else {
			b.WriteString(strconv.FormatFloat(v.Value, 'g', -1, 64))
		}
	case *ast.BoolNode:
		b.WriteString(strconv.FormatBool(v.Value))
	case *ast.NullNode:
		b.WriteString("null")
	case *ast.TagNode:
		return nodeJSON(b, v.Value)
	case *ast.AnchorNode, *ast.AliasNode:
		return fmt.Errorf("line %d: YAML anchors and aliases are not supported in patterns and samples", n.GetToken().Position.Line)
	default:
		return fmt.Errorf("line %d: %s cannot be written as JSON", n.GetToken().Position.Line, n.Type())
	}
	return nil
}

func mappingValueJSON(b *strings.Builder, kv *ast.MappingValueNode) error {
	if kv.Key.IsMergeKey() {
		return fmt.Errorf("line %d: YAML merge keys are not supported", kv.Key.GetToken().Position.Line)
	}
	key, ok := stringValue(kv.Key)
	if !ok {
		key = kv.Key.GetToken().Value
	}
	writeJSONString(b, key)
	b.WriteByte(':')
	return nodeJSON(b, kv.Value)
}

func writeJSONString(b *strings.Builder, s string) {
	q, _ := json.Marshal(s) // a string always marshals
	b.Write(q)
}
