package cloudtrail

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

func addFiles(f *testing.F, glob string) {
	files, _ := filepath.Glob(glob)
	for _, p := range files {
		if data, err := os.ReadFile(p); err == nil && len(data) < 64<<10 {
			f.Add(data)
		}
	}
}

// fuzzDecode decodes data with lim, checking what holds for any input: no error for an
// in-memory input, every event a valid envelope, the counts in agreement.
func fuzzDecode(t *testing.T, lim Limits, data []byte) Stats {
	n := 0
	st, err := lim.Decode(bytes.NewReader(data), "fuzz", func(e Event) error {
		n++
		if !json.Valid(e.Envelope) {
			t.Fatalf("%s: invalid envelope %q", e.Origin, e.Envelope)
		}
		checkMembers(t, e)
		return nil
	})
	if err != nil {
		t.Fatalf("Decode returned %v for in-memory input", err)
	}
	if st.Records != n || len(st.Problems) > st.Bad {
		t.Fatalf("stats %+v for %d events", st, n)
	}
	return st
}

// FuzzDecode: any input decodes without panic, every event is a valid envelope, and the
// counts agree with what was emitted.
func FuzzDecode(f *testing.F) {
	addFiles(f, "testdata/corpus/*")
	f.Fuzz(func(t *testing.T, data []byte) {
		st := fuzzDecode(t, Limits{}, data)
		if len(st.Problems) > MaxProblems {
			t.Fatalf("stats %+v", st)
		}
		// Lift agrees with json.Valid on what a record object is.
		if env, err := Lift(data); err == nil && !json.Valid(env) {
			t.Fatalf("Lift gave invalid JSON %q", env)
		}
	})
}

func FuzzParseNotification(f *testing.F) {
	addFiles(f, "testdata/notifications/*")
	f.Add([]byte(`{"s3Bucket":"b","s3ObjectKey":["k%zz"]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, err := ParseNotification(data)
		if err != nil && objs != nil && len(objs) == 0 {
			t.Fatalf("empty non-nil objects with error %v", err)
		}
		m, err := ParseMessage(data)
		if m.Event != nil && (err != nil || m.Files != nil || m.Skipped != nil) {
			t.Fatalf("event with files %v, skipped %v, error %v", m.Files, m.Skipped, err)
		}
		for _, o := range m.Files {
			if !NotifiedLogFile(o.Key) {
				t.Fatalf("file %q is not a log file", o.Key)
			}
		}
	})
}

// FuzzDecodeLimits decodes with tiny limits, so that skipping values over the size limit,
// resuming after bad elements and cutting off at the budget are all exercised: nothing
// panics, envelopes are valid, the budget holds, and a fault is always a counted problem.
func FuzzDecodeLimits(f *testing.F) {
	addFiles(f, "testdata/corpus/*")
	f.Add([]byte(`{"Records":[{"eventName":"A"},{"eventName":"B","x":nul},{"eventName":"C"}]}`))
	f.Add([]byte(`{"Records":[{"eventName":"A"},{"x":[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]},` + "   \n  " + `{"eventName":"C"}]}`))
	f.Add([]byte(`[{"eventName":"A"},{"eventName":"B","x":"]},{\"q"},{"eventName":"C"}]`))
	lim := Limits{MaxInflated: 2048, MaxRecord: 160}
	f.Fuzz(func(t *testing.T, data []byte) {
		st := fuzzDecode(t, lim, data)
		if st.Faults > st.Bad || st.Inflated > lim.MaxInflated {
			t.Fatalf("stats %+v", st)
		}
		if int64(len(data)) > lim.MaxInflated && (data[0] != 0x1f) && st.Whole() {
			t.Fatalf("an input of %d bytes, over the %d budget, was read whole", len(data), lim.MaxInflated)
		}
	})
}
