package app

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/klauspost/compress/gzip"

	"github.com/trailbell/trailbell/internal/config"
	"github.com/trailbell/trailbell/internal/daemon"
	"github.com/trailbell/trailbell/internal/notify/slacktest"
	"github.com/trailbell/trailbell/internal/testenv"
)

// trailS3 is the S3 server of a daemon test: versitygw when scripts/test.sh started it
// (TRAILBELL_TEST_S3_ENDPOINT), else an in-process gofakes3; with a fresh bucket.
type trailS3 struct {
	endpoint, bucket string
	client           *s3.Client
	n                int
}

func newTrailS3(t *testing.T) *trailS3 {
	t.Helper()
	endpoint := os.Getenv("TRAILBELL_TEST_S3_ENDPOINT")
	if endpoint == "" {
		t.Log("TRAILBELL_TEST_S3_ENDPOINT is unset: using an in-process gofakes3 server")
		endpoint = testenv.S3Server(t)
	}
	s := &trailS3{endpoint: endpoint, bucket: fmt.Sprintf("trail-input-%d", time.Now().UnixNano()), client: testenv.S3Client(endpoint)}
	testenv.Bucket(t, s.client, s.bucket)
	return s
}

// put stores body as the next log file of the prefix, in key (and so time) order, and
// returns its s3:// URL.
func (s *trailS3) put(t *testing.T, body []byte) string {
	t.Helper()
	s.n++
	at := time.Now().UTC().Add(time.Duration(s.n-50) * time.Minute)
	k := fmt.Sprintf("AWSLogs/111122223333/CloudTrail/us-east-1/%s/111122223333_CloudTrail_us-east-1_%s_%02d.json.gz",
		at.Format("2006/01/02"), at.Format("20060102T1504Z"), s.n)
	if _, err := s.client.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(k), Body: bytes.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
	return "s3://" + s.bucket + "/" + k
}

// testDaemon is a daemon running in process until the test ends.
type testDaemon struct {
	base  string
	slack *slacktest.Server
	logs  *testenv.Buffer
	stop  func() error
}

// runDaemon starts the daemon on the configuration doc and run settings (its state_dir
// relative to dir), delivering to slack, serving /metrics and /healthz.
func runDaemon(t *testing.T, dir, doc, run string, slack *slacktest.Server) *testDaemon {
	t.Helper()
	path := filepath.Join(dir, "trailbell.yaml")
	if err := os.WriteFile(path, []byte(doc+"run:\n  listen: 127.0.0.1:0\n"+run), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	d := &testDaemon{slack: slack, logs: &testenv.Buffer{}}
	dm, stop := startDaemon(t, cfg, DaemonOptions{}, d.logs)
	d.base, d.stop = "http://"+dm.Addr(), stop
	return d
}

func (d *testDaemon) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(d.base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (d *testDaemon) waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !ok(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited in vain for %s; Slack has %d messages", what, len(d.slack.Received()))
		}
	}
}

func (d *testDaemon) metric(t *testing.T, line string) bool {
	_, m := d.get(t, "/metrics")
	return strings.Contains(m, line)
}

func s3Source(s *trailS3, extra string) string {
	return fmt.Sprintf("sources:\n  s3:\n    - url: s3://%s/AWSLogs/\n      endpoint: %s\n      poll_interval: 100ms\n      since: 48h\n%s", s.bucket, s.endpoint, extra)
}

func gzipParts(t *testing.T, parts ...string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestSpeed)
	for _, p := range parts {
		io.WriteString(zw, p)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// Every way a log file can break is alerted with its input and position, the records before
// (and, where the structure allows, after) the fault still alert, and the prefix goes on.
func TestRunBadInputPolicy(t *testing.T) {
	s := newTrailS3(t)
	stop := func(id string) string { return testenv.TrailRecord(id, "StopLogging") }
	var middle []string
	for i := range 60 {
		middle = append(middle, testenv.TrailRecord(fmt.Sprintf("benign-%d-%d", i, time.Now().UnixNano()), "DescribeTrails"))
	}
	cut := gzipParts(t, `{"Records":[`+stop("cut-a")+`,`+strings.Join(middle, ",")+`,`+stop("cut-b")+`]}`)
	cut = cut[:len(cut)*2/3] // the gzip stream ends among the benign records
	bomb := func() []byte {
		var b bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&b, gzip.BestSpeed)
		io.WriteString(zw, `{"Records":[`+stop("bomb-a")+`,`)
		spaces := bytes.Repeat([]byte(" "), 1<<20)
		for range 64 { // 64 MiB of white space, past run.max_inflated
			zw.Write(spaces)
		}
		io.WriteString(zw, stop("bomb-b")+`]}`)
		zw.Close()
		return b.Bytes()
	}()
	files := []struct {
		body    []byte
		problem string // in the file's alert
	}{
		{gzipParts(t, `{"Records":[`+stop("ok-1")+`]}`), ""},
		{cut, ": unexpected EOF: cut off at line 1, byte "},
		{gzipParts(t, `{"Records":[`+stop("syn-a")+`,{"eventName":"StopLogging","x":nul},`+stop("syn-c")+`]}`), `record 2: invalid literal, want \"null\" at line 1, byte `},
		{gzipParts(t, `{"Records":[`+stop("big-a")+`,{"eventName":"StopLogging","x":"`+strings.Repeat("x", 100<<10)+`"},`+stop("big-c")+`]}`), "record 2: value larger than 64 KiB at line 1, byte "},
		{gzipParts(t, `{"Records":[`+stop("deep-a")+`,{"x":`+strings.Repeat("[", 600)+strings.Repeat("]", 600)+`},`+stop("deep-c")+`]}`), "record 2: nesting deeper than 512 at line 1, byte "},
		{bomb, "larger than 8 MiB after decompression: cut off at line 1, byte 8388608"},
		{gzipParts(t, `{"Records":[`+stop("ok-7")+`]}`), ""},
	}
	var urls []string
	for _, f := range files {
		urls = append(urls, s.put(t, f.body))
	}

	slack := slacktest.New()
	defer slack.Close()
	d := runDaemon(t, t.TempDir(), notifyYAML(slack)+s3Source(s, ""), "  max_record: 64KiB\n  max_inflated: 8MiB\n", slack)
	d.waitFor(t, "the last file's alert", func() bool { return mentions(slack, "ok-7") == 1 })
	d.waitFor(t, "every file read", func() bool {
		return d.metric(t, fmt.Sprintf(`trailbell_files_total{source="s3://%s/AWSLogs/"} 7`, s.bucket))
	})
	for _, id := range []string{"ok-1", "cut-a", "syn-a", "syn-c", "big-a", "big-c", "deep-a", "deep-c", "bomb-a", "ok-7"} {
		if n := mentions(slack, id); n != 1 {
			t.Errorf("%s alerted %d times, want once", id, n)
		}
	}
	for i, f := range files {
		if f.problem == "" {
			continue
		}
		// the alert names the file, says it was not read whole, and where
		var alert string
		for _, r := range slack.Received() {
			if b := string(r.Body); strings.Contains(b, "unreadable CloudTrail records in "+urls[i]+" (not read whole)") {
				alert = b
			}
		}
		if alert == "" {
			t.Errorf("no bad-input alert for %s", urls[i])
		} else if !strings.Contains(alert, f.problem) {
			t.Errorf("alert for %s lacks %q:\n%.3000s", urls[i], f.problem, alert)
		}
	}
	if !d.metric(t, fmt.Sprintf(`trailbell_inputs_not_whole_total{source="s3://%s/AWSLogs/"} 5`, s.bucket)) {
		_, m := d.get(t, "/metrics")
		t.Errorf("/metrics does not count 5 inputs not read whole:\n%s", grepLines(m, "trailbell_inputs_not_whole_total", "trailbell_bad_records_total"))
	}
}

func grepLines(s string, prefixes ...string) string {
	var out []string
	for l := range strings.Lines(s) {
		for _, p := range prefixes {
			if strings.HasPrefix(l, p) {
				out = append(out, strings.TrimSpace(l))
			}
		}
	}
	return strings.Join(out, "\n")
}

// denyingProxy forwards to S3 but answers 403 AccessDenied to GetObject of keys that contain
// deny, as a KMS key or bucket policy that denies one file would.
func denyingProxy(t *testing.T, backend, deny string) string {
	u, err := url.Parse(backend)
	if err != nil {
		t.Fatal(err)
	}
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(u); r.Out.Host = r.In.Host }}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, deny) {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// /healthz answers 503 while the daemon is degraded: a source failing, a log file stuck, a
// receiver failing; and says why.
func TestRunHealthzDegraded(t *testing.T) {
	s := newTrailS3(t)
	s.put(t, gzipParts(t, `{"Records":[`+testenv.TrailRecord("h-1", "StopLogging")+`]}`))
	denied := s.put(t, gzipParts(t, `{"Records":[`+testenv.TrailRecord("h-2", "StopLogging")+`]}`))
	proxy := denyingProxy(t, s.endpoint, denied[strings.LastIndex(denied, "/")+1:])

	slack := slacktest.New()
	defer slack.Close()
	doc := notifyYAML(slack) + fmt.Sprintf(`sources:
  s3:
    - url: s3://%s/AWSLogs/
      endpoint: %s
      poll_interval: 100ms
      since: 48h
      stuck_after: 1s
    - url: s3://no-such-bucket-%s/AWSLogs/
      endpoint: %s
      poll_interval: 100ms
`, s.bucket, proxy, s.bucket, s.endpoint)
	d := runDaemon(t, t.TempDir(), doc, "", slack)
	d.waitFor(t, "the first file's alert", func() bool { return mentions(slack, "h-1") == 1 })

	var h daemon.Health
	d.waitFor(t, "/healthz to report the stuck file", func() bool {
		code, body := d.get(t, "/healthz")
		h = daemon.Health{}
		json.Unmarshal([]byte(body), &h)
		return code == http.StatusServiceUnavailable && len(h.StuckFiles) == 1
	})
	if h.Status != "degraded" || h.StuckFiles[denied].IsZero() {
		t.Errorf("healthz %+v, want degraded with %s stuck", h, denied)
	}
	problems := strings.Join(h.Problems, "\n")
	for _, want := range []string{"source s3://no-such-bucket-" + s.bucket + "/AWSLogs/ failing since its last data", "NoSuchBucket", "log file " + denied + " failing since"} {
		if !strings.Contains(problems, want) {
			t.Errorf("problems lack %q:\n%s", want, problems)
		}
	}

	// a receiver whose deliveries keep failing degrades a daemon too
	slack2 := slacktest.New()
	defer slack2.Close()
	for range 50 {
		slack2.Fail(slacktest.Fault{Status: 500, Body: "rollup_error"})
	}
	s2 := newTrailS3(t)
	s2.put(t, gzipParts(t, `{"Records":[`+testenv.TrailRecord("h-4", "StopLogging")+`]}`))
	// its outbox cannot drain at shutdown: a short grace spares the test the default 30s
	d2 := runDaemon(t, t.TempDir(), notifyYAML(slack2)+s3Source(s2, ""), "  shutdown_grace: 1s\n", slack2)
	d2.waitFor(t, "/healthz to report the failing receiver", func() bool {
		code, body := d2.get(t, "/healthz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, `"failingReceivers":{"slack":`) && strings.Contains(body, "receiver slack failing")
	})
}

// A damaged checkpoint does not stop its prefix: it is counted in /metrics, kept aside, and the
// prefix is listed again from since; the outbox drops what was sent already.
func TestRunCorruptCheckpoint(t *testing.T) {
	s := newTrailS3(t)
	s.put(t, gzipParts(t, `{"Records":[`+testenv.TrailRecord("cp-1", "StopLogging")+`]}`))
	slack := slacktest.New()
	defer slack.Close()
	dir := t.TempDir()
	d := runDaemon(t, dir, notifyYAML(slack)+s3Source(s, ""), "", slack)
	d.waitFor(t, "the first file's alert", func() bool { return mentions(slack, "cp-1") == 1 })
	d.waitFor(t, "the checkpoint", func() bool {
		m, _ := filepath.Glob(filepath.Join(dir, "state", "checkpoints", "*.json"))
		return len(m) == 1
	})
	if err := d.stop(); err != nil {
		t.Fatal(err)
	}
	cps, _ := filepath.Glob(filepath.Join(dir, "state", "checkpoints", "*.json"))
	if err := os.WriteFile(cps[0], []byte(`{"key":"s3://`), 0o600); err != nil { // torn by a disk, say
		t.Fatal(err)
	}

	s.put(t, gzipParts(t, `{"Records":[`+testenv.TrailRecord("cp-2", "StopLogging")+`]}`))
	d = runDaemon(t, dir, notifyYAML(slack)+s3Source(s, ""), "", slack)
	d.waitFor(t, "the file after the damage", func() bool { return mentions(slack, "cp-2") == 1 })
	d.waitFor(t, "the corrupt checkpoint in /metrics", func() bool {
		return d.metric(t, fmt.Sprintf(`trailbell_s3_checkpoints_corrupt_total{source="s3://%s/AWSLogs/"} 1`, s.bucket))
	})
	d.waitFor(t, "both files read again", func() bool {
		return d.metric(t, fmt.Sprintf(`trailbell_s3_files_total{source="s3://%s/AWSLogs/"} 2`, s.bucket))
	})
	if n := mentions(slack, "cp-1"); n != 1 {
		t.Errorf("cp-1 alerted %d times, want once (the outbox drops the repeat)", n)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "state", "checkpoints", "*.corrupt")); len(m) != 1 {
		t.Errorf("the damaged checkpoint was not kept aside: %v", m)
	}
}
