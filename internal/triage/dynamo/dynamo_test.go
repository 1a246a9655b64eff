package dynamo_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	statedynamo "github.com/trailbell/trailbell/internal/correlate/dynamo"
	"github.com/trailbell/trailbell/internal/triage"
	"github.com/trailbell/trailbell/internal/triage/dynamo"
	"github.com/trailbell/trailbell/internal/triage/triagetest"
)

// TestStore runs the store contract against moto_server (TRAILBELL_TEST_DYNAMODB_ENDPOINT),
// in a table made as the state table is made.
func TestStore(t *testing.T) {
	endpoint := os.Getenv("TRAILBELL_TEST_DYNAMODB_ENDPOINT")
	if endpoint == "" {
		t.Skip("TRAILBELL_TEST_DYNAMODB_ENDPOINT is not set: run ./scripts/test.sh, which starts moto_server")
	}
	client := dynamodb.New(dynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("test", "testsecret", "")})
	triagetest.Conformance(t, func(t *testing.T, now func() time.Time) triage.Store {
		table := fmt.Sprintf("trailbell-triage-%d", time.Now().UnixNano())
		if err := statedynamo.CreateTable(t.Context(), client, table); err != nil {
			t.Fatal(err)
		}
		return &dynamo.Store{Client: client, Table: table, Now: now}
	})
}
