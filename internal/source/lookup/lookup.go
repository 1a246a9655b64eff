// Package lookup polls CloudTrail's LookupEvents API, for accounts that have no trail. Each poll
// asks again for a window that overlaps the previous one, because events show up in
// LookupEvents minutes late, and drops the events it has already handled. Requests are paced
// under the API's limit of two a second per account and region.
package lookup

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"

	"github.com/trailbell/trailbell/internal/checkpoint"
)

// API is the part of the CloudTrail client the source uses.
type API interface {
	LookupEvents(ctx context.Context, in *cloudtrail.LookupEventsInput, opts ...func(*cloudtrail.Options)) (*cloudtrail.LookupEventsOutput, error)
}

// Event is one CloudTrail record from LookupEvents.
type Event struct {
	ID     string
	Time   time.Time
	Record []byte // the CloudTrailEvent JSON
}

// Handler processes one event; nil means its findings are durably accepted.
type Handler func(ctx context.Context, e Event) error

// Options configure a Source; zero values take the defaults noted.
type Options struct {
	Client API
	// Name identifies the account and region polled (for example "123456789012/us-east-1"):
	// the checkpoint key and the label in logs and metrics.
	Name  string
	State *checkpoint.Dir

	Interval time.Duration // between polls (default 1m)
	// Overlap is how far each window reaches back before the end of the last one; events
	// appear in LookupEvents up to about 15 minutes late (default 20m).
	Overlap time.Duration
	// Since is how far back the first poll reaches when there is no checkpoint (default Overlap).
	Since time.Duration
	// MinGap is the least time between two requests (default 500ms: 2 a second).
	MinGap time.Duration

	Logger  *slog.Logger
	Metrics *Metrics
	// OnError, when set, hears every failed poll (it is retried at the next interval).
	OnError func(error)
}

// Source polls one account and region.
type Source struct {
	o    Options
	last time.Time // when the last request went out
}

// New checks the options and fills in defaults.
func New(o Options) (*Source, error) {
	if o.Client == nil || o.Name == "" || o.State == nil {
		return nil, errors.New("lookup: client, name and state directory are required")
	}
	o.Interval = cmp.Or(o.Interval, time.Minute)
	o.Overlap = cmp.Or(o.Overlap, 20*time.Minute)
	o.Since = cmp.Or(o.Since, o.Overlap)
	o.MinGap = cmp.Or(o.MinGap, 500*time.Millisecond)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.OnError == nil {
		o.OnError = func(error) {}
	}
	o.Logger = o.Logger.With("source", "lookup:"+o.Name)
	return &Source{o: o}, nil
}

// cursor is the checkpoint: the end of the last complete window and the events handled that
// the next window may return again.
type cursor struct {
	Until time.Time            `json:"until"`
	Seen  map[string]time.Time `json:"seen"`
}

// Run polls until ctx is done. A failed poll is logged and retried at the next interval.
func (s *Source) Run(ctx context.Context, h Handler) error {
	for {
		if err := s.Poll(ctx, h); err != nil && ctx.Err() == nil {
			s.o.Metrics.pollError(s.o.Name)
			s.o.Logger.Error("poll", "err", err)
			s.o.OnError(err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(s.o.Interval):
		}
	}
}

// Poll reads one window, from the last checkpoint minus Overlap up to now, handling each event
// not handled before.
func (s *Source) Poll(ctx context.Context, h Handler) error {
	var c cursor
	ok, err := s.o.State.Load(s.o.Name, &c)
	if errors.Is(err, checkpoint.ErrCorrupt) {
		// kept aside and counted; polling starts again from Since rather than stop for good
		s.o.Metrics.corruptCheckpoint(s.o.Name)
		s.o.Logger.Error("corrupt checkpoint; polling again from since", "since", s.o.Since, "err", err)
		if qerr := s.o.State.Quarantine(s.o.Name); qerr != nil {
			return errors.Join(err, qerr)
		}
		c, ok, err = cursor{}, false, nil
	}
	if err != nil {
		return err
	}
	end := time.Now().UTC().Truncate(time.Second)
	start := end.Add(-s.o.Since)
	if ok {
		start = c.Until.Add(-s.o.Overlap)
	}
	if c.Seen == nil {
		c.Seen = map[string]time.Time{}
	}
	in := &cloudtrail.LookupEventsInput{StartTime: aws.Time(start), EndTime: aws.Time(end), MaxResults: aws.Int32(50)}
	var failed error
	for failed == nil {
		if err := s.pace(ctx); err != nil {
			return err
		}
		out, err := s.o.Client.LookupEvents(ctx, in)
		s.o.Metrics.request(s.o.Name)
		if err != nil {
			failed = fmt.Errorf("lookup events %s..%s: %w", start.Format(time.RFC3339), end.Format(time.RFC3339), err)
			break
		}
		for _, e := range out.Events {
			id := aws.ToString(e.EventId)
			if _, dup := c.Seen[id]; dup {
				s.o.Metrics.duplicate(s.o.Name)
				continue
			}
			ev := Event{ID: id, Time: aws.ToTime(e.EventTime), Record: []byte(aws.ToString(e.CloudTrailEvent))}
			if err := h(ctx, ev); err != nil {
				failed = fmt.Errorf("handle event %s: %w", id, err)
				break
			}
			s.o.Metrics.event(s.o.Name)
			c.Seen[id] = ev.Time
		}
		if failed != nil || aws.ToString(out.NextToken) == "" {
			break
		}
		in.NextToken = out.NextToken
	}
	if failed == nil {
		c.Until = end
	} else if !ok {
		// The first window failed part way: keep its start so the retry covers it all.
		c.Until = start.Add(s.o.Overlap)
	}
	// An event older than the next window's start can never come back.
	nextStart := c.Until.Add(-s.o.Overlap)
	maps.DeleteFunc(c.Seen, func(_ string, t time.Time) bool { return t.Before(nextStart) })
	if err := s.o.State.Save(s.o.Name, c); err != nil {
		return errors.Join(failed, err)
	}
	return failed
}

// pace waits until MinGap has passed since the last request.
func (s *Source) pace(ctx context.Context) error {
	if wait := time.Until(s.last.Add(s.o.MinGap)); wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	s.last = time.Now()
	return nil
}
