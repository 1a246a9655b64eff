package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/trailbell/trailbell/internal/app"
	"github.com/trailbell/trailbell/internal/config"
)

// runFlags are the flags of `trailbell run`: a configuration file, or for the simple case
// the sources and a Slack webhook.
type runFlags struct {
	config                    string
	s3, sqs, lookupRegions    repeated
	rules                     repeated
	endpoint, sqsEndpoint     string
	stateDir, webhook, listen string
	poll, since, silence      *time.Duration
	logLevel                  string
}

// simple lists the flags that describe sources and delivery, which --config replaces.
var simple = []string{"s3", "sqs", "lookup-region", "rules", "endpoint-url", "sqs-endpoint-url", "slack-webhook-url", "poll-interval", "since", "silence-after"}

func (f *runFlags) register(c *leaf) {
	c.StringVar(&f.config, "config", "", "configuration `file` (sources, notify, run sections)")
	c.Var(&f.s3, "s3", "poll the S3 trail prefix at this `URL`: s3://BUCKET/PREFIX")
	c.Var(&f.sqs, "sqs", "SQS queue `URL` of S3 notifications to read")
	c.Var(&f.lookupRegions, "lookup-region", "poll CloudTrail LookupEvents in this `region`")
	c.Var(&f.rules, "rules", "add the rules in this YAML `file` or directory")
	c.StringVar(&f.endpoint, "endpoint-url", "", "S3 endpoint `URL`, for S3-compatible servers")
	c.StringVar(&f.sqsEndpoint, "sqs-endpoint-url", "", "SQS endpoint `URL`, for SQS-compatible servers")
	c.StringVar(&f.stateDir, "state-dir", "", "`dir` for checkpoints, the outbox and the state of rules with memory (required)")
	c.StringVar(&f.webhook, "slack-webhook-url", "", "Slack incoming webhook `URL` (default $TRAILBELL_SLACK_WEBHOOK_URL)")
	f.poll = c.durationFlag("poll-interval", time.Minute, "time between polls of each source")
	f.since = c.durationFlag("since", time.Hour, "how far back to start in an S3 prefix seen for the first time (36h, 30d)")
	f.silence = c.durationFlag("silence-after", 0, "alert when a source brings no new data for this long (0: never)")
	c.StringVar(&f.listen, "listen", "", "`address` for /metrics and /healthz, e.g. 127.0.0.1:9090")
	c.StringVar(&f.logLevel, "log-level", "info", "`level` of the JSON log on standard error: debug, info, warn or error")
}

// runConfig is the daemon's configuration: --config's file, or one built from the flags,
// with --state-dir and --listen over the file's.
func (f *runFlags) runConfig(set map[string]bool) (*config.Config, error) {
	var cfg *config.Config
	if f.config != "" {
		for _, name := range simple {
			if set[name] {
				return nil, fmt.Errorf("--%s cannot be combined with --config; set it in the file", name)
			}
		}
		l, err := config.Load(f.config)
		if err != nil {
			return nil, err
		}
		cfg = l
	} else {
		if len(f.s3)+len(f.sqs)+len(f.lookupRegions) == 0 {
			return nil, errors.New("nothing to watch: give --config, --s3, --sqs or --lookup-region")
		}
		if hook := slackWebhookURL(f.webhook); hook != "" {
			cfg = config.SlackWebhook(config.NewSecret(hook))
		} else {
			cfg = &config.Config{Notify: config.Notify{
				Receivers: []config.Receiver{{Name: "stdout", Stdout: &config.Stdout{Format: "json"}}},
				Route:     config.Route{Receiver: "stdout"},
			}}
		}
		poll, since, silence := config.Duration(*f.poll), config.Duration(*f.since), config.Duration(*f.silence)
		for _, u := range f.s3 {
			cfg.Sources.S3 = append(cfg.Sources.S3, config.S3Source{URL: u, Endpoint: f.endpoint,
				PollInterval: poll, Since: since, SilenceAfter: silence})
		}
		for _, q := range f.sqs {
			cfg.Sources.SQS = append(cfg.Sources.SQS, config.SQSSource{QueueURL: q, Endpoint: f.sqsEndpoint,
				S3Endpoint: f.endpoint, SilenceAfter: silence})
		}
		for _, r := range f.lookupRegions {
			cfg.Sources.Lookup = append(cfg.Sources.Lookup, config.LookupSource{Region: r, PollInterval: poll, SilenceAfter: silence})
		}
		cfg.Run.Rules = f.rules
	}
	if set["state-dir"] || cfg.StateDir == "" {
		cfg.StateDir = f.stateDir
	}
	if set["listen"] {
		cfg.Run.Listen = f.listen
	}
	if cfg.StateDir == "" {
		return nil, errors.New("--state-dir (or state_dir in the configuration) is required")
	}
	return cfg, cfg.Validate()
}

// runRun is `trailbell run`, the long-running watcher.
func runRun(ctx context.Context, args []string, io stdio) int {
	c := newLeaf(io, "run", "trailbell run --config FILE [--listen ADDR]\n"+
		"trailbell run --s3 s3://BUCKET/PREFIX --state-dir DIR [--slack-webhook-url URL] [flags]",
		"Watches CloudTrail (S3 trail prefixes, an SQS queue of S3 notifications, or LookupEvents)\n"+
			"and alerts until SIGINT or SIGTERM. SIGHUP reloads the rules. Without --config and without\n"+
			"a Slack webhook, findings go to standard output as JSON lines. Exit 0 after a clean\n"+
			"shutdown, 2 on errors.")
	var f runFlags
	f.register(c)
	if code, ok := c.parse(args); !ok {
		return code
	}
	if c.NArg() > 0 {
		return c.usageError("unexpected argument %q", c.Arg(0))
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return c.usageError("--log-level: %v", err)
	}
	cfg, err := f.runConfig(c.set())
	if err != nil {
		return c.fail("%v", err)
	}
	logger := newLogger(io.err, level)
	if err := serve(ctx, cfg, f.config, io, logger); err != nil {
		logger.Error("trailbell run failed", "err", err)
		return exitError
	}
	return exitOK
}

// serve builds the daemon and runs it until ctx is done, forwarding SIGHUP as a reload.
func serve(ctx context.Context, cfg *config.Config, configPath string, io stdio, logger *slog.Logger) error {
	var wg sync.WaitGroup
	defer wg.Wait() // last: the forwarder below ends once ctx is cancelled
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	reload := make(chan struct{})
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				select {
				case reload <- struct{}{}:
				case <-ctx.Done():
					return
				}
			}
		}
	})
	d, err := app.NewDaemon(ctx, cfg, app.DaemonOptions{ConfigPath: configPath, Reload: reload}, app.Process{Stdout: io.out, Logger: logger})
	if err != nil {
		return err
	}
	return d.Run(ctx)
}
