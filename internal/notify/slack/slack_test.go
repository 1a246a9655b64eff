package slack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trailbell/trailbell/internal/correlate"
	"github.com/trailbell/trailbell/internal/detect"
	"github.com/trailbell/trailbell/internal/finding"
	"github.com/trailbell/trailbell/internal/notify"
	"github.com/trailbell/trailbell/internal/notify/chat"
	"github.com/trailbell/trailbell/internal/notify/notifytest"
	"github.com/trailbell/trailbell/internal/notify/slack"
	"github.com/trailbell/trailbell/internal/notify/slacktest"
)

// builtinFindings returns, per built-in rule, the finding its first positive sample gives.
func builtinFindings(t *testing.T) map[string]*finding.Finding {
	t.Helper()
	rules, eng := notifytest.Builtin(t)
	out := map[string]*finding.Finding{}
	for _, r := range rules {
		if r.Kind.Stateful() {
			// Its samples are scenarios of several records, and its findings come from
			// the correlate engine (with actor and events), not from one record.
			var recs []json.RawMessage
			if err := json.Unmarshal(r.Samples.Match[0], &recs); err != nil {
				t.Fatalf("rule %s: %v", r.ID, err)
			}
			all, err := correlate.Scenario(context.Background(), eng, recs)
			if err != nil {
				t.Fatalf("rule %s: %v", r.ID, err)
			}
			for i := range all {
				if all[i].Rule == r.ID {
					f := all[i]
					f.Origin = "rules/" + r.ID + ".yaml scenario 1"
					out[r.ID] = &f
				}
			}
			if out[r.ID] == nil {
				t.Errorf("rule %s: first scenario gave no finding of the rule", r.ID)
			}
			continue
		}
		if len(r.Samples.Match) == 0 {
			t.Errorf("rule %s has no positive sample", r.ID)
			continue
		}
		env, err := detect.Envelope(r.Samples.Match[0]) // a sample may be an envelope already
		if err != nil {
			t.Fatalf("rule %s: %v", r.ID, err)
		}
		fs, err := eng.Detect(env)
		if err != nil {
			t.Fatalf("rule %s: detect: %v", r.ID, err)
		}
		for i := range fs {
			if fs[i].Rule == r.ID {
				f := fs[i]
				f.Origin = "rules/" + r.ID + ".yaml sample 1"
				out[r.ID] = &f
			}
		}
		if out[r.ID] == nil {
			t.Errorf("rule %s: first positive sample gave no finding of the rule", r.ID)
		}
	}
	return out
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	notifytest.Golden(t, filepath.Join("testdata", "golden", name), got)
}

func render(t *testing.T, m slack.Message) []byte {
	t.Helper()
	raw, err := slack.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	if reason := slacktest.CheckMessage(b); reason != "" {
		t.Errorf("message breaks a Slack limit: %s\n%s", reason, b)
	}
	return append(b, '\n')
}

var style = slack.Style{Accounts: map[string]string{"123456789012": "prod", "111122223333": "security"}}

func TestGoldenBuiltinRules(t *testing.T) {
	fs := builtinFindings(t)
	if len(fs) < 10 {
		t.Fatalf("only %d built-in findings", len(fs))
	}
	for id, f := range fs {
		t.Run(id, func(t *testing.T) {
			golden(t, id+".json", render(t, slack.Build(style, f)))
		})
	}
	// A golden file of a rule that no longer exists is stale.
	files, _ := filepath.Glob(filepath.Join("testdata", "golden", "*.json"))
	for _, path := range files {
		name := strings.TrimSuffix(filepath.Base(path), ".json")
		if fs[name] == nil && name != "summary" && name != "digest" && !strings.HasPrefix(name, "merged-") {
			if *notifytest.Update {
				os.Remove(path)
				continue
			}
			t.Errorf("%s belongs to no built-in rule (go test -update removes it)", path)
		}
	}
}

// TestGoldenMergedEvents: an event several built-in rules match is one alert, the most
// severe leading and the others listed under it.
func TestGoldenMergedEvents(t *testing.T) {
	for _, tc := range []struct {
		name, rule string
		sample     int
	}{
		// a Stratus Red Team run: its user agent also matches offensive-tool-user-agent
		{"merged-access-key-stratus", "access-key-created-for-other-user", 0},
		// an EC2 instance role creating a key for another user: five rules
		{"merged-workload-access-key", "iam-write-by-workload", 2},
		{"merged-cloudtrail-bucket-lifecycle", "cloudtrail-bucket-short-lifecycle", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := notifytest.SampleEvent(t, tc.rule, tc.sample)
			if len(fs) < 2 {
				t.Fatalf("sample gives %d findings; the test wants an event several rules match", len(fs))
			}
			m := finding.Merge(fs)
			m.Origin = fmt.Sprintf("rules/%s.yaml sample %d", tc.rule, tc.sample+1)
			golden(t, tc.name+".json", render(t, slack.Build(style, m)))
		})
	}
}

// TestEverySampleFitsSlack renders the alert of every positive sample of every built-in
// rule (each finding alone, and the event's findings merged; a rule with memory by its
// scenarios) and checks it against Slack's Block Kit limits and the text rules, and that
// its header keeps every word of the title's reason: only names (long words) are shortened.
func TestEverySampleFitsSlack(t *testing.T) {
	rules, eng := notifytest.Builtin(t)
	messages := 0
	for _, r := range rules {
		for i, sample := range r.Samples.Match {
			var fs []finding.Finding
			var err error
			if r.Kind.Stateful() {
				var recs []json.RawMessage
				if err := json.Unmarshal(sample, &recs); err != nil {
					t.Fatalf("rule %s: %v", r.ID, err)
				}
				if fs, err = correlate.Scenario(context.Background(), eng, recs); err != nil {
					t.Fatalf("rule %s: %v", r.ID, err)
				}
			} else {
				var env []byte
				if env, err = detect.Envelope(sample); err != nil {
					t.Fatalf("rule %s: %v", r.ID, err)
				}
				if fs, err = eng.Detect(env); err != nil {
					t.Fatalf("rule %s: %v", r.ID, err)
				}
			}
			alerts := make([]*finding.Finding, 0, len(fs)+1)
			for j := range fs {
				alerts = append(alerts, &fs[j])
			}
			if len(fs) > 1 && !r.Kind.Stateful() {
				alerts = append(alerts, finding.Merge(alerts))
			}
			for _, f := range alerts {
				raw, err := slack.Encode(slack.Build(style, f))
				if err != nil {
					t.Fatal(err)
				}
				where := fmt.Sprintf("rule %s sample %d, alert of %s", r.ID, i+1, f.Rule)
				if reason := slacktest.CheckMessage(raw); reason != "" {
					t.Errorf("%s: Slack would answer %s", where, reason)
				}
				if err := notifytest.CheckSlackMessage(raw); err != nil {
					t.Errorf("%s: %v", where, err)
				}
				checkHeaderKeepsReason(t, where, raw, f)
				messages++
			}
		}
	}
	t.Logf("%d messages checked", messages)
}

// checkHeaderKeepsReason fails when a word of the title's reason (chat.Reason) shorter than
// a name is missing from the header (in order): the header was cut
// before its reason.
func checkHeaderKeepsReason(t *testing.T, where string, raw []byte, f *finding.Finding) {
	t.Helper()
	var m struct {
		Attachments []struct {
			Blocks []struct {
				Type string
				Text struct{ Text string }
			}
		}
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	header := m.Attachments[0].Blocks[0].Text.Text
	rest := header
	for _, w := range strings.Fields(chat.Reason(chat.Plain(f.Title))) {
		if chat.Len(w) >= 16 {
			continue // a name, which may lose its middle
		}
		i := strings.Index(rest, w)
		if i < 0 {
			t.Errorf("%s: header %q lost %q of the title %q", where, header, w, f.Title)
			return
		}
		rest = rest[i+len(w):]
	}
}

func TestGoldenSummary(t *testing.T) {
	var fs []*finding.Finding
	for i := range 25 {
		f := hostile()
		f.EventID = fmt.Sprintf("0000000%d-aaaa-bbbb-cccc-dddddddddddd", i)
		f.EventTime = fmt.Sprintf("2026-11-28T01:%02d:00Z", i)
		fs = append(fs, f)
	}
	golden(t, "summary.json", render(t, slack.Build(style, fs...)))
}

func TestGoldenDigest(t *testing.T) {
	fs := builtinFindings(t)
	ids := make([]string, 0, len(fs))
	for id := range fs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var list []*finding.Finding
	for _, id := range ids[:min(len(ids), 25)] {
		list = append(list, fs[id])
	}
	golden(t, "digest.json", render(t, slack.Build(style, list...)))
}

// hostile is a finding whose event strings try to ping, link, format, quote, hide and
// overflow: every one of them holds notifytest.Attack.
func hostile() *finding.Finding {
	long := strings.Repeat("A&<", 3000)
	a := notifytest.Attack
	return &finding.Finding{
		Rule: "iam-user-policy-attached", Severity: finding.Critical,
		Title:       "Policy attached " + a + strings.Repeat("x", 200),
		Description: "desc " + long,
		EventID:     "ev`1" + a, EventName: "AttachUserPolicy<@U123>" + a, EventSource: "iam.amazonaws.com" + a,
		EventTime: "2026-11-28T01:00:00Z" + a, Account: "123456789012", Region: "us-east-1" + a,
		Principal:       "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Admin_0123/<!here>@example.com" + a,
		PrincipalType:   "AssumedRole" + a,
		SourceIPAddress: "203.0.113.9" + a, UserAgent: "<https://evil.example|click me> " + a + long,
		ErrorCode: "AccessDenied" + a, ErrorMessage: "User <b> & co " + a + long,
		Target: "arn:aws:iam::123456789012:user/bob" + a,
		Params: []finding.Param{{Name: "policyArn", Value: "arn:aws:iam::aws:policy/AdministratorAccess"}, {Name: "huge" + a, Value: a + long}},
		Grants: []string{"*:* on * <!everyone>" + a},
		Origin: "file.json:1" + a,
		// what detection and the merge add: a runbook with event values (quoted as
		// detection quotes them), the other rules of the event, an attack tool's name
		Runbook:    "Ask “" + strings.ReplaceAll(a, "\n", " ") + "” why: aws iam get-user --user-name '" + strings.ReplaceAll(a, "\n", " ") + "'\n" + a + long,
		Also:       []finding.Match{{Rule: "iam-write" + a, Severity: finding.Info, Title: "also " + a + long}},
		AttackTool: "Pacu" + a,
		Record:     json.RawMessage(`{"userIdentity":{"type":"AssumedRole","invokedBy":"*x*\u202E\n> q","arn":"arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Admin_0123/x","sessionContext":{"sourceIdentity":"*s*\n> q","sessionIssuer":{"arn":"arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_0123"}}}}`),
	}
}

// checkSafe checks an encoded message keeps event text as text
// (notifytest.CheckSlackMessage) and every length within Slack's limits as Slack counts
// them (UTF-16).
func checkSafe(t *testing.T, b []byte) {
	t.Helper()
	if err := notifytest.CheckSlackMessage(b); err != nil {
		t.Error(err)
	}
	if reason := slacktest.CheckMessage(b); reason != "" {
		t.Errorf("Slack would refuse the message: %s", reason)
	}
}

func TestEscapingAndLimits(t *testing.T) {
	for _, tc := range []struct {
		name string
		fs   []*finding.Finding
	}{
		{"alert", []*finding.Finding{hostile()}},
		{"summary", []*finding.Finding{hostile(), hostile(), hostile()}},
		{"digest", func() []*finding.Finding {
			a, b := hostile(), hostile()
			b.Rule = "other"
			return []*finding.Finding{a, b, a}
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := slack.Encode(slack.Build(style, tc.fs...))
			if err != nil {
				t.Fatal(err)
			}
			checkSafe(t, b)
			if !strings.Contains(string(b), "&lt;!channel&gt;") || !strings.Contains(string(b), "[trimmed]") {
				t.Errorf("want escaped mentions and a trim marker in %s", b[:400])
			}
		})
	}
}

// TestLimitsInUTF16 fills every field with characters outside the Basic Multilingual
// Plane: Slack counts each as two, so a message trimmed by characters would be refused.
func TestLimitsInUTF16(t *testing.T) {
	f := hostile()
	wide := strings.Repeat("😀", 2500)
	f.Title, f.UserAgent, f.ErrorMessage, f.Target, f.Principal = wide, wide, wide, wide, wide
	f.Params = []finding.Param{{Name: "p", Value: wide}}
	f.Grants = []string{wide}
	for _, fs := range [][]*finding.Finding{{f}, {f, f}} {
		b, err := slack.Encode(slack.Build(style, fs...))
		if err != nil {
			t.Fatal(err)
		}
		if reason := slacktest.CheckMessage(b); reason != "" {
			t.Errorf("%d finding(s): Slack would refuse the message: %s", len(fs), reason)
		}
		if !strings.Contains(string(b), "[trimmed]") {
			t.Errorf("%d finding(s): no trim marker", len(fs))
		}
	}
}

func TestWebhookAnswers(t *testing.T) {
	srv := slacktest.New()
	defer srv.Close()
	tests := []struct {
		name       string
		fault      *slacktest.Fault
		revoke     bool
		wantRetry  bool
		wantReason string
		wantAfter  time.Duration
	}{
		{name: "ok"},
		{name: "revoked webhook", revoke: true, wantReason: "no_service"},
		{name: "archived channel", fault: &slacktest.Fault{Status: 410, Body: "channel_is_archived"}, wantReason: "channel_is_archived"},
		{name: "invalid blocks", fault: &slacktest.Fault{Status: 400, Body: "invalid_blocks"}, wantReason: "invalid_blocks"},
		{name: "forbidden", fault: &slacktest.Fault{Status: 403, Body: "action_prohibited"}, wantReason: "action_prohibited"},
		{name: "rate limited", fault: &slacktest.Fault{Status: 429, Body: "rate_limited", RetryAfter: "7"}, wantRetry: true, wantReason: "rate_limited", wantAfter: 7 * time.Second},
		{name: "rollup error", fault: &slacktest.Fault{Status: 500, Body: "rollup_error"}, wantRetry: true, wantReason: "rollup_error"},
		{name: "bad gateway", fault: &slacktest.Fault{Status: 502, Body: "<html>"}, wantRetry: true, wantReason: "http_502"},
		{name: "200 but not ok", fault: &slacktest.Fault{Status: 200, Body: "something else"}, wantReason: "unexpected_answer"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hook := fmt.Sprint("hook", i)
			if tc.revoke {
				srv.Revoke(hook)
			}
			if tc.fault != nil {
				srv.Fail(*tc.fault)
			}
			n, err := slack.New(slack.Options{WebhookURL: srv.WebhookURL(hook)})
			if err != nil {
				t.Fatal(err)
			}
			retry, err := n.Notify(t.Context(), hostile())
			if tc.wantReason == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			if retry != tc.wantRetry || notify.Reason(err) != tc.wantReason {
				t.Errorf("retry=%v reason=%s (%v), want retry=%v reason=%s", retry, notify.Reason(err), err, tc.wantRetry, tc.wantReason)
			}
			if ra, _ := notify.RetryAfter(err); ra != tc.wantAfter {
				t.Errorf("Retry-After %v, want %v", ra, tc.wantAfter)
			}
			if strings.Contains(err.Error(), hook) {
				t.Errorf("error shows the webhook URL: %v", err)
			}
		})
	}
}

func TestWebhookNetworkErrorHidesURL(t *testing.T) {
	srv := slacktest.New()
	u := srv.WebhookURL("T-SECRET-PART")
	srv.Close() // nothing listens any more
	n, _ := slack.New(slack.Options{WebhookURL: u})
	retry, err := n.Notify(t.Context(), hostile())
	if err == nil || !retry {
		t.Fatalf("retry=%v err=%v, want a retryable network error", retry, err)
	}
	if strings.Contains(err.Error(), "T-SECRET-PART") {
		t.Fatalf("error leaks the URL: %v", err)
	}
}

func TestWebAPIThreadsRepeats(t *testing.T) {
	srv := slacktest.New()
	defer srv.Close()
	n, err := slack.New(slack.Options{Token: srv.Token, Channel: "#alerts", APIURL: srv.APIURL()})
	if err != nil {
		t.Fatal(err)
	}
	a, b, c := hostile(), hostile(), hostile()
	b.EventID, c.EventID = "ev2", "ev3"
	if _, err := n.Notify(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Notify(t.Context(), b, c); err != nil {
		t.Fatal(err)
	}
	got := srv.Received()
	if len(got) != 2 || got[0].ThreadTS != "" || got[1].ThreadTS != got[0].TS {
		t.Fatalf("want the summary in the first message's thread; got %+v", got)
	}
}

func TestWebAPIErrors(t *testing.T) {
	srv := slacktest.New()
	defer srv.Close()
	srv.AddChannel("#old")
	srv.Archive("#old")
	tests := []struct {
		name, token, channel string
		fault                *slacktest.Fault
		wantRetry            bool
		wantReason           string
	}{
		{name: "bad token", token: "xoxb-wrong", channel: "#alerts", wantReason: "invalid_auth"},
		{name: "unknown channel", token: srv.Token, channel: "#nope", wantReason: "channel_not_found"},
		{name: "archived", token: srv.Token, channel: "#old", wantReason: "is_archived"},
		{name: "ratelimited", token: srv.Token, channel: "#alerts", fault: &slacktest.Fault{Status: 429, Body: `{"ok":false,"error":"ratelimited"}`, RetryAfter: "3"}, wantRetry: true, wantReason: "rate_limited"},
		{name: "internal_error", token: srv.Token, channel: "#alerts", fault: &slacktest.Fault{Status: 200, Body: "internal_error"}, wantRetry: true, wantReason: "internal_error"},
		{name: "other ok:false", token: srv.Token, channel: "#alerts", fault: &slacktest.Fault{Status: 200, Body: "msg_too_long"}, wantReason: "msg_too_long"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.fault != nil {
				srv.Fail(*tc.fault)
			}
			n, _ := slack.New(slack.Options{Token: tc.token, Channel: tc.channel, APIURL: srv.APIURL()})
			retry, err := n.Notify(t.Context(), hostile())
			if err == nil || retry != tc.wantRetry || notify.Reason(err) != tc.wantReason {
				t.Fatalf("retry=%v reason=%s err=%v; want retry=%v reason=%s", retry, notify.Reason(err), err, tc.wantRetry, tc.wantReason)
			}
			if strings.Contains(err.Error(), tc.token) {
				t.Fatalf("error shows the token: %v", err)
			}
		})
	}
}

func TestTimeoutIsRetried(t *testing.T) {
	srv := slacktest.New()
	defer srv.Close()
	srv.Fail(slacktest.Fault{Status: 200, Body: "ok", Hang: 2 * time.Second})
	n, _ := slack.New(slack.Options{WebhookURL: srv.WebhookURL("x")})
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	retry, err := n.Notify(ctx, hostile())
	if !retry || !errors.Is(err, context.DeadlineExceeded) || notify.Reason(err) != "timeout" {
		t.Fatalf("retry=%v reason=%s err=%v", retry, notify.Reason(err), err)
	}
}

// FuzzBuild checks that any event strings give a message inside Slack's limits with no
// unescaped mrkdwn control characters.
func FuzzBuild(f *testing.F) {
	f.Add("t", "d", "arn:aws:iam::1:user/a", "ua", "v", "id", "bob", "us-east-1", 1)
	f.Add(strings.Repeat("<!channel>&", 400), strings.Repeat("é", 5000), "<@U1>", strings.Repeat("`", 3000), "\x00\n", "`", "arn:aws:iam::1:role/x/y", "zz", 30)
	f.Fuzz(func(t *testing.T, title, desc, principal, ua, value, id, target, region string, n int) {
		fd := &finding.Finding{Rule: "r", Severity: finding.Severity(n % 6), Title: title, Description: desc, Principal: principal,
			UserAgent: ua, EventID: id, Target: target, Region: region, EventName: value, ErrorMessage: desc,
			Params: []finding.Param{{Name: value, Value: value}}, Grants: []string{desc, title}, Record: json.RawMessage(`{}`)}
		fs := []*finding.Finding{fd}
		other := *fd
		other.Rule = "r2" // odd n: a digest of different findings
		for i := range n % 30 {
			if n%2 == 1 && i%2 == 0 {
				fs = append(fs, &other)
			} else {
				fs = append(fs, fd)
			}
		}
		b, err := slack.Encode(slack.Build(style, fs...))
		if err != nil {
			t.Fatal(err)
		}
		checkSafe(t, b)
	})
}

func TestNewRefusesBadURLs(t *testing.T) {
	for _, o := range []slack.Options{
		{WebhookURL: "hooks.slack.com/services/SECRET"},
		{WebhookURL: "https://hooks.slack.com/services/%zzSECRET"},
		{Token: "xoxb-SECRET", Channel: "#a", APIURL: "slack.example/api/"},
	} {
		_, err := slack.New(o)
		if err == nil {
			t.Errorf("New accepted %+v", o)
			continue
		}
		if strings.Contains(err.Error(), "SECRET") {
			t.Errorf("error quotes a secret: %v", err)
		}
	}
}
