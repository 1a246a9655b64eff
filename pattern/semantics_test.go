package pattern_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/trailbell/trailbell/pattern"
)

// Table tests of the pattern language, one group per operator that AWS documents for
// EventBridge event patterns and content filtering. Events and patterns are written for
// these tests; where AWS's text is silent the expectation follows aws/event-ruler.

type semCase struct {
	name    string
	pattern string
	match   []string // events that must match
	noMatch []string // events that must not match
}

var semantics = []struct {
	group string
	cases []semCase
}{
	{"exact", []semCase{
		{"string equals", `{"detail":{"state":["running"]}}`,
			[]string{`{"detail":{"state":"running"}}`, `{"source":"x","detail":{"other":1,"state":"running"}}`},
			[]string{`{"detail":{"state":"Running"}}`, `{"detail":{"state":"running "}}`, `{"detail":{}}`, `{"state":"running"}`, `{}`}},
		{"string is not a number", `{"x":["123"]}`,
			[]string{`{"x":"123"}`},
			[]string{`{"x":123}`}},
		{"escaped characters compare by value", `{"x":["a\"b\\c\u00e9"]}`,
			[]string{`{"x":"a\"b\\cé"}`, `{"x":"a\u0022b\u005cc\u00E9"}`},
			[]string{`{"x":"a\"b\\ce"}`}},
		{"or within a field", `{"source":["aws.ec2","aws.fargate"]}`,
			[]string{`{"source":"aws.ec2"}`, `{"source":"aws.fargate"}`},
			[]string{`{"source":"aws.s3"}`}},
		{"and across fields", `{"Location":["New York"],"Day":["Monday"]}`,
			[]string{`{"Location":"New York","Day":"Monday"}`},
			[]string{`{"Location":"New York","Day":"Tuesday"}`, `{"Location":"New York"}`}},
		{"boolean", `{"enabled":[true]}`,
			[]string{`{"enabled":true}`},
			[]string{`{"enabled":false}`, `{"enabled":"true"}`}},
		{"unicode value", `{"city":["Zürich"]}`,
			[]string{`{"city":"Zürich"}`},
			[]string{`{"city":"Zurich"}`}},
	}},
	{"numbers", []semCase{
		{"integer equals", `{"price":[100]}`,
			[]string{`{"price":100}`},
			[]string{`{"price":101}`, `{"price":"100"}`, `{"price":1000}`}},
		// event-ruler compares numbers by value: 100, 100.0 and 1e2 are the same number.
		{"number spelling", `{"price":[100]}`,
			[]string{`{"price":100.0}`, `{"price":1e2}`, `{"price":1.00E+2}`},
			[]string{`{"price":100.5}`}},
		{"negative and fraction", `{"t":[-1.5]}`,
			[]string{`{"t":-1.5}`, `{"t":-1.50}`},
			[]string{`{"t":1.5}`, `{"t":-1.4}`}},
		{"zero", `{"n":[0]}`,
			[]string{`{"n":0}`, `{"n":0.0}`},
			[]string{`{"n":1}`, `{"n":"0"}`, `{"n":null}`}},
	}},
	{"null and empty", []semCase{
		{"null value", `{"UserID":[null]}`,
			[]string{`{"UserID":null}`},
			[]string{`{}`, `{"UserID":"null"}`, `{"UserID":""}`, `{"UserID":0}`}},
		{"empty string", `{"LastName":[""]}`,
			[]string{`{"LastName":""}`},
			[]string{`{"LastName":null}`, `{}`, `{"LastName":" "}`}},
	}},
	{"arrays in events", []semCase{
		{"any element matches", `{"resources":["arn:aws:ec2:us-east-1:123456789012:instance/i-1"]}`,
			[]string{`{"resources":["arn:aws:ec2:us-east-1:123456789012:instance/i-0","arn:aws:ec2:us-east-1:123456789012:instance/i-1"]}`},
			[]string{`{"resources":[]}`, `{"resources":["arn:aws:ec2:us-east-1:123456789012:instance/i-2"]}`}},
		{"pattern list against event list", `{"tags":["red","blue"]}`,
			[]string{`{"tags":["green","blue"]}`, `{"tags":"red"}`},
			[]string{`{"tags":["green","yellow"]}`}},
		{"objects inside arrays", `{"items":{"kind":["book"]}}`,
			[]string{`{"items":[{"kind":"pen"},{"kind":"book"}]}`},
			[]string{`{"items":[{"kind":"pen"},{"sort":"book"}]}`}},
	}},
	{"nested objects", []semCase{
		{"three levels", `{"a":{"b":{"c":["d"]}}}`,
			[]string{`{"a":{"b":{"c":"d","e":1},"f":[1,2]}}`},
			[]string{`{"a":{"b":"d"}}`, `{"a":{"c":"d"}}`, `{"c":"d"}`, `{"a":{"b":{"c":{"d":"d"}}}}`}},
	}},
	{"prefix", []semCase{
		{"prefix", `{"time":[{"prefix":"2017-10-02"}]}`,
			[]string{`{"time":"2017-10-02T18:43:48Z"}`, `{"time":"2017-10-02"}`},
			[]string{`{"time":"2017-10-03T18:43:48Z"}`, `{"time":"2017-10-0"}`, `{"time":20171002}`, `{}`}},
		{"prefix is case sensitive", `{"region":[{"prefix":"us-"}]}`,
			[]string{`{"region":"us-east-1"}`},
			[]string{`{"region":"US-east-1"}`, `{"region":"eu-west-1"}`}},
		{"prefix ignoring case", `{"detail":{"service":[{"prefix":{"equals-ignore-case":"EventB"}}]}}`,
			[]string{`{"detail":{"service":"EventBridge"}}`, `{"detail":{"service":"eventbus"}}`, `{"detail":{"service":"EVENTB"}}`},
			[]string{`{"detail":{"service":"Event-Bridge"}}`, `{"detail":{"service":"Even"}}`}},
	}},
	{"suffix", []semCase{
		{"suffix", `{"FileName":[{"suffix":".png"}]}`,
			[]string{`{"FileName":"photo.png"}`, `{"FileName":".png"}`},
			[]string{`{"FileName":"photo.PNG"}`, `{"FileName":"photo.png.gz"}`, `{"FileName":"png"}`}},
		{"suffix ignoring case", `{"detail":{"FileName":[{"suffix":{"equals-ignore-case":".png"}}]}}`,
			[]string{`{"detail":{"FileName":"A.PNG"}}`, `{"detail":{"FileName":"b.Png"}}`, `{"detail":{"FileName":"c.png"}}`},
			[]string{`{"detail":{"FileName":"c.pngx"}}`, `{"detail":{"FileName":"c.jpg"}}`}},
	}},
	{"equals-ignore-case", []semCase{
		{"ascii", `{"Name":[{"equals-ignore-case":"alice"}]}`,
			[]string{`{"Name":"Alice"}`, `{"Name":"ALICE"}`, `{"Name":"alice"}`},
			[]string{`{"Name":"Alicia"}`, `{"Name":"alice "}`, `{"Name":"alic"}`}},
		{"mixed with exact values", `{"Name":["Bob",{"equals-ignore-case":"alice"}]}`,
			[]string{`{"Name":"Bob"}`, `{"Name":"aLiCe"}`},
			[]string{`{"Name":"bob"}`}},
	}},
	{"wildcard", []semCase{
		{"one star", `{"key":[{"wildcard":"dir/*.png"}]}`,
			[]string{`{"key":"dir/a.png"}`, `{"key":"dir/.png"}`, `{"key":"dir/sub/a.png"}`},
			[]string{`{"key":"dir/a.jpg"}`, `{"key":"other/a.png"}`, `{"key":"dir/a.png/x"}`}},
		{"stars at both ends", `{"title":[{"wildcard":"*Title*"}]}`,
			[]string{`{"title":"MyTitleX"}`, `{"title":"Title"}`, `{"title":"TitleTitle"}`},
			[]string{`{"title":"title"}`, `{"title":"Titl"}`}},
		{"several stars", `{"arn":[{"wildcard":"arn:aws:iam::*:role/*-admin"}]}`,
			[]string{`{"arn":"arn:aws:iam::123456789012:role/ci-admin"}`, `{"arn":"arn:aws:iam:::role/-admin"}`},
			[]string{`{"arn":"arn:aws:iam::123456789012:user/ci-admin"}`, `{"arn":"arn:aws:iam::123456789012:role/ci-admins"}`}},
		{"no star is an exact match", `{"k":[{"wildcard":"abc"}]}`,
			[]string{`{"k":"abc"}`},
			[]string{`{"k":"abcd"}`, `{"k":"ab"}`}},
		{"escaped star is literal", `{"k":[{"wildcard":"a\\*b"}]}`,
			[]string{`{"k":"a*b"}`},
			[]string{`{"k":"axb"}`, `{"k":"ab"}`}},
		{"escaped backslash is literal", `{"k":[{"wildcard":"a\\\\*"}]}`,
			[]string{`{"k":"a\\"}`, `{"k":"a\\bc"}`},
			[]string{`{"k":"abc"}`}},
		{"star only", `{"k":[{"wildcard":"*"}]}`,
			[]string{`{"k":""}`, `{"k":"anything"}`},
			[]string{`{"k":5}`, `{}`}},
	}},
	{"anything-but", []semCase{
		{"one string", `{"detail":{"state":[{"anything-but":"initializing"}]}}`,
			[]string{`{"detail":{"state":"running"}}`, `{"detail":{"state":"Initializing"}}`},
			[]string{`{"detail":{"state":"initializing"}}`, `{"detail":{}}`}},
		{"one number", `{"x-limit":[{"anything-but":123}]}`,
			[]string{`{"x-limit":124}`, `{"x-limit":-123}`},
			[]string{`{"x-limit":123}`, `{"x-limit":123.0}`}},
		{"list of strings", `{"state":[{"anything-but":["stopped","overloaded"]}]}`,
			[]string{`{"state":"running"}`},
			[]string{`{"state":"stopped"}`, `{"state":"overloaded"}`}},
		{"list of numbers", `{"x":[{"anything-but":[100,200,300]}]}`,
			[]string{`{"x":150}`, `{"x":0}`},
			[]string{`{"x":200}`, `{"x":300}`}},
		{"prefix", `{"Region":[{"anything-but":{"prefix":"us-"}}]}`,
			[]string{`{"Region":"eu-west-1"}`, `{"Region":"US-east-1"}`},
			[]string{`{"Region":"us-east-1"}`, `{"Region":"us-"}`}},
		{"suffix", `{"FileName":[{"anything-but":{"suffix":".png"}}]}`,
			[]string{`{"FileName":"a.jpg"}`},
			[]string{`{"FileName":"a.png"}`}},
		{"equals-ignore-case", `{"state":[{"anything-but":{"equals-ignore-case":"initializing"}}]}`,
			[]string{`{"state":"running"}`},
			[]string{`{"state":"INITIALIZING"}`, `{"state":"Initializing"}`}},
		{"equals-ignore-case list", `{"state":[{"anything-but":{"equals-ignore-case":["stopped","Pending"]}}]}`,
			[]string{`{"state":"running"}`},
			[]string{`{"state":"STOPPED"}`, `{"state":"pending"}`}},
		{"wildcard", `{"FilePath":[{"anything-but":{"wildcard":"*/lib/*"}}]}`,
			[]string{`{"FilePath":"/usr/bin/env"}`, `{"FilePath":"lib/x"}`},
			[]string{`{"FilePath":"/usr/lib/x"}`}},
		{"wildcard list", `{"FilePath":[{"anything-but":{"wildcard":["*/lib/*","*.tmp"]}}]}`,
			[]string{`{"FilePath":"/usr/bin/env"}`},
			[]string{`{"FilePath":"/usr/lib/x"}`, `{"FilePath":"/home/a.tmp"}`}},
		{"event array: some element allowed", `{"state":[{"anything-but":"stopped"}]}`,
			[]string{`{"state":["stopped","running"]}`},
			[]string{`{"state":["stopped"]}`}},
	}},
	{"numeric", []semCase{
		{"equals", `{"x":[{"numeric":["=",100]}]}`,
			[]string{`{"x":100}`, `{"x":100.0}`, `{"x":1e2}`},
			[]string{`{"x":100.5}`, `{"x":"100"}`, `{"x":99}`}},
		{"less than", `{"x":[{"numeric":["<",10]}]}`,
			[]string{`{"x":9.99}`, `{"x":-5}`, `{"x":0}`},
			[]string{`{"x":10}`, `{"x":10.01}`}},
		{"less or equal", `{"x":[{"numeric":["<=",10]}]}`,
			[]string{`{"x":10}`, `{"x":-1000000}`},
			[]string{`{"x":10.01}`}},
		{"greater than", `{"x":[{"numeric":[">",0]}]}`,
			[]string{`{"x":0.001}`, `{"x":5000000}`},
			[]string{`{"x":0}`, `{"x":-0.001}`}},
		{"greater or equal", `{"x":[{"numeric":[">=",0]}]}`,
			[]string{`{"x":0}`, `{"x":1}`},
			[]string{`{"x":-0.1}`}},
		{"open-closed range", `{"c-count":[{"numeric":[">",0,"<=",5]}]}`,
			[]string{`{"c-count":5}`, `{"c-count":3}`, `{"c-count":0.000001}`},
			[]string{`{"c-count":0}`, `{"c-count":5.0001}`, `{"c-count":"3"}`}},
		{"closed-open range", `{"t":[{"numeric":[">=",-10,"<",10]}]}`,
			[]string{`{"t":-10}`, `{"t":9.999999}`},
			[]string{`{"t":10}`, `{"t":-10.5}`}},
		{"several ranges or together", `{"t":[{"numeric":["<",0]},{"numeric":[">",100]}]}`,
			[]string{`{"t":-1}`, `{"t":101}`},
			[]string{`{"t":50}`}},
		{"large values", `{"bytes":[{"numeric":[">=",1000000000]}]}`,
			[]string{`{"bytes":1000000000}`, `{"bytes":4999999999}`},
			[]string{`{"bytes":999999999}`}},
		{"six decimals", `{"x":[{"numeric":[">",0.000001,"<",0.000003]}]}`,
			[]string{`{"x":0.000002}`, `{"x":2e-6}`},
			[]string{`{"x":0.000001}`, `{"x":0.0000005}`, `{"x":0.000003}`}},
		{"beyond ±5e9", `{"x":[{"numeric":[">",5000000000]}]}`,
			[]string{`{"x":5000000001}`, `{"x":1e12}`},
			[]string{`{"x":5000000000}`, `{"x":-6e9}`}},
		{"negative zero equals zero", `{"x":[{"numeric":["=",0]}]}`,
			[]string{`{"x":-0}`, `{"x":0.0}`},
			[]string{`{"x":1e-9}`}},
		{"event array", `{"ports":[{"numeric":[">=",1024]}]}`,
			[]string{`{"ports":[22,8080]}`},
			[]string{`{"ports":[22,80]}`}},
	}},
	{"exists", []semCase{
		{"exists true", `{"detail":{"ProductName":[{"exists":true}]}}`,
			[]string{`{"detail":{"ProductName":"x"}}`, `{"detail":{"ProductName":0}}`, `{"detail":{"ProductName":""}}`},
			[]string{`{"detail":{}}`, `{"detail":{"ProductNames":"x"}}`, `{}`}},
		// AWS: exists works on leaf nodes only.
		{"exists true on an object is no match", `{"detail":{"ProductName":[{"exists":true}]}}`,
			nil,
			[]string{`{"detail":{"ProductName":{"id":1}}}`}},
		{"exists false", `{"detail":{"ProductName":[{"exists":false}]}}`,
			[]string{`{"detail":{}}`, `{"detail":{"Other":"x"}}`},
			[]string{`{"detail":{"ProductName":"x"}}`, `{"detail":{"ProductName":null}}`}},
		{"exists false with another field", `{"source":["aws.s3"],"detail":{"errorCode":[{"exists":false}]}}`,
			[]string{`{"source":"aws.s3","detail":{"eventName":"PutObject"}}`},
			[]string{`{"source":"aws.s3","detail":{"errorCode":"AccessDenied"}}`, `{"source":"aws.ec2","detail":{}}`}},
	}},
	{"cidr", []semCase{
		{"ipv4 /24", `{"sourceIPAddress":[{"cidr":"10.0.0.0/24"}]}`,
			[]string{`{"sourceIPAddress":"10.0.0.0"}`, `{"sourceIPAddress":"10.0.0.255"}`},
			[]string{`{"sourceIPAddress":"10.0.1.0"}`, `{"sourceIPAddress":"9.255.255.255"}`, `{"sourceIPAddress":"not an ip"}`, `{"sourceIPAddress":"iam.amazonaws.com"}`}},
		{"ipv4 /31", `{"ip":[{"cidr":"192.168.1.6/31"}]}`,
			[]string{`{"ip":"192.168.1.7"}`, `{"ip":"192.168.1.6"}`},
			[]string{`{"ip":"192.168.1.8"}`}},
		{"ipv4 /8", `{"ip":[{"cidr":"10.0.0.0/8"}]}`,
			[]string{`{"ip":"10.255.3.4"}`},
			[]string{`{"ip":"11.0.0.1"}`}},
		{"ipv6", `{"ip":[{"cidr":"2001:db8::/32"}]}`,
			[]string{`{"ip":"2001:db8::1"}`, `{"ip":"2001:0db8:ffff::1"}`},
			[]string{`{"ip":"2001:db9::1"}`, `{"ip":"10.0.0.1"}`}},
		{"ipv6 /127", `{"ip":[{"cidr":"2001:db8::1/127"}]}`,
			[]string{`{"ip":"2001:db8::1"}`, `{"ip":"2001:db8::"}`},
			[]string{`{"ip":"2001:db8::2"}`}},
	}},
	{"$or", []semCase{
		{"two fields", `{"$or":[{"Location":["New York"]},{"Day":["Monday"]}]}`,
			[]string{`{"Location":"New York","Day":"Friday"}`, `{"Location":"Paris","Day":"Monday"}`},
			[]string{`{"Location":"Paris","Day":"Friday"}`}},
		{"with a field outside", `{"source":["aws.ec2"],"$or":[{"detail":{"state":["stopped"]}},{"detail":{"lost":[true]}}]}`,
			[]string{`{"source":"aws.ec2","detail":{"state":"stopped"}}`, `{"source":"aws.ec2","detail":{"lost":true}}`},
			[]string{`{"source":"aws.s3","detail":{"state":"stopped"}}`, `{"source":"aws.ec2","detail":{"state":"running"}}`}},
		{"inside a nested object", `{"detail":{"$or":[{"c-count":[{"numeric":[">",5]}]},{"d-count":[{"exists":true}]}]}}`,
			[]string{`{"detail":{"c-count":6}}`, `{"detail":{"d-count":"x"}}`},
			[]string{`{"detail":{"c-count":5}}`, `{"c-count":6}`}},
		{"nested $or", `{"$or":[{"a":["1"]},{"b":["2"],"$or":[{"c":["3"]},{"d":["4"]}]}]}`,
			[]string{`{"a":"1"}`, `{"b":"2","c":"3"}`, `{"b":"2","d":"4"}`},
			[]string{`{"b":"2"}`, `{"c":"3","d":"4"}`}},
		{"same pattern matching several ways", `{"$or":[{"a":["1"]},{"b":["2"]}]}`,
			[]string{`{"a":"1","b":"2"}`},
			nil},
	}},
	// Choices the package doc states where AWS's text is silent or engines differ.
	{"documented choices", []semCase{
		{"exists true: an empty array has no value", `{"tags":[{"exists":true}]}`,
			[]string{`{"tags":["x"]}`, `{"tags":null}`},
			[]string{`{"tags":[]}`}},
		{"exists false: an empty array has no value", `{"tags":[{"exists":false}]}`,
			[]string{`{"tags":[]}`, `{}`},
			[]string{`{"tags":["x"]}`}},
		{"anything-but a string matches other types", `{"s":[{"anything-but":"stopped"}]}`,
			[]string{`{"s":5}`, `{"s":null}`, `{"s":true}`},
			[]string{`{"s":"stopped"}`}},
		{"anything-but prefix matches other types", `{"s":[{"anything-but":{"prefix":"sto"}}]}`,
			[]string{`{"s":"running"}`, `{"s":5}`, `{"s":null}`},
			[]string{`{"s":"stopped"}`, `{}`}},
		{"anything-but a number excludes only numbers", `{"n":[{"anything-but":[5]}]}`,
			[]string{`{"n":"5"}`, `{"n":6}`},
			[]string{`{"n":5.0}`}},
		{"equals-ignore-case folds beyond ASCII", `{"city":[{"equals-ignore-case":"zürich"}]}`,
			[]string{`{"city":"ZÜRICH"}`, `{"city":"Zürich"}`},
			[]string{`{"city":"ZURICH"}`}},
		{"cidr with host bits set is masked", `{"ip":[{"cidr":"10.0.0.5/24"}]}`,
			[]string{`{"ip":"10.0.0.200"}`},
			[]string{`{"ip":"10.0.1.5"}`}},
		{"IPv4-mapped IPv6 event address in hex", `{"ip":[{"cidr":"10.0.0.0/8"}]}`,
			[]string{`{"ip":"::ffff:a01:203"}`},
			[]string{`{"ip":"::ffff:b01:203"}`, `{"ip":"::ffff:10.1.2.3"}`}},
		{"pattern repeated key: last wins", `{"a":["1"],"a":["2"]}`,
			[]string{`{"a":"2"}`},
			[]string{`{"a":"1"}`}},
		{"event repeated key: every value counts", `{"a":["1"]}`,
			[]string{`{"a":"1","a":"2"}`, `{"a":"2","a":"1"}`},
			[]string{`{"a":"2","a":"3"}`}},
		{"number never equals a string", `{"n":[300]}`,
			[]string{`{"n":3.0e2}`},
			[]string{`{"n":"300"}`}},
	}},
	{"array consistency", []semCase{
		// Two fields matched under one array of objects must come from the same element.
		{"same element", `{"a":{"b":[1],"c":[2]}}`,
			[]string{`{"a":[{"b":1,"c":2},{"b":3,"c":4}]}`, `{"a":{"b":1,"c":2}}`},
			[]string{`{"a":[{"b":1,"c":4},{"b":3,"c":2}]}`}},
		{"design example", `{"a":{"b":[1],"c":[4]}}`,
			[]string{`{"a":[{"b":1,"c":4}]}`},
			[]string{`{"a":[{"b":1,"c":2},{"b":3,"c":4}]}`}},
		{"across different arrays is free", `{"x":{"k":["1"]},"y":{"k":["2"]}}`,
			[]string{`{"x":[{"k":"0"},{"k":"1"}],"y":[{"k":"2"},{"k":"3"}]}`},
			[]string{`{"x":[{"k":"0"}],"y":[{"k":"2"}]}`}},
	}},
}

func TestSemantics(t *testing.T) {
	for _, g := range semantics {
		t.Run(g.group, func(t *testing.T) {
			for _, c := range g.cases {
				t.Run(c.name, func(t *testing.T) { checkCase(t, c) })
			}
		})
	}
}

// checkCase checks that the pattern is valid, matches every event of c.match and none
// of c.noMatch.
func checkCase(t *testing.T, c semCase) {
	t.Helper()
	if err := pattern.Validate(c.pattern); err != nil {
		t.Fatalf("Validate(%s): %v", c.pattern, err)
	}
	for _, ev := range c.match {
		if !matchOne(t, c.pattern, ev) {
			t.Errorf("pattern %s\n  should match   %s", c.pattern, ev)
		}
	}
	for _, ev := range c.noMatch {
		if matchOne(t, c.pattern, ev) {
			t.Errorf("pattern %s\n  should not match %s", c.pattern, ev)
		}
	}
}

// TestSemanticsAllTogether: every semantics pattern compiled into one matcher answers each
// event exactly as it does alone; patterns sharing fields and indexes must not disturb
// each other.
func TestSemanticsAllTogether(t *testing.T) {
	all := pattern.New()
	alone := map[string]*pattern.Matcher{}
	var events []string
	for _, g := range semantics {
		for _, c := range g.cases {
			id := g.group + "/" + c.name
			if err := all.Add(id, c.pattern); err != nil {
				t.Fatalf("%s: %v", id, err)
			}
			m := pattern.New()
			if err := m.Add(id, c.pattern); err != nil {
				t.Fatalf("%s: %v", id, err)
			}
			alone[id] = m
			events = append(events, c.match...)
			events = append(events, c.noMatch...)
		}
	}
	for _, ev := range events {
		got, err := all.Match([]byte(ev))
		if err != nil {
			t.Fatalf("%s: %v", ev, err)
		}
		var want []string
		for id, m := range alone {
			ids, err := m.Match([]byte(ev))
			if err != nil {
				t.Fatalf("%s: %v", ev, err)
			}
			if len(ids) == 1 {
				want = append(want, id)
			}
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("event %s:\n  together: %q\n  alone:    %q", ev, got, want)
		}
	}
}

// TestInvalidPatterns: every rejected pattern must say where (a JSON path element) and
// Validate and Add must agree.
func TestInvalidPatterns(t *testing.T) {
	cases := []struct {
		name    string
		pattern string
		where   []string // substrings the error must contain (path elements)
	}{
		{"not json", `{"a":["x"]`, nil},
		{"trailing garbage", `{"a":["x"]} x`, nil},
		{"top level array", `["a"]`, nil},
		{"top level string", `"a"`, nil},
		{"leaf is a string", `{"a":"b"}`, []string{"a"}},
		{"nested leaf is a number", `{"detail":{"state":5}}`, []string{"detail", "state"}},
		{"empty value list", `{"detail":{"state":[]}}`, []string{"state"}},
		{"unknown operator", `{"detail":{"name":[{"contains":"x"}]}}`, []string{"name"}},
		{"two operators in one object", `{"a":[{"prefix":"x","suffix":"y"}]}`, []string{"a"}},
		{"prefix of a number", `{"a":[{"prefix":5}]}`, []string{"a"}},
		{"suffix of null", `{"a":[{"suffix":null}]}`, []string{"a"}},
		{"equals-ignore-case of a number", `{"a":[{"equals-ignore-case":5}]}`, []string{"a"}},
		{"exists not boolean", `{"a":[{"exists":"yes"}]}`, []string{"a"}},
		{"numeric unknown comparator", `{"a":[{"numeric":["~",5]}]}`, []string{"a"}},
		{"numeric missing value", `{"a":[{"numeric":["<"]}]}`, []string{"a"}},
		{"numeric value is a string", `{"a":[{"numeric":[">","5"]}]}`, []string{"a"}},
		{"numeric empty range", `{"a":[{"numeric":[">",10,"<",5]}]}`, []string{"a"}},
		{"anything-but mixed list", `{"a":[{"anything-but":["x",1]}]}`, []string{"a"}},
		{"anything-but unknown operator", `{"a":[{"anything-but":{"contains":"x"}}]}`, []string{"a"}},
		{"wildcard consecutive stars", `{"a":[{"wildcard":"x**y"}]}`, []string{"a"}},
		{"wildcard bad escape", `{"a":[{"wildcard":"x\\y"}]}`, []string{"a"}},
		{"cidr prefix too long", `{"ip":[{"cidr":"10.0.0.0/33"}]}`, []string{"ip"}},
		{"cidr not an address", `{"ip":[{"cidr":"example.com/8"}]}`, []string{"ip"}},
		{"cidr /32", `{"ip":[{"cidr":"192.168.1.7/32"}]}`, []string{"ip", "< 32"}},
		{"cidr /128", `{"ip":[{"cidr":"2001:db8::1/128"}]}`, []string{"ip", "< 128"}},
		{"cidr of a number", `{"ip":[{"cidr":10}]}`, []string{"ip"}},
		{"$or with one branch", `{"$or":[{"a":["1"]}]}`, []string{"$or"}},
		{"$or branch not an object", `{"$or":[{"a":["1"]},["b"]]}`, []string{"$or"}},
		{"$or empty", `{"x":{"$or":[]}}`, []string{"$or"}},
		{"invalid value in an $or branch", `{"d":{"$or":[{"a":["1"]},{"b":[{"foo":1}]}]}}`, []string{"d.$or[1].b[0].foo"}},
		{"$or combinations past the cap", orProduct(13), []string{"$or"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			errV := pattern.Validate(c.pattern)
			errA := pattern.New().Add("p", c.pattern)
			if errV == nil || errA == nil {
				t.Fatalf("pattern %s accepted (Validate: %v, Add: %v), want an error", c.pattern, errV, errA)
			}
			var pe *pattern.PatternError
			if !errors.As(errV, &pe) || !errors.As(errA, &pe) {
				t.Errorf("errors %v / %v are not *pattern.PatternError", errV, errA)
			}
			for _, w := range c.where {
				if !strings.Contains(errV.Error(), w) {
					t.Errorf("error %q does not name %q", errV, w)
				}
			}
		})
	}
}

// orProduct returns a pattern of n fields each holding a two-way $or: 2^n AND-only
// alternatives.
func orProduct(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf(`"f%d":{"$or":[{"a":["1"]},{"b":["2"]}]}`, i)
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func TestOrProductUnderTheCap(t *testing.T) {
	p := orProduct(10) // 1024 alternatives
	m := pattern.New()
	if err := m.Add("p", p); err != nil {
		t.Fatalf("1024 alternatives rejected: %v", err)
	}
	var ev strings.Builder
	ev.WriteString("{")
	for i := range 10 {
		if i > 0 {
			ev.WriteString(",")
		}
		if i%2 == 0 {
			fmt.Fprintf(&ev, `"f%d":{"a":"1"}`, i)
		} else {
			fmt.Fprintf(&ev, `"f%d":{"b":"2"}`, i)
		}
	}
	ev.WriteString("}")
	if !matchOne(t, p, ev.String()) {
		t.Fatalf("no match for %s", ev.String())
	}
	if matchOne(t, p, strings.Replace(ev.String(), `"f9":{"b":"2"}`, `"f9":{"b":"3"}`, 1)) {
		t.Fatal("matched with one field wrong")
	}
}

// A pattern that failed to Add leaves the matcher unchanged.
func TestFailedAddChangesNothing(t *testing.T) {
	m := pattern.New()
	if err := m.Add("good", `{"a":["1"]}`); err != nil {
		t.Fatal(err)
	}
	if err := m.Add("bad", `{"a":[{"prefix":5}],"b":["2"]}`); err == nil {
		t.Fatal("bad pattern accepted")
	}
	ids, err := m.Match([]byte(`{"a":"1","b":"2"}`))
	if err != nil || !slices.Equal(ids, []string{"good"}) {
		t.Fatalf("Match = %q, %v; want [good]", ids, err)
	}
}

func TestMatchManyIDs(t *testing.T) {
	m := pattern.New()
	for id, p := range map[string]string{
		"by-source": `{"source":["aws.iam"]}`,
		"by-name":   `{"detail":{"eventName":[{"prefix":"Create"}]}}`,
		"other":     `{"source":["aws.s3"]}`,
		"absent":    `{"detail":{"errorCode":[{"exists":true}]}}`,
	} {
		if err := m.Add(id, p); err != nil {
			t.Fatal(err)
		}
	}
	ids, err := m.Match([]byte(`{"source":"aws.iam","detail":{"eventName":"CreateUser"}}`))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []string{"by-name", "by-source"}) {
		t.Fatalf("Match = %q, want [by-name by-source]", ids)
	}

	m.Remove("by-name")
	m.Remove("never-added") // removing an unknown id is a no-op
	ids, err = m.Match([]byte(`{"source":"aws.iam","detail":{"eventName":"CreateUser"}}`))
	if err != nil || !slices.Equal(ids, []string{"by-source"}) {
		t.Fatalf("after Remove: Match = %q, %v; want [by-source]", ids, err)
	}
}

func TestMatchInvalidEvent(t *testing.T) {
	m := pattern.New()
	if err := m.Add("p", `{"a":["1"]}`); err != nil {
		t.Fatal(err)
	}
	// Invalid within the part any matcher must read: the start of the event.
	for _, ev := range []string{``, `{`, `{"a":`, `[`, `nope`, `{'a':'1'}`, `{"a":"1}`, `{"a":1"}`} {
		if ids, err := m.Match([]byte(ev)); err == nil && len(ids) > 0 {
			t.Errorf("Match(%q) = %q, nil; want an error or no match", ev, ids)
		}
	}
	for _, ev := range []string{``, `{`, `{"a":`, `nope`, `{'a':'1'}`} {
		if _, err := m.Match([]byte(ev)); err == nil {
			t.Errorf("Match(%q): no error for invalid JSON", ev)
		}
	}
}

// The seed pattern of the classic CloudTrail → EventBridge → SNS → Chatbot setup (IAM changes),
// run over every corpus CloudTrail record lifted into an EventBridge envelope, against a
// straightforward reference written with encoding/json.
const iamSeedPattern = `{
  "source": ["aws.iam"],
  "detail-type": ["AWS API Call via CloudTrail"],
  "detail": {
    "eventSource": ["iam.amazonaws.com"],
    "eventName": ["CreateUser", "DeleteUser", "AttachUserPolicy", "DetachUserPolicy",
                  "AttachGroupPolicy", "DetachGroupPolicy", "AttachRolePolicy", "DetachRolePolicy",
                  "CreatePolicyVersion"]
  }
}`

// TestIAMSeedPatternOnLiftedRecords: two records of the Stratus Red Team detonation
// "iam-create-admin-user", lifted by hand into EventBridge envelopes.
func TestIAMSeedPatternOnLiftedRecords(t *testing.T) {
	for file, want := range map[string]bool{
		"cloudtrail/iam-seed-match.json":   true,  // AttachUserPolicy AdministratorAccess
		"cloudtrail/iam-seed-nomatch.json": false, // CreateAccessKey: not in the seed list
	} {
		if got := matchOne(t, iamSeedPattern, string(readTestdata(t, file))); got != want {
			t.Errorf("%s: got %s, want %s", file, verdict(got), verdict(want))
		}
	}
}

func loadEnvelopes(t testing.TB) [][]byte {
	t.Helper()
	var out [][]byte
	sc := bufio.NewScanner(bytes.NewReader(readTestdata(t, "cloudtrail/envelopes.jsonl")))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if line := bytes.TrimSpace(sc.Bytes()); len(line) > 0 {
			out = append(out, bytes.Clone(line))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) < 500 {
		t.Fatalf("only %d envelopes in testdata/cloudtrail/envelopes.jsonl", len(out))
	}
	return out
}

func TestCloudTrailPatterns(t *testing.T) {
	type env struct {
		Source     string `json:"source"`
		DetailType string `json:"detail-type"`
		Detail     struct {
			EventSource  string         `json:"eventSource"`
			EventName    string         `json:"eventName"`
			EventType    string         `json:"eventType"`
			UserIdentity map[string]any `json:"userIdentity"`
		} `json:"detail"`
	}
	seedNames := []string{"CreateUser", "DeleteUser", "AttachUserPolicy", "DetachUserPolicy",
		"AttachGroupPolicy", "DetachGroupPolicy", "AttachRolePolicy", "DetachRolePolicy", "CreatePolicyVersion"}
	patterns := []struct {
		id, pattern string
		want        func(e env) bool
	}{
		{"iam-seed", iamSeedPattern, func(e env) bool {
			return e.Source == "aws.iam" && e.DetailType == "AWS API Call via CloudTrail" &&
				e.Detail.EventSource == "iam.amazonaws.com" && slices.Contains(seedNames, e.Detail.EventName)
		}},
		{"root-activity", `{"detail":{"userIdentity":{"type":["Root"],"invokedBy":[{"exists":false}]},"eventType":[{"anything-but":"AwsServiceEvent"}]}}`,
			func(e env) bool {
				_, invoked := e.Detail.UserIdentity["invokedBy"]
				return e.Detail.UserIdentity["type"] == "Root" && !invoked &&
					e.Detail.EventType != "" && e.Detail.EventType != "AwsServiceEvent"
			}},
		{"lambda-code", `{"source":["aws.lambda"],"detail":{"eventName":[{"prefix":"UpdateFunctionCode"}]}}`,
			func(e env) bool {
				return e.Source == "aws.lambda" && strings.HasPrefix(e.Detail.EventName, "UpdateFunctionCode")
			}},
		{"iam-create-any-case", `{"detail":{"eventSource":[{"suffix":"amazonaws.com"}],"eventName":[{"wildcard":"Create*"}]}}`,
			func(e env) bool {
				return strings.HasSuffix(e.Detail.EventSource, "amazonaws.com") && strings.HasPrefix(e.Detail.EventName, "Create")
			}},
	}
	m := pattern.New()
	for _, p := range patterns {
		if err := m.Add(p.id, p.pattern); err != nil {
			t.Fatalf("%s: %v", p.id, err)
		}
	}
	hits := map[string]int{}
	for i, line := range loadEnvelopes(t) {
		var e env
		if err := json.Unmarshal(line, &e); err != nil {
			// userIdentity of another shape: the reference cannot judge this record.
			continue
		}
		got, err := m.Match(line)
		if err != nil {
			t.Fatalf("envelope %d: %v", i+1, err)
		}
		for _, p := range patterns {
			want := p.want(e)
			if want {
				hits[p.id]++
			}
			if slices.Contains(got, p.id) != want {
				t.Errorf("envelope line %d (%s %s): %s: got %v, want %v", i+1, e.Detail.EventSource, e.Detail.EventName, p.id, !want, want)
			}
		}
	}
	for _, p := range patterns {
		if hits[p.id] == 0 {
			t.Errorf("%s: no envelope in testdata should match; the test proves nothing", p.id)
		}
		t.Logf("%s: %d matching envelopes", p.id, hits[p.id])
	}
}

// An id added with several patterns is returned once, however many of them match, and
// Remove drops all of them.
func TestSameIDSeveralPatterns(t *testing.T) {
	m := pattern.New()
	for _, p := range []string{`{"source":["aws.iam"]}`, `{"detail":{"eventName":[{"prefix":"Create"}]}}`, `{"detail":{"eventName":["DeleteUser"]}}`} {
		if err := m.Add("dup", p); err != nil {
			t.Fatal(err)
		}
	}
	for ev, want := range map[string][]string{
		`{"source":"aws.iam","detail":{"eventName":"CreateUser"}}`: {"dup"},
		`{"source":"aws.s3","detail":{"eventName":"DeleteUser"}}`:  {"dup"},
		`{"source":"aws.s3","detail":{"eventName":"PutObject"}}`:   nil,
	} {
		ids, err := m.Match([]byte(ev))
		if err != nil || !slices.Equal(ids, want) {
			t.Errorf("Match(%s) = %q, %v; want %q", ev, ids, err, want)
		}
	}
	m.Remove("dup")
	if ids, _ := m.Match([]byte(`{"source":"aws.iam","detail":{"eventName":"CreateUser"}}`)); len(ids) != 0 {
		t.Errorf("after Remove: %q", ids)
	}
}
