package correlate

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trailbell/trailbell/internal/finding"
	"github.com/trailbell/trailbell/internal/notify/notifytest"
)

var orderRules = thresholdRule + strings.TrimPrefix(sequenceRule, "\nrules:\n") + strings.TrimPrefix(newTermsRule, "\nrules:\n") + `
  - id: console-login
    title: "{who} signed in"
    severity: info
    pattern: {detail: {eventName: ["ConsoleLogin"]}}
`

// story is three hours of a few people's activity in three regions: role sessions started by
// AssumeRole in a regional STS endpoint and used elsewhere, denied sweeps, escalation chains,
// password guessing, writes in new regions, and noise.
func story(seed uint64) []map[string]any {
	rnd := rand.New(rand.NewPCG(seed, 1))
	regions := []string{"us-east-1", "eu-west-1", "ap-south-1"}
	services := []string{"s3.amazonaws.com", "ec2.amazonaws.com", "iam.amazonaws.com", "kms.amazonaws.com", "rds.amazonaws.com"}
	var out []map[string]any
	n := 0
	add := func(at time.Time, region string, kv ...any) {
		n++
		r := rec(fmt.Sprintf("e%04d", n), at, kv...)
		r["awsRegion"] = region
		out = append(out, r)
	}
	// a day before, so learning is over: each account's regions in use
	for _, reg := range regions[:2] {
		add(t0.Add(-4*24*time.Hour), reg, with(user("ops"), "readOnly", false, "eventName", "RunInstances")...)
	}
	for p := range 6 {
		name := fmt.Sprintf("p%d", p)
		start := t0.Add(time.Duration(rnd.IntN(150)) * time.Minute)
		key := fmt.Sprintf("ASIA%04d", p)
		// the session comes from a user's AssumeRole in one region and is used in another
		add(start, regions[p%3], with(user(name), "eventSource", "sts.amazonaws.com", "eventName", "AssumeRole",
			"responseElements.credentials.accessKeyId", key,
			"responseElements.assumedRoleUser.arn", "arn:aws:sts::111122223333:assumed-role/admin/"+name)...)
		who := session("admin", name, key)
		at := start.Add(time.Minute)
		switch p % 3 {
		case 0: // a denied sweep
			for i := range 5 {
				add(at.Add(time.Duration(i*40)*time.Second), regions[i%3], with(who, "eventSource", services[i], "eventName", "Describe", "errorCode", "AccessDenied")...)
			}
		case 1: // the escalation chain, some steps in the same second
			add(at, "us-east-1", with(who, "eventSource", "iam.amazonaws.com", "eventName", "CreateUser", "requestParameters.userName", "u"+name)...)
			add(at, "us-east-1", with(who, "eventSource", "iam.amazonaws.com", "eventName", "CreateLoginProfile", "requestParameters.userName", "u"+name)...)
			add(at.Add(3*time.Minute), "us-east-1", with(who, "eventSource", "iam.amazonaws.com", "eventName", "AttachUserPolicy",
				"requestParameters.userName", "u"+name, "requestParameters.policyArn", "arn:aws:iam::aws:policy/AdministratorAccess")...)
		case 2: // a write in a new region, then password guessing that succeeds
			add(at, "ap-south-1", with(who, "readOnly", false, "eventName", "RunInstances")...)
			ip := fmt.Sprintf("198.51.100.%d", p)
			for i := range 4 {
				add(at.Add(time.Duration(i)*time.Minute), regions[i%2], with(user("x"), "eventSource", "signin.amazonaws.com", "eventName", "ConsoleLogin",
					"sourceIPAddress", ip, "responseElements.ConsoleLogin", "Failure")...)
			}
			add(at.Add(5*time.Minute), "eu-west-1", with(user("x"), "eventSource", "signin.amazonaws.com", "eventName", "ConsoleLogin",
				"sourceIPAddress", ip, "responseElements.ConsoleLogin", "Success")...)
		}
	}
	// noise, every few seconds, so event time moves in every region
	for at := t0; at.Before(t0.Add(4 * time.Hour)); at = at.Add(time.Duration(5+rnd.IntN(20)) * time.Second) {
		add(at, regions[rnd.IntN(3)], with(user("noise"), "eventName", "GetObject", "readOnly", true)...)
	}
	return out
}

// file is one CloudTrail log file: a region's records of five minutes.
type file struct {
	name      string
	recs      []map[string]any
	delivered time.Time
}

// files cuts records into log files and gives each a delivery time: its end plus a delay
// drawn up to maxDelay.
func files(recs []map[string]any, rnd *rand.Rand, maxDelay time.Duration) []file {
	by := map[string]*file{}
	for _, r := range recs {
		at, _ := time.Parse(time.RFC3339, r["eventTime"].(string))
		start := at.Truncate(5 * time.Minute)
		name := fmt.Sprintf("%s/%s", r["awsRegion"], start.Format("20060102T1504Z"))
		f, ok := by[name]
		if !ok {
			f = &file{name: name, delivered: start.Add(5 * time.Minute)}
			by[name] = f
		}
		f.recs = append(f.recs, r)
	}
	var out []file
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range by {
			if !yield(k) {
				return
			}
		}
	}) {
		f := by[name]
		rnd.Shuffle(len(f.recs), func(i, j int) { f.recs[i], f.recs[j] = f.recs[j], f.recs[i] }) // records in a file are not sorted either
		f.delivered = f.delivered.Add(time.Duration(rnd.Int64N(int64(maxDelay))))
		out = append(out, *f)
	}
	slices.SortStableFunc(out, func(a, b file) int { return a.delivered.Compare(b.delivered) })
	return out
}

// summary is what must not depend on arrival order: stateful findings whole (key, related,
// actor), event-rule findings by key.
func summary(fs []finding.Finding) []string {
	var out []string
	for _, f := range fs {
		s := f.Key()
		if len(f.Events) > 0 {
			s += fmt.Sprintf(" related=%v actor=%s title=%q", f.Related, f.Actor, f.Title)
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

func runFiles(t *testing.T, fs []file) ([]finding.Finding, *Metrics) {
	h := newHarness(t, orderRules, Options{})
	var out []finding.Finding
	for _, f := range fs {
		out = append(out, h.input(f.name, f.recs...)...)
	}
	return append(out, h.flush()...), h.e.o.Metrics
}

// TestOutOfOrderTolerance: CloudTrail files of several regions delivered up to 15 minutes
// late, in any order, with their records shuffled, give the findings of the records read in
// event-time order.
func TestOutOfOrderTolerance(t *testing.T) {
	recs := story(7)
	inOrder := slices.Clone(recs)
	slices.SortStableFunc(inOrder, func(a, b map[string]any) int {
		return strings.Compare(a["eventTime"].(string), b["eventTime"].(string))
	})
	h := newHarness(t, orderRules, Options{})
	want := summary(h.stream(inOrder...))
	rules := map[string]int{}
	for _, s := range want {
		rules[s[:strings.IndexByte(s, '/')]]++
	}
	for _, r := range []string{"denied-sweep", "escalation", "login-after-failures", "region-first-use"} {
		if rules[r] == 0 {
			t.Fatalf("the story has no %s finding: %v", r, want)
		}
	}
	for seed := range uint64(20) {
		got, _ := runFiles(t, files(recs, rand.New(rand.NewPCG(seed, 2)), 15*time.Minute))
		if g := summary(got); !slices.Equal(g, want) {
			t.Fatalf("seed %d: files delivered out of order within the tolerance:\n got %v\nwant %v", seed, g, want)
		}
	}
}

// TestPendingHeap: the buffer hands records back in event-time order, then eventID order,
// however they were pushed and popped in between.
func TestPendingHeap(t *testing.T) {
	rnd := rand.New(rand.NewPCG(7, 7))
	var h pendingHeap
	var want []*pending
	n := 0
	for round := range 200 {
		for range rnd.IntN(40) {
			n++
			p := &pending{T: int64(rnd.IntN(30)), ID: fmt.Sprintf("e%05d", rnd.IntN(1_000_000)*1000+n)}
			h.push(p)
			want = append(want, p)
		}
		slices.SortFunc(want, func(a, b *pending) int {
			if a.T != b.T {
				return int(a.T - b.T)
			}
			return strings.Compare(a.ID, b.ID)
		})
		for range rnd.IntN(40) {
			if len(want) == 0 {
				break
			}
			if got := h.pop(); got != want[0] {
				t.Fatalf("round %d: popped %d %s, want %d %s", round, got.T, got.ID, want[0].T, want[0].ID)
			}
			want = want[1:]
		}
		if len(h) != len(want) {
			t.Fatalf("round %d: %d buffered, want %d", round, len(h), len(want))
		}
	}
}

// TestFixedRules: an engine whose rules never change keeps only the bytes of buffered records
// that may complete a rule, and finds exactly what one that keeps every record's bytes does:
// the story delivered out of order, and every scenario of the pack's rules.
func TestFixedRules(t *testing.T) {
	run := func(o Options, fs []file) ([]finding.Finding, int) {
		h := newHarness(t, orderRules, o)
		var out []finding.Finding
		bare := 0
		for _, f := range fs {
			out = append(out, h.input(f.name, f.recs...)...)
			for _, x := range h.e.st.buf {
				if x.p.Rec == nil {
					bare++
				}
			}
		}
		return append(out, h.flush()...), bare
	}
	bare := 0
	for seed := range uint64(10) {
		fs := files(story(seed), rand.New(rand.NewPCG(seed, 3)), 15*time.Minute)
		want, none := run(Options{}, fs)
		got, n := run(Options{FixedRules: true}, fs)
		if none != 0 {
			t.Fatalf("seed %d: %d records buffered without their bytes by an engine whose rules may change", seed, none)
		}
		bare += n
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("seed %d: with fixed rules\n got %v\nwant %v", seed, summary(got), summary(want))
		}
	}
	if bare == 0 {
		t.Error("no record was buffered without its bytes")
	}
	if err := newHarness(t, orderRules, Options{FixedRules: true}).e.Swap(nil); err == nil {
		t.Error("an engine with fixed rules swapped them")
	}

	rs, det := notifytest.Builtin(t)
	n := 0
	for _, r := range rs {
		if !r.Kind.Stateful() {
			continue
		}
		for _, s := range append(r.Samples.Match, r.Samples.NoMatch...) {
			var recs []json.RawMessage
			if json.Unmarshal(s, &recs) != nil {
				continue
			}
			want, err := scenario(context.Background(), det, recs, Options{})
			got, err2 := scenario(context.Background(), det, recs, Options{FixedRules: true})
			if (err == nil) != (err2 == nil) || !reflect.DeepEqual(got, want) {
				t.Fatalf("%s: with fixed rules %v %v, without %v %v", r.ID, summary(got), err2, summary(want), err)
			}
			n += len(want)
		}
	}
	if n == 0 {
		t.Error("the pack's scenarios found nothing")
	}
}
