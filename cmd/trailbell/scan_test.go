package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trailbell/trailbell/internal/testenv"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/klauspost/compress/gzip"
)

// Records written for these tests, in CloudTrail's shape.
const (
	scanStopLogging = `{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLE","arn":"arn:aws:iam::111122223333:user/mallory","accountId":"111122223333","userName":"mallory"},"eventTime":"2026-11-01T10:01:50Z","eventSource":"cloudtrail.amazonaws.com","eventName":"StopLogging","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.10","userAgent":"aws-cli/2.15.0","requestParameters":{"name":"main"},"responseElements":null,"requestID":"r1","eventID":"00000000-0000-4000-8000-000000000001","readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333"}`
	scanAttachAdmin = `{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLE","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"AKIAEXAMPLEALICE0001","userName":"alice"},"eventTime":"2026-11-01T10:03:00Z","eventSource":"iam.amazonaws.com","eventName":"AttachUserPolicy","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.10","userAgent":"aws-cli/2.15.0","requestParameters":{"userName":"bob","policyArn":"arn:aws:iam::aws:policy/AdministratorAccess"},"responseElements":null,"requestID":"r3","eventID":"00000000-0000-4000-8000-000000000004","readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333"}`
	scanDescribe    = `{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLE","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","userName":"alice"},"eventTime":"2026-11-01T10:02:00Z","eventSource":"ec2.amazonaws.com","eventName":"DescribeInstances","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.11","userAgent":"aws-cli/2.15.0","requestParameters":null,"responseElements":null,"requestID":"r2","eventID":"00000000-0000-4000-8000-000000000002","readOnly":true,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333"}`
)

func scanLogFile(recs ...string) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(`{"Records":[` + strings.Join(recs, ",") + `]}`))
	w.Close()
	return b.Bytes()
}

func scanLogKey(at time.Time) string {
	return "AWSLogs/111122223333/CloudTrail/us-east-1/" + at.Format("2006/01/02/") + "111122223333_CloudTrail_us-east-1_" + at.Format("20060102T1504Z") + "_x.json.gz"
}

func scanFindings(t *testing.T, out string) []map[string]any {
	t.Helper()
	var fs []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		var f map[string]any
		if err := json.Unmarshal([]byte(l), &f); err != nil {
			t.Fatalf("output line is not JSON: %v\n%s", err, l)
		}
		fs = append(fs, f)
	}
	return fs
}

func TestScanCommand(t *testing.T) {
	dir := t.TempDir()
	day := time.Date(2026, 11, 1, 10, 5, 0, 0, time.UTC)
	writeFile(t, filepath.Join(dir, scanLogKey(day)), scanLogFile(scanDescribe, scanStopLogging))
	writeFile(t, filepath.Join(dir, scanLogKey(day.Add(48*time.Hour))), scanLogFile(strings.NewReplacer("000000000001", "000000000003", "2026-11-01T", "2026-11-03T").Replace(scanStopLogging)))
	writeFile(t, filepath.Join(dir, "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2026/11/01/d.json.gz"), []byte("digest"))
	writeFile(t, filepath.Join(dir, "broken.jsonl"), []byte(scanDescribe+"\n{\"eventName\": \n"))
	benign := filepath.Join(t.TempDir(), "benign.json")
	writeFile(t, benign, []byte(scanDescribe))

	t.Run("findings in JSON, summary on stderr, exit 1", func(t *testing.T) {
		code, out, errOut := runCmd(t, "scan", "--format", "json", filepath.Join(dir, "AWSLogs"))
		if code != exitFindings || len(scanFindings(t, out)) != 2 {
			t.Errorf("exit %d, stderr:\n%s", code, errOut)
		}
	})

	t.Run("a bad record: findings still written, exit 2", func(t *testing.T) {
		code, out, errOut := runCmd(t, "scan", "--format", "json", dir)
		if code != exitError {
			t.Fatalf("exit %d, stderr:\n%s", code, errOut)
		}
		fs := scanFindings(t, out)
		var ids []string
		for _, f := range fs {
			if f["rule"] == "cloudtrail-stopped" {
				ids = append(ids, f["eventID"].(string))
				for _, k := range []string{"severity", "title", "eventName", "eventTime", "account", "region", "principal", "sourceIPAddress", "record"} {
					if f[k] == nil || f[k] == "" {
						t.Errorf("finding lacks %s: %v", k, f)
					}
				}
			}
		}
		if strings.Join(ids, " ") != "00000000-0000-4000-8000-000000000001 00000000-0000-4000-8000-000000000003" {
			t.Errorf("cloudtrail-stopped findings %v", ids)
		}
		for _, s := range []string{"scanned 3 files", "skipped 1 digest files", "cloudtrail-stopped", "2026-11-01", "2026-11-03",
			"bad records: 1", "broken.jsonl line 2", "records/s"} {
			if !strings.Contains(errOut, s) {
				t.Errorf("summary lacks %q:\n%s", s, errOut)
			}
		}
	})

	t.Run("since and until by key time", func(t *testing.T) {
		code, out, errOut := runCmd(t, "scan", "--format", "json", "--since", "2026-11-02", "--until", "2026-11-04T00:00:00Z", filepath.Join(dir, "AWSLogs"))
		fs := scanFindings(t, out)
		if code != exitFindings || len(fs) == 0 || fs[0]["eventID"] != "00000000-0000-4000-8000-000000000003" {
			t.Errorf("exit %d, findings %v\n%s", code, fs, errOut)
		}
		if !strings.Contains(errOut, "2 files outside the time window") { // the 2026-11-01 log file and digest
			t.Errorf("summary:\n%s", errOut)
		}
	})

	t.Run("no findings exit 0", func(t *testing.T) {
		code, out, errOut := runCmd(t, "scan", "--format", "text", benign)
		if code != exitOK || out != "" || !strings.Contains(errOut, "findings: 0") {
			t.Errorf("exit %d, out %q, err:\n%s", code, out, errOut)
		}
	})

	t.Run("stdin, text format", func(t *testing.T) {
		code, out, _ := runCmdIn(t, scanDescribe+"\n"+scanStopLogging+"\n", "scan", "--format", "text", "--only", "cloudtrail-stopped", "-")
		if code != exitFindings || !strings.HasPrefix(out, "CRITICAL ") || !strings.Contains(out, "stdin line 2") {
			t.Errorf("exit %d:\n%s", code, out)
		}
	})

	t.Run("only, disable and extra rules", func(t *testing.T) {
		rules := filepath.Join(t.TempDir(), "describe.yaml")
		writeFile(t, rules, []byte(`rules:
  - id: describe-instances
    title: "{principal} listed instances"
    severity: low
    description: test rule
    pattern:
      detail:
        eventName: ["DescribeInstances"]
    samples:
      match:
      - '`+scanDescribe+`'
      no_match:
      - '`+scanStopLogging+`'
`))
		code, out, errOut := runCmd(t, "scan", "--format", "json", "--rules", rules, "--only", "describe-instances", "--only", "cloudtrail-stopped", "--disable", "cloudtrail-stopped", benign)
		fs := scanFindings(t, out)
		if code != exitFindings || len(fs) != 1 || fs[0]["rule"] != "describe-instances" {
			t.Errorf("exit %d, findings %v\n%s", code, fs, errOut)
		}
	})

	t.Run("text: one entry per event, the other rules under it", func(t *testing.T) {
		code, out, _ := runCmdIn(t, scanAttachAdmin+"\n", "scan", "--format", "text", "-")
		heads := 0
		for _, l := range strings.Split(out, "\n") {
			if l != "" && !strings.HasPrefix(l, " ") {
				heads++
			}
		}
		if code != exitFindings || heads != 1 || !strings.HasPrefix(out, "HIGH ") ||
			!strings.Contains(out, "also LOW      ") || !strings.Contains(out, "[iam-policy-changed]") || !strings.Contains(out, "[iam-write]") {
			t.Errorf("exit %d:\n%s", code, out)
		}
	})

	t.Run("min severity, from the flag or the configuration", func(t *testing.T) {
		cfg := filepath.Join(t.TempDir(), "trailbell.yaml")
		writeFile(t, cfg, []byte("min_severity: high\nnotify:\n  receivers: [{name: out, stdout: {format: json}}]\n  route: {receiver: out}\n"))
		low := filepath.Join(t.TempDir(), "low.yaml")
		writeFile(t, low, []byte("min_severity: low\n"))
		in := scanDescribe + "\n" + scanAttachAdmin + "\n"
		for _, tc := range []struct {
			name    string
			args    []string
			rules   string // the rules of the findings on stdout, in order
			enabled string // in the summary
		}{
			{"all of them", nil, "admin-policy-attached iam-policy-changed iam-write", "rules enabled\n"},
			{"low and above", []string{"--min-severity", "low"}, "admin-policy-attached iam-policy-changed", "(severity low and above)"},
			{"high, in any case", []string{"--min-severity", "HIGH"}, "admin-policy-attached", "(severity high and above)"},
			{"with only", []string{"--min-severity", "high", "--only", "iam-write", "--only", "admin-policy-attached"}, "admin-policy-attached", "1 rules enabled"},
			{"the configuration's", []string{"--config", low}, "admin-policy-attached iam-policy-changed", "(severity low and above)"},
			{"the flag over the configuration's", []string{"--config", low, "--min-severity", "info"}, "admin-policy-attached iam-policy-changed iam-write", "rules enabled\n"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				code, out, errOut := runCmdIn(t, in, append(append([]string{"scan", "--format", "json"}, tc.args...), "-")...)
				var rules []string
				for _, f := range scanFindings(t, out) {
					rules = append(rules, f["rule"].(string))
				}
				if code != exitFindings || strings.Join(rules, " ") != tc.rules || !strings.Contains(errOut, tc.enabled) {
					t.Errorf("exit %d, findings %v, stderr:\n%s", code, rules, errOut)
				}
			})
		}
		// A configuration's min_severity holds for its receivers too: the stdout receiver gets
		// the high finding, after the scan's own JSON line of it, and nothing else.
		code, out, errOut := runCmdIn(t, in, "scan", "--format", "json", "--config", cfg, "-")
		if code != exitFindings || strings.Count(out, `"rule":"admin-policy-attached"`) != 2 || strings.Count(out, "\n") != 2 {
			t.Errorf("exit %d\n%s\n%s", code, out, errOut)
		}
		for _, args := range [][]string{
			{"scan", "--min-severity", "urgent", benign},
			{"scan", "--min-severity", "critical", "--only", "iam-write", benign},
		} {
			code, _, errOut := runCmd(t, args...)
			if code != exitError || !strings.Contains(errOut, "severity") {
				t.Errorf("%v: exit %d, stderr %q", args, code, errOut)
			}
		}
	})

	t.Run("usage errors exit 2", func(t *testing.T) {
		for _, args := range [][]string{
			{"scan"},
			{"scan", "--format", "xml", benign},
			{"scan", "--only", "no-such-rule", benign},
			{"scan", "--since", "yesterday", benign},
			{"scan", "--since", "2026-11-02", "--until", "2026-11-01", benign},
			{"scan", filepath.Join(dir, "missing")},
			{"scan", "--bogus", benign},
		} {
			if code, _, errOut := runCmd(t, args...); code != exitError || errOut == "" {
				t.Errorf("%v: exit %d, stderr %q", args, code, errOut)
			}
		}
		code, out, _ := runCmd(t, "scan", "--help")
		if code != exitOK || !strings.Contains(out, "Exit status: 0 no findings, 1 findings, 2 error") {
			t.Errorf("--help: exit %d\n%s", code, out)
		}
		// a list given with commas, the way other tools take it, says how to give it here
		if code, _, errOut := runCmd(t, "scan", "--only", "a,b", benign); code != exitError || !strings.Contains(errOut, "one rule id per flag") {
			t.Errorf("--only a,b: exit %d, stderr %q", code, errOut)
		}
	})
}

func TestScanCommandS3(t *testing.T) {
	testenv.AWSEnv(t)
	endpoints := map[string]string{}
	endpoints["gofakes3"] = testenv.S3Server(t)
	if ep := os.Getenv("TRAILBELL_TEST_S3_ENDPOINT"); ep != "" {
		endpoints["versitygw"] = ep
	}
	for name, ep := range endpoints {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			cfg, err := awsconfig.LoadDefaultConfig(ctx)
			if err != nil {
				t.Fatal(err)
			}
			c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.BaseEndpoint = aws.String(ep); o.UsePathStyle = true })
			bucket := fmt.Sprintf("scan-%d", time.Now().UnixNano())
			if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
				t.Fatal(err)
			}
			put := func(key string, body []byte) {
				if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
					t.Fatal(err)
				}
			}
			day := time.Date(2026, 11, 1, 10, 5, 0, 0, time.UTC)
			put(scanLogKey(day), scanLogFile(scanDescribe, scanStopLogging))
			// a plain (not gzip) log file, named like one
			put(scanLogKey(day.Add(5*time.Minute)), []byte(`{"Records":[`+strings.Replace(scanStopLogging, "000000000001", "000000000004", 1)+`]}`))
			put("AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2026/11/01/111122223333_CloudTrail-Digest_us-east-1_t_us-east-1_20261101T100500Z.json.gz", []byte("digest"))

			code, out, errOut := runCmd(t, "scan", "--format", "json", "--only", "cloudtrail-stopped", "--endpoint-url", ep, "--region", "us-east-1",
				"s3://"+bucket+"/AWSLogs/111122223333/")
			fs := scanFindings(t, out)
			if code != exitFindings || len(fs) != 2 || fs[1]["eventID"] != "00000000-0000-4000-8000-000000000004" {
				t.Errorf("exit %d, findings %v\n%s", code, fs, errOut)
			}
			if len(fs) > 0 && !strings.HasPrefix(fs[0]["origin"].(string), "s3://"+bucket+"/AWSLogs/") {
				t.Errorf("origin %v", fs[0]["origin"])
			}
			if !strings.Contains(errOut, "skipped 1 digest files") || !strings.Contains(errOut, "scanned 2 files") {
				t.Errorf("summary:\n%s", errOut)
			}
			code, _, errOut = runCmd(t, "scan", "--endpoint-url", ep, "s3://no-such-bucket-"+bucket+"/")
			if code != exitError {
				t.Errorf("missing bucket: exit %d\n%s", code, errOut)
			}
		})
	}
}
