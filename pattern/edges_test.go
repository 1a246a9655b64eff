package pattern_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/trailbell/trailbell/pattern"
)

// Edges where EventBridge's engine, aws/event-ruler (commit 337e8d99, the one
// testdata/expected was run on), decides what AWS's documentation leaves open. Each case
// name says the event-ruler behaviour it pins; the comment above each group names the
// event-ruler source it was derived from. Java facts (String case mapping, BigDecimal,
// InetAddress) were checked on OpenJDK 17.
var edges = []struct {
	group string
	cases []semCase
}{
	// ComparableNumber.generate: a number is comparable when
	// BigDecimal.valueOf(doubleValue).compareTo(BigDecimal(text)) == 0, i.e. its value is
	// that of the shortest decimal of its float64. JsonRuleCompiler.writeRules adds an exact
	// pattern number both as a ComparableNumber (when it is one) and as its text;
	// ByteMachine.transitionOn tries an event number's ComparableNumber and, when it has none,
	// its text. processNumericMatchExpression and the anything-but number lists reject numbers
	// that are not comparable (see TestEdgeRejects). ComparableNumberTest has the 17-digit case.
	{"numbers", []semCase{
		{"comparable spellings of one float64 are equal", `{"n":[100]}`,
			[]string{`{"n":100.0}`, `{"n":1e2}`, `{"n":1.00E+2}`, `{"n":100.000000000000000000}`},
			[]string{`{"n":100.0000000000000001}`, `{"n":"100"}`}},
		{"a 17-digit decimal that is not its float64's shortest is not comparable", `{"n":[37.80780792169409]}`,
			[]string{`{"n":37.80780792169409}`},
			[]string{`{"n":37.807807921694092}`}},
		{"a pattern number that is not comparable matches its own text only", `{"n":[37.807807921694092]}`,
			[]string{`{"n":37.807807921694092}`},
			[]string{`{"n":37.80780792169409}`, `{"n":37.8078079216940920}`, `{"n":3.7807807921694092e1}`}},
		{"non-shortest spelling 0.10000000000000001 is not 0.1", `{"n":[0.1]}`,
			[]string{`{"n":0.1}`, `{"n":0.10}`, `{"n":1e-1}`},
			[]string{`{"n":0.10000000000000001}`}},
		{"integers beyond 2^53 that float64 rounds are text-only", `{"n":[9007199254740993]}`,
			[]string{`{"n":9007199254740993}`},
			[]string{`{"n":9007199254740992}`, `{"n":9007199254740993.0}`, `{"n":9007199254740994}`}},
		{"integers beyond 2^53 that float64 holds are comparable", `{"n":[9007199254740994]}`,
			[]string{`{"n":9007199254740994}`, `{"n":9.007199254740994e15}`},
			[]string{`{"n":9007199254740993}`}},
		{"an AWS account id as a number matches by text", `{"account":[123456789012345678]}`,
			[]string{`{"account":123456789012345678}`},
			[]string{`{"account":123456789012345680}`, `{"account":"123456789012345678"}`}},
		{"17 significant digits that are the shortest are comparable", `{"n":[0.30000000000000004]}`,
			[]string{`{"n":0.30000000000000004}`, `{"n":0.300000000000000040}`},
			[]string{`{"n":0.3}`}},
		{"-0 is 0: BigDecimal has no negative zero", `{"n":[0]}`,
			[]string{`{"n":-0}`, `{"n":-0.0}`, `{"n":0e10}`},
			[]string{`{"n":1e-400}`}},
		{"range: an event number beyond float64 (1e400) lies in no range", `{"n":[{"numeric":[">",0]}]}`,
			[]string{`{"n":1e308}`, `{"n":5e-324}`},
			[]string{`{"n":1e400}`, `{"n":-1e400}`, `{"n":1e-400}`}},
		{"range: a number with more digits than float64 keeps lies in no range", `{"n":[{"numeric":[">=",0,"<",1]}]}`,
			[]string{`{"n":0.5}`, `{"n":0.30000000000000004}`},
			[]string{`{"n":0.10000000000000001}`, `{"n":0.12345678901234567890}`}},
		{"range: 17-digit bounds compare exactly", `{"n":[{"numeric":[">",-122.41600944012424,"<=",-122.4063085128395]}]}`,
			[]string{`{"n":-122.41600944012423}`, `{"n":-122.4063085128395}`},
			[]string{`{"n":-122.41600944012424}`, `{"n":-122.40630851283949}`}},
		{"range: beyond the old ±5e9 and ±5e11 limits", `{"n":[{"numeric":[">",5e11]}]}`,
			[]string{`{"n":500000000001}`, `{"n":1e300}`},
			[]string{`{"n":5e11}`}},
		{"exists: an overflowing number is still a value", `{"n":[{"exists":true}]}`,
			[]string{`{"n":1e400}`},
			[]string{`{}`}},
		{"anything-but: a number that is not comparable is never excluded", `{"n":[{"anything-but":[0.1]}]}`,
			[]string{`{"n":0.10000000000000001}`, `{"n":1e400}`, `{"n":0.2}`},
			[]string{`{"n":0.1}`, `{"n":1e-1}`}},
	}},
	// input/EqualsIgnoreCaseParser.parse: per UTF-16 unit of the operand, the UTF-8 of
	// String.valueOf(c).toLowerCase(Locale.ROOT) or of .toUpperCase(Locale.ROOT); the event
	// value is matched byte for byte against those choices, never case-mapped itself.
	// DefaultParser routes equals-ignore-case, anything-but/equals-ignore-case and
	// prefix/equals-ignore-case there; suffix/equals-ignore-case is the same read backwards.
	{"equals-ignore-case", []semCase{
		{"sharp s: full upper case SS, not ss", `{"s":[{"equals-ignore-case":"straße"}]}`,
			[]string{`{"s":"STRASSE"}`, `{"s":"straße"}`, `{"s":"STRAßE"}`, `{"s":"StraSSe"}`},
			[]string{`{"s":"strasse"}`, `{"s":"STRAẞE"}`, `{"s":"STRASsE"}`}},
		{"pattern SS does not match ß on the event side", `{"s":[{"equals-ignore-case":"SS"}]}`,
			[]string{`{"s":"ss"}`, `{"s":"Ss"}`, `{"s":"sS"}`},
			[]string{`{"s":"ß"}`, `{"s":"ẞ"}`}},
		{"capital sharp s: lower ß, upper itself", `{"s":[{"equals-ignore-case":"ẞ"}]}`,
			[]string{`{"s":"ß"}`, `{"s":"ẞ"}`},
			[]string{`{"s":"SS"}`, `{"s":"ss"}`}},
		{"Kelvin sign: k or itself, not ASCII K", `{"s":[{"equals-ignore-case":"\u212a"}]}`,
			[]string{`{"s":"k"}`, `{"s":"\u212a"}`},
			[]string{`{"s":"K"}`}},
		{"ASCII k: k or K, not the Kelvin sign", `{"s":[{"equals-ignore-case":"k"}]}`,
			[]string{`{"s":"k"}`, `{"s":"K"}`},
			[]string{`{"s":"\u212a"}`}},
		{"final sigma: ς or Σ, not σ", `{"s":[{"equals-ignore-case":"ς"}]}`,
			[]string{`{"s":"ς"}`, `{"s":"Σ"}`},
			[]string{`{"s":"σ"}`}},
		{"capital sigma alone lowers to σ, not ς", `{"s":[{"equals-ignore-case":"ΟΔΟΣ"}]}`,
			[]string{`{"s":"οδοσ"}`, `{"s":"ΟΔΟΣ"}`},
			[]string{`{"s":"οδος"}`}},
		{"dotted capital I lowers to i + combining dot", `{"s":[{"equals-ignore-case":"İ"}]}`,
			[]string{`{"s":"İ"}`, `{"s":"i̇"}`},
			[]string{`{"s":"i"}`, `{"s":"I"}`}},
		{"long s: ſ or S, not s", `{"s":[{"equals-ignore-case":"ſ"}]}`,
			[]string{`{"s":"ſ"}`, `{"s":"S"}`},
			[]string{`{"s":"s"}`}},
		{"ligature ﬁ: itself or FI", `{"s":[{"equals-ignore-case":"ﬁle"}]}`,
			[]string{`{"s":"ﬁle"}`, `{"s":"FILE"}`, `{"s":"FIlE"}`},
			[]string{`{"s":"file"}`}},
		{"titlecase ǅ: ǆ or Ǆ, not itself", `{"s":[{"equals-ignore-case":"ǅ"}]}`,
			[]string{`{"s":"ǆ"}`, `{"s":"Ǆ"}`},
			[]string{`{"s":"ǅ"}`}},
		{"a character outside the BMP is two '?' units", `{"s":[{"equals-ignore-case":"a😀"}]}`,
			[]string{`{"s":"A??"}`},
			[]string{`{"s":"a😀"}`}},
		{"prefix ignoring case uses the same choices", `{"s":[{"prefix":{"equals-ignore-case":"STRAß"}}]}`,
			[]string{`{"s":"STRASSENBAHN"}`, `{"s":"straßenbahn"}`},
			[]string{`{"s":"strassenbahn"}`}},
		{"suffix ignoring case uses the same choices", `{"s":[{"suffix":{"equals-ignore-case":"ß"}}]}`,
			[]string{`{"s":"GRUSS"}`, `{"s":"gruß"}`},
			[]string{`{"s":"gruss"}`}},
		{"anything-but equals-ignore-case excludes the same choices", `{"s":[{"anything-but":{"equals-ignore-case":["ß","k"]}}]}`,
			[]string{`{"s":"ss"}`, `{"s":"\u212a"}`, `{"s":"x"}`},
			[]string{`{"s":"SS"}`, `{"s":"ß"}`, `{"s":"K"}`}},
	}},
	// CIDR.java and Constants.IPv4_REGEX/IPv6_REGEX; JsonRuleCompiler.writeRules turns an
	// exact string that is an IP literal into a range of one address
	// (CIDR.ipToRangeIfPossible), and ByteMachine.transitionOn compares IP-looking event
	// strings as addresses (CIDR.ipToString). InetAddress reads IPv4 parts as decimal and an
	// IPv4-mapped IPv6 literal as its IPv4 address; the regexes leave out mixed notation.
	// CIDR.cidr masks host bits and rejects /32 and /128 (see TestEdgeRejects).
	{"ip addresses", []semCase{
		{"an IPv6 literal matches other spellings of the address", `{"ip":["2001:db8::1"]}`,
			[]string{`{"ip":"2001:0DB8:0000:0000:0000:0000:0000:0001"}`, `{"ip":"2001:db8:0::1"}`},
			[]string{`{"ip":"2001:db8::2"}`, `{"ip":"2001:db8::1x"}`}},
		{"an IPv4 literal matches leading zeros read as decimal", `{"ip":["10.0.0.1"]}`,
			[]string{`{"ip":"010.000.000.001"}`, `{"ip":"10.0.0.1"}`, `{"ip":"::ffff:a00:1"}`},
			[]string{`{"ip":"10.0.0.10"}`, `{"ip":"::ffff:10.0.0.1"}`}},
		{"leading zeros are decimal, not octal", `{"ip":["0177.0.0.1"]}`,
			[]string{`{"ip":"177.0.0.1"}`},
			[]string{`{"ip":"127.0.0.1"}`}},
		{"a string that is not an IP stays an exact string", `{"ip":["10.0.0.256"]}`,
			[]string{`{"ip":"10.0.0.256"}`},
			[]string{`{"ip":"10.0.1.0"}`}},
		{"exactly keeps an IP literal an exact string", `{"ip":[{"exactly":"10.0.0.1"}]}`,
			[]string{`{"ip":"10.0.0.1"}`},
			[]string{`{"ip":"010.0.0.1"}`}},
		{"cidr /31 covers two addresses", `{"ip":[{"cidr":"10.0.0.0/31"}]}`,
			[]string{`{"ip":"10.0.0.0"}`, `{"ip":"10.0.0.1"}`, `{"ip":"010.0.0.1"}`},
			[]string{`{"ip":"10.0.0.2"}`}},
		{"cidr host bits are masked", `{"ip":[{"cidr":"10.0.0.5/24"}]}`,
			[]string{`{"ip":"10.0.0.3"}`, `{"ip":"10.0.0.255"}`},
			[]string{`{"ip":"10.0.1.0"}`}},
		{"cidr: IPv4-mapped IPv6 in hex is IPv4, mixed notation is no IP", `{"ip":[{"cidr":"10.0.0.0/8"}]}`,
			[]string{`{"ip":"::ffff:a01:203"}`},
			[]string{`{"ip":"::ffff:10.1.2.3"}`, `{"ip":"::a01:203"}`}},
		{"cidr /0 covers one family", `{"ip":[{"cidr":"0.0.0.0/0"}]}`,
			[]string{`{"ip":"255.255.255.255"}`},
			[]string{`{"ip":"::1"}`}},
	}},
	// JsonRuleCompiler.parseObject/writeRules flatten a rule's keys into a dotted name
	// (Path.extendedName), so a key with a dot and the nested keys are one field, and a
	// later member writing the same name replaces the earlier one. Event.traverseObject
	// reads an event key only if it is a step of some rule name split at dots
	// (GenericMachine.recordFieldStep, isFieldStepUsed), so an event key containing a dot
	// is never read.
	{"field names", []semCase{
		{"a pattern key with a dot matches nested event fields", `{"detail.eventName":["CreateUser"]}`,
			[]string{`{"detail":{"eventName":"CreateUser"}}`, `{"detail":[{"eventName":"CreateUser"}]}`},
			[]string{`{"detail.eventName":"CreateUser"}`}},
		{"an event key with a dot is not read", `{"detail":{"eventName":["CreateUser"]}}`,
			[]string{`{"detail":{"eventName":"CreateUser"}}`},
			[]string{`{"detail.eventName":"CreateUser"}`}},
		{"dotted and nested keys mix", `{"a.b":{"c":["1"]},"a":{"b.d":["2"]}}`,
			[]string{`{"a":{"b":{"c":"1","d":"2"}}}`},
			[]string{`{"a":{"b":{"c":"1"}}}`}},
		{"a later member naming the same field replaces the earlier", `{"a":{"b":["1"]},"a.b":["2"]}`,
			[]string{`{"a":{"b":"2"}}`},
			[]string{`{"a":{"b":"1"}}`}},
		{"a repeated object key merges its fields", `{"a":{"b":["1"]},"a":{"c":["2"]}}`,
			[]string{`{"a":{"b":"1","c":"2"}}`},
			[]string{`{"a":{"c":"2"}}`}},
		{"exists:false holds for a dotted event key", `{"a":{"b":[{"exists":false}]}}`,
			[]string{`{"a.b":1}`, `{"a":{}}`},
			[]string{`{"a":{"b":1}}`}},
		{"a trailing empty step is never read", `{"a.":["x"]}`,
			nil,
			[]string{`{"a":{"":"x"}}`, `{"a.":"x"}`}},
		{"a nested empty key is a trailing empty step too", `{"detail":{"":["x"]}}`,
			nil,
			[]string{`{"detail":{"":"x"}}`, `{"detail.":"x"}`}},
		{"an empty top-level key alone names the field", `{"":["x"]}`,
			[]string{`{"":"x"}`},
			[]string{`{"a":"x"}`}},
		// Path.extendedName joins with a dot only after a non-empty base, and the base of
		// the object under a top-level "" is "": its fields are named without it.
		{"fields under a top-level empty key are named without it", `{"":{"a":["x"]}}`,
			[]string{`{"a":"x"}`},
			[]string{`{"":{"a":"x"}}`}},
		{"two empty keys deep, the base is a dot", `{"":{"":{"a":["x"]}}}`,
			[]string{`{"":{"":{"a":"x"}}}`},
			[]string{`{"a":"x"}`, `{"":{"a":"x"}}`, `{"":{"":{"":{"a":"x"}}}}`}},
		{"a named object under a top-level empty key keeps the leading dot", `{"":{"b":{"a":["x"]}}}`,
			[]string{`{"":{"b":{"a":"x"}}}`},
			[]string{`{"b":{"a":"x"}}`}},
		{"inside $or too", `{"":{"$or":[{"a":["x"]},{"b":["y"]}]}}`,
			[]string{`{"a":"x"}`, `{"b":"y"}`},
			[]string{`{"":{"a":"x"}}`}},
	}},
	// StructuredFinder.walk visits a rule's fields in sorted order (GenericMachine sorts a
	// sub-rule's keys) and handleAbsence checks an exists:false against the array elements
	// chosen by the fields before it (NameState.getNameTransitions(event, membership)):
	// fields after it do not constrain it. Value operators such as anything-but need their
	// field in the same element as the others (ArrayMembership.checkArrayConsistency).
	{"array consistency", []semCase{
		{"exists:false sorted before its sibling: any value in the array fails it", `{"d":{"a":[{"exists":false}],"b":["1"]}}`,
			[]string{`{"d":[{"b":"1"}]}`, `{"d":[{"b":"1"},{"c":0}]}`},
			[]string{`{"d":[{"a":0},{"b":"1"}]}`, `{"d":[{"a":0,"b":"1"}]}`}},
		{"exists:false sorted after its sibling: only the sibling's element counts", `{"d":{"b":["1"],"c":[{"exists":false}]}}`,
			[]string{`{"d":[{"c":0},{"b":"1"}]}`, `{"d":[{"b":"1"}]}`},
			[]string{`{"d":[{"b":"1","c":0}]}`, `{"d":[{"c":0,"b":"1"},{"b":"2"}]}`}},
		{"exists:false between two fields: checked against the first only", `{"d":{"a":["1"],"b":[{"exists":false}],"c":["3"]}}`,
			[]string{`{"d":[{"a":"1","c":"3"},{"b":0}]}`},
			[]string{`{"d":[{"a":"1","b":0,"c":"3"}]}`}},
		{"exists:false against a field outside the array", `{"d":{"b":[{"exists":false}]},"e":["1"]}`,
			[]string{`{"d":[{"c":0}],"e":"1"}`},
			[]string{`{"d":[{"c":0},{"b":0}],"e":"1"}`}},
		{"anything-but inside an array of objects needs the same element", `{"u":{"n":["bob"],"s":[{"anything-but":"banned"}]}}`,
			[]string{`{"u":[{"n":"bob","s":"ok"},{"n":"eve","s":"banned"}]}`},
			[]string{`{"u":[{"n":"bob","s":"banned"},{"n":"eve","s":"ok"}]}`}},
		{"anything-but prefix list inside an array of objects", `{"u":{"n":["bob"],"s":[{"anything-but":{"prefix":["ban","blo"]}}]}}`,
			[]string{`{"u":[{"n":"bob","s":"ok"}]}`},
			[]string{`{"u":[{"n":"bob","s":"banned"},{"n":"eve","s":"ok"}]}`}},
	}},
	// Event.traverseObject adds every occurrence of a repeated key to the field's values,
	// all with the array membership of the object they are in: the values are alternatives
	// of one field, like an array's elements but not separated from each other.
	{"repeated event keys", []semCase{
		{"any occurrence can match", `{"detail":{"eventName":["DeleteTrail"]}}`,
			[]string{`{"detail":{"eventName":"DeleteTrail","eventName":"ListTrails"}}`, `{"detail":{"eventName":"ListTrails","eventName":"DeleteTrail"}}`},
			[]string{`{"detail":{"eventName":"ListTrails","eventName":"GetTrail"}}`}},
		{"a repeat long after the first counts", `{"a":["x"]}`,
			[]string{`{"a":"y","b":{"c":[1,2,{"d":"e"}]},"c":"z","a":"x"}`},
			nil},
		{"exists:false fails when any occurrence is there", `{"a":[{"exists":false}],"b":["1"]}`,
			[]string{`{"b":"1"}`},
			[]string{`{"b":"1","a":null,"a":null}`}},
		{"anything-but matches when one occurrence is not excluded", `{"a":[{"anything-but":"x"}]}`,
			[]string{`{"a":"x","a":"y"}`},
			[]string{`{"a":"x","a":"x"}`}},
		{"repeated objects are not array elements: fields of both combine", `{"a":{"b":[1],"c":[4]}}`,
			[]string{`{"a":{"b":1,"c":2},"a":{"b":3,"c":4}}`},
			[]string{`{"a":[{"b":1,"c":2},{"b":3,"c":4}]}`}},
		{"inside an array element, repeats stay in that element", `{"a":{"b":[1],"c":[4]}}`,
			[]string{`{"a":[{"b":1,"b":3,"c":4}]}`},
			[]string{`{"a":[{"b":1,"b":3},{"c":4}]}`}},
	}},
	// JsonRuleCompiler.processMatchExpression: anything-but with an object takes
	// equals-ignore-case, prefix, suffix or wildcard, each with one string or a list
	// (processAnythingButValuesSetMatchExpression); "exactly" is an exact string match that
	// is never read as an IP address.
	{"anything-but lists and exactly", []semCase{
		{"anything-but prefix list", `{"r":[{"anything-but":{"prefix":["us-","eu-"]}}]}`,
			[]string{`{"r":"ap-south-1"}`, `{"r":5}`},
			[]string{`{"r":"us-east-1"}`, `{"r":"eu-west-1"}`}},
		{"anything-but suffix list", `{"f":[{"anything-but":{"suffix":[".png",".jpg"]}}]}`,
			[]string{`{"f":"a.gif"}`},
			[]string{`{"f":"a.png"}`, `{"f":"b.jpg"}`}},
		{"anything-but wildcard list", `{"f":[{"anything-but":{"wildcard":["*/lib/*","*.tmp"]}}]}`,
			[]string{`{"f":"/usr/bin/x"}`},
			[]string{`{"f":"/usr/lib/x"}`, `{"f":"a.tmp"}`}},
		{"anything-but with an empty list inside an object excludes nothing", `{"f":[{"anything-but":{"prefix":[]}}]}`,
			[]string{`{"f":"x"}`, `{"f":1}`},
			[]string{`{}`}},
		{"exactly", `{"s":[{"exactly":"prefix"}]}`,
			[]string{`{"s":"prefix"}`},
			[]string{`{"s":"Prefix"}`, `{"s":"prefixes"}`}},
	}},
}

func TestEdges(t *testing.T) {
	for _, g := range edges {
		t.Run(g.group, func(t *testing.T) {
			for _, c := range g.cases {
				t.Run(c.name, func(t *testing.T) { checkCase(t, c) })
			}
		})
	}
}

// TestEdgeRejects: patterns event-ruler's JsonRuleCompiler (and CIDR.cidr,
// ComparableNumber.generate, Range.between) rejects; each error names where.
func TestEdgeRejects(t *testing.T) {
	cases := []struct {
		name, pattern string
		where         []string
	}{
		{"numeric bound not comparable (17 digits)", `{"n":[{"numeric":[">",37.807807921694092]}]}`, []string{"n[0].numeric[1]", "cannot be compared"}},
		{"numeric bound beyond float64", `{"n":[{"numeric":["<",1e400]}]}`, []string{"n[0].numeric[1]"}},
		{"numeric bound 0.10000000000000001", `{"n":[{"numeric":["=",0.10000000000000001]}]}`, []string{"n[0].numeric[1]"}},
		{"numeric upper bound before lower", `{"n":[{"numeric":["<",10,">",0]}]}`, []string{"n[0].numeric"}},
		{"numeric two lower bounds", `{"n":[{"numeric":[">",0,">=",1]}]}`, []string{"n[0].numeric[2]"}},
		{"numeric equal bounds", `{"n":[{"numeric":[">=",1,"<=",1]}]}`, []string{"n[0].numeric"}},
		{"numeric -0 and 0 bounds are equal", `{"n":[{"numeric":[">",-0,"<",0]}]}`, []string{"n[0].numeric"}},
		{"anything-but number not comparable", `{"n":[{"anything-but":[1,9007199254740993]}]}`, []string{"n[0].anything-but[1]"}},
		{"anything-but single number not comparable", `{"n":[{"anything-but":1e400}]}`, []string{"n[0].anything-but"}},
		{"anything-but empty prefix", `{"n":[{"anything-but":{"prefix":""}}]}`, []string{"n[0].anything-but.prefix"}},
		{"anything-but empty suffix in a list", `{"n":[{"anything-but":{"suffix":["x",""]}}]}`, []string{"n[0].anything-but.suffix[1]"}},
		{"exactly of a number", `{"n":[{"exactly":5}]}`, []string{"n[0].exactly"}},
		{"cidr /32", `{"ip":[{"cidr":"10.0.0.1/32"}]}`, []string{"ip[0].cidr", "< 32"}},
		{"cidr /128", `{"ip":[{"cidr":"::1/128"}]}`, []string{"ip[0].cidr", "< 128"}},
		{"cidr negative mask", `{"ip":[{"cidr":"10.0.0.0/-1"}]}`, []string{"ip[0].cidr"}},
		{"cidr in mixed IPv6 notation", `{"ip":[{"cidr":"::ffff:10.0.0.0/104"}]}`, []string{"ip[0].cidr"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := pattern.Validate(c.pattern)
			var pe *pattern.PatternError
			if !errors.As(err, &pe) {
				t.Fatalf("Validate(%s) = %v, want a *PatternError", c.pattern, err)
			}
			for _, w := range c.where {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
}

// TestPatternSyntaxErrors: malformed pattern JSON is reported with its line and column
// (1-based, bytes), as event errors are.
func TestPatternSyntaxErrors(t *testing.T) {
	cases := []struct {
		pattern   string
		line, col int
	}{
		{`{"a":["x"]`, 1, 11},
		{"{\n  \"source\": [\"aws.iam\"]\n  \"detail\": {}\n}", 3, 3},
		{"{\n  \"a\": [\"x\",]\n}", 2, 13},
		{"{\n\t\"a\": [01]\n}", 2, 9},
		{`{"a":["\q"]}`, 1, 9},
		{"{\"a\":[\"x\ny\"]}", 1, 9},
		{`{"a":["x"]} {}`, 1, 13},
		{`pattern.json`, 1, 1},
		{``, 1, 1},
	}
	for _, c := range cases {
		err := pattern.Validate(c.pattern)
		var pe *pattern.PatternError
		if !errors.As(err, &pe) {
			t.Errorf("Validate(%q) = %v, want a *PatternError", c.pattern, err)
			continue
		}
		if pe.Line != c.line || pe.Column != c.col {
			t.Errorf("Validate(%q) = %v: at line %d, column %d; want line %d, column %d", c.pattern, err, pe.Line, pe.Column, c.line, c.col)
		}
		if want := "line "; !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say the line", err)
		}
	}
}
