// Package daemon owns `trailbell run` while it runs: it hands every input its sources bring
// (a polled log file, a queue message, a LookupEvents record) through internal/ingest to the
// notification pipeline, acknowledging an input only once its findings are in the outbox;
// raises alerts about its own inputs (a source silent too long, a log file stuck, unreadable
// records); swaps in new rules on a reload; evaluates held-back records of rules with memory
// by the wall clock; and serves /metrics and /healthz. internal/app builds it, and its
// sources, from the configuration.
package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/trailbell/trailbell/internal/cloudtrail"
	"github.com/trailbell/trailbell/internal/detect"
	"github.com/trailbell/trailbell/internal/finding"
	"github.com/trailbell/trailbell/internal/ingest"
	"github.com/trailbell/trailbell/internal/notify"
	"github.com/trailbell/trailbell/internal/notify/outbox"
	"github.com/trailbell/trailbell/internal/source/lookup"
	"github.com/trailbell/trailbell/internal/source/s3poll"
	"github.com/trailbell/trailbell/internal/source/sqs"
)

// Rule ids of the findings the daemon raises about its own inputs.
const (
	// SilenceRule: a source brought no new data for longer than its silence_after.
	SilenceRule = "trailbell-silence"
	// BadInputRule: a log file or message had records that could not be read (ingest's policy).
	BadInputRule = ingest.BadInputRule
	// StuckRule: a log file has failed for a long time; the files behind it wait.
	StuckRule = "trailbell-file-stuck"
)

// Memory is detection with memory as the daemon drives it (correlate.Engine): ingest's
// Memory, a new engine swapped in on reload, and the wall-clock tick that evaluates what
// waited the tolerance.
type Memory interface {
	ingest.Memory
	Swap(*detect.Engine) error
	Tick(ctx context.Context, deliver func(context.Context, []finding.Finding) error) error
}

// Options are what a Daemon runs with; internal/app builds them from the configuration.
type Options struct {
	Engine *detect.Engine
	// Reader reads every input with Engine and Memory; a reload swaps the engine in both.
	Reader   *ingest.Reader
	Memory   Memory
	Pipeline *notify.Pipeline
	// Rebuild compiles the rules again for a reload (SIGHUP), which Reload requests.
	Rebuild func() (*detect.Engine, error)
	Reload  <-chan struct{}
	// Registry holds every metric of the process; /metrics serves it.
	Registry *prometheus.Registry
	// Listener, when set, serves /metrics and /healthz, and Handlers.
	Listener net.Listener
	// Handlers are more routes of the listener ("POST /slack/interactions").
	Handlers map[string]http.Handler
	// Workers run beside the sources until the daemon stops (triage's jobs).
	Workers []func(context.Context) error
	// Grace bounds how long the outbox may take to drain at shutdown.
	Grace time.Duration
	// Closers are closed once the daemon has stopped, after the pipeline (the state of
	// detections with memory).
	Closers []io.Closer
	Logger  *slog.Logger
	Now     func() time.Time // default time.Now
}

// Daemon is one `trailbell run`: New, then add its sources, then Run.
type Daemon struct {
	o        Options
	log      *slog.Logger
	engine   atomic.Pointer[detect.Engine]
	reader   *ingest.Reader
	memory   Memory
	pipeline *notify.Pipeline
	m        *metrics
	silence  *silence
	runs     []func(context.Context) error
	// stuck list, per S3 poller, the log files failing past their stuck_after
	stuck     []func() map[string]time.Time
	now       func() time.Time
	closeOnce sync.Once
	closeErr  error
}

// New builds a daemon that owns what o hands it: Run (or Close, when Run is never called)
// closes the pipeline, the listener and o.Closers.
func New(o Options) *Daemon {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Grace <= 0 {
		o.Grace = 30 * time.Second
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
	}
	d := &Daemon{o: o, log: o.Logger, reader: o.Reader, memory: o.Memory, pipeline: o.Pipeline,
		m: newMetrics(o.Registry), silence: newSilence(o.Now), now: o.Now}
	d.engine.Store(o.Engine)
	d.m.rules.Set(float64(len(o.Engine.Rules())))
	o.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "trailbell_outbox_depth", Help: "Deliveries waiting in the outbox (one per finding and receiver).",
	}, func() float64 { return float64(d.pipeline.Pending()) }))
	return d
}

// Addr is the address /metrics and /healthz are served on, or "" when there is none.
func (d *Daemon) Addr() string {
	if d.o.Listener == nil {
		return ""
	}
	return d.o.Listener.Addr().String()
}

// Failed returns the OnError hook of source: its latest error, shown by /healthz and in its
// silence alert.
func (d *Daemon) Failed(source string) func(error) {
	return func(err error) { d.silence.failed(source, err) }
}

// AddS3 adds a polled trail prefix named source (built with Failed(source) and RaiseStuck
// as its hooks). silenceAfter 0 never raises a silence alert.
func (d *Daemon) AddS3(source string, p *s3poll.Poller, silenceAfter time.Duration) {
	d.silence.watch(source, silenceAfter)
	d.stuck = append(d.stuck, p.Stuck)
	d.runs = append(d.runs, func(ctx context.Context) error {
		return p.Run(ctx, func(ctx context.Context, obj s3poll.Object, body io.Reader) error {
			return d.fed(source, d.handleLog(ctx, source, obj.URL(), body))
		})
	})
}

// AddSQS adds a queue of notifications named source; objects reads the log files they
// announce.
func (d *Daemon) AddSQS(source string, s *sqs.Source, objects s3poll.API, silenceAfter time.Duration) {
	d.silence.watch(source, silenceAfter)
	d.runs = append(d.runs, func(ctx context.Context) error {
		return s.Run(ctx, func(ctx context.Context, m sqs.Message) error {
			return d.fed(source, d.handleNotification(ctx, source, objects, m))
		})
	})
}

// AddLookup adds a LookupEvents poller named source.
func (d *Daemon) AddLookup(source string, p *lookup.Source, silenceAfter time.Duration) {
	d.silence.watch(source, silenceAfter)
	d.runs = append(d.runs, func(ctx context.Context) error {
		return p.Run(ctx, func(ctx context.Context, e lookup.Event) error {
			return d.fed(source, d.handleRecord(ctx, source, e))
		})
	})
}

// Close releases what the daemon owns, once; Run calls it when it ends.
func (d *Daemon) Close() error {
	d.closeOnce.Do(func() {
		var errs []error
		if d.o.Listener != nil {
			if err := d.o.Listener.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
				errs = append(errs, err)
			}
		}
		errs = append(errs, d.pipeline.Close())
		for _, c := range d.o.Closers {
			errs = append(errs, c.Close())
		}
		d.closeErr = errors.Join(errs...)
	})
	return d.closeErr
}

// Run watches the sources, detects and hands findings to the pipeline until ctx is done.
// Shutdown finishes the files and messages in hand, then gives the outbox up to the grace to
// drain; what is left stays in the outbox. Every goroutine it starts has ended when it
// returns, and what the daemon owns is closed.
func (d *Daemon) Run(ctx context.Context) (err error) {
	defer func() {
		if cerr := d.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	if len(d.runs) == 0 {
		return errors.New("sources: nothing to watch (set s3, sqs or lookup)")
	}
	// Delivery outlives the sources so that the last files' findings can still go out.
	pctx, stopPipeline := context.WithCancel(context.WithoutCancel(ctx))
	defer stopPipeline()
	var bg errgroup.Group // what outlives the sources: delivery and the HTTP server
	pipeErr := make(chan error, 1)
	bg.Go(func() error { pipeErr <- d.pipeline.Run(pctx); return nil })
	var srv *http.Server
	if d.o.Listener != nil {
		srv = &http.Server{Handler: d.mux(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second}
		bg.Go(func() error {
			if err := srv.Serve(d.o.Listener); !errors.Is(err, http.ErrServerClosed) {
				d.log.Error("/metrics and /healthz stopped", "err", err)
			}
			return nil
		})
		d.log.Info("serving /metrics and /healthz", "addr", d.Addr(), "more", slices.Sorted(maps.Keys(d.o.Handlers)))
	}

	g, gctx := errgroup.WithContext(ctx)
	for _, run := range d.runs {
		g.Go(func() error { return run(gctx) })
	}
	g.Go(func() error { d.silence.run(gctx, d.raiseSilence); return nil })
	g.Go(func() error { d.reloads(gctx); return nil })
	g.Go(func() error { d.ticks(gctx); return nil })
	for _, work := range d.o.Workers {
		g.Go(func() error { return work(gctx) })
	}
	g.Go(func() error {
		// The outbox failing stops the daemon: nothing could be accepted any more.
		select {
		case err := <-pipeErr:
			pipeErr <- err
			if err != nil {
				return fmt.Errorf("notify: %w", err)
			}
		case <-gctx.Done():
		}
		return nil
	})
	d.log.Info("trailbell run started", "sources", len(d.runs), "rules", len(d.engine.Load().Rules()))
	err = g.Wait()

	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.o.Grace)
	if ferr := d.pipeline.Flush(fctx); ferr != nil {
		d.log.Warn("shutdown: outbox not drained; it is delivered on the next start", "err", ferr, "pending", d.pipeline.Pending())
	}
	cancel()
	stopPipeline()
	if perr := <-pipeErr; perr != nil && err == nil {
		err = fmt.Errorf("notify: %w", perr)
	}
	if srv != nil {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		srv.Shutdown(sctx)
		cancel()
	}
	bg.Wait()
	d.log.Info("trailbell run stopped", "err", err)
	return err
}

// reloads swaps in a newly built engine on each request. A bad configuration or rule file
// keeps the running engine and is reported.
func (d *Daemon) reloads(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.o.Reload:
		}
		n, err := d.reload()
		if err != nil {
			d.m.reloads.WithLabelValues("error").Inc()
			d.log.Error("reload: keeping the running rules", "err", err)
			continue
		}
		d.m.rules.Set(float64(n))
		d.m.reloads.WithLabelValues("ok").Inc()
		d.log.Info("reloaded rules; notify and sources changes take effect on restart", "rules", n)
	}
}

// reload builds the engine again and swaps it into memory and the reader; it returns how
// many rules the new engine has.
func (d *Daemon) reload() (int, error) {
	if d.o.Rebuild == nil {
		return 0, errors.New("no way to rebuild the rules")
	}
	eng, err := d.o.Rebuild()
	if err != nil {
		return 0, err
	}
	if d.memory != nil {
		if err := d.memory.Swap(eng); err != nil {
			return 0, err
		}
	}
	if err := d.reader.Swap(eng); err != nil {
		return 0, err
	}
	d.engine.Store(eng)
	return len(eng.Rules()), nil
}

// ticks evaluates, once a minute, the records of rules with memory that have waited the
// tolerance by the wall clock: a quiet stream (few new files) still gets its findings.
func (d *Daemon) ticks(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if d.memory == nil {
			continue
		}
		deliver := func(ctx context.Context, fs []finding.Finding) error { return d.submitter(ctx)(fs) }
		if err := d.memory.Tick(ctx, deliver); err != nil && ctx.Err() == nil {
			d.log.Error("detections with memory: evaluating held-back records failed; retried at the next tick", "err", err)
		}
	}
}

func (d *Daemon) mux() *http.ServeMux {
	reg := d.o.Registry
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		h := d.health()
		status := http.StatusOK
		if h.Status != "ok" {
			status = http.StatusServiceUnavailable
		}
		writeJSON(w, status, h)
	})
	// The outbox is the daemon's alone while it runs, so `trailbell notify dead` reads and
	// requeues dead letters through these.
	mux.HandleFunc("GET /dead-letters", func(w http.ResponseWriter, r *http.Request) {
		dl, err := d.pipeline.DeadLetters(deadLetterLimit)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writeJSON(w, http.StatusOK, DeadLetters{DeadLetters: dl})
	})
	mux.HandleFunc("POST /dead-letters/requeue", func(w http.ResponseWriter, r *http.Request) {
		n, err := d.pipeline.Requeue()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writeJSON(w, http.StatusOK, Requeued{Requeued: n})
	})
	for pattern, h := range d.o.Handlers {
		mux.Handle(pattern, h)
	}
	return mux
}

// writeJSON answers with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// DeadLetters is what GET /dead-letters answers: up to deadLetterLimit undeliverable
// findings, oldest first.
type DeadLetters struct {
	DeadLetters []outbox.DeadLetter `json:"deadLetters"`
}

// Requeued is what POST /dead-letters/requeue answers: how many dead letters went back to
// their receivers' queues, which the daemon then delivers.
type Requeued struct {
	Requeued int `json:"requeued"`
}

const deadLetterLimit = 1000

// Health is what /healthz answers (JSON): 200 when ok, 503 when degraded, with the reasons.
type Health struct {
	Status string `json:"status"` // ok or degraded
	// Problems say why it is degraded: a source failing since its last data or silent past
	// its silence_after, a log file stuck for its stuck_after, a receiver whose deliveries
	// keep failing.
	Problems         []string                `json:"problems,omitempty"`
	Rules            int                     `json:"rules"`
	Pending          int                     `json:"outboxPending"`
	Sources          map[string]SourceHealth `json:"sources"`
	StuckFiles       map[string]time.Time    `json:"stuckFiles,omitempty"`
	FailingReceivers map[string]string       `json:"failingReceivers,omitempty"`
}

func (d *Daemon) health() Health {
	h := Health{Status: "ok", Rules: len(d.engine.Load().Rules()), Pending: d.pipeline.Pending(),
		Sources: d.silence.health(), StuckFiles: map[string]time.Time{}, FailingReceivers: map[string]string{}}
	for _, r := range d.pipeline.Health() {
		if r.Failing {
			h.FailingReceivers[r.Name] = fmt.Sprintf("%s since %s: %s", r.Reason, r.Since.UTC().Format(time.RFC3339), r.Error)
		}
	}
	for _, src := range slices.Sorted(maps.Keys(h.Sources)) {
		sh := h.Sources[src]
		if sh.Error != nil {
			h.Problems = append(h.Problems, fmt.Sprintf("source %s failing since its last data: %s", src, sh.Error.Err))
		}
		if sh.SilentFor != "" {
			h.Problems = append(h.Problems, fmt.Sprintf("source %s silent for %s", src, sh.SilentFor))
		}
	}
	for _, stuck := range d.stuck {
		maps.Copy(h.StuckFiles, stuck())
	}
	for _, f := range slices.Sorted(maps.Keys(h.StuckFiles)) {
		h.Problems = append(h.Problems, fmt.Sprintf("log file %s failing since %s; the files behind it wait", f, h.StuckFiles[f].UTC().Format(time.RFC3339)))
	}
	for _, name := range slices.Sorted(maps.Keys(h.FailingReceivers)) {
		h.Problems = append(h.Problems, fmt.Sprintf("receiver %s failing: %s", name, h.FailingReceivers[name]))
	}
	if len(h.Problems) > 0 {
		h.Status = "degraded"
	}
	return h
}

// fed passes on the result of handling an input of source; a handled input is data, which
// the silence watch counts.
func (d *Daemon) fed(source string, err error) error {
	if err == nil {
		d.silence.seen(source)
	}
	return err
}

// handleLog reads one log file of a polled prefix (see handleInput). A file that could not be
// read whole is alerted and then acknowledged: the prefix does not stop behind it forever.
func (d *Daemon) handleLog(ctx context.Context, source, name string, body io.Reader) error {
	err := d.handleInput(ctx, source, ingest.Input{Name: name, Body: body})
	if errors.Is(err, ingest.ErrNotWhole) {
		d.log.Warn("log file not read whole; alerted, and the prefix goes on past it", "source", source, "file", name)
		return nil
	}
	return err
}

// handleInput reads one input through ingest: its findings go to the outbox as they are
// found, then its bad records, if any, are alerted (ingest's policy). It returns nil only
// when every finding and alert is in the outbox; an error wrapping ingest.ErrNotWhole when
// the input could not be read whole (after alerting it).
func (d *Daemon) handleInput(ctx context.Context, source string, in ingest.Input) error {
	rep, err := d.reader.Read(ctx, in, d.submitter(ctx))
	d.count(source, rep)
	if err != nil {
		return err
	}
	d.m.files.WithLabelValues(source).Inc()
	return d.judge(ctx, source, rep)
}

// handleRecord detects on one LookupEvents record. LookupEvents has no place to keep a bad
// record for later: one that could not be read is alerted and then acknowledged.
func (d *Daemon) handleRecord(ctx context.Context, source string, e lookup.Event) error {
	in := ingest.Input{Name: source + " event " + e.ID, Body: bytes.NewReader(e.Record)}
	rep, err := d.reader.Read(ctx, in, d.submitter(ctx))
	d.count(source, rep)
	if err == nil {
		err = d.judge(ctx, source, rep)
	}
	if errors.Is(err, ingest.ErrNotWhole) {
		return nil
	}
	return err
}

// handleNotification handles one queue message (see ingest.ReadMessage): an EventBridge event
// is detected on, the log files a notification announces are read. A message whose input
// could not be read whole, or that is no known notification, is alerted and then returned to
// the queue, whose redrive policy keeps it in a dead-letter queue.
func (d *Daemon) handleNotification(ctx context.Context, source string, reader s3poll.API, m sqs.Message) error {
	origin := source + " message " + m.ID
	reports, err := d.reader.ReadMessage(ctx, origin, m.Body, func(ctx context.Context, o cloudtrail.Object) (io.ReadCloser, error) {
		out, err := reader.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(o.Bucket), Key: aws.String(o.Key)})
		if err != nil {
			return nil, err
		}
		return out.Body, nil
	}, d.submitter(ctx))
	for _, rep := range reports {
		d.count(source, rep)
		if rep.Input != origin {
			d.m.files.WithLabelValues(source).Inc()
		}
	}
	if err != nil {
		return err // the message comes back; its bad parts are reported once its files are read
	}
	return d.judge(ctx, source, reports...)
}

// count adds an input's report to the metrics.
func (d *Daemon) count(source string, rep ingest.Report) {
	d.m.records.WithLabelValues(source).Add(float64(rep.Records))
	if rep.Bad > 0 {
		d.m.bad.WithLabelValues(source).Add(float64(rep.Bad))
	}
	if !rep.Whole && rep.Bad > 0 {
		d.m.notWhole.WithLabelValues(source).Inc()
	}
}

// judge raises the bad-input alerts of the reports (ingest.Judge) and returns Judge's verdict.
func (d *Daemon) judge(ctx context.Context, source string, reports ...ingest.Report) error {
	alerts, verdict := ingest.Judge(source, d.now(), reports...)
	for _, a := range alerts {
		d.log.Warn("unreadable records", "source", source, "input", a.Origin, "title", a.Title, "first", firstProblem(a))
		if err := d.pipeline.Submit(ctx, a); err != nil {
			return fmt.Errorf("submit %s: %w", a.Key(), err)
		}
	}
	return verdict
}

func firstProblem(f finding.Finding) string {
	if len(f.Params) > 0 {
		return f.Params[0].Value
	}
	return ""
}

// submitter hands findings to the outbox as an input's records are detected on.
func (d *Daemon) submitter(ctx context.Context) ingest.Found {
	return func(fs []finding.Finding) error {
		// Together: the delivery worker sees a record's findings at once and sends one
		// alert for its event.
		if err := d.pipeline.Submit(ctx, fs...); err != nil {
			return fmt.Errorf("submit: %w", err)
		}
		for _, f := range fs {
			d.m.findings.WithLabelValues(f.Rule).Inc()
			if at, ok := cloudtrail.ParseTime(f.EventTime); ok {
				d.m.lag.Observe(d.now().Sub(at).Seconds())
			}
		}
		return nil
	}
}

// RaiseStuck alerts about a log file that keeps failing: the files behind it wait.
func (d *Daemon) RaiseStuck(ctx context.Context, obj s3poll.Object, since time.Time, err error) error {
	rec, _ := json.Marshal(map[string]any{"file": obj.URL(), "failingSince": since.UTC(), "error": err.Error()})
	f := finding.Finding{
		Rule: StuckRule, Severity: finding.High,
		Title: fmt.Sprintf("Cannot process %s since %s", obj.URL(), since.UTC().Format(time.RFC3339)),
		Description: "trailbell retries this log file at every poll; later files of its prefix wait behind it. " +
			"Latest error: " + err.Error(),
		EventID: "stuck/" + obj.URL(), EventName: "FileStuck", EventTime: d.now().UTC().Format(time.RFC3339),
		Origin: obj.URL(), Record: rec,
	}
	d.log.Error("log file stuck", "file", obj.URL(), "since", since, "err", err)
	return d.pipeline.Submit(ctx, f)
}

// raiseSilence is the silence watch's alert.
func (d *Daemon) raiseSilence(ctx context.Context, source string, last time.Time, after time.Duration) error {
	silent := d.now().Sub(last).Round(time.Second)
	detail := map[string]any{"source": source, "lastData": last.UTC(), "silentFor": silent.String(), "silenceAfter": after.String()}
	desc := "The trail may be stopped or its delivery broken (bucket policy, KMS key, " +
		"notification, credentials). Nothing is being watched there until data flows again."
	if e, ok := d.silence.lastError(source); ok {
		detail["lastError"] = e
		desc += " Latest error, at " + e.At.UTC().Format(time.RFC3339) + ": " + e.Err
	}
	rec, _ := json.Marshal(detail)
	f := finding.Finding{
		Rule: SilenceRule, Severity: finding.High,
		Title:       fmt.Sprintf("No new CloudTrail data from %s for %s", source, silent),
		Description: desc,
		EventID:     "silence/" + source + "/" + last.UTC().Format(time.RFC3339Nano),
		EventName:   "SourceSilent", EventTime: d.now().UTC().Format(time.RFC3339),
		Origin: source, Record: rec,
	}
	d.log.Warn("source silent", "source", source, "since", last, "silence_after", after)
	return d.pipeline.Submit(ctx, f)
}

// metrics are the daemon's own counters; the sources and the pipeline register theirs.
type metrics struct {
	files, records, bad, notWhole, findings, reloads *prometheus.CounterVec
	lag                                              prometheus.Histogram
	rules                                            prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		files: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trailbell_files_total", Help: "Log files read to the end, per source (S3 polling or SQS notifications).",
		}, []string{"source"}),
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trailbell_records_total", Help: "CloudTrail records read, per source.",
		}, []string{"source"}),
		bad: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trailbell_bad_records_total", Help: "Records or messages that could not be read, per source (each reported with a trailbell-bad-input finding).",
		}, []string{"source"}),
		notWhole: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trailbell_inputs_not_whole_total", Help: "Log files or messages that could not be read to their end (a syntax error, a limit, a cut-off gzip stream), per source.",
		}, []string{"source"}),
		findings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trailbell_findings_total", Help: "Findings accepted into the outbox, per rule.",
		}, []string{"rule"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trailbell_reloads_total", Help: "Rule reloads (SIGHUP), by result.",
		}, []string{"result"}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "trailbell_event_lag_seconds",
			Help:    "Time from an event's eventTime to its finding entering the outbox (delivery time: trailbell_notify_delivery_seconds).",
			Buckets: []float64{1, 5, 30, 60, 120, 300, 600, 900, 1800, 3600, 6 * 3600, 24 * 3600},
		}),
		rules: prometheus.NewGauge(prometheus.GaugeOpts{Name: "trailbell_rules", Help: "Rules in the running engine."}),
	}
	reg.MustRegister(m.files, m.records, m.bad, m.notWhole, m.findings, m.reloads, m.lag, m.rules)
	return m
}
