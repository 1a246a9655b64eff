package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/trailbell/trailbell/internal/app"
	"github.com/trailbell/trailbell/internal/config"
)

// runNotify dispatches `trailbell notify SUBCOMMAND`; `test` is the only one.
func runNotify(ctx context.Context, args []string, io stdio) int {
	if len(args) == 0 || args[0] != "test" {
		fmt.Fprintln(io.err, "usage: trailbell notify test (--config FILE --receiver NAME | --slack-webhook-url URL)")
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			return exitOK
		}
		return exitError
	}
	return runNotifyTest(ctx, args[1:], io)
}

// runNotifyTest sends a sample alert through the real delivery path to one receiver.
func runNotifyTest(ctx context.Context, args []string, io stdio) int {
	fs := flag.NewFlagSet("notify test", flag.ContinueOnError)
	fs.SetOutput(io.err)
	cfgPath := fs.String("config", "", "configuration `file`")
	receiver := fs.String("receiver", "", "name of the receiver to test (with --config)")
	webhook := fs.String("slack-webhook-url", "", "Slack incoming webhook `URL` (default $TRAILBELL_SLACK_WEBHOOK_URL)")
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this long")
	fs.Usage = func() {
		fmt.Fprintln(io.err, "usage: trailbell notify test (--config FILE --receiver NAME | --slack-webhook-url URL)\n\n"+
			"Sends a sample alert through the real delivery path (formatting, rate limit, retries) and\n"+
			"reports whether the destination accepted it. Exit 0 on success, 2 on failure.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitError
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(io.err, "trailbell notify test: "+format+"\n", a...)
		return exitError
	}
	if fs.NArg() > 0 {
		return fail("unexpected argument %q", fs.Arg(0))
	}
	if *webhook == "" && *cfgPath == "" {
		*webhook = os.Getenv("TRAILBELL_SLACK_WEBHOOK_URL")
	}
	var cfg *config.Config
	name := *receiver
	switch {
	case *cfgPath != "" && *webhook != "":
		return fail("use --config or --slack-webhook-url, not both")
	case *cfgPath != "":
		if name == "" {
			return fail("--receiver is required with --config")
		}
		c, err := config.Load(*cfgPath)
		if err != nil {
			return fail("%v", err)
		}
		cfg = c
	case *webhook != "":
		cfg = config.SlackWebhook(config.NewSecret(*webhook))
		name = "slack"
	default:
		return fail("--config FILE --receiver NAME or --slack-webhook-url URL is required")
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	logger := slog.New(slog.NewTextHandler(io.err, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if err := app.SendTestAlert(ctx, cfg, name, logger, app.NotifyOptions{Stdout: io.out}); err != nil {
		return fail("receiver %s: %v", name, err)
	}
	fmt.Fprintf(io.err, "trailbell notify test: receiver %s accepted the test alert\n", name)
	return exitOK
}
