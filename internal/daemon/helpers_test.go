package daemon

import (
	"io"
	"testing"

	"github.com/trailbell/trailbell/internal/ingest"
	"github.com/trailbell/trailbell/internal/notify"
	"github.com/trailbell/trailbell/internal/notify/notifytest"
	"github.com/trailbell/trailbell/internal/notify/stdout"
)

// newTestDaemon is a daemon with the built-in rules and no memory, delivering every finding
// as a JSON line to out through an in-memory outbox; it has no source and is not run.
func newTestDaemon(t testing.TB, out io.Writer) *Daemon {
	t.Helper()
	_, eng := notifytest.Builtin(t)
	reader, err := ingest.New(ingest.Options{Detector: eng})
	if err != nil {
		t.Fatal(err)
	}
	n, err := stdout.New(out, "json")
	if err != nil {
		t.Fatal(err)
	}
	p, err := notify.New(notify.Options{Receivers: []notify.Receiver{{Name: "out", Notifier: n, PerRule: true}}, Route: notify.Route{Receiver: "out"}})
	if err != nil {
		t.Fatal(err)
	}
	d := New(Options{Engine: eng, Reader: reader, Pipeline: p})
	t.Cleanup(func() { d.Close() })
	return d
}
