package notify_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/trailbell/trailbell/internal/finding"
	"github.com/trailbell/trailbell/internal/notify"
	"github.com/trailbell/trailbell/internal/notify/webhook"
)

// flaky is a webhook endpoint that, while chaos lasts, answers 429, 500, hangs past the
// client's timeout and resets connections at random. Some resets come after the body was
// recorded: those are the only findings allowed to arrive twice.
type flaky struct {
	mu        sync.Mutex
	got       map[string]int
	ambiguous map[string]bool // recorded, then the answer was lost
	rng       *rand.Rand
	chaos     atomic.Bool
	requests  atomic.Int64
	// calmAfter ends the chaos after this many requests (0: only chaos.Store ends it).
	calmAfter int64
}

func newFlaky() *flaky {
	f := &flaky{got: map[string]int{}, ambiguous: map[string]bool{}, rng: rand.New(rand.NewPCG(1, 2))}
	f.chaos.Store(true)
	return f
}

func (s *flaky) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if n := s.requests.Add(1); s.calmAfter > 0 && n > s.calmAfter {
		s.chaos.Store(false)
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	var p webhook.Payload
	if err := json.Unmarshal(body, &p); err != nil {
		http.Error(w, "bad payload", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	x := s.rng.Float64()
	s.mu.Unlock()
	if !s.chaos.Load() {
		x = 1
	}
	record := func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, f := range p.Findings {
			s.got[f.EventID]++
		}
	}
	reset := func() {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		if tc, ok := conn.(*net.TCPConn); ok {
			tc.SetLinger(0) // RST, not FIN
		}
		conn.Close()
	}
	switch {
	case x < 0.10:
		w.Header().Set("Retry-After", "0.002")
		w.WriteHeader(http.StatusTooManyRequests)
	case x < 0.20:
		w.WriteHeader(http.StatusInternalServerError)
	case x < 0.24:
		select { // longer than the client waits
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
	case x < 0.28:
		reset()
	case x < 0.30:
		record()
		s.mu.Lock()
		for _, f := range p.Findings {
			s.ambiguous[f.EventID] = true
		}
		s.mu.Unlock()
		reset()
	default:
		record()
		w.WriteHeader(http.StatusNoContent)
	}
}

// check verifies that each of n findings arrived once, or twice when its answer was lost.
func (s *flaky) check(t *testing.T, n int, extraDupsAllowed int) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var missing, dups, unexplained int
	for i := range n {
		id := chaosID(i)
		switch c := s.got[id]; {
		case c == 0:
			missing++
			if missing < 5 {
				t.Errorf("finding %s never arrived", id)
			}
		case c > 1:
			dups++
			if !s.ambiguous[id] {
				unexplained++
			}
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d findings lost", missing, n)
	}
	if unexplained > extraDupsAllowed {
		t.Errorf("%d findings arrived twice without a lost answer (allowed %d)", unexplained, extraDupsAllowed)
	}
	t.Logf("%d findings, %d requests, %d duplicates (%d after lost answers, %d unexplained)",
		n, s.requests.Load(), dups, dups-unexplained, unexplained)
}

func chaosID(i int) string { return fmt.Sprintf("ev-%05d", i) }

func chaosFinding(i int) finding.Finding {
	return finding.Finding{
		Rule: "chaos", Severity: finding.High, Title: "chaos", EventID: chaosID(i), EventName: "AttachUserPolicy",
		Principal: fmt.Sprintf("arn:aws:iam::111122223333:user/u%03d", i%40), Account: "111122223333",
		Record: json.RawMessage(`{"eventVersion":"1.08"}`),
	}
}

// lostAnswers wraps a notifier and reports the findings of calls that ended without an
// answer (timeouts, resets): the endpoint may have received them, so a retry may repeat
// them. That is the "in-flight one twice" the delivery guarantee allows.
type lostAnswers struct {
	n      notify.Notifier
	report func(fs []*finding.Finding)
}

func (l lostAnswers) Notify(ctx context.Context, fs ...*finding.Finding) (bool, error) {
	retry, err := l.n.Notify(ctx, fs...)
	if r := notify.Reason(err); r == "timeout" || r == "network" {
		l.report(fs)
	}
	return retry, err
}

func chaosPipeline(t testing.TB, dir, url string, lost func([]*finding.Finding)) *notify.Pipeline {
	w, err := webhook.New(webhook.Options{URL: url, Client: &http.Client{}})
	if err != nil {
		t.Fatal(err)
	}
	var n notify.Notifier = w
	if lost != nil {
		n = lostAnswers{n: w, report: lost}
	}
	p, err := notify.New(notify.Options{
		Receivers:      []notify.Receiver{{Name: "hook", Notifier: n, GroupWindow: 20 * time.Millisecond}},
		Route:          notify.Route{Receiver: "hook"},
		StateDir:       dir,
		Backoff:        notify.Backoff{Initial: time.Millisecond, Max: 10 * time.Millisecond},
		AttemptTimeout: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// submitAll submits findings [0,n) from 32 goroutines, like concurrent sources.
func submitAll(ctx context.Context, p *notify.Pipeline, n int) error {
	g, ctx := errgroup.WithContext(ctx)
	for w := range 32 {
		g.Go(func() error {
			for i := w; i < n; i += 32 {
				if err := p.Submit(ctx, chaosFinding(i)); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return g.Wait()
}

const chaosN = 10000

func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos test skipped in -short mode")
	}
	t.Parallel() // mostly waiting on fsync and the network
	srv := newFlaky()
	srv.calmAfter = 800 // chaos "for a while": about a third of the traffic
	hs := httptest.NewServer(srv)
	defer hs.Close()
	p := chaosPipeline(t, t.TempDir(), hs.URL, func(fs []*finding.Finding) {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		for _, f := range fs {
			srv.ambiguous[f.EventID] = true
		}
	})
	defer p.Close()

	stop := startRun(t, p)

	var peak atomic.Uint64
	stopMem := make(chan struct{})
	memDone := make(chan struct{})
	go func() {
		defer close(memDone)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stopMem:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()

	start := time.Now()
	if err := submitAll(t.Context(), p, chaosN); err != nil {
		t.Fatal(err)
	}
	submitted := time.Since(start)
	fctx, fcancel := context.WithTimeout(t.Context(), 40*time.Second)
	defer fcancel()
	if err := p.Flush(fctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	close(stopMem)
	<-memDone
	srv.check(t, chaosN, 0)
	t.Logf("submitted in %v, all delivered in %v, peak heap in use %.1f MB", submitted, time.Since(start), float64(peak.Load())/1e6)
	if peak.Load() > 200<<20 {
		t.Errorf("peak heap %d MB: memory is not bounded", peak.Load()>>20)
	}
}

// TestChaosCrash runs the pipeline in a child process, SIGKILLs it midway, and runs it
// again on the same state directory: nothing may be lost.
func TestChaosCrash(t *testing.T) {
	if os.Getenv("TRAILBELL_CHAOS_CHILD") != "" {
		chaosChild(t)
		return
	}
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	t.Parallel()
	srv := newFlaky()
	srv.calmAfter = 800
	hs := httptest.NewServer(srv)
	defer hs.Close()
	dir := t.TempDir()
	child := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^TestChaosCrash$", "-test.v")
		cmd.Env = append(os.Environ(), "TRAILBELL_CHAOS_CHILD=1", "TRAILBELL_CHAOS_DIR="+dir, "TRAILBELL_CHAOS_URL="+hs.URL)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	first := child()
	deadline := time.Now().Add(45 * time.Second)
	for {
		srv.mu.Lock()
		n := len(srv.got)
		srv.mu.Unlock()
		if n >= chaosN/4 {
			break
		}
		if time.Now().After(deadline) {
			first.Process.Kill()
			t.Fatalf("child delivered only %d findings in 45s", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	first.Wait()
	srv.mu.Lock()
	atKill := len(srv.got)
	srv.mu.Unlock()
	srv.chaos.Store(false)
	second := child()
	if err := second.Wait(); err != nil {
		t.Fatalf("second run: %v", err)
	}
	t.Logf("killed after %d findings arrived", atKill)
	// The batch in flight at the kill may arrive again, and so may those whose answer the
	// child lost to a timeout (it cannot tell us which): at most a few batches.
	srv.check(t, chaosN, 100)
}

func chaosChild(t *testing.T) {
	p := chaosPipeline(t, os.Getenv("TRAILBELL_CHAOS_DIR"), os.Getenv("TRAILBELL_CHAOS_URL"), nil)
	defer p.Close()
	stop := startRun(t, p)
	// A restarted source re-reads from its checkpoint: submit everything again.
	if err := submitAll(t.Context(), p, chaosN); err != nil {
		t.Fatal(err)
	}
	fctx, fcancel := context.WithTimeout(t.Context(), 40*time.Second)
	defer fcancel()
	if err := p.Flush(fctx); err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}
