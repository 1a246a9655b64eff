package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trailbell/trailbell/internal/finding"
	"github.com/trailbell/trailbell/internal/notify/slacktest"
)

func TestNotifyTestWebhook(t *testing.T) {
	srv := slacktest.New()
	defer srv.Close()
	code, _, stderr := runCmd(t, "notify", "test", "--slack-webhook-url", srv.WebhookURL("T-SECRET"))
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	got := srv.Received()
	if len(got) != 1 || !strings.Contains(string(got[0].Body), "Test alert from trailbell") {
		t.Fatalf("want one test alert, got %d", len(got))
	}
	if strings.Contains(stderr, "T-SECRET") {
		t.Fatalf("stderr shows the webhook URL: %s", stderr)
	}
}

func TestNotifyTestReceiverFailure(t *testing.T) {
	srv := slacktest.New()
	defer srv.Close()
	srv.Revoke("T-SECRET")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "trailbell.yaml")
	os.WriteFile(filepath.Join(dir, "hook"), []byte(srv.WebhookURL("T-SECRET")+"\n"), 0o600)
	os.WriteFile(cfg, []byte("notify:\n  receivers:\n    - {name: sec, slack: {webhook_url_file: hook}}\n  route: {receiver: sec}\n"), 0o600)
	code, _, stderr := runCmd(t, "notify", "test", "--config", cfg, "--receiver", "sec")
	if code != exitError || !strings.Contains(stderr, "no_service") {
		t.Fatalf("exit %d, stderr %q; want 2 and the reason no_service", code, stderr)
	}
	if strings.Contains(stderr, "T-SECRET") {
		t.Fatalf("stderr shows the webhook URL: %s", stderr)
	}
	code, _, stderr = runCmd(t, "notify", "test", "--config", cfg, "--receiver", "nope")
	if code != exitError || !strings.Contains(stderr, `no receiver named "nope"`) {
		t.Fatalf("unknown receiver: exit %d, %s", code, stderr)
	}
}

// TestScanSlackWebhook scans the sample story and checks that exactly its findings of
// severity medium or above reach the webhook.
func TestScanSlackWebhook(t *testing.T) {
	srv := slacktest.New()
	defer srv.Close()
	t.Setenv("TRAILBELL_SLACK_WEBHOOK_URL", srv.WebhookURL("env-hook"))
	code, stdout, stderr := runCmd(t, "scan", "--format", "json", "--no-progress", "../../examples/privesc-story")
	if code != exitFindings {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var f finding.Finding
		if err := json.Unmarshal([]byte(line), &f); err != nil {
			t.Fatal(err)
		}
		if f.Severity >= finding.Medium {
			want[f.Key()] = true
		}
	}
	if len(want) == 0 {
		t.Fatal("the story has no medium findings")
	}
	var body strings.Builder
	for _, m := range srv.Received() {
		body.Write(m.Body)
	}
	// Repeats of one rule and principal are merged into one summary at flush, so there
	// are at most as many messages as findings; every eventID is in one of them.
	if n := len(srv.Received()); n == 0 || n > len(want) {
		t.Fatalf("%d messages for %d medium+ findings", n, len(want))
	}
	for k := range want {
		id := k[strings.IndexByte(k, '/')+1:]
		if !strings.Contains(body.String(), id) {
			t.Errorf("finding %s not in any message", k)
		}
	}
}

// TestNotifyDead: a scan whose webhook was revoked leaves its findings as dead letters in
// the outbox; `notify dead` lists them and, once the URL is fixed, --requeue delivers them.
func TestNotifyDead(t *testing.T) {
	srv := slacktest.New()
	defer srv.Close()
	srv.Revoke("old")
	dir := t.TempDir()
	hook := filepath.Join(dir, "hook")
	os.WriteFile(hook, []byte(srv.WebhookURL("old")), 0o600)
	cfg := filepath.Join(dir, "trailbell.yaml")
	os.WriteFile(cfg, []byte("state_dir: state\nnotify:\n  receivers:\n    - {name: sec, slack: {webhook_url_file: hook}, rate_limit: {per_second: 100, burst: 10}}\n  route: {receiver: sec}\n"), 0o600)
	code, _, stderr := runCmd(t, "scan", "--config", cfg, "--format", "json", "--no-progress", "../../examples/privesc-story")
	if code != exitError || !strings.Contains(stderr, "no_service") {
		t.Fatalf("scan to a revoked webhook: exit %d, stderr %s", code, stderr)
	}
	code, out, stderr := runCmd(t, "notify", "dead", "--config", cfg)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != exitOK || len(lines) == 0 || !strings.HasPrefix(lines[0], "sec\t") {
		t.Fatalf("notify dead: exit %d, out %q, stderr %s", code, out, stderr)
	}
	// Listing needs no receiver: a secret that cannot be resolved any more does not hide
	// the dead letters (their receiver is the one that broke).
	unresolvable := filepath.Join(dir, "unresolvable.yaml")
	os.WriteFile(unresolvable, []byte("state_dir: state\nnotify:\n  receivers:\n    - {name: sec, slack: {webhook_url: \"env:TRAILBELL_TEST_NEVER_SET\"}}\n  route: {receiver: sec}\n"), 0o600)
	code, out2, stderr := runCmd(t, "notify", "dead", "--config", unresolvable)
	if code != exitOK || out2 != out {
		t.Fatalf("notify dead with an unresolvable secret: exit %d, out %q (want %q), stderr %s", code, out2, out, stderr)
	}
	os.WriteFile(hook, []byte(srv.WebhookURL("new")), 0o600)
	code, _, stderr = runCmd(t, "notify", "dead", "--config", cfg, "--requeue")
	if code != exitOK {
		t.Fatalf("requeue: exit %d: %s", code, stderr)
	}
	if len(srv.Received()) == 0 {
		t.Fatal("nothing delivered after requeue")
	}
	if _, out, _ = runCmd(t, "notify", "dead", "--config", cfg); strings.TrimSpace(out) != "" {
		t.Fatalf("dead letters left: %s", out)
	}
}
