package lambda_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/trailbell/trailbell/internal/app"
	"github.com/trailbell/trailbell/internal/cloudtrail"
	"github.com/trailbell/trailbell/internal/config"
	"github.com/trailbell/trailbell/internal/correlate/dynamo"
	"github.com/trailbell/trailbell/internal/finding"
	"github.com/trailbell/trailbell/internal/notify/webhook"
	"github.com/trailbell/trailbell/internal/testenv"
)

// storyDir holds the scenario files: examples/memory-story (see its README).
const storyDir = "../../examples/memory-story"

type storyFile struct {
	key  string // AWSLogs/...
	body []byte
	at   time.Time
}

// storyFiles returns the scenario's log files in the order CloudTrail delivers them: by the
// time in their names, both regions together.
func storyFiles(t *testing.T) []storyFile {
	var out []storyFile
	err := filepath.WalkDir(storyDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".json.gz") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(storyDir, p)
		key := filepath.ToSlash(rel)
		at, ok := cloudtrail.KeyTime(key)
		if !ok {
			return fmt.Errorf("%s: no time in the name", key)
		}
		out = append(out, storyFile{key, b, at})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.SortStableFunc(out, func(a, b storyFile) int { return cmpTime(a.at, b.at, a.key, b.key) })
	return out
}

func cmpTime(a, b time.Time, ka, kb string) int {
	if c := a.Compare(b); c != 0 {
		return c
	}
	return strings.Compare(ka, kb)
}

// hook is a webhook endpoint that keeps every finding posted to it.
type hook struct {
	*httptest.Server
	mu sync.Mutex
	fs []finding.Finding
}

func newHook(t *testing.T) *hook {
	h := &hook{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p webhook.Payload
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		h.mu.Lock()
		for _, f := range p.Findings {
			h.fs = append(h.fs, *f)
		}
		h.mu.Unlock()
		io.WriteString(w, "ok")
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hook) findings() []finding.Finding {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.fs)
}

// modeSummary is what the three modes must agree on: every finding's rule and event, its
// actor, the events related to it and its title; duplicates (a redelivery) collapse.
func modeSummary(fs []finding.Finding) []string {
	seen := map[string]bool{}
	var out []string
	for _, f := range fs {
		s := fmt.Sprintf("%s actor=%s related=%v title=%q", f.Key(), f.Actor, f.Related, f.Title)
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

// TestThreeModes runs the same scenario files through the backtest (scan), the daemon (run,
// polling S3 as the files arrive) and the Lambda (the bootstrap under AWS's runtime emulator,
// one S3 notification per file, state in DynamoDB) and checks that they find the same: rules
// with memory included, with the same actors and related events.
func TestThreeModes(t *testing.T) {
	ddb, ddbClient := testenv.DynamoDB(t)
	if os.Getenv("TRAILBELL_TEST_RIE") == "" {
		t.Skip("TRAILBELL_TEST_RIE is not set (path of aws-lambda-rie; scripts/test.sh sets it)")
	}
	testenv.AWSEnv(t)
	files := storyFiles(t)

	// 1. the backtest
	var out bytes.Buffer
	if _, err := app.Scan(t.Context(), &config.Config{}, app.ScanJob{Paths: []string{storyDir}, Format: "json"}, app.Process{Stdout: &out}); err != nil {
		t.Fatal(err)
	}
	var backtest []finding.Finding
	for line := range bytes.Lines(out.Bytes()) {
		var f finding.Finding
		if err := json.Unmarshal(line, &f); err != nil {
			t.Fatalf("scan output %q: %v", line, err)
		}
		backtest = append(backtest, f)
	}
	want := modeSummary(backtest)
	stateful := 0
	for _, f := range backtest {
		if len(f.Related) > 0 {
			stateful++
		}
	}
	if stateful < 3 {
		t.Fatalf("the backtest found %d findings with related events, want the story's three:\n%s", stateful, strings.Join(want, "\n"))
	}

	s3URL := testenv.S3Server(t)
	client := testenv.S3Client(s3URL)

	// 2. the daemon, the files arriving in S3 five minutes at a time
	testenv.Bucket(t, client, "trail")
	daemonHook := newHook(t)
	dir := t.TempDir()
	cfg, err := config.Parse([]byte(fmt.Sprintf(`state_dir: %s
notify:
  receivers: [{name: hook, min_severity: info, per_rule: true, webhook: {url: %q}}]
  route: {receiver: hook}
sources:
  s3:
    - {url: "s3://trail/AWSLogs/", endpoint: %q, poll_interval: 100ms, since: 3650d}
run: {listen: "127.0.0.1:0"}
`, dir, daemonHook.URL, s3URL)), dir)
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	putSlot := func() {
		for slot := files[i].at; i < len(files) && files[i].at.Equal(slot); i++ {
			if _, err := client.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String("trail"), Key: aws.String(files[i].key), Body: bytes.NewReader(files[i].body)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	putSlot() // the first files are there when the daemon starts and finds the region prefixes
	ctx, cancel := context.WithCancel(t.Context())
	d, err := app.NewDaemon(ctx, cfg, app.DaemonOptions{}, app.Process{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	metrics := "http://" + d.Addr() + "/metrics"
	waitFiles(t, metrics, i)
	for i < len(files) {
		putSlot()
		waitFiles(t, metrics, i)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(modeSummary(daemonHook.findings())) < len(want) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := modeSummary(daemonHook.findings()); !slices.Equal(got, want) {
		t.Errorf("the daemon found other things than the backtest:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(want, "\n     "))
	}

	// 3. the Lambda: one S3 notification per file, in delivery order, state in DynamoDB
	table := testenv.UniqueName("trailbell-state")
	if err := dynamo.CreateTable(t.Context(), ddbClient, table); err != nil {
		t.Fatal(err)
	}
	lambdaHook := newHook(t)
	cfgPath := filepath.Join(t.TempDir(), "trailbell.yaml")
	if err := os.WriteFile(cfgPath, []byte(fmt.Sprintf(`notify:
  receivers: [{name: hook, min_severity: info, per_rule: true, webhook: {url: %q}}]
  route: {receiver: hook}
state: {dynamodb_table: %s}
`, lambdaHook.URL, table)), 0o600); err != nil {
		t.Fatal(err)
	}
	r := startRIE(t, "TRAILBELL_CONFIG="+cfgPath, "AWS_ENDPOINT_URL_S3="+s3URL, "TRAILBELL_S3_PATH_STYLE=true",
		"AWS_ENDPOINT_URL_DYNAMODB="+ddb)
	for _, f := range files {
		out, _ := r.invoke(t, []byte(s3Notification("trail", f.key)))
		if out["errorMessage"] != nil {
			t.Fatalf("%s: %v", f.key, out)
		}
	}
	if got := modeSummary(lambdaHook.findings()); !slices.Equal(got, want) {
		t.Errorf("the Lambda found other things than the backtest:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(want, "\n     "))
	}
	// redelivered notifications re-emit the same findings and count nothing twice
	for _, f := range files[:4] {
		if out, _ := r.invoke(t, []byte(s3Notification("trail", f.key))); out["errorMessage"] != nil {
			t.Fatalf("redelivery of %s: %v", f.key, out)
		}
	}
	if got := modeSummary(lambdaHook.findings()); !slices.Equal(got, want) {
		t.Errorf("after redeliveries the Lambda's findings changed:\n got %s", strings.Join(got, "\n     "))
	}
	t.Logf("%d findings (%d of rules with memory) in each of the three modes", len(want), stateful)
}

// waitFiles waits until the daemon has read n log files (trailbell_files_total).
func waitFiles(t *testing.T, metrics string, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if got := filesRead(t, metrics); got >= n {
			return
		} else if time.Now().After(deadline) {
			t.Fatalf("the daemon read %d of %d files", got, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func filesRead(t *testing.T, metrics string) int {
	resp, err := http.Get(metrics)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	total := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		l := sc.Text()
		if !strings.HasPrefix(l, "trailbell_files_total{") {
			continue
		}
		v, _ := strconv.ParseFloat(l[strings.LastIndexByte(l, ' ')+1:], 64)
		total += int(v)
	}
	return total
}
