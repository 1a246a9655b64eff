package dynamo_test

import (
	"testing"
	"time"

	statedynamo "github.com/trailbell/trailbell/internal/correlate/dynamo"
	"github.com/trailbell/trailbell/internal/testenv"
	"github.com/trailbell/trailbell/internal/triage"
	"github.com/trailbell/trailbell/internal/triage/dynamo"
	"github.com/trailbell/trailbell/internal/triage/triagetest"
)

// TestStore runs the store contract against moto_server (TRAILBELL_TEST_DYNAMODB_ENDPOINT),
// in a table made as the state table is made.
func TestStore(t *testing.T) {
	_, client := testenv.DynamoDB(t)
	triagetest.Conformance(t, func(t *testing.T, now func() time.Time) triage.Store {
		table := testenv.UniqueName("trailbell-triage")
		if err := statedynamo.CreateTable(t.Context(), client, table); err != nil {
			t.Fatal(err)
		}
		return &dynamo.Store{Client: client, Table: table, Now: now}
	})
}
