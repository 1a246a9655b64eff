package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/trailbell/trailbell/internal/app"
	"github.com/trailbell/trailbell/internal/config"
)

// runRun is `trailbell run`, the long-running watcher. Its settings come from --config, or,
// for the simple case, from flags naming S3 prefixes and a Slack webhook.
func runRun(ctx context.Context, args []string, io stdio) int {
	c := newLeaf(io, "run", "trailbell run --config FILE [--listen ADDR]\n"+
		"trailbell run --s3 s3://BUCKET/PREFIX --state-dir DIR [--slack-webhook-url URL] [flags]",
		"Watches CloudTrail (S3 trail prefixes, an SQS queue of S3 notifications, or LookupEvents)\n"+
			"and alerts until SIGINT or SIGTERM. SIGHUP reloads the rules. Without --config and without\n"+
			"a Slack webhook, findings go to standard output as JSON lines. Exit 0 after a clean\n"+
			"shutdown, 2 on errors.")
	configPath := c.String("config", "", "configuration `file` (sources, notify, run sections)")
	var s3URLs, queues, lookupRegions, rules repeated
	c.Var(&s3URLs, "s3", "poll the S3 trail prefix at this `URL`: s3://BUCKET/PREFIX")
	c.Var(&queues, "sqs", "SQS queue `URL` of S3 notifications to read")
	c.Var(&lookupRegions, "lookup-region", "poll CloudTrail LookupEvents in this `region`")
	c.Var(&rules, "rules", "add the rules in this YAML `file` or directory")
	endpoint := c.String("endpoint-url", "", "S3 endpoint `URL`, for S3-compatible servers")
	sqsEndpoint := c.String("sqs-endpoint-url", "", "SQS endpoint `URL`, for SQS-compatible servers")
	stateDir := c.String("state-dir", "", "`dir` for checkpoints, the outbox and the state of rules with memory (required)")
	webhook := c.String("slack-webhook-url", "", "Slack incoming webhook `URL` (default $TRAILBELL_SLACK_WEBHOOK_URL)")
	poll := c.durationFlag("poll-interval", time.Minute, "time between polls of each source")
	since := c.durationFlag("since", time.Hour, "how far back to start in an S3 prefix seen for the first time (36h, 30d)")
	silence := c.durationFlag("silence-after", 0, "alert when a source brings no new data for this long (0: never)")
	listen := c.String("listen", "", "`address` for /metrics and /healthz, e.g. 127.0.0.1:9090")
	logLevel := c.String("log-level", "info", "`level` of the JSON log on standard error: debug, info, warn or error")
	if code, ok := c.parse(args); !ok {
		return code
	}
	if c.NArg() > 0 {
		return c.usageError("unexpected argument %q", c.Arg(0))
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return c.usageError("--log-level: %v", err)
	}
	logger := newLogger(io.err, level)
	set := c.set()
	var cfg *config.Config
	if *configPath != "" {
		for _, name := range []string{"s3", "sqs", "lookup-region", "rules", "endpoint-url", "sqs-endpoint-url", "slack-webhook-url", "poll-interval", "since", "silence-after"} {
			if set[name] {
				return c.usageError("--%s cannot be combined with --config; set it in the file", name)
			}
		}
		l, err := config.Load(*configPath)
		if err != nil {
			return c.fail("%v", err)
		}
		cfg = l
	} else {
		if len(s3URLs)+len(queues)+len(lookupRegions) == 0 {
			return c.usageError("nothing to watch: give --config, --s3, --sqs or --lookup-region")
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
		return c.usageError("--state-dir (or state_dir in the configuration) is required")
	}
	if err := cfg.Validate(); err != nil {
		return c.fail("%v", err)
	}

	rctx, stop := context.WithCancel(ctx)
	defer stop()
	reload := make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait() // the forwarder below ends with rctx, before run returns
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	wg.Go(func() { // forwards SIGHUP until the daemon is over
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
	})
	d, err := app.NewDaemon(rctx, cfg, app.DaemonOptions{ConfigPath: *configPath, Reload: reload}, app.Process{Stdout: io.out, Logger: logger})
	if err == nil {
		err = d.Run(rctx)
	}
	stop()
	if err != nil {
		logger.Error("trailbell run failed", "err", err)
		return exitError
	}
	return exitOK
}
