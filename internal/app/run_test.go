package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trailbell/trailbell/internal/daemon"
	"github.com/trailbell/trailbell/internal/testenv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/trailbell/trailbell/internal/config"
	"github.com/trailbell/trailbell/internal/notify/slacktest"
)

// fakeS3 starts an in-process S3 server (gofakes3) holding one empty bucket, trail, for the
// rest of the test, and returns its URL and a client of it.
func fakeS3(t *testing.T) (string, *s3.Client) {
	t.Helper()
	endpoint := testenv.S3Server(t)
	client := testenv.S3Client(endpoint)
	testenv.Bucket(t, client, "trail")
	return endpoint, client
}

// notifyYAML is the start of a configuration: a state directory and every finding to one
// Slack webhook of slack, paced loosely enough not to slow a test.
func notifyYAML(slack *slacktest.Server) string {
	return fmt.Sprintf("state_dir: state\nnotify:\n  receivers:\n    - name: slack\n      rate_limit: {per_second: 50, burst: 10}\n      slack: {webhook_url: %q}\n  route: {receiver: slack}\n",
		slack.WebhookURL("alerts"))
}

// mentions counts the Slack messages whose body contains text.
func mentions(slack *slacktest.Server, text string) int {
	c := 0
	for _, r := range slack.Received() {
		if strings.Contains(string(r.Body), text) {
			c++
		}
	}
	return c
}

// startDaemon builds the daemon of cfg and runs it until stop, which returns Run's error and
// is called at the end of the test if the test has not; then no goroutine of the daemon may
// be left. The AWS SDK is pointed at the test credentials.
func startDaemon(t *testing.T, cfg *config.Config, o DaemonOptions, logs *testenv.Buffer) (d *daemon.Daemon, stop func() error) {
	t.Helper()
	testenv.NoLeaks(t) // checked after the daemon's stop below
	testenv.AWSEnv(t)
	d, err := NewDaemon(t.Context(), cfg, o, Process{Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	var once sync.Once
	var runErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(2 * time.Minute): // run.shutdown_grace (30s) and more
				runErr = errors.New("Run did not stop")
			}
		})
		return runErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("Run = %v", err)
		}
		if t.Failed() {
			t.Logf("daemon log:\n%s", logs.String())
		}
	})
	return d, stop
}

// One daemon, in process, over a real S3 protocol server and a Slack-like server: findings,
// an unreadable file, a rule reload, a silence alert, /metrics and /healthz.
func TestRunEndToEnd(t *testing.T) {
	s3URL, client := fakeS3(t)
	n := 0
	put := func(body []byte) {
		n++
		at := time.Now().UTC().Add(time.Duration(n-30) * time.Minute)
		k := fmt.Sprintf("AWSLogs/111122223333/CloudTrail/us-east-1/%s/111122223333_CloudTrail_us-east-1_%s_%d.json.gz",
			at.Format("2006/01/02"), at.Format("20060102T1504Z"), n)
		if _, err := client.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String("trail"), Key: aws.String(k), Body: bytes.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}

	slack := slacktest.New()
	defer slack.Close()
	dir := t.TempDir()
	writeConfig := func(extra string) string {
		path := filepath.Join(dir, "trailbell.yaml")
		cfg := notifyYAML(slack) + fmt.Sprintf(`sources:
  s3:
    - url: s3://trail/AWSLogs/
      endpoint: %s
      poll_interval: 100ms
      silence_after: 3s
run:
  listen: 127.0.0.1:0
%s`, s3URL, extra)
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	path := writeConfig("")
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}

	put(testenv.Gzip(`{"Records":[` + testenv.TrailRecord("stop-1", "StopLogging") + `,` + testenv.TrailRecord("benign-1", "DescribeTrails") + `]}`))
	put([]byte("\x1f\x8b\x08\x00garbage, not a gzip stream"))

	reload := make(chan struct{})
	var logs testenv.Buffer
	d, stop := startDaemon(t, cfg, DaemonOptions{ConfigPath: path, Reload: reload}, &logs)
	base := "http://" + d.Addr()

	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); !ok(); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("waited in vain for %s; Slack has %d messages", what, len(slack.Received()))
			}
		}
	}
	metrics := func() string {
		resp, err := http.Get(base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}

	waitFor("the StopLogging alert", func() bool { return mentions(slack, "stop-1") == 1 })
	waitFor("the unreadable-file alert", func() bool { return mentions(slack, "unreadable CloudTrail records") == 1 })

	// A reload that disables the rule: later StopLogging events no longer alert.
	writeConfig("  disable: [cloudtrail-stopped]\n")
	reload <- struct{}{}
	waitFor("the reload", func() bool { return strings.Contains(metrics(), `trailbell_reloads_total{result="ok"} 1`) })
	put(testenv.Gzip(`{"Records":[` + testenv.TrailRecord("stop-2", "StopLogging") + `]}`))
	waitFor("the third file", func() bool {
		return strings.Contains(metrics(), `trailbell_s3_files_total{source="s3://trail/AWSLogs/"} 3`)
	})
	healthz := func() (int, string) {
		resp, err := http.Get(base + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(body)
	}
	// data just came, nothing fails: healthy
	if code, body := healthz(); code != 200 || !strings.Contains(body, `"status":"ok"`) {
		t.Errorf("/healthz = %d %s", code, body)
	}

	waitFor("the silence alert", func() bool { return mentions(slack, "No new CloudTrail data") >= 1 })
	if mentions(slack, "stop-2") != 0 {
		t.Error("a rule disabled by the reload still alerted")
	}

	// Deliveries leave the outbox after Slack answered, a moment after the messages show up
	// there: wait for the state the next assertions read, rather than read it once.
	waitFor("the outbox to empty", func() bool { return strings.Contains(metrics(), "trailbell_outbox_depth 0\n") })
	m := metrics()
	for _, want := range []string{
		`trailbell_findings_total{rule="cloudtrail-stopped"} 1`,
		`trailbell_records_total{source="s3://trail/AWSLogs/"} 3`,
		`trailbell_files_total{source="s3://trail/AWSLogs/"} 3`,
		`trailbell_bad_records_total{source="s3://trail/AWSLogs/"} 1`,
		`trailbell_inputs_not_whole_total{source="s3://trail/AWSLogs/"} 1`,
		`trailbell_outbox_depth 0`,
		`trailbell_event_lag_seconds_count 1`,
		`trailbell_notify_delivered_total{receiver="slack"}`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// silent past silence_after: degraded, and it says why. (The alert above may be of an
	// earlier quiet spell, when the reload took longer than silence_after on a busy machine:
	// wait for the spell after the last file rather than read /healthz once.)
	waitFor("/healthz to report the silent source", func() bool {
		code, body := healthz()
		return code == http.StatusServiceUnavailable && strings.Contains(body, `"status":"degraded"`) &&
			strings.Contains(body, "source s3://trail/AWSLogs/ silent for ")
	})

	if err := stop(); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if strings.Contains(logs.String(), "testsecret") || strings.Contains(logs.String(), "/services/") {
		t.Errorf("the log shows a secret:\n%s", logs.String())
	}
}
