package stdout_test

import (
	"bytes"
	"testing"

	"github.com/trailbell/trailbell/internal/notify"
	"github.com/trailbell/trailbell/internal/notify/notifytest"
	"github.com/trailbell/trailbell/internal/notify/stdout"
)

func TestConformance(t *testing.T) {
	notifytest.Conformance(t, notifytest.Destination{
		New: func(t *testing.T, f notifytest.Fault) (notify.Notifier, string) {
			var n *stdout.Notifier
			var err error
			switch f {
			case notifytest.Accept:
				n, err = stdout.New(&bytes.Buffer{}, "json")
			case notifytest.Permanent:
				n, err = stdout.New(brokenPipe{}, "text")
			default:
				return nil, "a local stream has no " + f.String() + " answer: a write fails for good or not at all"
			}
			if err != nil {
				t.Fatal(err)
			}
			return n, ""
		},
	})
}
