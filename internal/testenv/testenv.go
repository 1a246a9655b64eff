// Package testenv holds the stand-ins that tests of several packages run against: an
// in-process S3 server with a client for it, a client of the DynamoDB stand-in, free loopback
// addresses, unique names, the static credentials every local server accepts, checkpoint
// directories, and a buffer that goroutines and child processes may write while a test reads
// it. Only tests import it.
package testenv

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/trailbell/trailbell/internal/checkpoint"
)

// Credentials are the static credentials the test servers accept (scripts/test.sh starts
// versitygw with the same pair).
var Credentials = credentials.NewStaticCredentialsProvider("test", "testsecret", "")

// AWSEnv points the AWS SDK's default configuration at Credentials and us-east-1 for the rest
// of the test, and away from the instance metadata service and the user's own AWS files, as
// code that loads the default configuration needs.
func AWSEnv(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testsecret")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
}

// S3Server starts an in-process S3 server (gofakes3 over loopback HTTP) for the rest of the
// test and returns its URL.
func S3Server(t testing.TB) string {
	t.Helper()
	srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	t.Cleanup(srv.Close)
	return srv.URL
}

// S3Client is a client of the S3-compatible server at endpoint: path-style addressing, as
// local servers need, and Credentials.
func S3Client(endpoint string) *s3.Client {
	return s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		UsePathStyle: true,
		Credentials:  Credentials,
	})
}

// FreeAddr is a loopback address ("127.0.0.1:PORT") with a port nothing listens on now, for a
// server the test starts in another process.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// DynamoDB returns the endpoint of the moto_server that scripts/test.sh starts
// (TRAILBELL_TEST_DYNAMODB_ENDPOINT: a real DynamoDB-protocol server, not a fake) and a client
// of it, and skips the test when there is none.
func DynamoDB(t testing.TB) (endpoint string, client *dynamodb.Client) {
	t.Helper()
	endpoint = os.Getenv("TRAILBELL_TEST_DYNAMODB_ENDPOINT")
	if endpoint == "" {
		t.Skip("TRAILBELL_TEST_DYNAMODB_ENDPOINT is not set: run ./scripts/test.sh, which starts moto_server")
	}
	return endpoint, dynamodb.New(dynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint), Credentials: Credentials})
}

// UniqueName is a name (a DynamoDB table's, an S3 bucket's) that no other test of this run uses: prefix, then digits.
func UniqueName(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano(), tableSeq.Add(1))
}

var tableSeq atomic.Int64

// Bucket creates bucket with c, failing the test when it cannot.
func Bucket(t testing.TB, c *s3.Client, bucket string) {
	t.Helper()
	if _, err := c.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("create bucket %s: %v", bucket, err)
	}
}

// Checkpoints opens a checkpoint directory that lasts as long as the test.
func Checkpoints(t testing.TB) *checkpoint.Dir {
	t.Helper()
	dir, err := checkpoint.Open(t.TempDir())
	if err != nil {
		t.Fatalf("open checkpoints: %v", err)
	}
	return dir
}

// Buffer is a bytes.Buffer that may be written from several goroutines (or a child's output
// copier) while the test reads it.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TrailRecord is a CloudTrail record of eventName with eventID id, by an IAM user of account
// 111122223333 in us-east-1, at the current time (so a daemon's default since reads it).
func TrailRecord(id, eventName string) string {
	return fmt.Sprintf(`{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLE","arn":"arn:aws:iam::111122223333:user/mallory","accountId":"111122223333","userName":"mallory"},`+
		`"eventTime":%q,"eventSource":"cloudtrail.amazonaws.com","eventName":%q,"awsRegion":"us-east-1","sourceIPAddress":"203.0.113.7","userAgent":"aws-cli/2.15.0",`+
		`"requestParameters":{"name":"main-trail"},"responseElements":null,"eventID":%q,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333"}`,
		time.Now().UTC().Format(time.RFC3339), eventName, id)
}

// SSORecord is a CloudTrail record of jane@example.com's Identity Center session (account
// 111122223333) attaching IAMFullAccess to group developers at at, with eventID id: the
// built-in admin-policy-attached (high), iam-policy-changed and iam-write match it, and its
// actor is the Identity Center user jane@example.com.
func SSORecord(id string, at time.Time) string {
	return fmt.Sprintf(`{"eventVersion":"1.09","userIdentity":{"type":"AssumedRole","principalId":"AROAEXAMPLEAWSRESER:jane@example.com",`+
		`"arn":"arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_AdministratorAccess_0123456789abcdef/jane@example.com","accountId":"111122223333",`+
		`"accessKeyId":"ASIAEXAMPLEROLE00001","sessionContext":{"sessionIssuer":{"type":"Role","principalId":"AROAEXAMPLEAWSRESER",`+
		`"arn":"arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_AdministratorAccess_0123456789abcdef","accountId":"111122223333",`+
		`"userName":"AWSReservedSSO_AdministratorAccess_0123456789abcdef"},"attributes":{"creationDate":%q,"mfaAuthenticated":"false"}}},`+
		`"eventTime":%q,"eventSource":"iam.amazonaws.com","eventName":"AttachGroupPolicy","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.10",`+
		`"userAgent":"aws-cli/2.15.30","requestParameters":{"groupName":"developers","policyArn":"arn:aws:iam::aws:policy/IAMFullAccess"},`+
		`"responseElements":null,"requestID":"req-%s","eventID":%q,"readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333"}`,
		at.Add(-time.Hour).UTC().Format(time.RFC3339), at.UTC().Format(time.RFC3339), id, id)
}

// Gzip compresses s, as a log file in S3 is.
func Gzip(s string) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	io.WriteString(w, s)
	w.Close()
	return b.Bytes()
}

// BenchArchive is the CloudTrail archive bench/gen writes, for benchmarks over it: the folder
// TRAILBELL_BENCH_ARCHIVE names; the benchmark is skipped when it is unset.
func BenchArchive(b testing.TB) string {
	dir := os.Getenv("TRAILBELL_BENCH_ARCHIVE")
	if dir == "" {
		b.Skip("TRAILBELL_BENCH_ARCHIVE not set (go run ./bench/gen -out DIR)")
	}
	return dir
}
