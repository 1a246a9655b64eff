package s3

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/trailbell/trailbell/internal/testenv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/trailbell/trailbell/internal/cloudtrail"
)

// servers runs the test against gofakes3 in-process and, when TRAILBELL_TEST_S3_ENDPOINT is
// set (scripts/test.sh starts versitygw), against that real server too, each time with a new
// empty bucket and a client to fill it.
func servers(t *testing.T, run func(t *testing.T, endpoint, bucket string, c *s3.Client)) {
	testenv.AWSEnv(t)
	withBucket := func(t *testing.T, endpoint, bucket string) {
		c := testenv.S3Client(endpoint)
		testenv.Bucket(t, c, bucket)
		run(t, endpoint, bucket, c)
	}
	t.Run("gofakes3", func(t *testing.T) {
		withBucket(t, testenv.S3Server(t), "trail-archive")
	})
	t.Run("versitygw", func(t *testing.T) {
		ep := os.Getenv("TRAILBELL_TEST_S3_ENDPOINT")
		if ep == "" {
			t.Skip("TRAILBELL_TEST_S3_ENDPOINT not set (scripts/test.sh starts versitygw)")
		}
		withBucket(t, ep, fmt.Sprintf("trailbell-s3-%d", time.Now().UnixNano()))
	})
}

const prefix = "AWSLogs/111122223333/CloudTrail/us-east-1/"

func logKey(t time.Time, n int) string {
	return prefix + t.Format("2006/01/02/") + "111122223333_CloudTrail_us-east-1_" + t.Format("20060102T1504Z") + fmt.Sprintf("_k%03d.json.gz", n)
}

func TestWalk(t *testing.T) {
	servers(t, func(t *testing.T, endpoint, bucket string, c *s3.Client) {
		ctx := context.Background()
		// 3 days × 8 files, a digest file per day, and a file outside CloudTrail's layout
		start := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
		var keys []string
		for d := range 3 {
			for i := range 8 {
				keys = append(keys, logKey(start.Add(time.Duration(d)*24*time.Hour+time.Duration(i)*5*time.Minute), d*8+i))
			}
			day := start.Add(time.Duration(d) * 24 * time.Hour)
			keys = append(keys, "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/"+day.Format("2006/01/02/")+"111122223333_CloudTrail-Digest_us-east-1_t_us-east-1_"+day.Format("20060102T150405Z")+".json.gz")
		}
		for _, k := range keys {
			put(t, c, bucket, k, []byte(`{"Records":[]}`))
		}
		src := New(c, 5)

		list := func(url string, w cloudtrail.Window) ([]string, Skipped) {
			var got []string
			sk, err := src.Walk(ctx, url, w, func(o Object) error {
				got = append(got, o.Key)
				if strings.HasSuffix(o.Key, ".json.gz") && o.Size != int64(len(`{"Records":[]}`)) {
					t.Errorf("%s: size %d", o.Key, o.Size)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			return got, sk
		}

		// everything, across pages of 5 keys
		got, sk := list("s3://"+bucket+"/AWSLogs/", cloudtrail.Window{})
		if len(got) != 24 || sk.Digest != 3 || !sort.StringsAreSorted(got) {
			t.Errorf("all: %d keys (sorted %v), skipped %+v; want 24 sorted, 3 digests", len(got), sort.StringsAreSorted(got), sk)
		}

		// the second day only, from a region prefix (listing starts after the first day)
		day2 := start.Add(24 * time.Hour)
		w := cloudtrail.Window{Since: day2.Add(-time.Hour), Until: day2.Add(10 * time.Minute)}
		got, sk = list("s3://"+bucket+"/"+prefix, w)
		// file times 10:00..10:35; until 10:10 + 1h slack keeps them all; since 09:00 drops day 1
		if len(got) != 8 || !strings.Contains(got[0], day2.Format("2006/01/02")) {
			t.Errorf("day 2: %v (skipped %+v)", got, sk)
		}
		if sk.Digest != 0 || sk.OutOfRange != 1 {
			// day 1 is never listed; the first day-3 file stops the listing
			t.Errorf("day 2: skipped %+v, want only the first later file", sk)
		}

		// the same window on a wider prefix is expanded into its region folders (the digest
		// folder is left out), each listed the same way
		for _, wide := range []string{"", "AWSLogs/", "AWSLogs/111122223333/", "AWSLogs/111122223333/CloudTrail/"} {
			got, sk = list("s3://"+bucket+"/"+wide, w)
			if len(got) != 8 || sk.OutOfRange != 1 || sk.Digest != 0 {
				t.Errorf("prefix %q: %d keys, skipped %+v; want 8, 1 out of range, no digest listed", wide, len(got), sk)
			}
		}

		// a second account and region are found too, in key order
		other := "AWSLogs/444455556666/CloudTrail/eu-west-1/"
		k := other + day2.Format("2006/01/02/") + "444455556666_CloudTrail_eu-west-1_" + day2.Format("20060102T1504Z") + "_z.json.gz"
		put(t, c, bucket, k, []byte(`{"Records":[]}`))
		got, _ = list("s3://"+bucket+"/AWSLogs/", w)
		if len(got) != 9 || got[8] != k || !sort.StringsAreSorted(got) {
			t.Errorf("two accounts: %v", got)
		}

		// anything outside CloudTrail's layout under the prefix: everything is listed and filtered
		put(t, c, bucket, "AWSLogs/111122223333/notes/readme.json", []byte(`{}`))
		got, sk = list("s3://"+bucket+"/AWSLogs/", w)
		if len(got) != 10 || sk.OutOfRange != 16 || sk.Digest != 3 {
			t.Errorf("unknown folder: %d keys, skipped %+v; want 10 (9 + the file without a time), 16 out of range, 3 digests", len(got), sk)
		}

		// a narrow window inside one day
		w = cloudtrail.Window{Since: start.Add(10 * time.Minute), Until: start.Add(20*time.Minute - time.Hour)}
		got, _ = list("s3://"+bucket+"/"+prefix, w)
		if len(got) != 2 { // 10:10 and 10:15 are >= since and < until+1h (10:20 - 1h + 1h)
			t.Errorf("narrow window: %v", got)
		}
	})
}

func TestOpen(t *testing.T) {
	servers(t, func(t *testing.T, endpoint, bucket string, c *s3.Client) {
		ctx := context.Background()
		body := bytes.Repeat([]byte("x"), 100_000)
		put(t, c, bucket, "a/b.json", body)
		src := New(c, 0)
		rc, err := src.Open(ctx, Object{Bucket: bucket, Key: "a/b.json"})
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, body) {
			t.Errorf("read %d bytes, %v", len(got), err)
		}
		_, err = src.Open(ctx, Object{Bucket: bucket, Key: "missing.json"})
		if err == nil || !strings.Contains(err.Error(), "s3://"+bucket+"/missing.json") {
			t.Errorf("missing object: err = %v, want it to name the object", err)
		}
		_, err = src.Walk(ctx, "s3://no-such-bucket-trailbell/x", cloudtrail.Window{}, func(Object) error { return nil })
		if err == nil || !strings.Contains(err.Error(), "s3://no-such-bucket-trailbell/x") {
			t.Errorf("listing a missing bucket: err = %v, want it to name the URL", err)
		}
	})
}

func put(t *testing.T, c *s3.Client, bucket, key string, body []byte) {
	t.Helper()
	_, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)})
	if err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}
