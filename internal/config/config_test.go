package config_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/trailbell/trailbell/internal/config"
)

func TestLoadFull(t *testing.T) {
	t.Setenv("TEST_SLACK_URL", "https://hooks.slack.com/services/T/B/secret")
	c, err := config.Load("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs("testdata/state")
	if c.StateDir != abs {
		t.Errorf("state_dir %q, want %q (relative to the file)", c.StateDir, abs)
	}
	if got := c.Notify.Route.Routes[1].Match; got != `{"principal":[{"prefix":"arn:aws:iam::111122223333:"}]}` {
		t.Errorf("YAML pattern became %s", got)
	}
	if err := c.ResolveSecrets(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	r, _ := c.Receiver("security")
	if r.Slack.WebhookURL.Reveal() != "https://hooks.slack.com/services/T/B/secret" {
		t.Error("env: secret not resolved")
	}
	r, _ = c.Receiver("pager")
	if r.SlackAPI.Token.Reveal() != "xoxb-from-file" {
		t.Error("token_file not read (relative to the config file, newline trimmed)")
	}
	r, _ = c.Receiver("backup")
	if r.Webhook.HMACSecret.Reveal() != "hmac-key" {
		t.Error("file: secret not read")
	}
}

func TestStrictAndValidate(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"unknown key", "notify:\n  recievers: []\n", []string{"recievers"}},
		{"bad duration names its line", "notify:\n  dedupe_window: 7x\n", []string{"2:18: notify.dedupe_window: ", `invalid duration "7x"`}},
		{"bad secret reference names its line", "notify:\n  receivers:\n    - {name: a, slack: {webhook_url: \"env:\"}}\n", []string{"3:38: notify.receivers[0].slack.webhook_url: ", `secret reference "env:" names nothing`}},
		{"every problem with its path", `
accounts: {"12345": x}
min_severity: severe
notify:
  receivers:
    - name: a
      min_severity: urgent
      slack: {webhook_url: "https://x", webhook_url_file: f}
    - name: a
      fallback: nobody
    - name: "!x"
      stdout: {format: xml}
      webhook: {url: https://y}
  route:
    receiver: a
    routes:
      - receiver: ghost
        match: '{"rule":[{"prefix":1}]}'
  exceptions:
    - name: everything
`, []string{
			"accounts.12345: account ids are 12 digits",
			`min_severity: unknown severity "severe" (want one of info, low, medium, high, critical)`,
			"notify.receivers[0].min_severity: unknown severity",
			"notify.receivers[0].slack.webhook_url: set either webhook_url or webhook_url_file",
			`notify.receivers[1].name: "a" is defined twice`,
			"notify.receivers[1]: set exactly one of",
			`notify.receivers[1].fallback: "nobody" is not another receiver`,
			"notify.receivers[2].name: must not start with '!'",
			"notify.receivers[2].stdout.format",
			"notify.receivers[2]: set exactly one of slack, slack_api, sns, webhook, stdout (found 2)",
			`notify.route.routes[0].receiver: no receiver named "ghost"`,
			"notify.route.routes[0].match:",
			"notify.exceptions[0]: set rules, match or both",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Parse([]byte(tc.yaml), ".")
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestSecretNeverPrints(t *testing.T) {
	const v = "hunter2-very-secret"
	s := config.NewSecret(v)
	type holder struct {
		S config.Secret `json:"s" yaml:"s"`
	}
	var outs []string
	for _, f := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d", "%10s"} {
		outs = append(outs, fmt.Sprintf(f, s), fmt.Sprintf(f, holder{s}), fmt.Sprintf(f, &holder{s}))
	}
	j, _ := json.Marshal(holder{s})
	y, _ := yaml.Marshal(holder{s})
	var logs bytes.Buffer
	slog.New(slog.NewTextHandler(&logs, nil)).Info("x", "secret", s, "h", holder{s})
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "secret", s, "h", holder{s})
	outs = append(outs, string(j), string(y), logs.String(), s.String())
	for _, o := range outs {
		if strings.Contains(o, v) || strings.Contains(o, fmt.Sprintf("%x", v)) {
			t.Errorf("secret printed: %s", o)
		}
	}
	if s.Reveal() != v {
		t.Fatal("Reveal lost the value")
	}
}

// TestParseErrorHidesSecrets: a syntax error near a secret does not quote the line.
func TestParseErrorHidesSecrets(t *testing.T) {
	_, err := config.Parse([]byte(`
notify:
  receivers:
    - {name: a, slack: {webhook_url: "https://hooks.slack.com/services/T/B/SECRETXYZ"}, bogus: 1}
  route: {receiver: a}
`), ".")
	if err == nil || !strings.Contains(err.Error(), `4:89: unknown field "bogus" in notify.receivers[0]`) || !strings.Contains(err.Error(), `unknown field "bogus"`) {
		t.Fatalf("error %v, want the line of the unknown field", err)
	}
	if strings.Contains(err.Error(), "SECRETXYZ") {
		t.Fatalf("error quotes the secret: %v", err)
	}
}

func TestSecretErrorsNameTheFieldNotTheValue(t *testing.T) {
	c, err := config.Parse([]byte(`
notify:
  receivers:
    - name: a
      slack: {webhook_url: "env:TRAILBELL_UNSET_FOR_TEST"}
    - name: b
      webhook: {url: "ssm:/trailbell/hook"}
  route: {receiver: a}
`), ".")
	if err != nil {
		t.Fatal(err)
	}
	err = c.ResolveSecrets(t.Context(), nil)
	for _, w := range []string{"notify.receivers[0].slack.webhook_url: env:TRAILBELL_UNSET_FOR_TEST", "notify.receivers[1].webhook.url: ssm:/trailbell/hook"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error %v lacks %q", err, w)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"notify: {}", "notify:\n  receivers:\n    - {name: a, stdout: {}}\n  route: {receiver: a}\n", "accounts: [1]", "notify:\n  route:\n    match: {a: [1]}\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := config.Parse(b, t.TempDir())
		if err == nil && c == nil {
			t.Fatal("nil config without error")
		}
	})
}

// TestREADMEExample keeps the configuration shown in README.md ("Send alerts") valid.
func TestREADMEExample(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Skip("README.md not found")
	}
	s := string(b)
	i := strings.Index(s, "## Send alerts")
	if i < 0 {
		t.Fatal(`README.md has no "## Send alerts" section`)
	}
	start := strings.Index(s[i:], "```yaml\n")
	if start < 0 {
		t.Fatal("no yaml block in the Send alerts section")
	}
	block := s[i+start+len("```yaml\n"):]
	block = block[:strings.Index(block, "```")]
	if _, err := config.Parse([]byte(block), t.TempDir()); err != nil {
		t.Fatalf("README example does not parse:\n%v", err)
	}
}
