package correlate

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/trailbell/trailbell/internal/detect"
)

// TestFieldsAsDecoded: what Add reads of a record from the decoder's spans (the caller, the
// credentials it issued, its id and name, the values rules group by) is what it reads of
// the record detect decodes, on every record of the pack's samples and on records of odd
// shapes (escapes, nulls, numbers, objects where text is expected, repeated keys).
func TestFieldsAsDecoded(t *testing.T) {
	rs, err := detect.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	var recs []json.RawMessage
	for _, r := range rs {
		for _, s := range append(r.Samples.Match, r.Samples.NoMatch...) {
			var some []json.RawMessage
			if json.Unmarshal(s, &some) != nil {
				some = []json.RawMessage{s}
			}
			for _, raw := range some {
				var probe struct {
					Event  json.RawMessage `json:"event"`
					Detail json.RawMessage `json:"detail"`
				}
				if json.Unmarshal(raw, &probe) == nil && probe.Event != nil {
					raw = probe.Event // a repeated record: {"event": ..., "repeat": n}
					if json.Unmarshal(raw, new(string)) == nil {
						var s string
						json.Unmarshal(raw, &s)
						raw = json.RawMessage(s)
					}
				}
				if json.Unmarshal(raw, &probe) == nil && probe.Detail == nil {
					recs = append(recs, raw)
				}
			}
		}
	}
	if len(recs) < 200 {
		t.Fatalf("only %d sample records", len(recs))
	}
	odd := []string{
		`{"eventID":"e\u0031","eventName":"Assume\"Role","eventTime":"2026-11-20T09:00:00Z","awsRegion":null,"recipientAccountId":111122223333,"sourceIPAddress":"10.0.0.1","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::1:user/a\u00e9","accountId":"1","userName":"a"}}`,
		`{"eventID":"e2","eventName":"AssumeRole","eventTime":"2026-11-20T09:00:00Z","awsRegion":{"a":1},"recipientAccountId":"","sourceIPAddress":["x"],"userIdentity":{"type":"AssumedRole","accountId":"2","accessKeyId":"ASIA1","type":"Root"}}`,
		`{"eventID":"e3","eventID":"e4","eventName":"GetCallerIdentity","eventTime":"2026-11-20T09:00:00Z","userIdentity":{"type":"Root","accountId":"3"},"userIdentity":{"arn":"x"}}`,
		`{"eventID":"e5","eventName":"AssumeRole","eventTime":"2026-11-20T09:00:00Z","userIdentity":null,"errorCode":"","errorMessage":true,"userAgent":12.5,"eventSource":"sts.amazonaws.com",` +
			`"responseElements":{"credentials":{"accessKeyId":"ASIA5","expiration":"Nov 20, 2026, 10:00:00 AM"},"assumedRoleUser":{"arn":"arn:aws:sts::1:assumed-role/r/s"}}}`,
		`{"eventID":"e6","eventName":"AssumeRoleWithSAML","eventTime":"2026-11-20T09:00:00Z","userIdentity":"root","requestParameters":{"principalArn":"arn:aws:iam::1:saml-provider/p"},` +
			`"responseElements":{"credentials":{"accessKeyId":"ASIA6","expiration":7},"subject":"jdoe","issuer":null}}`,
		`{"eventID":"e7","eventName":"AssumeRoleWithWebIdentity","eventTime":"2026-11-20T09:00:00Z","userIdentity":{"type":"WebIdentityUser","userName":"u","identityProvider":"p"},` +
			`"responseElements":{"credentials":{"accessKeyId":"ASIA7"},"subjectFromWebIdentityToken":"s","provider":"q","credentials":{"accessKeyId":"ASIA8"}}}`,
		`{"eventID":"e8","eventName":"ListUsers","eventTime":"2026-11-20T09:00:00Z","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/r/s","sessionContext":{"sessionIssuer":{"type":"Role","arn":"arn:aws:iam::1:role/r"},"sourceIdentity":"jo"}},"sourceIPAddress":"2001:db8::1"}`,
	}
	for _, ui := range []string{`{}`, `{"type":"AWSService","invokedBy":"ec2.amazonaws.com"}`, `{"type":"AWSService"}`, `{"type":"Root","accountId":"1"}`,
		`{"type":"Root"}`, `{"type":"AWSAccount","accountId":7}`, `{"type":"IdentityCenterUser","onBehalfOf":{"userId":"u-1"}}`,
		`{"type":"X","principalId":"p"}`, `{"type":"X"}`, `{"userName":"","principalId":"AIDA"}`, `{"type":"IAMUser","userName":"a\tb"}`, `[]`} {
		odd = append(odd, `{"eventID":"p","eventName":"AssumeRole","eventTime":"2026-11-20T09:00:00Z","userIdentity":`+ui+`}`)
	}
	for _, rp := range []string{`null`, `"x"`, `[]`, `{}`, `{"userName":null}`, `{"userName":""}`, `{"userName":7}`, `{"userName":true}`,
		`{"userName":{"a":1}}`, `{"userName":["a"]}`, `{"userName":"a","userName":"b"}`, `{"user\u004eame":"a"}`, `{"userName":"a\"b"}`,
		`{"userName":"bob","policyDocument":"{\"a\":1}"}`, `{ "userName" : "bob" , "x":[1,{"y":2}]}`, `{"":"e","userName":"u"}`} {
		odd = append(odd, `{"eventID":"r","eventName":"CreateUser","eventTime":"2026-11-20T09:00:00Z","requestParameters":`+rp+`}`,
			`{"eventID":"r","eventName":"CreateUser","eventTime":"2026-11-20T09:00:00Z","userIdentity":{"type":"Root"},"requestParameters":`+rp+`}`)
	}
	for _, s := range odd {
		recs = append(recs, json.RawMessage(s))
	}
	names := []string{"account", "region", "sourceNetwork", "principal", "eventName", "eventSource", "sourceIPAddress",
		"userAgent", "errorCode", "errorMessage", "userIdentity.accessKeyId", "userIdentity.arn", "requestParameters.userName",
		"requestParameters.roleArn", "readOnly", "recipientAccountId", "who", "requestParameters.serialNumber",
		"requestParameters.instanceId", "detail.eventName", "detail.requestParameters.userName", "responseElements.ConsoleLogin",
		"additionalEventData.MFAUsed", "userIdentity.sessionContext.sourceIdentity", "requestParameters.policyDocument",
		"eventID.x", "requestParameters.", ".eventName"}
	at := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	spans := 0
	for _, raw := range recs {
		ev := logFileEvent(t, raw)
		if ev.Members != nil {
			spans++
		}
		// reads through detect's record, as Add did before it read the spans
		want := func() *fields {
			r, err := detect.DecodeEvent(ev)
			if err != nil {
				t.Fatalf("%s: %v", raw, err)
			}
			return &fields{rec: r}
		}
		got := func() *fields {
			f, err := readFields(ev, nil)
			if err != nil {
				t.Fatalf("%s: %v", raw, err)
			}
			return &f
		}
		g, w := got(), want()
		gi, wi := identityOf(g), identityOf(w)
		if gi != wi {
			t.Errorf("%s: identity %+v, decoded %+v", raw, gi, wi)
		}
		if a, b := g.Str("eventID"), w.Str("eventID"); a != b {
			t.Errorf("%s: eventID %q, decoded %q", raw, a, b)
		}
		if a, b := string(g.raw()), string(w.rec.Raw()); a != b {
			t.Errorf("%s: raw %s, decoded %s", raw, a, b)
		}
		gk, gf, ge := credentialFact(g, gi, at)
		wk, wf, we := credentialFact(w, wi, at)
		if gk != wk || gf != wf || ge != we {
			t.Errorf("%s: credentials %q %+v %d, decoded %q %+v %d", raw, gk, gf, ge, wk, wf, we)
		}
		for _, name := range names {
			// each on a record read afresh: detect's remembers what it decoded
			g, w := got(), want()
			gi, wi := identityOf(g), identityOf(w)
			if a, b := fieldValue(g, &gi, name), decodedValue(w.rec, &wi, name); a != b {
				t.Errorf("%s: %s = %q, decoded %q", raw, name, a, b)
			}
			if a, b := g.Str(name), w.Str(name); a != b {
				t.Errorf("%s: Str(%s) = %q, decoded %q", raw, name, a, b)
			}
			if a, b := g.Member(name), w.Member(name); string(a) != string(b) {
				t.Errorf("%s: Member(%s) = %s, decoded %s", raw, name, a, b)
			}
		}
	}
	if spans < len(recs)-2 {
		t.Errorf("only %d of %d records read with spans", spans, len(recs))
	}
}

// decodedValue is a step's value as Add read it from detect's record: the caller's fields
// from its identity, the rest through Key.
func decodedValue(rec *detect.Record, id *identity, f string) string {
	if name, ok := strings.CutPrefix(f, "userIdentity."); ok {
		switch name {
		case "type":
			return id.Type
		case "arn":
			return id.ARN
		case "principalId":
			return id.PrincipalID
		case "accountId":
			return id.Account
		case "accessKeyId":
			return id.AccessKeyID
		case "userName":
			return id.UserName
		case "invokedBy":
			return id.InvokedBy
		}
	}
	return rec.Key(f)
}

// TestParseExpiration: the one layout tried is the one of the layouts that reads the text,
// if any (before, each was tried in turn).
func TestParseExpiration(t *testing.T) {
	tryEach := func(s string) (time.Time, bool) {
		layouts := []string{"Jan 2, 2006, 3:04:05 PM", "Jan 2, 2006 3:04:05 PM"}
		if s != "" && '0' <= s[0] && s[0] <= '9' {
			layouts = []string{time.RFC3339}
		}
		for _, layout := range layouts {
			if t, err := time.Parse(layout, s); err == nil {
				return t, true
			}
		}
		return time.Time{}, false
	}
	for _, s := range []string{
		"Nov 20, 2026, 10:00:00 AM", "Nov 20, 2026 10:00:00 AM", "Nov 20, 2026, 10:00:00,5 AM", "Nov 20, 2026 10:00:00,5 AM",
		"Nov 20, 2026 10:00:00.25 PM", "Sep 9, 2026, 9:05:07 PM", "2026-11-20T10:00:00Z", "2026-11-20T10:00:00,5Z",
		"2026-11-20T10:00:00+01:00", "", "7", "Nov 20,, 2026 10:00:00 AM", "Nov 20 2026, 10:00:00 AM", "Nov 20, 2026, 10:00 AM",
		"Nov 20, 2026", ",,:", "Nov 20, 2026,10:00:00 AM", "nov 20, 2026, 10:00:00 am",
	} {
		got, ok := parseExpiration(s)
		want, wantOK := tryEach(s)
		if ok != wantOK || !got.Equal(want) {
			t.Errorf("%q: %v %v, each layout in turn %v %v", s, got, ok, want, wantOK)
		}
	}
	// CloudTrail's layouts, read without time.Parse when written plainly: the same times, and
	// the same refusals, on text near them
	rnd := rand.New(rand.NewPCG(1, 2))
	// pick is mostly one of the first two, else any
	pick := func(xs ...string) string {
		if rnd.IntN(10) < 8 {
			return xs[rnd.IntN(min(2, len(xs)))]
		}
		return xs[rnd.IntN(len(xs))]
	}
	num := func(lo, hi int) string {
		n := lo + rnd.IntN(hi-lo+1)
		return pick(fmt.Sprint(n), fmt.Sprintf("%02d", n), fmt.Sprintf("%03d", n))
	}
	plain := 0
	for range 50_000 {
		month := []string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}[rnd.IntN(12)]
		s := pick(month, month, "nov", "NOV", "Sept", "Xyz", "anF") +
			pick(" ", " ", "  ", "") + num(0, 32) + pick(", ", ", ", ",", ",  ", " ") + pick("2026", "2024", "2100", "0000", "999", "20x6") +
			pick(", ", " ", ",  ", "  ", ",") + num(0, 13) + pick(":", ":", ".") + num(0, 61) + pick(":", ":", "") + num(0, 61) +
			pick(" ", " ", "", "  ", ",5 ", ".25 ") + pick("AM", "PM", "am", "P", "PM ", "PMx", "")
		if _, ok := cloudTrailTime(s); ok {
			plain++
		}
		got, ok := parseExpiration(s)
		want, wantOK := tryEach(s)
		if ok != wantOK || !got.Equal(want) || got.Location() != want.Location() {
			t.Fatalf("%q: %v %v, each layout in turn %v %v", s, got, ok, want, wantOK)
		}
	}
	t.Logf("%d of 50,000 read plainly", plain)
	if plain < 1000 {
		t.Errorf("only %d of the texts read plainly", plain)
	}
}
