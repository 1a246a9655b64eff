package triage_test

import (
	"testing"
	"time"

	"github.com/trailbell/trailbell/internal/triage"
	"github.com/trailbell/trailbell/internal/triage/triagetest"
)

func TestBoltStore(t *testing.T) {
	triagetest.Conformance(t, func(t *testing.T, now func() time.Time) triage.Store {
		st, err := triage.NewBolt(t.TempDir(), now)
		if err != nil {
			t.Fatal(err)
		}
		return st
	})
}
