package app

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	awscloudtrail "github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/trailbell/trailbell/internal/checkpoint"
	"github.com/trailbell/trailbell/internal/cloudtrail"
	"github.com/trailbell/trailbell/internal/config"
	"github.com/trailbell/trailbell/internal/correlate"
	"github.com/trailbell/trailbell/internal/detect"
	"github.com/trailbell/trailbell/internal/finding"
	"github.com/trailbell/trailbell/internal/ingest"
	"github.com/trailbell/trailbell/internal/notify"
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

// RunOptions are what `trailbell run` needs besides the configuration.
type RunOptions struct {
	Config *config.Config
	// ConfigPath is read again on Reload for the rule settings; empty reloads the rule
	// files named in Config.
	ConfigPath string
	// Reload asks for the rules to be read again and swapped in (SIGHUP).
	Reload <-chan struct{}
	Logger *slog.Logger
	// AWS is the SDK configuration for the sources; nil loads it from the environment.
	AWS *aws.Config
	// Notify passes through to BuildPipeline (tests set an HTTP client or Stdout).
	Notify NotifyOptions
	// Listening, when set, is told the /metrics and /healthz address once it is open.
	Listening func(addr string)
}

// daemon is one running `trailbell run`.
type daemon struct {
	cfg      *config.Config
	log      *slog.Logger
	engine   atomic.Pointer[detect.Engine]
	reader   *ingest.Reader // reads every input with the engine; swapped with it
	memory   Memory         // detections with memory, state under state_dir
	pipeline *notify.Pipeline
	m        *runMetrics
	silence  *silence
	// stuck list, per S3 poller, the log files failing past their stuck_after
	stuck []func() map[string]time.Time
	now   func() time.Time
}

// Run watches the configured sources, detects and hands findings to the notification
// pipeline until ctx is done. Shutdown finishes the files and messages in hand, then gives
// the outbox up to run.shutdown_grace to drain; what is left stays in the outbox.
func Run(ctx context.Context, o RunOptions) error {
	cfg := o.Config
	log := cmp.Or(o.Logger, slog.New(slog.DiscardHandler))
	if cfg.StateDir == "" {
		return errors.New("state_dir is required: it holds the checkpoints and the outbox")
	}
	src := cfg.Sources
	if len(src.S3)+len(src.SQS)+len(src.Lookup) == 0 {
		return errors.New("sources: nothing to watch (set s3, sqs or lookup)")
	}
	grace := cmp.Or(time.Duration(cfg.Run.ShutdownGrace), 30*time.Second)

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	d := &daemon{cfg: cfg, log: log, m: newRunMetrics(reg), now: time.Now}
	eng, err := buildEngine(cfg)
	if err != nil {
		return err
	}
	d.engine.Store(eng)
	d.m.rules.Set(float64(len(eng.Rules())))
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return fmt.Errorf("state_dir: %w", err)
	}
	store, err := correlate.OpenBolt(filepath.Join(cfg.StateDir, StateFile))
	if err != nil {
		return fmt.Errorf("state_dir: %w", err)
	}
	defer store.Close()
	if d.memory, err = NewMemory(eng, cfg.State, store, reg); err != nil {
		return err
	}
	if d.reader, err = ingest.New(ingest.Options{Detector: eng, Memory: d.memory, Limits: cfg.Run.Limits(), Logger: log}); err != nil {
		return err
	}

	no := o.Notify
	no.Registerer = reg
	d.pipeline, err = BuildPipeline(ctx, cfg, log, no)
	if err != nil {
		return err
	}
	defer d.pipeline.Close()
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "trailbell_outbox_depth", Help: "Deliveries waiting in the outbox (one per finding and receiver).",
	}, func() float64 { return float64(d.pipeline.Pending()) }))

	state, err := checkpoint.Open(filepath.Join(cfg.StateDir, "checkpoints"))
	if err != nil {
		return err
	}
	awsCfg := lazyAWS(o.AWS)
	d.silence = newSilence(d.now)
	runs, err := d.sources(ctx, state, awsCfg, reg, grace)
	if err != nil {
		return err
	}

	// Delivery outlives the sources so that the last files' findings can still go out.
	pctx, stopPipeline := context.WithCancel(context.WithoutCancel(ctx))
	defer stopPipeline()
	pipeErr := make(chan error, 1)
	go func() { pipeErr <- d.pipeline.Run(pctx) }()

	var srv *http.Server
	if cfg.Run.Listen != "" {
		ln, err := net.Listen("tcp", cfg.Run.Listen)
		if err != nil {
			stopPipeline()
			<-pipeErr
			return fmt.Errorf("run.listen: %w", err)
		}
		srv = &http.Server{Handler: d.mux(reg), ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(ln)
		log.Info("serving /metrics and /healthz", "addr", ln.Addr().String())
		if o.Listening != nil {
			o.Listening(ln.Addr().String())
		}
	}

	g, gctx := errgroup.WithContext(ctx)
	for _, run := range runs {
		g.Go(func() error { return run(gctx) })
	}
	g.Go(func() error { d.silence.run(gctx, d.raiseSilence); return nil })
	g.Go(func() error { d.reloads(gctx, o); return nil })
	g.Go(func() error { d.ticks(gctx); return nil })
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
	log.Info("trailbell run started", "sources", len(runs), "rules", len(eng.Rules()))
	err = g.Wait()

	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	if ferr := d.pipeline.Flush(fctx); ferr != nil {
		log.Warn("shutdown: outbox not drained; it is delivered on the next start", "err", ferr, "pending", d.pipeline.Pending())
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
	log.Info("trailbell run stopped", "err", err)
	return err
}

// buildEngine compiles the rules the configuration selects.
func buildEngine(cfg *config.Config) (*detect.Engine, error) {
	rules, err := Rules(cfg)
	if err != nil {
		return nil, err
	}
	return detect.New(rules)
}

// Rules returns the rules the configuration selects: the built-in pack unless
// run.no_builtin, then run.rules (relative to the file), narrowed by run.only and
// run.disable, and to min_severity and above.
func Rules(cfg *config.Config) ([]detect.Rule, error) {
	var rules []detect.Rule
	if !cfg.Run.NoBuiltin {
		b, err := detect.Builtin()
		if err != nil {
			return nil, fmt.Errorf("built-in rules: %w", err)
		}
		rules = b
	}
	if len(cfg.Run.Rules) > 0 {
		paths := make([]string, len(cfg.Run.Rules))
		for i, p := range cfg.Run.Rules {
			if !filepath.IsAbs(p) && cfg.Dir() != "" {
				p = filepath.Join(cfg.Dir(), p)
			}
			paths[i] = p
		}
		extra, err := detect.Load(paths...)
		if err != nil {
			return nil, fmt.Errorf("run.rules: %w", err)
		}
		rules = append(rules, extra...)
	}
	rules, err := detect.Select(rules, cfg.Run.Only, cfg.Run.Disable)
	if err != nil {
		return nil, fmt.Errorf("run.only/run.disable: %w", err)
	}
	if len(rules) == 0 {
		return nil, errors.New("no rules selected")
	}
	if rules = detect.AtLeast(rules, config.Severity(cfg.MinSeverity)); len(rules) == 0 {
		return nil, fmt.Errorf("no rule selected is of severity %s or above (min_severity)", cfg.MinSeverity)
	}
	return rules, nil
}

// reloads swaps in a newly built engine on each request. A bad configuration or rule file
// keeps the running engine and is reported.
func (d *daemon) reloads(ctx context.Context, o RunOptions) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-o.Reload:
		}
		cfg := d.cfg
		if o.ConfigPath != "" {
			c, err := config.Load(o.ConfigPath)
			if err != nil {
				d.m.reloads.WithLabelValues("error").Inc()
				d.log.Error("reload: keeping the running rules", "err", err)
				continue
			}
			cfg = c
		}
		eng, err := buildEngine(cfg)
		if err != nil {
			d.m.reloads.WithLabelValues("error").Inc()
			d.log.Error("reload: keeping the running rules", "err", err)
			continue
		}
		if err := d.memory.Swap(eng); err != nil {
			d.m.reloads.WithLabelValues("error").Inc()
			d.log.Error("reload: keeping the running rules", "err", err)
			continue
		}
		if err := d.reader.Swap(eng); err != nil {
			d.m.reloads.WithLabelValues("error").Inc()
			d.log.Error("reload: keeping the running rules", "err", err)
			continue
		}
		d.engine.Store(eng)
		d.m.rules.Set(float64(len(eng.Rules())))
		d.m.reloads.WithLabelValues("ok").Inc()
		d.log.Info("reloaded rules; notify and sources changes take effect on restart", "rules", len(eng.Rules()))
	}
}

// ticks evaluates, once a minute, the records of rules with memory that have waited the
// tolerance by the wall clock: a quiet stream (few new files) still gets its findings.
func (d *daemon) ticks(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		deliver := func(ctx context.Context, fs []finding.Finding) error { return d.submitter(ctx)(fs) }
		if err := d.memory.Tick(ctx, deliver); err != nil && ctx.Err() == nil {
			d.log.Error("detections with memory: evaluating held-back records failed; retried at the next tick", "err", err)
		}
	}
}

func (d *daemon) mux(reg *prometheus.Registry) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		h := d.health()
		w.Header().Set("Content-Type", "application/json")
		if h.Status != "ok" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		json.NewEncoder(w).Encode(h)
	})
	return mux
}

// health is what /healthz answers: 200 when ok, 503 when degraded, with the reasons.
type health struct {
	Status string `json:"status"` // ok or degraded
	// Problems say why it is degraded: a source failing since its last data or silent past
	// its silence_after, a log file stuck for its stuck_after, a receiver whose deliveries
	// keep failing.
	Problems         []string                `json:"problems,omitempty"`
	Rules            int                     `json:"rules"`
	Pending          int                     `json:"outboxPending"`
	Sources          map[string]sourceHealth `json:"sources"`
	StuckFiles       map[string]time.Time    `json:"stuckFiles,omitempty"`
	FailingReceivers map[string]string       `json:"failingReceivers,omitempty"`
}

func (d *daemon) health() health {
	h := health{Status: "ok", Rules: len(d.engine.Load().Rules()), Pending: d.pipeline.Pending(),
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

// sources builds one run function per configured source.
func (d *daemon) sources(ctx context.Context, state *checkpoint.Dir, awsCfg func(context.Context) (aws.Config, error), reg prometheus.Registerer, grace time.Duration) ([]func(context.Context) error, error) {
	var runs []func(context.Context) error
	var errs []error
	cfg := d.cfg.Sources
	var s3m *s3poll.Metrics
	if len(cfg.S3) > 0 {
		s3m = s3poll.NewMetrics(reg)
	}
	for i, sc := range cfg.S3 {
		path := fmt.Sprintf("sources.s3[%d]", i)
		bucket, prefix, err := cloudtrail.ParseURL(sc.URL)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s.url: %w", path, err))
			continue
		}
		ac, err := assume(ctx, awsCfg, sc.RoleARN)
		if err != nil {
			return nil, err
		}
		name := cloudtrail.URL(bucket, prefix)
		p, err := s3poll.New(s3poll.Options{
			Client: s3Client(ac, sc.Region, sc.Endpoint), Bucket: bucket, Prefix: prefix, State: state,
			OnError: func(err error) { d.silence.failed(name, err) },
			Stuck:   d.raiseStuck, StuckAfter: time.Duration(sc.StuckAfter),
			Interval: time.Duration(sc.PollInterval), Since: cmp.Or(time.Duration(sc.Since), time.Hour),
			LateWindow: time.Duration(sc.LateWindow), Grace: grace,
			Logger: d.log.With("component", "s3poll"), Metrics: s3m,
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", path, err))
			continue
		}
		d.silence.watch(name, time.Duration(sc.SilenceAfter))
		d.stuck = append(d.stuck, p.Stuck)
		runs = append(runs, func(ctx context.Context) error {
			return p.Run(ctx, func(ctx context.Context, obj s3poll.Object, body io.Reader) error {
				return d.fed(name, d.handleLog(ctx, name, obj.URL(), body))
			})
		})
	}
	var sqsm *sqs.Metrics
	if len(cfg.SQS) > 0 {
		sqsm = sqs.NewMetrics(reg)
	}
	for i, sc := range cfg.SQS {
		path := fmt.Sprintf("sources.sqs[%d]", i)
		ac, err := assume(ctx, awsCfg, sc.RoleARN)
		if err != nil {
			return nil, err
		}
		client := awssqs.NewFromConfig(ac, func(o *awssqs.Options) {
			if sc.Region != "" {
				o.Region = sc.Region
			}
			if sc.Endpoint != "" {
				o.BaseEndpoint = aws.String(sc.Endpoint)
			}
		})
		name := sc.QueueURL
		s, err := sqs.New(sqs.Options{
			Client: client, QueueURL: sc.QueueURL, Visibility: time.Duration(sc.Visibility), Grace: grace,
			OnError: func(err error) { d.silence.failed(name, err) },
			Logger:  d.log.With("component", "sqs"), Metrics: sqsm,
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", path, err))
			continue
		}
		reader := s3Client(ac, sc.Region, sc.S3Endpoint)
		d.silence.watch(name, time.Duration(sc.SilenceAfter))
		runs = append(runs, func(ctx context.Context) error {
			return s.Run(ctx, func(ctx context.Context, m sqs.Message) error {
				return d.fed(name, d.handleNotification(ctx, name, reader, m))
			})
		})
	}
	var lm *lookup.Metrics
	if len(cfg.Lookup) > 0 {
		lm = lookup.NewMetrics(reg)
	}
	for i, lc := range cfg.Lookup {
		path := fmt.Sprintf("sources.lookup[%d]", i)
		ac, err := assume(ctx, awsCfg, lc.RoleARN)
		if err != nil {
			return nil, err
		}
		client := awscloudtrail.NewFromConfig(ac, func(o *awscloudtrail.Options) {
			o.Region = lc.Region
			if lc.Endpoint != "" {
				o.BaseEndpoint = aws.String(lc.Endpoint)
			}
		})
		key := cmp.Or(lc.Account, "default") + "/" + lc.Region
		name := "lookup:" + key
		s, err := lookup.New(lookup.Options{
			Client: client, Name: key, State: state,
			OnError:  func(err error) { d.silence.failed(name, err) },
			Interval: time.Duration(lc.PollInterval), Overlap: time.Duration(lc.Overlap),
			Logger: d.log.With("component", "lookup"), Metrics: lm,
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", path, err))
			continue
		}
		d.silence.watch(name, time.Duration(lc.SilenceAfter))
		runs = append(runs, func(ctx context.Context) error {
			return s.Run(ctx, func(ctx context.Context, e lookup.Event) error {
				return d.fed(name, d.handleRecord(ctx, name, e))
			})
		})
	}
	return runs, errors.Join(errs...)
}

// fed passes on the result of handling an input of source; a handled input is data, which
// the silence watch counts.
func (d *daemon) fed(source string, err error) error {
	if err == nil {
		d.silence.seen(source)
	}
	return err
}

// assume returns the SDK configuration, with credentials of role when one is given (a log
// archive or member account); they are fetched on first use and renewed before expiry.
func assume(ctx context.Context, awsCfg func(context.Context) (aws.Config, error), role string) (aws.Config, error) {
	ac, err := awsCfg(ctx)
	if err != nil || role == "" {
		return ac, err
	}
	ac = ac.Copy()
	ac.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(ac), role,
		func(o *stscreds.AssumeRoleOptions) { o.RoleSessionName = "trailbell" }))
	return ac, nil
}

func s3Client(ac aws.Config, region, endpoint string) *s3.Client {
	return s3.NewFromConfig(ac, func(o *s3.Options) {
		// Log files are read whole and gzip-checked; the SDK's note about objects without a
		// checksum would only fill the log.
		o.DisableLogOutputChecksumValidationSkipped = true
		if region != "" {
			o.Region = region
		}
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
			o.UsePathStyle = true // S3-compatible servers rarely resolve bucket.host names
			if o.Region == "" {
				o.Region = "us-east-1"
			}
		}
	})
}

// handleLog reads one log file of a polled prefix (see handleInput). A file that could not be
// read whole is alerted and then acknowledged: the prefix does not stop behind it forever.
func (d *daemon) handleLog(ctx context.Context, source, name string, body io.Reader) error {
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
func (d *daemon) handleInput(ctx context.Context, source string, in ingest.Input) error {
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
func (d *daemon) handleRecord(ctx context.Context, source string, e lookup.Event) error {
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
func (d *daemon) handleNotification(ctx context.Context, source string, reader s3poll.API, m sqs.Message) error {
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
func (d *daemon) count(source string, rep ingest.Report) {
	d.m.records.WithLabelValues(source).Add(float64(rep.Records))
	if rep.Bad > 0 {
		d.m.bad.WithLabelValues(source).Add(float64(rep.Bad))
	}
	if !rep.Whole && rep.Bad > 0 {
		d.m.notWhole.WithLabelValues(source).Inc()
	}
}

// judge raises the bad-input alerts of the reports (ingest.Judge) and returns Judge's verdict.
func (d *daemon) judge(ctx context.Context, source string, reports ...ingest.Report) error {
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
func (d *daemon) submitter(ctx context.Context) ingest.Found {
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

// raiseStuck alerts about a log file that keeps failing: the files behind it wait.
func (d *daemon) raiseStuck(ctx context.Context, obj s3poll.Object, since time.Time, err error) error {
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
func (d *daemon) raiseSilence(ctx context.Context, source string, last time.Time, after time.Duration) error {
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

// runMetrics are the daemon's own counters; the sources and the pipeline register theirs.
type runMetrics struct {
	files, records, bad, notWhole, findings, reloads *prometheus.CounterVec
	lag                                              prometheus.Histogram
	rules                                            prometheus.Gauge
}

func newRunMetrics(reg prometheus.Registerer) *runMetrics {
	m := &runMetrics{
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
