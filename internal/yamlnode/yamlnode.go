// Package yamlnode reads trailbell's YAML files (the configuration and rule files) strictly:
// unknown keys, keys set twice and values of the wrong kind are errors that name their line,
// column and field path, and no error quotes the file's text, since a configuration may hold
// webhook URLs. It also writes a YAML value as JSON, for the event patterns both files carry.
package yamlnode

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
)

// Error is a problem at a place in a document.
type Error struct {
	Line, Column int    // 1-based; 0 where the YAML parser does not say
	Path         string // field path, like notify.receivers[0].name; may be empty
	Msg          string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Line > 0 {
		b.WriteString(strconv.Itoa(e.Line))
		if e.Column > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(e.Column))
		}
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errorf is an Error at node n.
func Errorf(n *yaml.Node, format string, a ...any) *Error {
	return &Error{Line: n.Line, Column: n.Column, Msg: fmt.Sprintf(format, a...)}
}

// Decode reads the first document of data into v, a non-nil pointer. A type whose pointer
// implements yaml.Unmarshaler decodes its own node, null included (its *Error gets the field
// path added; any other error is placed at the node). Otherwise a null leaves the zero
// value, a nil pointer. Aliases are
// followed; merge keys (<<) are applied before the mapping's own keys.
func Decode(data []byte, v any) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return syntaxError(err)
	}
	if len(doc.Content) == 0 {
		return nil
	}
	// Every node of a document takes at least a byte, except through aliases: the budget
	// stops a document whose aliases multiply (a "billion laughs") before it eats memory.
	d := decoder{budget: 4*len(data) + 10000}
	return d.value(doc.Content[0], reflect.ValueOf(v).Elem(), nil)
}

// DecodeNode decodes one node of a document into v like Decode, for a value that decides
// its own form in UnmarshalYAML (errors carry no field path above n).
func DecodeNode(n *yaml.Node, v any) error {
	d := decoder{budget: 100000}
	return d.value(n, reflect.ValueOf(v).Elem(), nil)
}

// syntaxError turns the parser's "yaml: line N: message" into an Error at line N. The
// parser gives its position only in the text.
func syntaxError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	e := &Error{Msg: msg}
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, m, ok := strings.Cut(rest, ": "); ok {
			if line, err := strconv.Atoi(num); err == nil {
				e.Line, e.Msg = line, m
			}
		}
	}
	return e
}

// path is a field path, built only when an error needs it.
type path struct {
	up    *path
	field string // a field name, or "" for the index of a sequence element
	index int
}

func (p *path) String() string {
	if p == nil {
		return ""
	}
	up := p.up.String()
	switch {
	case p.field == "":
		return up + "[" + strconv.Itoa(p.index) + "]"
	case up == "":
		return p.field
	}
	return up + "." + p.field
}

type decoder struct {
	budget int
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

func (d *decoder) value(n *yaml.Node, v reflect.Value, at *path) error {
	if d.budget--; d.budget < 0 {
		return d.fail(Errorf(n, "the document's aliases expand to too many values"), at)
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	null := n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
	if v.Kind() == reflect.Pointer {
		if null {
			v.SetZero()
			return nil
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		v = v.Elem()
	}
	// an Unmarshaler sees a null too: a Duration may refuse one, a posString keeps its line
	if reflect.PointerTo(v.Type()).Implements(unmarshalerType) {
		if err := v.Addr().Interface().(yaml.Unmarshaler).UnmarshalYAML(n); err != nil {
			e := new(Error)
			if !errors.As(err, &e) {
				e = Errorf(n, "%v", err)
			}
			return d.fail(e, at)
		}
		return nil
	}
	if null {
		v.SetZero()
		return nil
	}
	switch v.Kind() {
	case reflect.Struct:
		return d.structure(n, v, at)
	case reflect.Map:
		return d.mapping(n, v, at)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return d.fail(Errorf(n, "want a list, got %s", Kind(n)), at)
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, c := range n.Content {
			if err := d.value(c, s.Index(i), &path{up: at, index: i}); err != nil {
				return err
			}
		}
		v.Set(s)
		return nil
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			return d.fail(Errorf(n, "want a string, got %s", Kind(n)), at)
		}
		v.SetString(n.Value)
		return nil
	case reflect.Bool, reflect.Int, reflect.Int64, reflect.Uint64, reflect.Float64:
		// the YAML library's own reading of booleans and numbers (0x1F, 1_000, .inf, yes)
		if n.Kind != yaml.ScalarNode || n.Decode(v.Addr().Interface()) != nil {
			want := map[reflect.Kind]string{reflect.Bool: "true or false", reflect.Float64: "a number"}[v.Kind()]
			if want == "" {
				want = "a whole number"
			}
			return d.fail(Errorf(n, "want %s", want), at)
		}
		return nil
	}
	return d.fail(Errorf(n, "cannot decode into %s", v.Type()), at)
}

// fail adds the field path to e.
func (d *decoder) fail(e *Error, at *path) error {
	if e.Path == "" {
		e.Path = at.String()
	}
	return e
}

// each calls f with every key and value of mapping n, those of merged mappings first.
// own is false for a merged pair.
func (d *decoder) each(n *yaml.Node, at *path, f func(k, v *yaml.Node, own bool) error) error {
	if n.Kind != yaml.MappingNode {
		return d.fail(Errorf(n, "want a mapping, got %s", Kind(n)), at)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if !isMerge(k) {
			continue
		}
		merged := []*yaml.Node{n.Content[i+1]}
		if v := n.Content[i+1]; v.Kind == yaml.SequenceNode {
			merged = v.Content
		}
		for _, m := range merged {
			if m.Kind == yaml.AliasNode {
				m = m.Alias
			}
			if m.Kind != yaml.MappingNode {
				return d.fail(Errorf(m, "a merge (<<) takes a mapping or a list of mappings"), at)
			}
			if err := d.each(m, at, func(k, v *yaml.Node, _ bool) error { return f(k, v, false) }); err != nil {
				return err
			}
		}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if k.Kind == yaml.AliasNode {
			k = k.Alias
		}
		if isMerge(k) {
			continue
		}
		if k.Kind != yaml.ScalarNode {
			return d.fail(Errorf(k, "want a plain key, got %s", Kind(k)), at)
		}
		if err := f(k, n.Content[i+1], true); err != nil {
			return err
		}
	}
	return nil
}

func isMerge(k *yaml.Node) bool { return k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" }

func (d *decoder) structure(n *yaml.Node, v reflect.Value, at *path) error {
	fs := fieldsOf(v.Type())
	set := make([]*yaml.Node, len(fs.names)) // the key that set each field
	return d.each(n, at, func(k, val *yaml.Node, own bool) error {
		i, ok := fs.index[k.Value]
		if !ok {
			in := ""
			if at != nil {
				in = " in " + at.String()
			}
			return Errorf(k, "unknown field %q%s (known: %s)", k.Value, in, strings.Join(fs.names, ", "))
		}
		if own && set[i] != nil {
			return d.fail(Errorf(k, "field %q is already set on line %d", k.Value, set[i].Line), at)
		}
		if own {
			set[i] = k
		}
		return d.value(val, v.Field(fs.field[i]), &path{up: at, field: k.Value})
	})
}

func (d *decoder) mapping(n *yaml.Node, v reflect.Value, at *path) error {
	if v.Type().Key().Kind() != reflect.String {
		return d.fail(Errorf(n, "cannot decode into %s", v.Type()), at)
	}
	m := reflect.MakeMap(v.Type())
	lines := map[string]int{}
	err := d.each(n, at, func(k, val *yaml.Node, own bool) error {
		if l, ok := lines[k.Value]; ok && own {
			return d.fail(Errorf(k, "key %q is already set on line %d", k.Value, l), at)
		}
		if own {
			lines[k.Value] = k.Line
		}
		e := reflect.New(v.Type().Elem()).Elem()
		if err := d.value(val, e, &path{up: at, field: k.Value}); err != nil {
			return err
		}
		m.SetMapIndex(reflect.ValueOf(k.Value).Convert(v.Type().Key()), e)
		return nil
	})
	if err != nil {
		return err
	}
	v.Set(m)
	return nil
}

// fields are a struct type's YAML keys: the name in its yaml tag, else the lowercased name.
type fields struct {
	names []string // in declaration order, for error messages
	field []int    // struct field index of each name
	index map[string]int
}

var fieldCache sync.Map // reflect.Type → *fields

func fieldsOf(t reflect.Type) *fields {
	if f, ok := fieldCache.Load(t); ok {
		return f.(*fields)
	}
	f := &fields{index: map[string]int{}}
	for i := range t.NumField() {
		sf := t.Field(i)
		name, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
		if !sf.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(sf.Name)
		}
		f.index[name] = len(f.names)
		f.names = append(f.names, name)
		f.field = append(f.field, i)
	}
	fieldCache.Store(t, f)
	return f
}

// Kind names the kind of node n for error messages: "a mapping", "a list", "a string" ...
func Kind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	if !strings.HasPrefix(n.ShortTag(), "!!") {
		return "a tagged value" // the tag is the file's text, which errors do not quote
	}
	switch scalarTag(n) {
	case "!!str":
		return "a string"
	case "!!int", "!!float":
		return "a number"
	case "!!bool":
		return "a boolean"
	case "!!null":
		return "nothing (null)"
	}
	return "a " + strings.TrimPrefix(n.ShortTag(), "!!") // timestamp, binary
}

// scalarTag is the type of a scalar: its standard tag; a scalar with a tag of its own (!x)
// is a string, since trailbell gives such tags no meaning.
func scalarTag(n *yaml.Node) string {
	if t := n.ShortTag(); strings.HasPrefix(t, "!!") {
		return t
	}
	return "!!str"
}

// IsString reports whether n is a string scalar (plain, quoted or a block), and its text.
func IsString(n *yaml.Node) (string, bool) {
	if n.Kind == yaml.ScalarNode && scalarTag(n) == "!!str" {
		return n.Value, true
	}
	return "", false
}

// JSON writes a YAML value as JSON text. Numbers keep their written spelling when it is
// valid JSON, because the pattern language compares numbers by value and must see what the
// author wrote. Anchors, aliases and merge keys are refused, to keep patterns plain.
func JSON(b *strings.Builder, n *yaml.Node) error {
	if n.Anchor != "" || n.Kind == yaml.AliasNode {
		return Errorf(n, "YAML anchors and aliases are not supported in patterns and samples")
	}
	switch n.Kind {
	case yaml.MappingNode:
		b.WriteByte('{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Anchor != "" || k.Kind == yaml.AliasNode {
				return Errorf(k, "YAML anchors and aliases are not supported in patterns and samples")
			}
			if isMerge(k) {
				return Errorf(k, "YAML merge keys are not supported")
			}
			if k.Kind != yaml.ScalarNode {
				return Errorf(k, "want a plain key, got %s", Kind(k))
			}
			for j := 0; j < i; j += 2 {
				if n.Content[j].Value == k.Value {
					return Errorf(k, "key %q is already set on line %d", k.Value, n.Content[j].Line)
				}
			}
			if i > 0 {
				b.WriteByte(',')
			}
			writeString(b, k.Value)
			b.WriteByte(':')
			if err := JSON(b, n.Content[i+1]); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	case yaml.SequenceNode:
		b.WriteByte('[')
		for i, e := range n.Content {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := JSON(b, e); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case yaml.ScalarNode:
		return scalarJSON(b, n)
	default:
		return Errorf(n, "%s cannot be written as JSON", Kind(n))
	}
	return nil
}

func scalarJSON(b *strings.Builder, n *yaml.Node) error {
	switch scalarTag(n) {
	case "!!null":
		b.WriteString("null")
	case "!!bool":
		b.WriteString(strconv.FormatBool(strings.EqualFold(n.Value, "true")))
	case "!!int", "!!float":
		if json.Valid([]byte(n.Value)) {
			b.WriteString(n.Value)
			return nil
		}
		// YAML spellings JSON lacks (0x1F, 1_000, +5, .5): the number's value
		plain := yaml.Node{Kind: yaml.ScalarNode, Value: n.Value}
		var v any
		if err := plain.Decode(&v); err != nil {
			return Errorf(n, "not a number JSON can write")
		}
		if f, ok := v.(float64); ok {
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return Errorf(n, "%s is not a number JSON can write", n.Value)
			}
			b.WriteString(strconv.FormatFloat(f, 'g', -1, 64))
			return nil
		}
		fmt.Fprint(b, v)
	default: // strings, timestamps, binary: their text
		writeString(b, n.Value)
	}
	return nil
}

func writeString(b *strings.Builder, s string) {
	q, _ := json.Marshal(s) // a string always marshals
	b.Write(q)
}

// InFile puts file's name before a Decode error: "file:line:column: ..." where the error
// has a place, "file: ..." where it does not.
func InFile(file string, err error) error {
	if e := (*Error)(nil); errors.As(err, &e) && e.Line > 0 {
		return fmt.Errorf("%s:%w", file, err)
	}
	return fmt.Errorf("%s: %w", file, err)
}
