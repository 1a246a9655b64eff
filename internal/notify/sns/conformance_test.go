package sns_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/trailbell/trailbell/internal/notify"
	"github.com/trailbell/trailbell/internal/notify/notifytest"
	"github.com/trailbell/trailbell/internal/notify/sns"
)

// snsError is an SNS error answer (query protocol).
func snsError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type><Code>%s</Code><Message>%s happened</Message></Error><RequestId>r1</RequestId></ErrorResponse>`, code, code)
}

func TestConformance(t *testing.T) {
	const key = "SECRET-AWS-KEY"
	notifytest.Conformance(t, notifytest.Destination{
		Secrets: []string{key},
		New: func(t *testing.T, f notifytest.Fault) (notify.Notifier, string) {
			url := notifytest.Server(t, f, func(w http.ResponseWriter, r *http.Request) {
				switch f {
				case notifytest.Accept:
					w.Header().Set("Content-Type", "text/xml")
					fmt.Fprint(w, `<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>m1</MessageId></PublishResult><ResponseMetadata><RequestId>r1</RequestId></ResponseMetadata></PublishResponse>`)
				case notifytest.Transient:
					snsError(w, http.StatusInternalServerError, "InternalError")
				case notifytest.RateLimited:
					snsError(w, http.StatusBadRequest, "Throttling")
				case notifytest.Permanent:
					snsError(w, http.StatusForbidden, "AuthorizationError")
				}
			})
			cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", key, ""),
				RetryMaxAttempts: 1} // the pipeline retries; one SDK attempt keeps the test short
			client := awssns.NewFromConfig(cfg, func(o *awssns.Options) { o.BaseEndpoint = aws.String(url) })
			n, err := sns.New(client, sns.Options{TopicARN: "arn:aws:sns:us-east-1:123456789012:alerts"})
			if err != nil {
				t.Fatal(err)
			}
			return n, ""
		},
	})
}
