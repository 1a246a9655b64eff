package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/trailbell/trailbell/internal/testenv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// s3Endpoint is the S3 server of the test: versitygw when scripts/test.sh started it, else an
// in-process gofakes3, so plain `go test` runs the crash test too.
func s3Endpoint(t *testing.T) string {
	if e := os.Getenv("TRAILBELL_TEST_S3_ENDPOINT"); e != "" {
		return e
	}
	t.Log("TRAILBELL_TEST_S3_ENDPOINT is unset: using an in-process gofakes3 server")
	return testenv.S3Server(t)
}

// record is a CloudTrail record: StopLogging (a critical built-in rule) or, for a benign
// record, DescribeInstances.
func record(id string, risky bool, at time.Time) string {
	name, source := "DescribeInstances", "ec2.amazonaws.com"
	if risky {
		name, source = "StopLogging", "cloudtrail.amazonaws.com"
	}
	noise := make([]byte, 16)
	rand.Read(noise) // keeps the file from compressing to nothing, so it streams in parts
	return fmt.Sprintf(`{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLE","arn":"arn:aws:iam::111122223333:user/mallory","accountId":"111122223333","accessKeyId":"AKIAEXAMPLE","userName":"mallory"},`+
		`"eventTime":%q,"eventSource":%q,"eventName":%q,"awsRegion":"us-east-1","sourceIPAddress":"203.0.113.7","userAgent":"aws-cli/2.15.0",`+
		`"requestParameters":{"name":"main-trail"},"responseElements":null,"requestID":%q,"eventID":%q,"readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333"}`,
		at.UTC().Format(time.RFC3339), source, name, hex.EncodeToString(noise), id)
}

// logFile gzips records into CloudTrail's log-file format.
func logFile(records []string) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	io.WriteString(zw, `{"Records":[`+strings.Join(records, ",")+`]}`)
	zw.Close()
	return buf.Bytes()
}

// stallingProxy forwards to S3 (keeping the Host header the client signed) and, while armed,
// stops the body of one object half way until released.
type stallingProxy struct {
	*httptest.Server
	key     string
	mu      sync.Mutex
	armed   bool
	stalled chan struct{} // closed once a reader is stuck half way
	release chan struct{}
}

func newStallingProxy(t *testing.T, backend, key string) *stallingProxy {
	u, err := url.Parse(backend)
	if err != nil {
		t.Fatal(err)
	}
	p := &stallingProxy{key: key, armed: true, stalled: make(chan struct{}), release: make(chan struct{})}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			r.Out.Host = r.In.Host
		},
		FlushInterval: -1,
		ModifyResponse: func(resp *http.Response) error {
			p.mu.Lock()
			armed := p.armed
			p.mu.Unlock()
			if armed && resp.Request.Method == http.MethodGet && strings.HasSuffix(resp.Request.URL.Path, p.key) && resp.ContentLength > 1 {
				resp.Body = &stallingBody{r: resp.Body, left: resp.ContentLength / 2, p: p, ctx: resp.Request.Context()}
			}
			return nil
		},
	}
	p.Server = httptest.NewServer(rp)
	t.Cleanup(func() { p.disarm(); p.Close() })
	return p
}

func (p *stallingProxy) disarm() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.armed {
		p.armed = false
		close(p.release)
	}
}

type stallingBody struct {
	r    io.ReadCloser
	left int64
	p    *stallingProxy
	ctx  context.Context
	once sync.Once
}

func (b *stallingBody) Read(buf []byte) (int, error) {
	if b.left <= 0 {
		b.once.Do(func() { close(b.p.stalled) })
		select {
		case <-b.p.release:
		case <-b.ctx.Done():
			return 0, b.ctx.Err()
		}
		return b.r.Read(buf)
	}
	if int64(len(buf)) > b.left {
		buf = buf[:b.left]
	}
	n, err := b.r.Read(buf)
	b.left -= int64(n)
	return n, err
}

func (b *stallingBody) Close() error { return b.r.Close() }

// slackLike accepts webhook posts like Slack; the first one it records and then never answers,
// so that message is in flight when the daemon dies.
type slackLike struct {
	*httptest.Server
	mu       sync.Mutex
	bodies   []string
	hung     chan struct{}
	hangOnce sync.Once
	stopHang chan struct{}
}

func newSlackLike(t *testing.T) *slackLike {
	s := &slackLike{hung: make(chan struct{}), stopHang: make(chan struct{})}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.bodies = append(s.bodies, string(b))
		s.mu.Unlock()
		hang := false
		s.hangOnce.Do(func() { hang = true; close(s.hung) })
		if hang {
			select {
			case <-r.Context().Done():
			case <-s.stopHang:
			}
			return
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(func() { close(s.stopHang); s.Close() })
	return s
}

// count says how many received messages mention each id.
func (s *slackLike) count(ids []string) map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := map[string]int{}
	for _, b := range s.bodies {
		for _, id := range ids {
			if strings.Contains(b, id) {
				n[id]++
			}
		}
	}
	return n
}

// trailbell is the command, built once for the tests that run it as a process.
var trailbell = &testenv.Binary{Pkg: ".", Name: "trailbell"}

func buildBinary(t *testing.T) string { return trailbell.Path(t) }

func TestMain(m *testing.M) {
	code := m.Run()
	trailbell.Remove()
	os.Exit(code)
}

// The daemon is killed with SIGKILL while it is half way through a log file and a Slack
// message is in flight, then started again: every finding is delivered, and at most the one
// message in flight is delivered twice.
func TestRunSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	endpoint := s3Endpoint(t)
	client := testenv.S3Client(endpoint)
	bucket := fmt.Sprintf("trail-crash-%d", time.Now().UnixNano())
	if _, err := client.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}

	now := time.Now().UTC()
	key := func(at time.Time, suffix string) string {
		return fmt.Sprintf("AWSLogs/111122223333/CloudTrail/us-east-1/%s/111122223333_CloudTrail_us-east-1_%s_%s.json.gz",
			at.Format("2006/01/02"), at.Format("20060102T1504Z"), suffix)
	}
	put := func(k string, body []byte) {
		if _, err := client.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(k), Body: bytes.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	id := func(name string) string { return "00000000-0000-4000-8000-" + fmt.Sprintf("%012x", name) }
	benign := func(n int) []string {
		var rs []string
		for i := range n {
			rs = append(rs, record(fmt.Sprintf("benign-%d", i), false, now))
		}
		return rs
	}
	// A: two findings. B: a large file with a finding at each end; the kill comes half way.
	// C: one finding after B.
	want := []string{id("a1"), id("a2"), id("b1"), id("b2"), id("c1")}
	put(key(now.Add(-3*time.Minute), "a"), logFile(append([]string{record(want[0], true, now), record(want[1], true, now)}, benign(20)...)))
	keyB := key(now.Add(-2*time.Minute), "b")
	put(keyB, logFile(append(append([]string{record(want[2], true, now)}, benign(4000)...), record(want[3], true, now))))
	put(key(now.Add(-time.Minute), "c"), logFile(append(benign(10), record(want[4], true, now))))

	proxy := newStallingProxy(t, endpoint, keyB)
	slack := newSlackLike(t)
	state := t.TempDir()
	start := func() (*exec.Cmd, *testenv.Buffer) {
		cmd := exec.Command(bin, "run", "--s3", "s3://"+bucket+"/AWSLogs/", "--endpoint-url", proxy.URL,
			"--state-dir", state, "--slack-webhook-url", slack.URL+"/services/T0/B0/x", "--poll-interval", "200ms")
		cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=testsecret",
			"AWS_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true")
		var logs testenv.Buffer
		cmd.Stderr = &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd, &logs
	}

	began := time.Now()
	first, logs := start()
	for name, ch := range map[string]chan struct{}{"a Slack message in flight": slack.hung, "the daemon half way through the large file": proxy.stalled} {
		select {
		case <-ch:
		case <-time.After(30 * time.Second):
			first.Process.Kill()
			first.Wait()
			t.Fatalf("waited in vain for %s; daemon log:\n%s", name, logs)
		}
	}
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	first.Wait()
	before := slack.count(want)
	t.Logf("%v: killed; Slack had %v", time.Since(began).Round(time.Millisecond), before)

	proxy.disarm()
	second, logs := start()
	deadline := time.Now().Add(45 * time.Second)
	for {
		n := slack.count(want)
		all := true
		for _, w := range want {
			all = all && n[w] > 0
		}
		if all {
			break
		}
		if time.Now().After(deadline) {
			second.Process.Kill()
			second.Wait()
			t.Fatalf("after restart Slack has %v, want every one of %v; daemon log:\n%s", n, want, logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("%v: every finding delivered", time.Since(began).Round(time.Millisecond))
	time.Sleep(time.Second) // let any redundant resend show up before counting
	if err := second.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logs.String(), `"msg":"reloaded rules`); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("SIGHUP did not reload the rules; log:\n%s", logs)
		}
	}
	if err := second.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := second.Wait(); err != nil {
		t.Errorf("graceful stop: %v; log:\n%s", err, logs)
	}
	t.Logf("%v: stopped", time.Since(began).Round(time.Millisecond))
	n := slack.count(want)
	extra := 0
	for _, w := range want {
		extra += n[w] - 1
	}
	if extra > 1 {
		t.Fatalf("deliveries per finding %v: %d duplicates, want at most the one message in flight", n, extra)
	}
	t.Logf("deliveries per finding: %v", n)
}

func TestRunFlagErrors(t *testing.T) {
	t.Setenv("TRAILBELL_SLACK_WEBHOOK_URL", "")
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(cfg, []byte("sources:\n  s3:\n    - url: s3://b/\n"), 0o600)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"nothing to watch", []string{"run", "--state-dir", "x"}, "nothing to watch"},
		{"no state dir", []string{"run", "--s3", "s3://b/AWSLogs/"}, "--state-dir"},
		{"bad s3 url", []string{"run", "--s3", "b/AWSLogs/", "--state-dir", "x"}, "sources.s3[0].url"},
		{"config and source flags", []string{"run", "--config", cfg, "--s3", "s3://b/"}, "--s3 cannot be combined with --config"},
		{"stray argument", []string{"run", "--s3", "s3://b/", "extra"}, `unexpected argument "extra"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errs := runCmd(t, tc.args...)
			if code != exitError || !strings.Contains(errs, tc.want) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, errs, exitError, tc.want)
			}
		})
	}
}

// The daemon's log writes durations as text ("1s"), not as nanoseconds.
func TestRunLogsDurationsAsText(t *testing.T) {
	testenv.NoLeaks(t)
	testenv.AWSEnv(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	l.Close() // nothing answers there: every receive fails and is retried later
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var logs testenv.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"run", "--sqs", closed + "/111122223333/trailbell", "--sqs-endpoint-url", closed, "--state-dir", t.TempDir()},
			stdio{in: strings.NewReader(""), out: io.Discard, err: &logs})
	}()
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(logs.String(), `"retry_in"`); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no retry logged:\n%s", logs.String())
		}
	}
	cancel()
	<-done
	if !regexp.MustCompile(`"retry_in":"[0-9.]+(ms|s)"`).MatchString(logs.String()) {
		t.Errorf("retry_in is not a duration in text:\n%s", logs.String())
	}
}
