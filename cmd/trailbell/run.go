package main

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/trailbell/trailbell/internal/app"
	"github.com/trailbell/trailbell/internal/config"
)

// runRun is `trailbell run`, the long-running watcher. Its settings come from --config, or,
// for the simple case, from flags naming S3 prefixes and a Slack webhook.
func runRun(ctx context.Context, args []string, io stdio) int {
	fs := newFlags("run", io)
	configPath := fs.String("config", "", "configuration file (sources, notify, run sections)")
	var s3URLs, queues, lookupRegions, rules repeated
	fs.Var(&s3URLs, "s3", "S3 trail prefix s3://BUCKET/PREFIX to poll (repeatable)")
	fs.Var(&queues, "sqs", "SQS queue URL of S3 notifications to read (repeatable)")
	fs.Var(&lookupRegions, "lookup-region", "poll CloudTrail LookupEvents in this region (repeatable)")
	fs.Var(&rules, "rules", "extra rule file or directory (repeatable)")
	endpoint := fs.String("endpoint-url", "", "S3 endpoint, for S3-compatible servers")
	sqsEndpoint := fs.String("sqs-endpoint-url", "", "SQS endpoint, for SQS-compatible servers")
	stateDir := fs.String("state-dir", "", "directory for checkpoints and the outbox (required)")
	webhook := fs.String("slack-webhook-url", "", "Slack incoming webhook `URL` (default $TRAILBELL_SLACK_WEBHOOK_URL; without either, findings go to stdout as JSON lines)")
	poll := fs.Duration("poll-interval", time.Minute, "time between polls of each source")
	since := fs.Duration("since", time.Hour, "how far back to start in an S3 prefix seen for the first time")
	silence := fs.Duration("silence-after", 0, "alert when a source brings no new data for this long (0: never)")
	listen := fs.String("listen", "", "address for /metrics and /healthz, e.g. 127.0.0.1:9090")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	setUsage(fs, io, "usage: trailbell run --config FILE [--listen ADDR]\n"+
		"       trailbell run --s3 s3://BUCKET/PREFIX --state-dir DIR [--slack-webhook-url URL] [flags]\n\n"+
		"Watches CloudTrail (S3 trail prefixes, an SQS queue of S3 notifications, or LookupEvents)\n"+
		"and alerts until SIGINT or SIGTERM. SIGHUP reloads the rules.\n")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	fail := failer(io, "run")
	if fs.NArg() > 0 {
		return fail("unexpected argument %q", fs.Arg(0))
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fail("--log-level: %v", err)
	}
	logger := newLogger(io.err, level)

	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var cfg *config.Config
	if *configPath != "" {
		for _, name := range []string{"s3", "sqs", "lookup-region", "rules", "endpoint-url", "sqs-endpoint-url", "slack-webhook-url", "poll-interval", "since", "silence-after"} {
			if set[name] {
				return fail("--%s cannot be combined with --config; set it in the file", name)
			}
		}
		c, err := config.Load(*configPath)
		if err != nil {
			return fail("%v", err)
		}
		cfg = c
	} else {
		if len(s3URLs)+len(queues)+len(lookupRegions) == 0 {
			return fail("nothing to watch: give --config, --s3, --sqs or --lookup-region")
		}
		if hook := slackWebhookURL(*webhook); hook != "" {
			cfg = config.SlackWebhook(config.NewSecret(hook))
		} else {
			cfg = &config.Config{Notify: config.Notify{
				Receivers: []config.Receiver{{Name: "stdout", Stdout: &config.Stdout{Format: "json"}}},
				Route:     config.Route{Receiver: "stdout"},
			}}
		}
		for _, u := range s3URLs {
			cfg.Sources.S3 = append(cfg.Sources.S3, config.S3Source{URL: u, Endpoint: *endpoint,
				PollInterval: config.Duration(*poll), Since: config.Duration(*since), SilenceAfter: config.Duration(*silence)})
		}
		for _, q := range queues {
			cfg.Sources.SQS = append(cfg.Sources.SQS, config.SQSSource{QueueURL: q, Endpoint: *sqsEndpoint,
				S3Endpoint: *endpoint, SilenceAfter: config.Duration(*silence)})
		}
		for _, r := range lookupRegions {
			cfg.Sources.Lookup = append(cfg.Sources.Lookup, config.LookupSource{Region: r,
				PollInterval: config.Duration(*poll), SilenceAfter: config.Duration(*silence)})
		}
		cfg.Run.Rules = rules
	}
	if set["state-dir"] || cfg.StateDir == "" {
		cfg.StateDir = *stateDir
	}
	if set["listen"] {
		cfg.Run.Listen = *listen
	}
	if cfg.StateDir == "" {
		return fail("--state-dir (or state_dir in the configuration) is required")
	}
	if err := cfg.Validate(); err != nil {
		return fail("%v", err)
	}

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	reload := make(chan struct{})
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() { // forwards SIGHUP until Run is over
		for {
			select {
			case <-rctx.Done():
				return
			case <-hup:
				select {
				case reload <- struct{}{}:
				case <-rctx.Done():
					return
				}
			}
		}
	}()
	err := app.Run(rctx, app.RunOptions{Config: cfg, ConfigPath: *configPath, Reload: reload, Logger: logger})
	if err != nil {
		logger.Error("trailbell run failed", "err", err)
		return exitError
	}
	return exitOK
}
