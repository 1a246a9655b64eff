package app_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trailbell/trailbell/internal/app"
	"github.com/trailbell/trailbell/internal/config"
	"github.com/trailbell/trailbell/internal/finding"
	"github.com/trailbell/trailbell/internal/notify/slacktest"
	"github.com/trailbell/trailbell/internal/notify/webhook"
	"github.com/trailbell/trailbell/internal/testenv"
)

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

// TestNoSecretLeaks makes every kind of notifier fail and checks that no secret reaches
// the error Flush returns or any log line.
func TestNoSecretLeaks(t *testing.T) {
	srv := slacktest.New()
	defer srv.Close()
	srv.Revoke("SECRET-HOOK-1")
	dead := slacktest.New()
	deadURL := dead.WebhookURL("SECRET-HOOK-2")
	dead.Close()
	forbidden := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, "no")
	}))
	defer forbidden.Close()
	snsDown := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `<ErrorResponse><Error><Type>Sender</Type><Code>AuthorizationError</Code><Message>not allowed</Message></Error></ErrorResponse>`)
	}))
	defer snsDown.Close()

	secrets := []string{"SECRET-HOOK-1", "SECRET-HOOK-2", "xoxb-SECRET-TOKEN", "SECRET-PATH-3", "SECRET-HMAC-4", "testsecret"}
	yaml := fmt.Sprintf(`
notify:
  retry_deadline: 300ms
  backoff: {initial: 10ms, max: 50ms}
  receivers:
    - {name: revoked, slack: {webhook_url: %q}}
    - {name: unreachable, slack: {webhook_url: %q}}
    - {name: api, slack_api: {token: xoxb-SECRET-TOKEN, channel: "#alerts", api_url: %q}}
    - {name: hook, webhook: {url: %q, hmac_secret: SECRET-HMAC-4}}
    - {name: chatbot, sns: {topic_arn: "arn:aws:sns:us-east-1:123456789012:t", endpoint: %q}}
    - {name: out, stdout: {}}
  route:
    receiver: revoked
    routes:
      - {receiver: revoked, continue: true}
      - {receiver: unreachable, continue: true}
      - {receiver: api, continue: true}
      - {receiver: hook, continue: true}
      - {receiver: chatbot, continue: true}
      - {receiver: out, continue: true}
`, srv.WebhookURL("SECRET-HOOK-1"), deadURL, srv.APIURL(), forbidden.URL+"/SECRET-PATH-3", snsDown.URL)
	cfg, err := config.Parse([]byte(yaml), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	testenv.AWSEnv(t)
	p, err := app.Pipeline(t.Context(), cfg, app.Process{Stdout: failWriter{}, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Submit(t.Context(), app.SampleFinding(time.Now())); err != nil {
		t.Fatal(err)
	}
	err = p.Flush(t.Context())
	if err == nil {
		t.Fatal("every receiver fails, yet Flush succeeded")
	}
	for _, name := range []string{"revoked", "unreachable", "api", "hook", "chatbot", "out"} {
		if !strings.Contains(err.Error(), "receiver "+name+":") {
			t.Errorf("flush error does not report receiver %s", name)
		}
	}
	for _, s := range secrets {
		if strings.Contains(err.Error(), s) {
			t.Errorf("flush error shows secret %s:\n%v", s, err)
		}
		if strings.Contains(logs.String(), s) {
			t.Errorf("log shows secret %s:\n%s", s, logs.String())
		}
	}
	if t.Failed() || testing.Verbose() {
		t.Logf("flush error:\n%v\nlogs:\n%s", err, logs.String())
	}
}

func TestBuildPipelineDelivers(t *testing.T) {
	srv := slacktest.New()
	defer srv.Close()
	t.Setenv("TEST_HOOK", srv.WebhookURL("h"))
	cfg, err := config.Parse([]byte(`
accounts: {"123456789012": prod}
notify:
  receivers:
    - {name: slack, slack: {webhook_url: "env:TEST_HOOK"}, min_severity: medium}
  route: {receiver: slack}
  exceptions:
    - {name: ci, match: {principal: [{suffix: "/ci"}]}}
`), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	p, err := app.Pipeline(t.Context(), cfg, app.Process{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	f := app.SampleFinding(time.Now())
	ci := f
	ci.EventID, ci.Principal = "other", "arn:aws:iam::123456789012:user/ci"
	if err := p.Submit(t.Context(), f); err != nil {
		t.Fatal(err)
	}
	if err := p.Submit(t.Context(), ci); err != nil {
		t.Fatal(err)
	}
	if err := p.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	got := srv.Received()
	if len(got) != 1 || !strings.Contains(string(got[0].Body), "(prod)") {
		t.Fatalf("want one message with the account alias, got %d", len(got))
	}
}

// TestSecretsFromSSMAndSecretsManager resolves ssm: and secretsmanager: references
// against a fake AWS endpoint speaking both services' JSON protocol.
func TestSecretsFromSSMAndSecretsManager(t *testing.T) {
	srv := slacktest.New()
	defer srv.Close()
	var targets []string
	fakeAWS := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		target := r.Header.Get("X-Amz-Target")
		targets = append(targets, target)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		switch target {
		case "AmazonSSM.GetParameter":
			fmt.Fprintf(w, `{"Parameter":{"Name":"/trailbell/hook","Type":"SecureString","Value":%q}}`, srv.WebhookURL("from-ssm"))
		case "secretsmanager.GetSecretValue":
			fmt.Fprint(w, `{"Name":"bot","SecretString":"xoxb-test"}`)
		default:
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"__type":"UnknownOperationException"}`)
		}
	}))
	defer fakeAWS.Close()
	cfg, err := config.Parse([]byte(fmt.Sprintf(`
notify:
  receivers:
    - {name: hook, slack: {webhook_url: "ssm:/trailbell/hook"}}
    - {name: api, slack_api: {token: "secretsmanager:bot", channel: "#alerts", api_url: %q}}
  route:
    receiver: hook
    routes: [{receiver: hook, continue: true}, {receiver: api}]
`, srv.APIURL())), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	testenv.AWSEnv(t)
	t.Setenv("AWS_ENDPOINT_URL", fakeAWS.URL)
	p, err := app.Pipeline(t.Context(), cfg, app.Process{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Submit(t.Context(), app.SampleFinding(time.Now())); err != nil {
		t.Fatal(err)
	}
	if err := p.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := srv.Received(); len(got) != 2 {
		t.Fatalf("%d messages, want one through each receiver (targets %v)", len(got), targets)
	}
}

// TestPerRuleReceivers: receivers get one alert per event unless they ask per_rule, and a
// stdout receiver writing JSON lines asks it by default.
func TestPerRuleReceivers(t *testing.T) {
	var mu sync.Mutex
	bodies := map[string][]string{} // receiver → the rules of each finding it got
	hook := func(name string) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var p webhook.Payload
			if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
				t.Error(err)
			}
			mu.Lock()
			for _, f := range p.Findings {
				bodies[name] = append(bodies[name], fmt.Sprintf("%s+%d", f.Rule, len(f.Also)))
			}
			mu.Unlock()
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	cfg, err := config.Parse(fmt.Appendf(nil, `
notify:
  receivers:
    - {name: alerts, min_severity: info, webhook: {url: %q}}
    - {name: siem, min_severity: info, per_rule: true, webhook: {url: %q}}
    - {name: lines, min_severity: info, stdout: {format: json}}
  route:
    receiver: alerts
    routes: [{receiver: alerts, continue: true}, {receiver: siem, continue: true}, {receiver: lines}]
`, hook("alerts"), hook("siem")), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	p, err := app.Pipeline(t.Context(), cfg, app.Process{Stdout: &out})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ev := []finding.Finding{
		{Rule: "admin-policy-attached", Severity: finding.High, EventID: "e1", Account: "111122223333", Record: json.RawMessage(`{}`)},
		{Rule: "iam-write", Severity: finding.Info, EventID: "e1", Account: "111122223333", Record: json.RawMessage(`{}`)},
	}
	if err := p.Submit(t.Context(), ev...); err != nil {
		t.Fatal(err)
	}
	if err := p.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if got := strings.Join(bodies["alerts"], " "); got != "admin-policy-attached+1" {
		t.Errorf("alerts got %s, want one alert with the other rule under it", got)
	}
	if got := strings.Join(bodies["siem"], " "); got != "admin-policy-attached+0 iam-write+0" {
		t.Errorf("siem (per_rule) got %s, want each finding whole", got)
	}
	if n := strings.Count(out.String(), "\n"); n != 2 || strings.Contains(out.String(), `"also"`) {
		t.Errorf("stdout JSON lines: %d lines\n%s", n, out.String())
	}
}
