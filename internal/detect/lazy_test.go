package detect

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// lazyPaths are read from both decodings and must agree.
var lazyPaths = []string{
	"eventID", "eventName", "eventTime", "userIdentity.type", "userIdentity.arn", "userIdentity.accessKeyId",
	"userIdentity.sessionContext.sessionIssuer.arn", "userIdentity.sessionContext.sourceIdentity",
	"requestParameters.userName", "requestParameters.policyArn", "responseElements.credentials.accessKeyId",
	"responseElements.ConsoleLogin", "resources.0.ARN", "errorCode", "readOnly", "recipientAccountId", "a.b", "x",
}

func checkLazy(t *testing.T, rec []byte) {
	t.Helper()
	eager, err := decodeRecord(rec)
	if err != nil {
		return // the lazy decoding may take it (it checks values only as it reads them)
	}
	lazy, err := decodeLazy(rec)
	if err != nil {
		t.Fatalf("lazy decoding refused %s: %v", rec, err)
	}
	for _, p := range lazyPaths {
		if a, b := eager.lookup(p), lazy.lookup(p); !reflect.DeepEqual(a, b) {
			t.Errorf("%s: eager %#v, lazy %#v in %s", p, a, b, rec)
		}
	}
	for _, name := range []string{"principal", "who", "target", "account", "result", "sourceNetwork"} {
		if a, b := eager.field(name), lazy.field(name); a != b {
			t.Errorf("{%s}: eager %q, lazy %q in %s", name, a, b, rec)
		}
	}
	checkIndexed(t, rec)
}

// builtinIndex is the index of an engine of the built-in pack: the static paths and those its
// titles, runbooks and rules with memory read.
var builtinIndex = sync.OnceValue(func() *pathIndex {
	rs, err := Builtin()
	if err != nil {
		panic(err)
	}
	e, err := New(rs)
	if err != nil {
		panic(err)
	}
	return e.index
})

// checkIndexed: a record read through an index reads like one decoded whole, on every path
// the index holds and others, in what a finding says.
func checkIndexed(t *testing.T, rec []byte) {
	t.Helper()
	checkIndexedWith(t, rec, staticIndex)
	checkIndexedWith(t, rec, builtinIndex())
}

func checkIndexedWith(t *testing.T, rec []byte, index *pathIndex) {
	t.Helper()
	ix, ok := indexRecord(rec, index)
	if !ok {
		return
	}
	eager, err := decodeRecord(rec)
	if err != nil || !eager.whole {
		t.Fatalf("indexed, but does not decode whole (%v): %s", err, rec)
	}
	paths := append([]string{"a.b", "x", "resources.0.ARN"}, lazyPaths...)
	for p := range index.slots {
		paths = append(paths, p)
	}
	for _, p := range paths {
		if a, b := eager.lookup(p), ix.lookup(p); !reflect.DeepEqual(a, b) {
			t.Errorf("%s: eager %#v, indexed %#v in %s", p, a, b, rec)
		}
		d := splitDotted(p)
		if a, b, c := eager.str(p), ix.str(p), ix.strAt(&d); a != b || a != c {
			t.Errorf("%s: eager %q, indexed %q, strAt %q in %s", p, a, b, c, rec)
		}
	}
	eager, _ = decodeRecord(rec) // afresh: the lookups above decoded members of ix
	ix, _ = indexRecord(rec, index)
	if a, b := eager.eventPart(), ix.eventPart(); !reflect.DeepEqual(a, b) {
		t.Errorf("finding: eager %+v, indexed %+v in %s", a, b, rec)
	}
	names := []string{"principal", "who", "target", "targetName", "policy", "grants", "account", "result", "requestParameters.policyDocument"}
	for _, p := range index.paths {
		names = append(names, p, "detail."+p)
	}
	for _, name := range names {
		if a, b := eager.field(name), ix.field(name); a != b {
			t.Errorf("{%s}: eager %q, indexed %q in %s", name, a, b, rec)
		}
	}
}

// TestEngineIndex: an engine indexes what its rules' titles, runbooks and rules with memory
// read, after the static paths, which keep their slots; past the index's room, paths are left
// to decoding.
func TestEngineIndex(t *testing.T) {
	ix := builtinIndex()
	for _, p := range []string{"userIdentity.sessionContext.sessionIssuer.userName", "requestParameters.permissionSetArn", "requestParameters.ReplicationConfiguration.Rule.Destination.Account"} {
		if ix.slot(p) < 0 {
			t.Errorf("%s: not indexed", p)
		}
	}
	for p, s := range staticIndex.slots {
		if ix.slots[p] != s {
			t.Errorf("%s: slot %d, %d in the static index", p, ix.slots[p], s)
		}
	}
	var many []string
	for i := range 300 {
		many = append(many, fmt.Sprintf("requestParameters.p%d.x", i))
	}
	big := ix.with(many)
	if len(big.slots) > maxSlots || len(big.slots) < maxSlots-1 {
		t.Errorf("%d slots, want at most %d and the room used", len(big.slots), maxSlots)
	}
	for p, s := range ix.slots {
		if big.slots[p] != s {
			t.Errorf("%s: slot %d, %d before", p, big.slots[p], s)
		}
	}
	rec := []byte(`{"requestParameters":{"p1":{"x":"a"},"p299":{"x":"b"}},"eventName":"E"}`)
	r, ok := indexRecord(rec, big)
	if !ok || r.str("requestParameters.p1.x") != "a" || r.str("requestParameters.p299.x") != "b" || big.slot("requestParameters.p299.x") >= 0 {
		t.Errorf("indexed %v: %q %q", ok, r.str("requestParameters.p1.x"), r.str("requestParameters.p299.x"))
	}
}

// TestIndexRefuses: a record whose bytes could read otherwise than its decoding is not
// indexed: a key on an indexed path with escapes or given twice, a top-level key given twice.
func TestIndexRefuses(t *testing.T) {
	for _, rec := range []string{
		`{"requestParameters":{"userName":"a","userName":"b"}}`,
		`{"requestParameters":{"user\u004eame":"a"},"eventName":"X"}`,
		`{"userIdentity":{"sessionContext":{},"type":"IAMUser","type":"Root"}}`,
		`{"userIdentity":{"onBehalfOf":{"userId":"a"},"onBehalfOf":{"userId":"b"}}}`,
		`{"eventName":"A","eventName":"B"}`, `{"x":1,"x":2}`,
		"{\"requestParameters\":{\"user\xffName\":\"a\"}}",
		`[1]`, `{"a":1`, `{"a":1}x`,
	} {
		if _, ok := indexRecord([]byte(rec), staticIndex); ok {
			t.Errorf("indexed %s", rec)
		}
		checkLazy(t, []byte(rec))
	}
	// keys repeated off the indexed paths, and escapes there, are read as decoding reads them
	for _, rec := range []string{
		`{"requestParameters":{"x":1,"x":2,"userName":"u"},"tlsDetails":{"a\u0062":1}}`,
		`{"requestParameters":{"ipPermissions":{"items":[{"ipRanges":{"items":[{"cidrIp":"0.0.0.0/0"}]}},{"x":1}]}}}`,
		`{"resources":[{"ARN":"a"},{"ARN":"b"}],"requestParameters":{"policyArns":[{"arn":"x"}],"policy":{"policy":"{}"}}}`,
		`{"requestParameters":{"userName":"caf\u00e9 \"q\"","roleName":12.50,"groupName":true,"policyArn":null,"flowLogIds":["a"]}}`,
	} {
		if _, ok := indexRecord([]byte(rec), staticIndex); !ok {
			t.Errorf("not indexed: %s", rec)
		}
		checkLazy(t, []byte(rec))
	}
}

// TestLazyRecord: a record decoded member by member reads like one decoded whole: every
// sample of the pack, and the odd shapes.
func TestLazyRecord(t *testing.T) {
	for _, r := range builtin(t) {
		for _, s := range append(r.Samples.Match, r.Samples.NoMatch...) {
			var recs []json.RawMessage
			if json.Unmarshal(s, &recs) != nil {
				recs = []json.RawMessage{s}
			}
			for _, rec := range recs {
				env, err := Envelope(rec)
				if err != nil {
					continue
				}
				if d, ok := liftedDetail(env); ok {
					checkLazy(t, d)
				}
			}
		}
	}
	for _, rec := range []string{
		`{}`, ` { "a" : { "b" : [1, "}", {"c": "\""}] } , "x" : null } `, `{"a":1,"a":2}`, `{"a":{"b":1,"b":2}}`,
		`{"eventID":-1.5e3,"readOnly":false,"errorCode":null,"eventName":"caf\u00e9"}`,
		`{"eventName":"x\"y","x":true}`, `{"\u0061":{"b":"c"}}`, `[1]`, `{"a":`, `{"a":1}x`, `{"a" 1}`,
	} {
		checkLazy(t, []byte(rec))
	}
}

func FuzzLazyRecord(f *testing.F) {
	f.Add([]byte(`{"eventName":"CreateUser","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::1:user/a"},"a":{"b":[1,2]}}`))
	f.Add([]byte(`{"a":{"b":1,"b":{"c":2}},"x":"\\\""}`))
	f.Fuzz(func(t *testing.T, rec []byte) {
		checkLazy(t, rec)
		checkIndexMembers(t, rec)
		// records reach the index checked by the decoder; anything else may read oddly,
		// but never panics
		if r, ok := indexRecord(rec, builtinIndex()); ok {
			for p := range r.ix.slots {
				r.str(p)
				r.lookup(p)
			}
			r.eventPart()
			r.field("who")
			r.policyDocs()
		}
	})
}

// TestSplitTop: an object splits into its members as written; anything but one object with
// plain keys, each once, is refused, whatever is cut off or added.
func TestSplitTop(t *testing.T) {
	for _, c := range []struct {
		in   string
		keys []string
	}{
		{`{}`, []string{}},
		{` { "a" : 1 , "b":{"c":[1,"]"]} } `, []string{"a", "b"}},
		{`{"a":"x\"y","b":null}`, []string{"a", "b"}},
		{`{"a":1,`, nil}, {`{"a":1,}`, nil}, {`{"a":1} x`, nil}, {`{"a":1 "b":2}`, nil}, {`{"a":1,"a":2}`, nil},
		{`{"\u0061":1}`, nil}, {`{"a"}`, nil}, {`{"a":}`, nil}, {`{`, nil}, {`{}x`, nil}, {`[1]`, nil}, {`{"a":[1}`, nil},
	} {
		ms, ok := splitTop([]byte(c.in))
		var got []string
		for _, m := range ms {
			got = append(got, string(m.key))
		}
		if ok != (c.keys != nil) || ok && len(got) != len(c.keys) || ok && len(got) > 0 && !reflect.DeepEqual(got, c.keys) {
			t.Errorf("%s: ok %v keys %q, want %q", c.in, ok, got, c.keys)
		}
		var each []string
		if eachOK := eachMember([]byte(c.in), func(k, _ []byte) { each = append(each, string(k)) }); eachOK != ok || ok && !reflect.DeepEqual(each, got) {
			t.Errorf("%s: eachMember ok %v keys %q, splitTop ok %v keys %q", c.in, eachOK, each, ok, got)
		}
	}
}

// TestStrAt: a path split once reads what str reads, in records decoded whole and lazily,
// repeated keys and arrays included.
func TestStrAt(t *testing.T) {
	paths := append([]string{"a.b", "a.b.c", "x", "resources.0.ARN", "resources.1", "requestParameters.items.0.k"}, lazyPaths...)
	paths = append(paths, targetPaths...)
	for _, p := range paramPaths {
		paths = append(paths, p.path)
	}
	recs := [][]byte{
		[]byte(`{"a":{"b":1,"b":{"c":2}},"x":"\""}`), []byte(`{"a":[{"b":"y"}],"resources":[{"ARN":"arn:1"},{"ARN":"arn:2"}]}`),
		[]byte(`{"requestParameters":{"items":[{"k":"v"}],"userName":"u","userName":"w"},"eventName":"E"}`),
	}
	for _, r := range builtin(t) {
		for _, s := range r.Samples.Match {
			recs = append(recs, s)
		}
	}
	for _, rec := range recs {
		for _, decode := range []func(json.RawMessage) (*record, error){decodeRecord, decodeLazy} {
			r1, err1 := decode(rec)
			r2, err2 := decode(rec)
			if err1 != nil || err2 != nil {
				continue
			}
			for _, p := range paths {
				d := splitDotted(p)
				if a, b := r1.str(p), r2.strAt(&d); a != b {
					t.Errorf("%s in %s: str %q, strAt %q", p, rec, a, b)
				}
			}
		}
	}
}

// TestDecodeEventMembers: a record decoded from the decoder's members (DecodeEvent) is the one
// DecodeEnvelope splits from the envelope, member for member; a repeated key takes the whole
// decode as it does there.
func TestDecodeEventMembers(t *testing.T) {
	var raws []string
	for _, r := range builtin(t) {
		for _, s := range append(r.Samples.Match, r.Samples.NoMatch...) {
			raws = append(raws, string(s))
		}
	}
	raws = append(raws, `{"eventName":"A","userAgent":"x","eventName":"B"}`)
	withMembers := 0
	for _, raw := range raws {
		for _, ev := range decoded([]byte(raw)) {
			got, err := DecodeEvent(ev)
			if err != nil {
				t.Fatalf("%.200s: %v", raw, err)
			}
			want, err := DecodeEnvelope(ev.Envelope)
			if err != nil {
				t.Fatal(err)
			}
			if ev.Members != nil {
				withMembers++
			}
			g, w := got.r, want.r
			if !bytes.Equal(g.raw, w.raw) || g.whole != w.whole || len(g.lazy) != len(w.lazy) || (g.lazy == nil) != (w.lazy == nil) {
				t.Fatalf("%.200s: DecodeEvent gave %d members of %q, DecodeEnvelope %d of %q", raw, len(g.lazy), g.raw, len(w.lazy), w.raw)
			}
			for i := range g.lazy {
				if !bytes.Equal(g.lazy[i].key, w.lazy[i].key) || !bytes.Equal(g.lazy[i].val, w.lazy[i].val) {
					t.Fatalf("%.200s: member %d is %q: %q, want %q: %q", raw, i, g.lazy[i].key, g.lazy[i].val, w.lazy[i].key, w.lazy[i].val)
				}
			}
			if got.Str("eventName") != want.Str("eventName") {
				t.Fatalf("%.200s: eventName %q, want %q", raw, got.Str("eventName"), want.Str("eventName"))
			}
		}
	}
	if withMembers < len(raws)/2 {
		t.Errorf("%d of %d records came with their members", withMembers, len(raws))
	}
}

// checkIndexMembers: a record indexed from the decoder's members (indexMembers) is the one
// indexRecord reads from its bytes, member for member and span for span, and each refuses
// what the other does.
func checkIndexMembers(t *testing.T, rec []byte) (withMembers bool) {
	t.Helper()
	ix := builtinIndex()
	for _, ev := range decoded(append(append([]byte(`{"Records":[`), rec...), "]}"...)) {
		if ev.Members == nil {
			continue
		}
		withMembers = true
		detail, ok := liftedDetail(ev.Envelope)
		if !ok || !bytes.Equal(detail, ev.Record) || ev.Record[0] != '{' || ev.Record[len(ev.Record)-1] != '}' {
			t.Fatalf("%.200s: the record %s is not the detail of %s", rec, ev.Record, ev.Envelope)
		}
		got, okGot := indexMembers(ev.Record, ev.Members, ix)
		want, okWant := indexRecord(detail, ix)
		if okGot != okWant {
			t.Fatalf("%.200s: indexMembers ok %v, indexRecord ok %v", rec, okGot, okWant)
		}
		if !okGot {
			continue
		}
		if got.lazy != nil || len(got.topSpans) != len(ev.Members) {
			t.Fatalf("%.200s: members made before one was looked up", rec)
		}
		// read through the spans, it reads as the record indexRecord made
		reads, _ := indexMembers(ev.Record, ev.Members, ix)
		fresh, _ := indexRecord(detail, ix)
		for _, name := range []string{"userIdentity", "eventName", "requestParameters", "x", ""} {
			if g, w := (&Record{reads}).Member(name), (&Record{fresh}).Member(name); !bytes.Equal(g, w) {
				t.Fatalf("%.200s: member %s is %s, want %s", rec, name, g, w)
			}
		}
		if reads.lazy != nil {
			t.Fatalf("%.200s: members made by Member", rec)
		}
		for _, p := range append([]string{"userIdentity", "requestParameters", "eventName", "eventVersion", "resources", "x", "a"}, lazyPaths...) {
			if g, w := reads.str(p), want.str(p); g != w {
				t.Fatalf("%.200s: %s is %q, want %q", rec, p, g, w)
			}
			if top, _, _ := strings.Cut(p, "."); reads.present(top) != want.present(top) {
				t.Fatalf("%.200s: %s present %v, want %v", rec, top, reads.present(top), want.present(top))
			}
		}
		if g, w := reads.field("who"), want.field("who"); g != w {
			t.Fatalf("%.200s: who is %q, want %q", rec, g, w)
		}
		got.member("") // makes them
		if len(got.lazy) != len(want.lazy) || !bytes.Equal(got.at, want.at) || len(got.spans) != len(want.spans) {
			t.Fatalf("%.200s: %d members, at %v; want %d, at %v", rec, len(got.lazy), got.at, len(want.lazy), want.at)
		}
		for i := range got.lazy {
			if !bytes.Equal(got.lazy[i].key, want.lazy[i].key) || !bytes.Equal(got.lazy[i].val, want.lazy[i].val) {
				t.Fatalf("%.200s: member %d is %q: %q, want %q: %q", rec, i, got.lazy[i].key, got.lazy[i].val, want.lazy[i].key, want.lazy[i].val)
			}
		}
		for i := range got.spans {
			if got.spans[i].off != want.spans[i].off || got.spans[i].end != want.spans[i].end {
				t.Fatalf("%.200s: span %d is %d-%d, want %d-%d", rec, i, got.spans[i].off, got.spans[i].end, want.spans[i].off, want.spans[i].end)
			}
		}
	}
	return withMembers
}

// TestIndexMembers: see checkIndexMembers, on the rules' samples and records indexRecord
// refuses.
func TestIndexMembers(t *testing.T) {
	recs := []string{
		`{"eventName":"A","userAgent":"x","eventName":"B"}`,
		`{"eventName":"A","requestParameters":{"userName":"a","userName":"b"}}`,
		"{\"eventName\":\"A\",\"k\xff\":1}",
		"{\"eventName\":\"A\",\"userIdentity\":{\"t\xffpe\":1}}",
		`{"eventName":"A","userIdentity":{"ty\u0070e":"IAMUser"}}`,
		`{ "eventName" : "A" , "requestParameters" : { "userName" : [ 1 , 2 ] } , "x" : null }`,
		`{"eventName":"A","requestParameters":{"policyArns":[{"a":1},"x"]},"resources":[{"ARN":"a"}]}`,
	}
	for _, r := range builtin(t) {
		for _, s := range append(r.Samples.Match, r.Samples.NoMatch...) {
			recs = append(recs, string(s))
		}
	}
	withMembers := 0
	for _, rec := range recs {
		if checkIndexMembers(t, []byte(rec)) {
			withMembers++
		}
	}
	if withMembers < len(recs)/2 {
		t.Errorf("%d of %d records came with their members", withMembers, len(recs))
	}
}

// TestKnownPaths: a path read with its slot known (strOf) reads what str reads, in records
// indexed, decoded whole and lazily; the policy documents' paths are all indexed.
func TestKnownPaths(t *testing.T) {
	paths := []*knownPath{&pathEventID, &pathEventName, &pathEventSource, &pathEventTime, &pathRegion, &pathSourceIP,
		&pathUserAgent, &pathErrorCode, &pathErrorMessage, &pathRecipient, &pathCallerType, &pathCallerARN, &pathCallerAccount}
	for _, p := range paths {
		if p.slot < 0 {
			t.Errorf("%s is not indexed", p.path)
		}
	}
	for i, s := range docSlots {
		if s < 0 || s != builtinIndex().slot(docPaths[i].path) {
			t.Errorf("%s: slot %d, the engine's %d", docPaths[i].path, s, builtinIndex().slot(docPaths[i].path))
		}
	}
	var recs []json.RawMessage
	for _, r := range builtin(t) {
		recs = append(recs, r.Samples.Match...)
	}
	recs = append(recs, json.RawMessage(`{"eventName":"A","eventName":"B","userIdentity":{"type":"X","type":"Y"}}`))
	index := func(b json.RawMessage) (*record, error) {
		if r, ok := indexRecord(b, builtinIndex()); ok {
			return r, nil
		}
		return decodeRecord(b)
	}
	for _, rec := range recs {
		for _, decode := range []func(json.RawMessage) (*record, error){decodeRecord, decodeLazy, index} {
			r1, err1 := decode(rec)
			r2, err2 := decode(rec)
			if err1 != nil || err2 != nil {
				continue
			}
			for _, p := range paths {
				if a, b := r1.str(p.path), r2.strOf(p); a != b {
					t.Errorf("%s in %s: str %q, strOf %q", p.path, rec, a, b)
				}
			}
		}
	}
}
