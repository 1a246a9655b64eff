package correlate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/trailbell/trailbell/internal/cloudtrail"
	"github.com/trailbell/trailbell/internal/detect"
	"github.com/trailbell/trailbell/internal/finding"
)

// CheckSamples runs every stateful rule's scenarios, each through a fresh engine of all the
// rules with its state in memory: the records in event-time order (as written where times are
// equal), each its own input, then the end of the stream. It reports each scenario over which the rule never reports (match)
// or reports (no_match). detect.CheckSamples checks the event rules.
func CheckSamples(rs []detect.Rule) error {
	det, err := detect.New(rs)
	if err != nil {
		return err
	}
	var errs []error
	for _, r := range rs {
		if !r.Kind.Stateful() {
			continue
		}
		for i, s := range r.Samples.Match {
			if err := expect(det, r.ID, s, true); err != nil {
				errs = append(errs, fmt.Errorf("%s: rule %q: samples.match[%d]: %w", r.File, r.ID, i, err))
			}
		}
		for i, s := range r.Samples.NoMatch {
			if err := expect(det, r.ID, s, false); err != nil {
				errs = append(errs, fmt.Errorf("%s: rule %q: samples.no_match[%d]: %w", r.File, r.ID, i, err))
			}
		}
	}
	return errors.Join(errs...)
}

// Scenario runs records through a fresh engine over det, in event-time order, each record
// its own input, and returns every finding, the end of the stream included.
func Scenario(ctx context.Context, det *detect.Engine, recs []json.RawMessage) ([]finding.Finding, error) {
	return scenario(ctx, det, recs, Options{})
}

func scenario(ctx context.Context, det *detect.Engine, recs []json.RawMessage, o Options) ([]finding.Finding, error) {
	e, err := New(det, o)
	if err != nil {
		return nil, err
	}
	evs := make([]cloudtrail.Event, len(recs))
	for i, r := range recs {
		env, err := detect.Envelope(r)
		if err != nil {
			return nil, fmt.Errorf("record %d: %w", i, err)
		}
		if evs[i], err = eventOf(env); err != nil {
			return nil, fmt.Errorf("record %d: %w", i, err)
		}
		evs[i].Origin = "record " + strconv.Itoa(i)
	}
	slices.SortStableFunc(evs, func(a, b cloudtrail.Event) int { return a.Time.Compare(b.Time) })
	var out []finding.Finding
	for _, ev := range evs {
		m, err := det.Match(ev.Envelope)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ev.Origin, err)
		}
		in := e.Begin(ev.Origin)
		if err := in.Add(ev, m); err != nil {
			return nil, fmt.Errorf("%s: %w", ev.Origin, err)
		}
		fs, err := in.Commit(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, fs...)
	}
	err = e.Flush(ctx, func(_ context.Context, fs []finding.Finding) error {
		out = append(out, fs...)
		return nil
	})
	return out, err
}

func expect(det *detect.Engine, id string, sample json.RawMessage, want bool) error {
	var recs []json.RawMessage
	if err := json.Unmarshal(sample, &recs); err != nil {
		return err
	}
	fs, err := Scenario(context.Background(), det, recs)
	if err != nil {
		return err
	}
	got := slices.ContainsFunc(fs, func(f finding.Finding) bool { return f.Rule == id })
	switch {
	case want && !got:
		return errors.New("rule did not report over this scenario")
	case !want && got:
		return errors.New("rule reported over this scenario")
	}
	return nil
}

// eventOf reads an envelope as the decoder delivers it: with its event time.
func eventOf(env []byte) (cloudtrail.Event, error) {
	var ev cloudtrail.Event
	n := 0
	_, err := cloudtrail.Decode(bytes.NewReader(env), "sample", func(e cloudtrail.Event) error {
		ev, n = e, n+1
		return nil
	})
	if err == nil && n != 1 {
		err = fmt.Errorf("not one record")
	}
	return ev, err
}
