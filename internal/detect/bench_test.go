package detect

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/trailbell/trailbell/internal/cloudtrail"
)

// benchEvents are envelopes of realistic traffic: every built-in sample and Panther-labelled
// event (which mostly match something) plus, for each of them, four read-only variants that
// match nothing, the shape of real trails where reads dominate.
func benchEvents(b testing.TB) [][]byte {
	b.Helper()
	var recs [][]byte
	for _, r := range builtin(b) {
		for _, s := range append(append([]json.RawMessage{}, r.Samples.Match...), r.Samples.NoMatch...) {
			recs = append(recs, s)
		}
	}
	for _, c := range readPantherIndex(b) {
		if rec, err := pantherLine(c.File, c.Line); err == nil {
			recs = append(recs, rec)
		}
	}
	var envs [][]byte
	for _, rec := range recs {
		env, err := Envelope(rec)
		if err != nil {
			continue
		}
		envs = append(envs, env)
		var m map[string]any
		if json.Unmarshal(rec, &m) != nil {
			continue
		}
		for _, name := range []string{"DescribeInstances", "GetObject", "ListRoles", "GetCallerIdentity"} {
			m["eventName"] = name
			m["readOnly"] = true
			delete(m, "errorCode")
			delete(m, "errorMessage")
			if ui, ok := m["userIdentity"].(map[string]any); ok && ui["type"] == "Root" {
				ui["type"] = "IAMUser"
			}
			r, _ := json.Marshal(m)
			if env, err := cloudtrail.Lift(r); err == nil {
				envs = append(envs, env)
			}
		}
	}
	return envs
}

// extraRules are n customer rules of the kinds people add: events of other services, and
// exceptions for named principals. None of them matches the bench events.
func extraRules(n int) []Rule {
	rs := make([]Rule, n)
	for i := range rs {
		var p string
		switch i % 3 {
		case 0:
			p = fmt.Sprintf(`{"detail":{"eventSource":["svc%d.amazonaws.com"],"eventName":["Action%d"]}}`, i, i)
		case 1:
			p = fmt.Sprintf(`{"detail":{"eventName":["CreateUser"],"userIdentity":{"arn":[{"prefix":"arn:aws:iam::%012d:user/"}]}}}`, i)
		default:
			p = fmt.Sprintf(`{"detail":{"eventName":[{"prefix":"Custom%dOp"}],"requestParameters":{"bucketName":["bucket-%d"]}}}`, i, i)
		}
		rs[i] = Rule{ID: fmt.Sprintf("extra-%d", i), Title: "{principal}", Pattern: p}
	}
	return rs
}

func benchDetect(b *testing.B, rs []Rule) { benchDetectOn(b, rs, benchEvents(b)) }

func benchDetectOn(b *testing.B, rs []Rule, envs [][]byte) {
	e, err := New(rs)
	if err != nil {
		b.Fatal(err)
	}
	findings := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		fs, err := e.Detect(envs[i%len(envs)])
		if err != nil {
			b.Fatal(err)
		}
		findings += len(fs)
	}
	b.ReportMetric(float64(len(envs)), "events")
	if findings == 0 {
		b.Fatal("no findings")
	}
}

func BenchmarkDetectBuiltin(b *testing.B) { benchDetect(b, builtin(b)) }

// BenchmarkDetectAlerting detects on alerting records only (the pack's samples that match and
// Panther's labelled events that some rule finds): what a finding costs, reading its record,
// titles and runbooks included.
func BenchmarkDetectAlerting(b *testing.B) {
	rs := builtin(b)
	e, err := New(rs)
	if err != nil {
		b.Fatal(err)
	}
	var alerting [][]byte
	for _, env := range benchEvents(b) {
		if fs, err := e.Detect(env); err == nil && len(fs) > 0 {
			alerting = append(alerting, env)
		}
	}
	benchDetectOn(b, rs, alerting)
}

func BenchmarkDetectBuiltinPlus10000(b *testing.B) {
	benchDetect(b, append(builtin(b), extraRules(10000)...))
}

// BenchmarkDetectNoMatch is the common case: a read-only call no rule selects.
func BenchmarkDetectNoMatch(b *testing.B) {
	e, err := New(builtin(b))
	if err != nil {
		b.Fatal(err)
	}
	env, err := cloudtrail.Lift([]byte(strings.ReplaceAll(`{"eventVersion":"1.08","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/app/worker","accountId":"111122223333"},
	"eventTime":"2026-11-01T10:00:00Z","eventSource":"ec2.amazonaws.com","eventName":"DescribeInstances","awsRegion":"us-east-1","sourceIPAddress":"10.0.0.1",
	"userAgent":"aws-sdk-go-v2","requestParameters":{"instancesSet":{},"filterSet":{}},"responseElements":null,"eventID":"e1","readOnly":true,"eventType":"AwsApiCall","recipientAccountId":"111122223333"}`, "\n", "")))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if fs, err := e.Detect(env); err != nil || len(fs) != 0 {
			b.Fatal(fs, err)
		}
	}
}

// BenchmarkDetectBuiltinPlus10000Exact adds only exact-value rules (other services' events),
// which a path-indexed matcher should absorb at no cost per event.
func BenchmarkDetectBuiltinPlus10000Exact(b *testing.B) {
	rs := extraRules(30000)
	var exact []Rule
	for i := 0; i < len(rs); i += 3 {
		exact = append(exact, rs[i])
	}
	benchDetect(b, append(builtin(b), exact...))
}

// BenchmarkLoad10000 reads the 10,000-rule file bench/scan.sh uses (made by
// `go run ./bench/gen -rules 10000 -out bench/out/rules-10000.yaml`): the time `scan --rules`
// spends before it reads a record.
func BenchmarkLoad10000(b *testing.B) {
	const path = "../../bench/out/rules-10000.yaml"
	st, err := os.Stat(path)
	if err != nil {
		b.Skipf("%s missing: go run ./bench/gen -rules 10000 -out bench/out/rules-10000.yaml", path)
	}
	b.SetBytes(st.Size())
	b.ReportAllocs()
	for b.Loop() {
		rs, err := Load(path)
		if err != nil {
			b.Fatal(err)
		}
		if len(rs) != 10000 {
			b.Fatalf("loaded %d rules, want 10000", len(rs))
		}
	}
}
