package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	iofs "io/fs"
	"log/slog"
	"time"

	"github.com/trailbell/trailbell/internal/app"
	"github.com/trailbell/trailbell/internal/config"
	"github.com/trailbell/trailbell/internal/notify"
	"github.com/trailbell/trailbell/internal/notify/outbox"
	"github.com/trailbell/trailbell/internal/notify/stdout"
)

const notifyUsage = `usage: trailbell notify test (--config FILE --receiver NAME | --slack-webhook-url URL)
       trailbell notify dead --config FILE [--requeue]`

// runNotify dispatches `trailbell notify SUBCOMMAND`.
func runNotify(ctx context.Context, args []string, io stdio) int {
	return dispatch(ctx, "trailbell notify", args, io, []command{
		{"test", "", runNotifyTest},
		{"dead", "", runNotifyDead},
	}, func() { fmt.Fprintln(io.err, notifyUsage) })
}

// runNotifyDead lists the outbox's dead letters (findings that failed permanently with no
// fallback) and, with --requeue, delivers them again.
func runNotifyDead(ctx context.Context, args []string, io stdio) int {
	fs := newFlags("notify dead", io)
	cfgPath := fs.String("config", "", "configuration `file` (its state_dir holds the outbox)")
	requeue := fs.Bool("requeue", false, "deliver the dead letters again, to the receivers they failed on")
	timeout := fs.Duration("timeout", 5*time.Minute, "with --requeue, give up delivering after this long")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	fail := failer(io, "notify dead")
	if *cfgPath == "" || fs.NArg() > 0 {
		return fail("usage: trailbell notify dead --config FILE [--requeue]")
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return fail("%v", err)
	}
	if cfg.StateDir == "" {
		return fail("%s has no state_dir: without one the outbox is in memory and keeps nothing", *cfgPath)
	}
	if !*requeue {
		// Listing reads the outbox alone: no receiver is built, so no secret is resolved
		// (an SSM parameter or a secret that is gone must not hide the dead letters).
		s, err := outbox.OpenReadOnly(cfg.StateDir)
		if errors.Is(err, iofs.ErrNotExist) {
			fmt.Fprintf(io.err, "trailbell notify dead: no outbox in %s yet: 0 dead letter(s)\n", cfg.StateDir)
			return exitOK
		}
		if err != nil {
			return fail("%v", err)
		}
		defer s.Close()
		dl, err := outbox.DeadLetters(s, 1000)
		if err != nil {
			return fail("%v", err)
		}
		printDead(io, dl)
		fmt.Fprintf(io.err, "trailbell notify dead: %d dead letter(s)\n", len(dl))
		return exitOK
	}
	logger := slog.New(slog.NewTextHandler(io.err, &slog.HandlerOptions{Level: slog.LevelWarn}))
	p, err := app.BuildPipeline(ctx, cfg, logger, app.NotifyOptions{Stdout: io.out})
	if err != nil {
		return fail("%v", err)
	}
	defer p.Close()
	dl, err := p.DeadLetters(1000)
	if err != nil {
		return fail("%v", err)
	}
	printDead(io, dl)
	n, err := p.Requeue()
	if err != nil {
		return fail("%v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if err := p.Flush(ctx); err != nil {
		return fail("requeued %d, delivery failed: %v", n, err)
	}
	fmt.Fprintf(io.err, "trailbell notify dead: requeued and delivered %d finding(s)\n", n)
	return exitOK
}

func printDead(io stdio, dl []outbox.DeadLetter) {
	for _, d := range dl {
		// Event strings reach a terminal: no control character may pass.
		fmt.Fprintf(io.out, "%s\t%s\t%s\t%s\t%s\n", d.Receiver, stdout.OneLine(d.Finding.Rule), stdout.OneLine(d.Finding.EventID),
			stdout.OneLine(d.Finding.EventTime), stdout.OneLine(d.Error))
	}
}

// runNotifyTest sends a sample alert through the real delivery path to one receiver.
func runNotifyTest(ctx context.Context, args []string, io stdio) int {
	fs := newFlags("notify test", io)
	cfgPath := fs.String("config", "", "configuration `file`")
	receiver := fs.String("receiver", "", "name of the receiver to test (with --config)")
	webhook := fs.String("slack-webhook-url", "", "Slack incoming webhook `URL` (default $TRAILBELL_SLACK_WEBHOOK_URL)")
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this long")
	setUsage(fs, io, "usage: trailbell notify test (--config FILE --receiver NAME | --slack-webhook-url URL)\n\n"+
		"Sends a sample alert through the real delivery path (formatting, rate limit, retries) and\n"+
		"reports whether the destination accepted it. Exit 0 on success, 2 on failure.\n")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	fail := failer(io, "notify test")
	if fs.NArg() > 0 {
		return fail("unexpected argument %q", fs.Arg(0))
	}
	if *cfgPath == "" {
		*webhook = slackWebhookURL(*webhook)
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

// notifyFlags are the delivery flags of `trailbell scan`.
type notifyFlags struct {
	slackWebhook string
	config       string
	flushTimeout time.Duration
	cfg          *config.Config // --config, once read
}

// loaded reads --config (once); nil without one.
func (f *notifyFlags) loaded() (*config.Config, error) {
	if f.cfg != nil || f.config == "" {
		return f.cfg, nil
	}
	c, err := config.Load(f.config)
	if err != nil {
		return nil, err
	}
	f.cfg = c
	return c, nil
}

func (f *notifyFlags) register(fs *flag.FlagSet) {
	// No default from the environment here: -help would print the secret.
	fs.StringVar(&f.slackWebhook, "slack-webhook-url", "", "send findings of severity medium or above to this Slack incoming webhook (default $TRAILBELL_SLACK_WEBHOOK_URL)")
	fs.StringVar(&f.config, "config", "", "configuration `file` with receivers and routes for the findings (and min_severity)")
	fs.DurationVar(&f.flushTimeout, "notify-timeout", 5*time.Minute, "how long to keep trying to deliver findings after the scan")
}

// pipeline builds the notification Pipeline the flags ask for, or nil for none.
func (f *notifyFlags) pipeline(ctx context.Context, io stdio) (*notify.Pipeline, error) {
	hook := f.slackWebhook
	if f.config == "" {
		hook = slackWebhookURL(hook)
	}
	var cfg *config.Config
	switch {
	case hook != "" && f.config != "":
		return nil, errors.New("use --slack-webhook-url or --config, not both")
	case f.config != "":
		c, err := f.loaded()
		if err != nil {
			return nil, err
		}
		if len(c.Notify.Receivers) == 0 {
			// A file for min_severity and account aliases alone: nothing to send to.
			fmt.Fprintf(io.err, "trailbell scan: %s has no notify.receivers: findings are not sent anywhere\n", f.config)
			return nil, nil
		}
		cfg = c
	case hook != "":
		cfg = config.SlackWebhook(config.NewSecret(hook))
	default:
		return nil, nil
	}
	logger := slog.New(slog.NewTextHandler(io.err, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return app.BuildPipeline(ctx, cfg, logger, app.NotifyOptions{Stdout: io.out})
}

// flush delivers what the scan found, reporting what could not be delivered.
func (f *notifyFlags) flush(ctx context.Context, p *notify.Pipeline, io stdio) error {
	if p == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, f.flushTimeout)
	defer cancel()
	if err := p.Flush(ctx); err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	return nil
}
