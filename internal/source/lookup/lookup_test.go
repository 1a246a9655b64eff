package lookup

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/trailbell/trailbell/internal/testenv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
)

// fakeTrail answers LookupEvents in CloudTrail's JSON protocol (awsJson1_1) from a list of
// events, two a page, honouring StartTime and EndTime, and records when each request came.
type fakeTrail struct {
	mu       sync.Mutex
	events   []fakeEvent // newest first, as CloudTrail returns them
	requests []time.Time
}

type fakeEvent struct {
	id string
	at time.Time
}

func (f *fakeTrail) add(id string, at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append([]fakeEvent{{id, at}}, f.events...)
}

func (f *fakeTrail) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if got := r.Header.Get("X-Amz-Target"); got != "CloudTrail_20131101.LookupEvents" {
		http.Error(w, "unexpected target "+got, http.StatusBadRequest)
		return
	}
	var in struct {
		StartTime, EndTime float64
		NextToken          string
	}
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &in); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.requests = append(f.requests, time.Now())
	var match []fakeEvent
	for _, e := range f.events {
		if s := float64(e.at.Unix()); s >= in.StartTime && s <= in.EndTime {
			match = append(match, e)
		}
	}
	f.mu.Unlock()
	from, _ := strconv.Atoi(in.NextToken)
	to := min(from+2, len(match))
	type outEvent struct {
		EventId, EventName, CloudTrailEvent string
		EventTime                           float64
	}
	out := struct {
		Events    []outEvent
		NextToken string `json:",omitempty"`
	}{Events: []outEvent{}}
	for _, e := range match[from:to] {
		rec := fmt.Sprintf(`{"eventVersion":"1.08","eventID":%q,"eventTime":%q,"eventName":"CreateUser","eventSource":"iam.amazonaws.com"}`, e.id, e.at.UTC().Format(time.RFC3339))
		out.Events = append(out.Events, outEvent{EventId: e.id, EventName: "CreateUser", CloudTrailEvent: rec, EventTime: float64(e.at.Unix())})
	}
	if to < len(match) {
		out.NextToken = strconv.Itoa(to)
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	json.NewEncoder(w).Encode(out)
}

// handlerTransport serves requests with h in memory, so the SDK's real HTTP exchange runs
// inside a synctest bubble, where sockets would stop fake time.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

func client(endpoint string, hc *http.Client) *cloudtrail.Client {
	o := cloudtrail.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("test", "testsecret", ""),
	}
	if hc != nil {
		o.HTTPClient = hc
	}
	return cloudtrail.New(o)
}

type seen struct {
	mu  sync.Mutex
	ids []string
}

func (s *seen) handle(_ context.Context, e Event) error {
	var rec struct{ EventID string }
	if err := json.Unmarshal(e.Record, &rec); err != nil || rec.EventID != e.ID {
		return fmt.Errorf("record %s does not carry its id: %v", e.Record, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ids = append(s.ids, e.ID)
	return nil
}

func (s *seen) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := s.ids
	s.ids = nil
	slices.Sort(ids)
	return ids
}

// newSource is New that fails the test on error.
func newSource(t *testing.T, o Options) *Source {
	t.Helper()
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestOverlappingWindowsHandleEachEventOnceAtTwoRequestsASecond(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		trail := &fakeTrail{}
		now := time.Now()
		for i := range 5 {
			trail.add(fmt.Sprint("e", i), now.Add(-time.Duration(10-i)*time.Minute))
		}
		state := testenv.Checkpoints(t)
		s := newSource(t, Options{
			Client: client("http://cloudtrail.test", &http.Client{Transport: handlerTransport{trail}}),
			Name:   "111111111111/us-east-1", State: state, Since: time.Hour,
		})
		var got seen
		if err := s.Poll(t.Context(), got.handle); err != nil {
			t.Fatal(err)
		}
		if ids := got.take(); !slices.Equal(ids, []string{"e0", "e1", "e2", "e3", "e4"}) {
			t.Fatalf("first poll handled %v", ids)
		}

		// A minute later, one new event; the overlapping window returns the old ones again.
		time.Sleep(time.Minute)
		trail.add("e5", time.Now().Add(-30*time.Second))
		// A restarted source (fresh memory) relies on the checkpoint alone.
		s = newSource(t, Options{
			Client: client("http://cloudtrail.test", &http.Client{Transport: handlerTransport{trail}}),
			Name:   "111111111111/us-east-1", State: state,
		})
		if err := s.Poll(t.Context(), got.handle); err != nil {
			t.Fatal(err)
		}
		if ids := got.take(); !slices.Equal(ids, []string{"e5"}) {
			t.Fatalf("second poll handled %v, want only e5", ids)
		}

		trail.mu.Lock()
		defer trail.mu.Unlock()
		if len(trail.requests) != 6 { // 3 pages of 5 events, then 3 pages of 6
			t.Fatalf("%d requests, want 6", len(trail.requests))
		}
		for i := 1; i < len(trail.requests); i++ {
			if gap := trail.requests[i].Sub(trail.requests[i-1]); gap < 500*time.Millisecond {
				t.Errorf("request %d came %v after the previous one, want at least 500ms", i, gap)
			}
		}
	})
}

func TestFailedHandlerLeavesTheWindowForTheNextPoll(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		trail := &fakeTrail{}
		for i := range 3 {
			trail.add(fmt.Sprint("e", i), time.Now().Add(-time.Duration(5-i)*time.Minute))
		}
		state := testenv.Checkpoints(t)
		s := newSource(t, Options{
			Client: client("http://cloudtrail.test", &http.Client{Transport: handlerTransport{trail}}),
			Name:   "a/r", State: state,
		})
		var got seen
		failing := func(ctx context.Context, e Event) error {
			if e.ID == "e1" {
				return fmt.Errorf("outbox full")
			}
			return got.handle(ctx, e)
		}
		if err := s.Poll(t.Context(), failing); err == nil {
			t.Fatal("Poll succeeded although the handler failed")
		}
		first := got.take()
		time.Sleep(time.Minute)
		if err := s.Poll(t.Context(), got.handle); err != nil {
			t.Fatal(err)
		}
		all := append(first, got.take()...)
		slices.Sort(all)
		if !slices.Equal(all, []string{"e0", "e1", "e2"}) {
			t.Fatalf("handled %v over two polls, want each of e0, e1, e2 once", all)
		}
	})
}

// The same protocol over a real loopback server.
func TestLoopbackServer(t *testing.T) {
	trail := &fakeTrail{}
	trail.add("a", time.Now().Add(-time.Minute))
	trail.add("b", time.Now().Add(-30*time.Second))
	trail.add("c", time.Now().Add(-10*time.Second))
	srv := httptest.NewServer(trail)
	defer srv.Close()
	state := testenv.Checkpoints(t)
	s := newSource(t, Options{Client: client(srv.URL, nil), Name: "a/r", State: state, MinGap: 50 * time.Millisecond})
	var got seen
	if err := s.Poll(t.Context(), got.handle); err != nil {
		t.Fatal(err)
	}
	if ids := got.take(); !slices.Equal(ids, []string{"a", "b", "c"}) {
		t.Fatalf("handled %v", ids)
	}
}
