package notify_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/trailbell/trailbell/internal/notify"
	"github.com/trailbell/trailbell/pattern"
)

// BenchmarkSubmit measures accepting findings: routing through three pattern routes and
// an exception, dedupe, and the outbox write (in memory, or bbolt with an fsync per
// transaction). Parallel submitters share bbolt transactions.
func BenchmarkSubmit(b *testing.B) {
	for _, durable := range []bool{false, true} {
		b.Run(fmt.Sprint("durable=", durable), func(b *testing.B) {
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
			p, err := notify.New(o)
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			b.ReportAllocs()
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
