package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trailbell/trailbell/internal/finding"
	"github.com/trailbell/trailbell/internal/notify/notifytest"
	"github.com/trailbell/trailbell/internal/notify/slacktest"
	"github.com/trailbell/trailbell/internal/testenv"
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

// TestScanRootRouteMinSeverity: a root route that asks for critical findings sends only
// those, through the real command and configuration (it paged on everything before).
func TestScanRootRouteMinSeverity(t *testing.T) {
	srv := slacktest.New()
	defer srv.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "trailbell.yaml")
	writeFile(t, filepath.Join(dir, "hook"), []byte(srv.WebhookURL("pager")))
	writeFile(t, cfg, []byte("notify:\n  receivers:\n    - {name: pager, slack: {webhook_url_file: hook}, rate_limit: {per_second: 100, burst: 10}}\n"+
		"  route: {receiver: pager, min_severity: critical}\n"))
	code, stdout, stderr := runCmd(t, "scan", "--config", cfg, "--format", "json", "--no-progress", "../../examples/privesc-story")
	if code != exitFindings {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var critical, other []string
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var f finding.Finding
		if err := json.Unmarshal([]byte(line), &f); err != nil {
			t.Fatal(err)
		}
		if f.Severity == finding.Critical {
			critical = append(critical, f.EventID)
		} else {
			other = append(other, f.EventID)
		}
	}
	if len(critical) == 0 || len(other) == 0 {
		t.Fatalf("the story should have critical and other findings (%d, %d)", len(critical), len(other))
	}
	var body strings.Builder
	for _, m := range srv.Received() {
		body.Write(m.Body)
	}
	for _, id := range critical {
		if !strings.Contains(body.String(), id) {
			t.Errorf("critical finding %s not sent", id)
		}
	}
	for _, id := range other {
		if strings.Contains(body.String(), id) && !slices.Contains(critical, id) { // one event can match several rules
			t.Errorf("finding %s below critical was sent", id)
		}
	}
	if n := len(srv.Received()); n > len(critical) {
		t.Errorf("%d messages for %d critical findings", n, len(critical))
	}
}

// TestScanHostileRecordToSlack scans a CloudTrail log file whose attacker-chosen strings
// try to escape into mrkdwn, and checks every text Slack receives.
func TestScanHostileRecordToSlack(t *testing.T) {
	srv := slacktest.New()
	defer srv.Close()
	a, _ := json.Marshal(notifytest.Attack)
	attack := string(a[1 : len(a)-1]) // as a JSON string body
	rec := `{"Records":[{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLE","arn":"arn:aws:iam::123456789012:user/mallory` + attack + `","accountId":"123456789012","userName":"mallory"},` +
		`"eventTime":"2026-11-28T01:00:00Z","eventSource":"iam.amazonaws.com","eventName":"AttachUserPolicy","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.66",` +
		`"userAgent":"` + attack + `","requestParameters":{"userName":"victim` + attack + `","policyArn":"arn:aws:iam::aws:policy/AdministratorAccess"},"responseElements":null,` +
		`"requestID":"11111111-2222-3333-4444-555555555555","eventID":"99999999-8888-7777-6666-555555555555","readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"123456789012"}]}`
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "trail.json"), []byte(rec))
	code, _, stderr := runCmd(t, "scan", "--slack-webhook-url", srv.WebhookURL("h"), "--no-progress", dir)
	if code != exitFindings {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	got := srv.Received()
	if len(got) == 0 {
		t.Fatal("no message sent")
	}
	for _, m := range got {
		if err := notifytest.CheckSlackMessage(m.Body); err != nil {
			t.Error(err)
		}
	}
}

// TestEmptyOutboxIsAnError: an outbox file cut to 0 bytes stops the command with a clear
// error instead of starting over and losing what it held.
func TestEmptyOutboxIsAnError(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "trailbell.yaml")
	writeFile(t, cfg, []byte("state_dir: state\nnotify:\n  receivers:\n    - {name: out, stdout: {}}\n  route: {receiver: out}\n"))
	writeFile(t, filepath.Join(dir, "state", "outbox.db"), nil)
	code, _, stderr := runCmd(t, "scan", "--config", cfg, "--no-progress", "../../examples/privesc-story")
	if code != exitError || !strings.Contains(stderr, "0 bytes") {
		t.Fatalf("scan on a 0-byte outbox: exit %d, stderr %s", code, stderr)
	}
	code, _, stderr = runCmd(t, "notify", "dead", "--config", cfg)
	if code != exitError || !strings.Contains(stderr, "0 bytes") {
		t.Fatalf("notify dead on a 0-byte outbox: exit %d, stderr %s", code, stderr)
	}
	if st, err := os.Stat(filepath.Join(dir, "state", "outbox.db")); err != nil || st.Size() != 0 {
		t.Fatal("the empty outbox was written over")
	}
}

// TestNotifyDeadWhileDaemonRuns: `trailbell run` holds the outbox for as long as it runs, so
// `notify dead` lists and requeues its dead letters through the daemon's listen address.
func TestNotifyDeadWhileDaemonRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	srv := slacktest.New()
	defer srv.Close()
	srv.Revoke("old")
	dir := t.TempDir()
	hook := filepath.Join(dir, "hook")
	writeFile(t, hook, []byte(srv.WebhookURL("old")))
	endpoint := s3Endpoint(t)
	bucket := testenv.UniqueName("trail-dead")
	testenv.Bucket(t, testenv.S3Client(endpoint), bucket)
	listen := testenv.FreeAddr(t)
	receivers := "notify:\n  receivers:\n    - {name: sec, slack: {webhook_url_file: hook}, rate_limit: {per_second: 100, burst: 10}}\n  route: {receiver: sec}\n"
	cfg := filepath.Join(dir, "trailbell.yaml")
	writeFile(t, cfg, []byte(fmt.Sprintf("state_dir: state\nsources:\n  s3: [{url: \"s3://%s/AWSLogs/\", endpoint: %q, poll_interval: 1s}]\nrun: {listen: %q}\n%s",
		bucket, endpoint, listen, receivers)))
	if code, _, stderr := runCmd(t, "scan", "--config", cfg, "--format", "json", "--no-progress", "../../examples/privesc-story"); code != exitError {
		t.Fatalf("scan to a revoked webhook: exit %d, stderr %s", code, stderr)
	}
	code, want, stderr := runCmd(t, "notify", "dead", "--config", cfg)
	if code != exitOK || !strings.HasPrefix(want, "sec\t") {
		t.Fatalf("notify dead: exit %d, out %q, stderr %s", code, want, stderr)
	}

	// The URL is fixed, then the daemon starts with it and holds the outbox.
	writeFile(t, hook, []byte(srv.WebhookURL("new")))
	startDaemon(t, buildBinary(t), listen, nil, "--config", cfg)

	code, got, stderr := runCmd(t, "notify", "dead", "--config", cfg)
	if code != exitOK || got != want || !strings.Contains(stderr, "from the running daemon") {
		t.Fatalf("notify dead while the daemon runs: exit %d, out %q (want %q), stderr %s", code, got, want, stderr)
	}
	// Without a listen address there is nobody to ask: the error says so.
	noListen := filepath.Join(dir, "no-listen.yaml")
	writeFile(t, noListen, []byte("state_dir: state\n"+receivers))
	if code, _, stderr := runCmd(t, "notify", "dead", "--config", noListen); code != exitError ||
		!strings.Contains(stderr, "locked by another trailbell process") || !strings.Contains(stderr, "run.listen") {
		t.Fatalf("notify dead without run.listen: exit %d, stderr %s", code, stderr)
	}

	if code, _, stderr := runCmd(t, "notify", "dead", "--config", cfg, "--requeue"); code != exitOK || !strings.Contains(stderr, "requeued") {
		t.Fatalf("requeue through the daemon: exit %d, stderr %s", code, stderr)
	}
	waitUntil(t, "the daemon to deliver the requeued findings", func() bool { return len(srv.Received()) > 0 })
	waitUntil(t, "the dead letters to be gone", func() bool {
		resp, err := http.Get("http://" + listen + "/dead-letters")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var dl struct{ DeadLetters []json.RawMessage }
		return json.NewDecoder(resp.Body).Decode(&dl) == nil && len(dl.DeadLetters) == 0
	})
	if code, out, stderr := runCmd(t, "notify", "dead", "--config", cfg); code != exitOK || out != "" {
		t.Fatalf("after the requeue: exit %d, out %q, stderr %s", code, out, stderr)
	}
}

// waitUntil polls cond for up to 30 seconds.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited in vain for %s", what)
		}
	}
}
