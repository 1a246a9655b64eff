package s3poll

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/trailbell/trailbell/internal/testenv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/trailbell/trailbell/internal/checkpoint"
)

// newS3 starts an in-process S3 server with one bucket.
func newS3(t testing.TB, bucket string) *s3.Client {
	t.Helper()
	c := testenv.S3Client(testenv.S3Server(t))
	testenv.Bucket(t, c, bucket)
	return c
}

func put(t *testing.T, c *s3.Client, bucket, key, body string) {
	t.Helper()
	if _, err := c.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
}

// logKey builds a key in CloudTrail's layout; prefix ends in "AWSLogs/" or "AWSLogs/o-ORG/".
func logKey(prefix, account, region string, t time.Time, id string) string {
	return fmt.Sprintf("%s%s/CloudTrail/%s/%s/%s_CloudTrail_%s_%s_%s.json.gz",
		prefix, account, region, t.Format("2006/01/02"), account, region, t.Format("20060102T1504Z"), id)
}

// recorder is a Handler that remembers what it was given and can be told to fail.
type recorder struct {
	mu     sync.Mutex
	keys   []string
	failOn string
}

func (r *recorder) handle(_ context.Context, o Object, body io.Reader) error {
	b, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if o.Key == r.failOn {
		return errors.New("outbox unavailable")
	}
	if string(b) != "body of "+o.Key {
		return fmt.Errorf("body of %s = %q", o.Key, b)
	}
	r.keys = append(r.keys, o.Key)
	return nil
}

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := r.keys
	r.keys = nil
	return k
}

var t0 = time.Date(2026, 11, 28, 1, 0, 0, 0, time.UTC)

func newPoller(t *testing.T, c API, state *checkpoint.Dir, prefix string, since time.Duration) *Poller {
	t.Helper()
	p, err := New(Options{Client: c, Bucket: "trail", Prefix: prefix, State: state, Since: since, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestOrganizationTrailEveryPrefixOnceThenOnlyNewFiles(t *testing.T) {
	c := newS3(t, "trail")
	var want []string
	for _, acct := range []string{"111111111111", "222222222222"} {
		for _, region := range []string{"eu-west-1", "us-east-1"} {
			for i := range 3 {
				k := logKey("org/AWSLogs/o-abc123def4/", acct, region, t0.Add(time.Duration(i)*5*time.Minute), fmt.Sprint("r", i))
				put(t, c, "trail", k, "body of "+k)
				want = append(want, k)
			}
		}
		// Digest files and unrelated objects are never records.
		digest := "org/AWSLogs/o-abc123def4/" + acct + "/CloudTrail-Digest/us-east-1/2026/11/28/" + acct + "_CloudTrail-Digest_us-east-1_x_20261128T0100Z.json.gz"
		put(t, c, "trail", digest, "digest")
	}
	put(t, c, "trail", "org/AWSLogs/o-abc123def4/111111111111/CloudTrail/us-east-1/README.txt", "not a log file")
	slices.Sort(want)

	state, err := checkpoint.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	p := newPoller(t, c, state, "org/", 0)
	var r recorder
	if err := p.PollOnce(t.Context(), r.handle); err != nil {
		t.Fatal(err)
	}
	got := r.take()
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("first poll handled\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// A restarted poller (fresh memory, same state directory) handles only the new file.
	next := logKey("org/AWSLogs/o-abc123def4/", "222222222222", "eu-west-1", t0.Add(20*time.Minute), "new")
	put(t, c, "trail", next, "body of "+next)
	p = newPoller(t, c, state, "org/", 0)
	if err := p.PollOnce(t.Context(), r.handle); err != nil {
		t.Fatal(err)
	}
	if got := r.take(); !slices.Equal(got, []string{next}) {
		t.Fatalf("after restart handled %q, want only %q", got, next)
	}
}

func TestFailedFileIsRetriedAndNothingAfterItIsSkipped(t *testing.T) {
	c := newS3(t, "trail")
	var keys []string
	for i := range 3 {
		k := logKey("AWSLogs/", "111111111111", "us-east-1", t0.Add(time.Duration(i)*5*time.Minute), "x")
		put(t, c, "trail", k, "body of "+k)
		keys = append(keys, k)
	}
	state := testenv.Checkpoints(t)
	p := newPoller(t, c, state, "AWSLogs/111111111111/", 0)
	r := recorder{failOn: keys[1]}
	if err := p.PollOnce(t.Context(), r.handle); err == nil || !strings.Contains(err.Error(), keys[1]) {
		t.Fatalf("PollOnce error = %v, want one naming %s", err, keys[1])
	}
	if got := r.take(); !slices.Equal(got, keys[:1]) {
		t.Fatalf("handled %q before the failure, want %q", got, keys[:1])
	}
	r.failOn = ""
	if err := p.PollOnce(t.Context(), r.handle); err != nil {
		t.Fatal(err)
	}
	if got := r.take(); !slices.Equal(got, keys[1:]) {
		t.Fatalf("retry handled %q, want %q", got, keys[1:])
	}
}

func TestLateFileInsideWindowIsPickedUp(t *testing.T) {
	c := newS3(t, "trail")
	early := logKey("AWSLogs/", "111111111111", "us-east-1", t0, "a")
	later := logKey("AWSLogs/", "111111111111", "us-east-1", t0.Add(10*time.Minute), "b")
	put(t, c, "trail", later, "body of "+later)
	state := testenv.Checkpoints(t)
	p := newPoller(t, c, state, "AWSLogs/111111111111/CloudTrail/us-east-1/", 0)
	var r recorder
	if err := p.PollOnce(t.Context(), r.handle); err != nil {
		t.Fatal(err)
	}
	r.take()
	put(t, c, "trail", early, "body of "+early) // delivered after a newer file
	if err := p.PollOnce(t.Context(), r.handle); err != nil {
		t.Fatal(err)
	}
	if got := r.take(); !slices.Equal(got, []string{early}) {
		t.Fatalf("handled %q, want the late file %q", got, early)
	}
}

func TestSinceSkipsHistoryOnFirstStart(t *testing.T) {
	c := newS3(t, "trail")
	old := logKey("AWSLogs/", "111111111111", "us-east-1", t0.Add(-3*time.Hour), "old")
	yesterday := logKey("AWSLogs/", "111111111111", "us-east-1", t0.Add(-26*time.Hour), "older")
	recent := logKey("AWSLogs/", "111111111111", "us-east-1", t0.Add(-30*time.Minute), "recent")
	for _, k := range []string{old, yesterday, recent} {
		put(t, c, "trail", k, "body of "+k)
	}
	state := testenv.Checkpoints(t)
	p := newPoller(t, c, state, "", time.Hour)
	var r recorder
	if err := p.PollOnce(t.Context(), r.handle); err != nil {
		t.Fatal(err)
	}
	if got := r.take(); !slices.Equal(got, []string{recent}) {
		t.Fatalf("handled %q, want only %q", got, recent)
	}
}

func TestMarkMovesAfterPastTheLateWindow(t *testing.T) {
	var c cursor
	k := func(min int) string { return fmt.Sprintf("p/2026/11/28/a_CloudTrail_r_20261128T%04dZ_x.json.gz", min) }
	at := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
	c.mark(k(100), at(100), 30*time.Minute)
	c.mark(k(110), at(110), 30*time.Minute)
	if c.After != "" || len(c.Done) != 2 {
		t.Fatalf("inside the window: %+v, want After empty and 2 done", c)
	}
	c.mark(k(145), at(145), 30*time.Minute)
	if c.After != k(110) || len(c.Done) != 1 || c.Done[0].Key != k(145) {
		t.Fatalf("after 145: %+v, want After %s and only 145 done", c, k(110))
	}
	if !c.done(k(100)) || !c.done(k(145)) || c.done(k(120)) {
		t.Fatalf("done() wrong for %+v", c)
	}
}

func TestLeafOf(t *testing.T) {
	for _, tc := range []struct {
		prefix          string
		account, region string
		ok              bool
	}{
		{"AWSLogs/1/CloudTrail/us-east-1/", "1", "us-east-1", true},
		{"x/AWSLogs/o-a/1/CloudTrail/eu-west-1/", "1", "eu-west-1", true},
		{"AWSLogs/1/CloudTrail/us-east-1/2026/11/", "", "", true},
		{"AWSLogs/1/CloudTrail/", "", "", false},
		{"AWSLogs/1/CloudTrail/us-east", "", "", false},
		{"AWSLogs/", "", "", false},
		{"", "", "", false},
	} {
		a, r, ok := leafOf(tc.prefix)
		if a != tc.account || r != tc.region || ok != tc.ok {
			t.Errorf("leafOf(%q) = %q, %q, %v; want %q, %q, %v", tc.prefix, a, r, ok, tc.account, tc.region, tc.ok)
		}
	}
}

// A shutdown that begins while a file is being read lets that file finish and checkpoints it.
func TestShutdownFinishesTheFileInHand(t *testing.T) {
	c := newS3(t, "trail")
	k := logKey("AWSLogs/", "111111111111", "us-east-1", t0, "a")
	put(t, c, "trail", k, "body of "+k)
	state := testenv.Checkpoints(t)
	p := newPoller(t, c, state, "", 0)
	ctx, cancel := context.WithCancel(t.Context())
	var handled bool
	err := p.PollOnce(ctx, func(hctx context.Context, o Object, body io.Reader) error {
		cancel()
		if hctx.Err() != nil {
			return fmt.Errorf("handler context cancelled with the run: %w", hctx.Err())
		}
		var buf bytes.Buffer
		_, err := io.Copy(&buf, body)
		handled = err == nil
		return err
	})
	if err != nil || !handled {
		t.Fatalf("PollOnce = %v, handled %v", err, handled)
	}
	var cur cursor
	if ok, err := state.Load("s3://trail/AWSLogs/111111111111/CloudTrail/us-east-1/", &cur); !ok || err != nil || !cur.done(k) {
		t.Fatalf("checkpoint after shutdown = %+v (%v, %v), want %s done", cur, ok, err, k)
	}
}

// countingAPI counts the listings per prefix.
type countingAPI struct {
	API
	mu     sync.Mutex
	listed []string
}

func (c *countingAPI) ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, opts ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	c.mu.Lock()
	c.listed = append(c.listed, aws.ToString(in.Prefix))
	c.mu.Unlock()
	return c.API.ListObjectsV2(ctx, in, opts...)
}

// A shared log bucket: discovery walks only toward CloudTrail prefixes, never into other
// services' logs or digests.
func TestDiscoveryWalksOnlyTowardTrails(t *testing.T) {
	c := newS3(t, "trail")
	trailKey := logKey("audit/AWSLogs/", "111111111111", "us-east-1", t0, "x")
	for _, k := range []string{
		trailKey,
		"audit/AWSLogs/111111111111/elasticloadbalancing/us-east-1/2026/11/28/elb.log.gz",
		"audit/AWSLogs/111111111111/Config/us-east-1/2026/11/28/ConfigHistory/c.json.gz",
		"audit/AWSLogs/111111111111/CloudTrail-Digest/us-east-1/2026/11/28/d.json.gz",
		"audit/AWSLogs/not-an-account/CloudTrail/us-east-1/2026/11/28/x.json.gz",
		"other/app.log",
	} {
		put(t, c, "trail", k, "body of "+k)
	}
	api := &countingAPI{API: c}
	state := testenv.Checkpoints(t)
	p := newPoller(t, api, state, "", 0)
	leaves, err := p.discover(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"audit/AWSLogs/111111111111/CloudTrail/us-east-1/"}; !slices.Equal(leaves, want) {
		t.Fatalf("leaves = %q, want %q", leaves, want)
	}
	for _, prefix := range api.listed {
		for _, never := range []string{"elasticloadbalancing", "Config/", "Digest", "not-an-account/"} {
			if strings.Contains(prefix, never) {
				t.Errorf("discovery listed %q", prefix)
			}
		}
	}
}

// BenchmarkPollFiles measures the poller's own cost per log file (list, get, durable
// checkpoint with fsync) against the in-process S3 server, with a handler that only reads.
func BenchmarkPollFiles(b *testing.B) {
	const files = 100
	c := newS3(b, "trail")
	for i := range files {
		k := logKey("AWSLogs/", "111111111111", "us-east-1", t0.Add(time.Duration(i)*time.Minute), "x")
		if _, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("trail"), Key: aws.String(k), Body: strings.NewReader(strings.Repeat("x", 4096))}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	handled := 0
	for b.Loop() {
		state, err := checkpoint.Open(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		p, err := New(Options{Client: c, Bucket: "trail", State: state, Now: func() time.Time { return t0 }})
		if err != nil {
			b.Fatal(err)
		}
		if err := p.PollOnce(context.Background(), func(_ context.Context, _ Object, body io.Reader) error {
			handled++
			_, err := io.Copy(io.Discard, body)
			return err
		}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(handled)/b.Elapsed().Seconds(), "files/s")
}

// handlerTransport serves requests in memory, so the S3 exchange can run inside a synctest
// bubble, where sockets would stop fake time.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if r.ContentLength > 0 || (r.Body != nil && r.Body != http.NoBody) {
		// A real client writes this header; servers check it.
		r.Header.Set("Content-Length", strconv.FormatInt(r.ContentLength, 10))
	}
	r.RequestURI = r.URL.RequestURI()
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

// Run picks up new files of a known prefix within one interval, and a new region's prefix
// at the next rediscovery.
func TestRunIntervalAndRediscovery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := s3.New(s3.Options{
			Region: "us-east-1", BaseEndpoint: aws.String("http://s3.test"), UsePathStyle: true,
			Credentials: credentials.NewStaticCredentialsProvider("test", "testsecret", ""),
			HTTPClient:  &http.Client{Transport: handlerTransport{gofakes3.New(s3mem.New()).Server()}},
		})
		if _, err := c.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String("trail")}); err != nil {
			t.Fatal(err)
		}
		start := time.Now().UTC()
		first := logKey("AWSLogs/", "111111111111", "us-east-1", start, "a")
		put(t, c, "trail", first, "body of "+first)

		state := testenv.Checkpoints(t)
		p, err := New(Options{Client: c, Bucket: "trail", State: state, Interval: time.Minute, Rediscover: 10 * time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		var r recorder
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- p.Run(ctx, r.handle) }()

		synctest.Wait()
		if got := r.take(); !slices.Equal(got, []string{first}) {
			t.Fatalf("at start handled %q", got)
		}
		time.Sleep(90 * time.Second)
		next := logKey("AWSLogs/", "111111111111", "us-east-1", start.Add(5*time.Minute), "b")
		region := logKey("AWSLogs/", "111111111111", "eu-west-1", start.Add(5*time.Minute), "c")
		put(t, c, "trail", next, "body of "+next)
		put(t, c, "trail", region, "body of "+region)
		time.Sleep(time.Minute) // one interval: the known prefix only
		synctest.Wait()
		if got := r.take(); !slices.Equal(got, []string{next}) {
			t.Fatalf("one interval later handled %q, want %q", got, next)
		}
		time.Sleep(8 * time.Minute) // past the rediscovery at 10 minutes
		synctest.Wait()
		if got := r.take(); !slices.Equal(got, []string{region}) {
			t.Fatalf("after rediscovery handled %q, want %q", got, region)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run = %v", err)
		}
	})
}

// FuzzKeyLayout: any key or prefix is classified without panicking, and a prefix taken to be
// exactly one region's has the account and region its path names.
func FuzzKeyLayout(f *testing.F) {
	for _, s := range []string{
		"AWSLogs/111111111111/CloudTrail/us-east-1/",
		"x/AWSLogs/o-abc123def4/111111111111/CloudTrail/eu-west-1/2026/11/28/111111111111_CloudTrail_eu-west-1_20261128T0105Z_x.json.gz",
		"AWSLogs//CloudTrail//", "CloudTrail/", "/", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		mayHoldTrail(s)
		keyTime(s, t0)
		if account, region, ok := leafOf(s); ok && account != "" {
			if tail := account + "/CloudTrail/" + region + "/"; s != tail && !strings.HasSuffix(s, "/"+tail) {
				t.Fatalf("leafOf(%q) = %q, %q", s, account, region)
			}
		}
	})
}

// A file that keeps failing is reported once it has failed for StuckAfter, and only once.
func TestStuckFileIsReportedOnce(t *testing.T) {
	c := newS3(t, "trail")
	k := logKey("AWSLogs/", "111111111111", "us-east-1", t0, "a")
	put(t, c, "trail", k, "body of "+k)
	state := testenv.Checkpoints(t)
	now := t0
	type report struct {
		key   string
		since time.Time
	}
	var reports []report
	refuse := true
	p, err := New(Options{
		Client: c, Bucket: "trail", State: state, Now: func() time.Time { return now },
		Stuck: func(_ context.Context, obj Object, since time.Time, err error) error {
			if refuse { // the alert could not be submitted: ask again next time
				refuse = false
				return errors.New("outbox full")
			}
			reports = append(reports, report{obj.Key, since})
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := recorder{failOn: k}
	for _, step := range []time.Duration{0, 10 * time.Minute, 31 * time.Minute, 35 * time.Minute, 50 * time.Minute} {
		now = t0.Add(step)
		if err := p.PollOnce(t.Context(), r.handle); err == nil {
			t.Fatal("PollOnce succeeded on a failing file")
		}
	}
	if len(reports) != 1 || reports[0].key != k || !reports[0].since.Equal(t0) {
		t.Fatalf("reports = %+v, want one for %s failing since %v", reports, k, t0)
	}
	r.failOn = ""
	if err := p.PollOnce(t.Context(), r.handle); err != nil {
		t.Fatal(err)
	}
	if len(p.failing) != 0 {
		t.Fatalf("failing = %v after the file went through", p.failing)
	}
}
