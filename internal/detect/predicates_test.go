package detect

import (
	"bytes"
	"encoding/json"
	"maps"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode"

	"github.com/trailbell/trailbell/internal/cloudtrail"
	"github.com/trailbell/trailbell/pattern"
)

// decoded returns the events the decoder makes of raw (a record, or anything else it reads),
// with the members it hands on, as scan gets them.
func decoded(raw []byte) []cloudtrail.Event {
	var evs []cloudtrail.Event
	_, _ = cloudtrail.Decode(bytes.NewReader(raw), "t", func(e cloudtrail.Event) error {
		evs = append(evs, e)
		return nil
	})
	return evs
}

// preChecksTurnAway reports the first predicate that holds for an event the decoder made of
// raw but whose pre-checks, read as Engine.MatchEvent reads them (the record's members when
// the decoder gives them), turn it away; members counts the events that had members.
func preChecksTurnAway(raw []byte) (name string, env []byte, members int) {
	for _, ev := range decoded(raw) {
		rec, err := envelopeRecord(ev.Envelope)
		if err != nil {
			continue
		}
		if ev.Members != nil {
			members++
		}
		for name, p := range predicates {
			if p.holds(rec) && !predicatesMayHold([]*Predicate{&p}, ev.Envelope, ev.Record, ev.Members) {
				return name, ev.Envelope, members
			}
		}
	}
	return "", nil, members
}

// TestPredicateMaybeIsNecessary: a byte-level pre-check must never turn away a record whose
// predicate holds, including when the telling text is escaped (JSON \u, URL %2A).
func TestPredicateMaybeIsNecessary(t *testing.T) {
	var recs []string
	for _, r := range builtin(t) {
		for _, s := range append(r.Samples.Match, r.Samples.NoMatch...) {
			recs = append(recs, string(s))
		}
	}
	// escaped forms that the full decode still reads as a public principal or a person
	recs = append(recs,
		`{"eventName":"PutBucketPolicy","requestParameters":{"bucketPolicy":{"Statement":[{"Effect":"Allow","Principal":"\u002a","Action":"s3:GetObject"}]}}}`,
		`{"eventName":"SetQueueAttributes","requestParameters":{"attributes":{"Policy":"%7B%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Principal%22%3A%22%2A%22%7D%5D%7D"}}}`,
		`{"eventName":"UpdateFunctionCode20150331v2","userIdentity":{"type":"IAM\u0055ser","arn":"arn:aws:iam::111122223333:user/a"}}`,
		`{"eventName":"UpdateFunctionCode20150331v2","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role\/AWSReservedSSO_Admin_1\/jane"}}`,
		`{"eventName":"CreateUser","userAgent":"aws-cli/2.17 exec-env/CLOUDSHELL"}`,
		`{"eventName":"CreateUser","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role\/web\/i-0abc"}}`,
		`{"eventName":"GetCallerIdentity","userAgent":"TRUFFLE\u0048OG"}`,
		`{"eventName":"CreateUser","userAgent":"S3 Browser\/11.4.5 https:\/\/s3browser.com"}`,
		`{"eventName":"CreateUser","userAgent":"aws-sdk-go exec-env\/AWS_Lambda_go1.x","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/fn-role/fn"}}`,
		`{"eventName":"CreateUser","\u0075serAgent":"pacu"}`,
		`{"eventName":"CreateUser","policy":"\u003c","user\u0041gen\u0074":"kali"}`,
		// letters outside ASCII that strings.ToLower lowers into a mark's (Kelvin sign, İ)
		"{\"eventName\":\"CreateUser\",\"userAgent\":\"aws-cli/2.15 md/distrib#\u212aali.2024\"}",
		"{\"eventName\":\"CreateUser\",\"userAgent\":\"aws-cli/2.15 md/distrib#KAL\u0130.2024\"}",
		`{"eventName":"CreateUser","userAgent":"aws-cli/2.15 md/distrib#\u212aal\u0130"}`,
	)
	checked := map[string]int{}
	for _, raw := range recs {
		env, err := Envelope([]byte(raw))
		if err != nil {
			continue // not a record
		}
		rec, err := envelopeRecord(env)
		if err != nil {
			continue
		}
		for name, p := range predicates {
			if p.maybe == nil || !p.holds(rec) {
				continue
			}
			checked[name]++
			if !p.maybe(env) {
				t.Errorf("%s holds but its pre-check turns the record away: %.200s", name, raw)
			}
		}
	}
	for name, p := range predicates {
		if p.maybe != nil && checked[name] == 0 {
			t.Errorf("%s: no record where it holds exercised its pre-check", name)
		}
	}
	// the same records as the decoder hands them on, the pre-checks reading their members
	withMembers := 0
	for _, raw := range append(recs,
		`{"eventName":"CreateUser","userAgent":"x","userAgent":"pacu"}`,
		`{"eventName":"CreateUser","userAgent":"Pacu\u002f1.0"}`,
		`{"eventName":"CreateUser" , "userAgent" :  "S3 Browser 11" }`,
	) {
		name, env, n := preChecksTurnAway([]byte(raw))
		withMembers += n
		if name != "" {
			t.Errorf("%s holds but its pre-check on the decoder's members turns the record away: %.300s", name, env)
		}
	}
	if withMembers == 0 {
		t.Error("no decoded record had its members handed on")
	}
	for _, raw := range []string{
		`{"eventName":"CreateUser","userAgent":"aws-cli/2.15","requestParameters":{"userAgent":"kali"}}`,
		`{"eventName":"CreateUser","userAgent":null}`,
		`{"eventName":"CreateUser"}`,
	} {
		evs := decoded([]byte(raw))
		if len(evs) != 1 || evs[0].Members == nil {
			t.Fatalf("%s: decoded to %d events, or without members", raw, len(evs))
		}
		if predicatesMayHold([]*Predicate{new(predicates["user-agent-is-attack-tool"])}, evs[0].Envelope, evs[0].Record, evs[0].Members) {
			t.Errorf("user-agent-is-attack-tool: the pre-check on members let through %s", raw)
		}
	}
	// and the pre-checks do turn records away
	env, err := Envelope([]byte(`{"eventName":"CreateKey","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/deploy/ci"},"requestParameters":{"description":"k"}}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"caller-is-person", "resource-policy-public"} {
		if predicates[name].maybe(env) {
			t.Errorf("%s: pre-check let through %s", name, strings.TrimSpace(string(env)))
		}
	}
	// other \u escapes than those of the key's letters leave the user agent to the byte search
	env, err = Envelope([]byte(`{"eventName":"GetObject","requestParameters":{"key":"a\u003cb\u00e9"},"userAgent":"aws-cli/2.15"}`))
	if err != nil {
		t.Fatal(err)
	}
	if predicates["user-agent-is-attack-tool"].maybe(env) || !escapesLetterOf([]byte(`"user\u0041gent"`), "userAgent") || escapesLetterOf(env, "userAgent") {
		t.Errorf("user-agent-is-attack-tool: pre-check let through %s, or misread \\u escapes", env)
	}
}

// TestPredicatePrefilterIsNecessary: a predicate's pre-filter pattern (what the deployed
// EventBridge rules add for it) must match every record the predicate holds for, here user
// agents naming a tool in random case at random places, and its byte-level pre-check must let
// them through.
func TestPredicatePrefilterIsNecessary(t *testing.T) {
	rnd := rand.New(rand.NewPCG(11, 11))
	spell := func(s string) string {
		var b strings.Builder
		for i := range len(s) {
			c := s[i]
			switch r, ok := foldsToASCII[c]; {
			case ok && rnd.IntN(3) == 0:
				b.WriteString(r) // lowered into c by strings.ToLower
			case rnd.IntN(2) == 0 && c >= 'a' && c <= 'z':
				b.WriteByte(c - ('a' - 'A'))
			default:
				b.WriteByte(c)
			}
		}
		return b.String()
	}
	around := []string{"", "aws-cli/2.15.30 md/distrib#", "Boto3/1.34.1 Linux/6.6.9-amd64-", "python-requests/2.31 ", "x"}
	var words []string
	for _, t := range attackTools {
		words = append(words, t.mark)
	}
	checked := map[string]int{}
	for name, p := range predicates {
		if p.prefilter == "" {
			continue
		}
		m := pattern.New()
		if err := m.Add(name, p.prefilter); err != nil {
			t.Fatalf("%s: pre-filter: %v", name, err)
		}
		for i := 0; i < 400; i++ {
			ua := around[rnd.IntN(len(around))] + spell(words[rnd.IntN(len(words))]) + around[rnd.IntN(len(around))]
			rec, _ := json.Marshal(map[string]any{"eventSource": "iam.amazonaws.com", "eventName": "CreateUser", "userAgent": ua})
			env, err := Envelope(rec)
			if err != nil {
				t.Fatal(err)
			}
			r, err := envelopeRecord(env)
			if err != nil {
				t.Fatal(err)
			}
			if !p.holds(r) {
				continue
			}
			checked[name]++
			if ids, err := m.Match(env); err != nil || len(ids) == 0 {
				t.Errorf("%s holds for user agent %q, which its pre-filter does not match (%v)", name, ua, err)
			}
			if p.maybe != nil && !p.maybe(env) {
				t.Errorf("%s holds for user agent %q, which its pre-check turns away", name, ua)
			}
		}
		if checked[name] == 0 {
			t.Errorf("%s: no generated user agent exercised its pre-filter", name)
		}
	}
	if len(checked) < 2 {
		t.Errorf("pre-filters of %d predicates checked, want the two user-agent predicates", len(checked))
	}
}

// TestFoldsToASCII: foldsToASCII holds exactly the runes outside ASCII that strings.ToLower
// turns into an ASCII letter, each under that letter.
func TestFoldsToASCII(t *testing.T) {
	want := map[byte]string{}
	for r := rune(0x80); r <= unicode.MaxRune; r++ {
		if l := strings.ToLower(string(r)); len(l) == 1 && l[0] < 0x80 {
			if _, dup := want[l[0]]; dup {
				t.Fatalf("two runes lower into %q: foldsToASCII holds one a letter", l)
			}
			want[l[0]] = string(r)
		}
	}
	if !maps.Equal(foldsToASCII, want) {
		t.Errorf("foldsToASCII = %q, want %q", foldsToASCII, want)
	}
}
