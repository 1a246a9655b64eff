package yamlnode

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

type doc struct {
	Name  string            `yaml:"name"`
	Count int               `yaml:"count"`
	On    bool              `yaml:"on"`
	Items []string          `yaml:"items"`
	Sub   *doc              `yaml:"sub"`
	Tags  map[string]string `yaml:"tags"`
	Subs  []doc             `yaml:"subs"`
}

func TestDecode(t *testing.T) {
	var d doc
	err := Decode([]byte("base: &b {count: 2, items: [x]}\n"), &d)
	if err == nil || err.Error() != `1:1: unknown field "base" (known: name, count, on, items, sub, tags, subs)` {
		t.Errorf("unknown top-level field: %v", err)
	}
	d = doc{}
	if err := Decode([]byte("name: a\nsub:\n  <<: {count: 2, name: b}\n  name: c\n  tags: {1: one}\non: true\n"), &d); err != nil {
		t.Fatal(err)
	}
	if d.Name != "a" || !d.On || d.Sub == nil || d.Sub.Name != "c" || d.Sub.Count != 2 || d.Sub.Tags["1"] != "one" {
		t.Errorf("decoded %+v, sub %+v", d, d.Sub)
	}
	if err := Decode(nil, &d); err != nil {
		t.Errorf("empty document: %v", err)
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, c := range []struct{ name, yaml, want string }{
		{"unknown nested", "sub:\n  sub:\n    colour: red\n", `3:5: unknown field "colour" in sub.sub (known: name,`},
		{"set twice", "name: a\nname: b\n", `2:1: field "name" is already set on line 1`},
		{"map key twice", "tags: {a: x, a: y}\n", `1:14: tags: key "a" is already set on line 1`},
		{"list wanted", "items: {a: 1}\n", "1:8: items: want a list, got a mapping"},
		{"string wanted", "sub: {items: [a, [b]]}\n", "1:18: sub.items[1]: want a string, got a list"},
		{"number wanted", "count: many\n", "1:8: count: want a whole number"},
		{"mapping wanted", "sub: 5\n", "1:6: sub: want a mapping, got a number"},
		{"syntax error has its line", "name: a\nitems: `x\n", "2: found character that cannot start any token"},
		{"aliases that multiply", laughs(), "the document's aliases expand to too many values"},
		{"secret-looking value not quoted", "sub: https://hooks.example/SECRETXYZ\n", "1:6: sub: want a mapping, got a string"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var d doc
			err := Decode([]byte(c.yaml), &d)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want it to contain %q", err, c.want)
			}
			if err != nil && strings.Contains(err.Error(), "SECRETXYZ") {
				t.Errorf("error quotes the document: %v", err)
			}
		})
	}
}

// laughs is a document whose aliases expand to 10^9 values.
func laughs() string {
	var b strings.Builder
	b.WriteString("subs:\n  - &a0 {name: x}\n")
	for i := 1; i <= 9; i++ {
		fmt.Fprintf(&b, "  - &a%d {subs: [%s]}\n", i, strings.Repeat(fmt.Sprintf("*a%d, ", i-1), 9)+fmt.Sprintf("*a%d", i-1))
	}
	return b.String()
}

func TestJSON(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{"{a: [1.50, 0x1F, 1_000, -0, 1e3], b: [true, FALSE, ~, null]}", `{"a":[1.50,31,1000,-0,1e3],"b":[true,false,null,null]}`},
		{"{s: ['5', \"x\\ny\", 2026-01-01, !x 5, plain text]}", `{"s":["5","x\ny","2026-01-01","5","plain text"]}`},
		{"{\"k\": {\"n\": [{\"numeric\": [\">\", 0]}]}}", `{"k":{"n":[{"numeric":["\u003e",0]}]}}`},
		{"{a: &x [1]}", "1:5: YAML anchors and aliases are not supported"},
		{"{a: [1], b: *y}", "unknown anchor"},
		{"{<<: {a: 1}}", "1:2: YAML merge keys are not supported"},
		{"{a: 1, a: 2}", `1:8: key "a" is already set on line 1`},
		{"{a: [.inf]}", "1:6: .inf is not a number JSON can write"},
		{"{[a]: 1}", "1:2: want a plain key, got a list"},
	} {
		var got string
		var j jsonText
		if err := Decode([]byte(c.yaml), &j); err != nil {
			got = err.Error()
		} else {
			got = string(j)
		}
		if !strings.Contains(got, c.want) {
			t.Errorf("%s: got %s, want %s", c.yaml, got, c.want)
		}
	}
}

// jsonText decodes any YAML value through JSON.
type jsonText string

func (j *jsonText) UnmarshalYAML(n *yaml.Node) error {
	var b strings.Builder
	if err := JSON(&b, n); err != nil {
		return err
	}
	*j = jsonText(b.String())
	return nil
}

// FuzzDecode: no document panics the decoder, and JSON writes only valid JSON.
func FuzzDecode(f *testing.F) {
	f.Add([]byte("name: a\nsub: {<<: {count: 2}, items: [x]}\ntags: {a: b}\n"))
	f.Add([]byte("{a: [1.50, 0x1F, !x 5, ~, 2026-01-01], \"b\": {c: '>'}}"))
	f.Add([]byte(laughs()))
	f.Fuzz(func(t *testing.T, b []byte) {
		var d doc
		_ = Decode(b, &d)
		var j jsonText
		if Decode(b, &j) == nil && j != "" && !json.Valid([]byte(j)) {
			t.Fatalf("JSON wrote %s", j)
		}
	})
}
