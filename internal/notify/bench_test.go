package notify_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trailbell/trailbell/internal/finding"
	"github.com/trailbell/trailbell/internal/notify"
	"github.com/trailbell/trailbell/internal/triage"
	"github.com/trailbell/trailbell/pattern"
)

// BenchmarkSubmit measures accepting findings: routing through three pattern routes and
// an exception, dedupe, and the outbox write (in memory, or bbolt with an fsync per
// transaction). Parallel submitters share bbolt transactions.
// With mutes=100 the exception stage also checks 100 mutes in force (triage over bbolt, none
// matching), as trailbell run does with interactive alerts.
func BenchmarkSubmit(b *testing.B) {
	for _, tc := range []struct {
		durable bool
		mutes   int
	}{{false, 0}, {true, 0}, {false, 100}} {
		durable := tc.durable
		name := fmt.Sprint("durable=", durable)
		if tc.mutes > 0 {
			name += fmt.Sprint(",mutes=", tc.mutes)
		}
		b.Run(name, func(b *testing.B) {
			o := notify.Options{
				Receivers: []notify.Receiver{{Name: "a", Notifier: &fake{}}, {Name: "b", Notifier: &fake{}}},
				Route: notify.Route{Receiver: "a", Routes: []notify.Route{
					{Receiver: "b", Match: `{"severity":["critical"]}`},
					{Receiver: "b", Match: `{"account":["999988887777"]}`},
					{Receiver: "a", Match: `{"principal":[{"prefix":"arn:aws:iam::111122223333:user/"}]}`},
				}},
				Exceptions: []notify.Exception{{Match: `{"principal":[{"wildcard":"*:assumed-role/terraform/*"}]}`}},
				NewMatcher: func() notify.Matcher { return pattern.New() },
			}
			if durable {
				o.StateDir = b.TempDir()
			}
			if tc.mutes > 0 {
				o.Mutes = mutesInForce(b, tc.mutes)
			}
			p, err := notify.New(o)
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			b.ReportAllocs()
			b.ResetTimer() // the mutes' setup is not what is measured
			var seq atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					f := chaosFinding(int(seq.Add(1)))
					if err := p.Submit(context.Background(), f); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkDeliver measures the delivery chain alone: 1,000 findings in an in-memory
// outbox flushed through a notifier that does nothing, as one message each (no grouping)
// and as summaries of repeats. ns/op is per finding.
func BenchmarkDeliver(b *testing.B) {
	const n = 1000
	for _, window := range []time.Duration{0, time.Minute} {
		b.Run(fmt.Sprint("group_window=", window), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				p, err := notify.New(notify.Options{
					Receivers: []notify.Receiver{{Name: "a", Notifier: nop{}, GroupWindow: window}},
					Route:     notify.Route{Receiver: "a"},
				})
				if err != nil {
					b.Fatal(err)
				}
				for i := range n {
					if err := p.Submit(context.Background(), chaosFinding(i)); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
				if err := p.Flush(context.Background()); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				p.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/finding")
		})
	}
}

type nop struct{}

func (nop) Notify(context.Context, ...*finding.Finding) (bool, error) { return false, nil }

// mutesInForce is triage over a bbolt store with n mutes made from alerts of other rules and
// principals than the benchmark's findings.
func mutesInForce(b *testing.B, n int) notify.Muter {
	store, err := triage.NewBolt(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	svc, err := triage.New(triage.Options{Store: store})
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		f := finding.Finding{Rule: fmt.Sprintf("rule-%d", i), EventID: fmt.Sprint("m", i),
			Principal: fmt.Sprintf("arn:aws:iam::444455556666:user/muted-%d", i)}
		a, err := svc.Prepare(b.Context(), "a", fmt.Sprint("d", i), []finding.Finding{f})
		if err != nil {
			b.Fatal(err)
		}
		r, err := svc.Submit(b.Context(), triage.Submission{Modal: triage.ModalMute, User: triage.User{ID: "U0BENCH01"},
			Opener: "U0BENCH01", Alert: a.ID, Reason: "benchmark", Duration: time.Hour})
		if err != nil || len(r.Errors) > 0 {
			b.Fatal(r.Errors, err)
		}
	}
	return svc
}
