package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscloudtrail "github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/trailbell/trailbell/internal/checkpoint"
	"github.com/trailbell/trailbell/internal/cloudtrail"
	"github.com/trailbell/trailbell/internal/config"
	"github.com/trailbell/trailbell/internal/daemon"
	"github.com/trailbell/trailbell/internal/detect"
	"github.com/trailbell/trailbell/internal/finding"
	"github.com/trailbell/trailbell/internal/ingest"
	"github.com/trailbell/trailbell/internal/notify"
	"github.com/trailbell/trailbell/internal/notify/slack"
	"github.com/trailbell/trailbell/internal/source/lookup"
	"github.com/trailbell/trailbell/internal/source/s3poll"
	"github.com/trailbell/trailbell/internal/source/sqs"
	"github.com/trailbell/trailbell/internal/triage"
)

// DaemonOptions are what `trailbell run` needs besides the configuration.
type DaemonOptions struct {
	// ConfigPath is read again on a reload for the rule settings; empty reloads the rule
	// files the configuration names.
	ConfigPath string
	// Reload asks for the rules to be read again and swapped in (SIGHUP).
	Reload <-chan struct{}
}

// NewDaemon builds `trailbell run` from the configuration: its sources (S3 trail prefixes,
// SQS queues, LookupEvents), the rules, detection with memory (its state in
// state_dir/StateFile), the pipeline with its outbox in state_dir, the checkpoints, the
// metrics registry and the /metrics and /healthz listener (run.listen). The daemon owns all
// of it: its Run, or Close when it is not run, releases it. Every source's problem is
// reported, not just the first.
func NewDaemon(ctx context.Context, cfg *config.Config, o DaemonOptions, p Process) (d *daemon.Daemon, err error) {
	if cfg.StateDir == "" {
		return nil, errors.New("state_dir is required: it holds the checkpoints and the outbox")
	}
	src := cfg.Sources
	if len(src.S3)+len(src.SQS)+len(src.Lookup) == 0 {
		return nil, errors.New("sources: nothing to watch (set s3, sqs or lookup)")
	}
	w := newWiring(cfg, p)
	var closers []io.Closer // closed here on failure; the daemon's once it is built
	defer func() {
		if d == nil {
			for _, c := range closers {
				c.Close()
			}
		}
	}()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	eng, err := engine(cfg)
	if err != nil {
		return nil, err
	}
	store, err := openState(cfg.StateDir, "state_dir")
	if err != nil {
		return nil, err
	}
	closers = append(closers, store)
	mem, err := newMemory(eng, cfg.State, store, reg, false)
	if err != nil {
		return nil, err
	}
	reader, err := ingest.New(ingest.Options{Detector: eng, Memory: mem, Limits: cfg.Run.Limits(), Logger: w.log})
	if err != nil {
		return nil, err
	}
	// Interactive alerts: escalations and re-raises go to the pipeline built next.
	var pl *notify.Pipeline
	var ia *interactive
	if interactiveOn(cfg, os.Getenv) {
		if cfg.Run.Listen == "" {
			return nil, errors.New("interactive alerts need run.listen (--listen): Slack posts to /slack/interactions there")
		}
		ts, err := triage.NewBolt(cfg.StateDir, nil)
		if err != nil {
			return nil, err
		}
		ia, err = w.interactive(ctx, ts, os.Getenv, reg, true,
			func(ctx context.Context, fs ...finding.Finding) error { return pl.Submit(ctx, fs...) },
			func(ctx context.Context, r string, fs ...finding.Finding) error { return pl.SubmitTo(ctx, r, fs...) })
		if err != nil {
			return nil, err
		}
	}
	pl, err = w.pipeline(ctx, pipelineSpec{dir: cfg.StateDir, reg: reg, ia: ia})
	if err != nil {
		return nil, err
	}
	closers = append(closers, pl)
	state, err := checkpoint.Open(filepath.Join(cfg.StateDir, "checkpoints"))
	if err != nil {
		return nil, err
	}
	var ln net.Listener
	if cfg.Run.Listen != "" {
		if ln, err = net.Listen("tcp", cfg.Run.Listen); err != nil {
			return nil, fmt.Errorf("run.listen: %w", err)
		}
		closers = append(closers, ln)
	}
	grace := cmp.Or(time.Duration(cfg.Run.ShutdownGrace), 30*time.Second)
	var handlers map[string]http.Handler
	var workers []func(context.Context) error
	if ia != nil {
		ia.handler.After = func(context.Context) { ia.svc.Kick() }
		handlers = map[string]http.Handler{"POST " + slack.InteractionsPath: ia.handler}
		workers = append(workers, ia.svc.Run)
	}
	dm := daemon.New(daemon.Options{
		Engine: eng, Reader: reader, Memory: mem, Pipeline: pl,
		Rebuild: func() (*detect.Engine, error) {
			if o.ConfigPath == "" {
				return engine(cfg)
			}
			c, err := config.Load(o.ConfigPath)
			if err != nil {
				return nil, err
			}
			return engine(c)
		},
		Reload: o.Reload, Registry: reg, Listener: ln, Handlers: handlers, Workers: workers, Grace: grace,
		Closers: []io.Closer{store}, Logger: w.log,
	})
	closers = nil // the daemon's now
	if err := w.sources(ctx, dm, state, reg, grace); err != nil {
		dm.Close()
		return nil, err
	}
	return dm, nil
}

// sources adds every configured source to d.
func (w *wiring) sources(ctx context.Context, d *daemon.Daemon, state *checkpoint.Dir, reg prometheus.Registerer, grace time.Duration) error {
	var errs []error
	cfg := w.cfg.Sources
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
		ac, err := w.awsFor(ctx, sc.RoleARN)
		if err != nil {
			return err
		}
		name := cloudtrail.URL(bucket, prefix)
		p, err := s3poll.New(s3poll.Options{
			Client: s3Client(ac, sc.Region, sc.Endpoint, false), Bucket: bucket, Prefix: prefix, State: state,
			OnError: d.Failed(name), Stuck: d.RaiseStuck, StuckAfter: time.Duration(sc.StuckAfter),
			Interval: time.Duration(sc.PollInterval), Since: cmp.Or(time.Duration(sc.Since), time.Hour),
			LateWindow: time.Duration(sc.LateWindow), Grace: grace,
			Logger: w.log.With("component", "s3poll"), Metrics: s3m,
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", path, err))
			continue
		}
		d.AddS3(name, p, time.Duration(sc.SilenceAfter))
	}
	var sqsm *sqs.Metrics
	if len(cfg.SQS) > 0 {
		sqsm = sqs.NewMetrics(reg)
	}
	for i, sc := range cfg.SQS {
		path := fmt.Sprintf("sources.sqs[%d]", i)
		ac, err := w.awsFor(ctx, sc.RoleARN)
		if err != nil {
			return err
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
			OnError: d.Failed(name), Logger: w.log.With("component", "sqs"), Metrics: sqsm,
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", path, err))
			continue
		}
		d.AddSQS(name, s, s3Client(ac, sc.Region, sc.S3Endpoint, false), time.Duration(sc.SilenceAfter))
	}
	var lm *lookup.Metrics
	if len(cfg.Lookup) > 0 {
		lm = lookup.NewMetrics(reg)
	}
	for i, lc := range cfg.Lookup {
		path := fmt.Sprintf("sources.lookup[%d]", i)
		ac, err := w.awsFor(ctx, lc.RoleARN)
		if err != nil {
			return err
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
			Client: client, Name: key, State: state, OnError: d.Failed(name),
			Interval: time.Duration(lc.PollInterval), Overlap: time.Duration(lc.Overlap),
			Logger: w.log.With("component", "lookup"), Metrics: lm,
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", path, err))
			continue
		}
		d.AddLookup(name, s, time.Duration(lc.SilenceAfter))
	}
	return errors.Join(errs...)
}
