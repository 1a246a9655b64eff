package daemon

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/trailbell/trailbell/internal/source/s3poll"
	"github.com/trailbell/trailbell/internal/testenv"
)

// Run serves /healthz, hands a polled log file's findings to the pipeline, and when its
// context ends stops everything it started and closes what it owns: no goroutine is left, the
// listener is closed, a second Close is harmless.
func TestRunStopsEverything(t *testing.T) {
	testenv.NoLeaks(t)
	client := testenv.S3Client(testenv.S3Server(t))
	testenv.Bucket(t, client, "trail")
	key := "AWSLogs/111122223333/CloudTrail/us-east-1/" + time.Now().UTC().Format("2006/01/02") +
		"/111122223333_CloudTrail_us-east-1_" + time.Now().UTC().Format("20060102T1504Z") + "_a.json.gz"
	if _, err := client.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String("trail"), Key: aws.String(key),
		Body: bytes.NewReader(testenv.Gzip(`{"Records":[` + testenv.TrailRecord("stop-run", "StopLogging") + `]}`))}); err != nil {
		t.Fatal(err)
	}

	var out testenv.Buffer
	d := newTestDaemon(t, &out)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d.o.Listener = ln
	p, err := s3poll.New(s3poll.Options{Client: client, Bucket: "trail", Prefix: "AWSLogs/", State: testenv.Checkpoints(t),
		Interval: 50 * time.Millisecond, OnError: d.Failed("s3://trail/AWSLogs/"), Stuck: d.RaiseStuck})
	if err != nil {
		t.Fatal(err)
	}
	d.AddS3("s3://trail/AWSLogs/", p, 0)

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(out.String(), `"eventID":"stop-run"`); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the log file's finding was not delivered; output %q", out.String())
		}
	}
	resp, err := http.Get("http://" + d.Addr() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz = %d", resp.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return")
	}
	if c, err := net.DialTimeout("tcp", d.Addr(), time.Second); err == nil {
		c.Close()
		t.Error("the listener still accepts connections after Run")
	}
	if err := d.Close(); err != nil {
		t.Errorf("a second Close: %v", err)
	}
}

// A daemon with no source refuses to run, and still releases what it was given.
func TestRunWithoutSources(t *testing.T) {
	d := newTestDaemon(t, &bytes.Buffer{})
	if err := d.Run(t.Context()); err == nil || !strings.Contains(err.Error(), "nothing to watch") {
		t.Errorf("Run = %v", err)
	}
}
