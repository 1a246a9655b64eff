package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	iofs "io/fs"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/trailbell/trailbell/internal/app"
	"github.com/trailbell/trailbell/internal/config"
	"github.com/trailbell/trailbell/internal/daemon"
	"github.com/trailbell/trailbell/internal/notify/outbox"
	"github.com/trailbell/trailbell/internal/notify/stdout"
)

// notifyCommand checks delivery: a test alert, the dead letters.
var notifyCommand = command{
	name: "notify", summary: "send a test alert; list or requeue undeliverable alerts (test|dead)",
	about: "Checks the delivery of alerts: a test alert through a receiver, and the alerts that could not be delivered.",
	subs: []command{
		{name: "test", summary: "send a sample alert through a receiver and say what it answered", run: runNotifyTest},
		{name: "dead", summary: "list the alerts that failed for good (dead letters); --requeue sends them again", run: runNotifyDead},
	},
}

// runNotifyDead lists the outbox's dead letters (findings that failed permanently with no
// fallback) and, with --requeue, delivers them again.
func runNotifyDead(ctx context.Context, args []string, io stdio) int {
	c := newLeaf(io, "notify dead", "trailbell notify dead --config FILE [--requeue]",
		"Lists the findings that failed for good with no fallback to take them (dead letters), one a line:\n"+
			"receiver, rule, eventID, eventTime, error. Listing reads the outbox in the configuration's\n"+
			"state_dir alone, resolving no secret. --requeue delivers them again, to the receivers they\n"+
			"failed on, once the cause is fixed. While `trailbell run` holds the outbox, both go through\n"+
			"the daemon's run.listen address (GET /dead-letters, POST /dead-letters/requeue).")
	cfgPath := c.String("config", "", "configuration `file` (its state_dir holds the outbox)")
	requeue := c.Bool("requeue", false, "deliver the dead letters again, to the receivers they failed on")
	timeout := c.durationFlag("timeout", 5*time.Minute, "with --requeue, give up delivering after this long")
	if code, ok := c.parse(args); !ok {
		return code
	}
	if *cfgPath == "" {
		return c.usageError("--config FILE is required")
	}
	if c.NArg() > 0 {
		return c.usageError("unexpected argument %q", c.Arg(0))
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return c.fail("%v", err)
	}
	if cfg.StateDir == "" {
		return c.fail("%s has no state_dir: without one the outbox is in memory and keeps nothing", *cfgPath)
	}
	// Listing reads the outbox alone: no receiver is built, so no secret is resolved (an SSM
	// parameter or a secret that is gone must not hide the dead letters). A running daemon
	// holds the outbox: then it is asked, listing or requeueing alike.
	s, err := outbox.OpenReadOnly(cfg.StateDir)
	switch {
	case errors.Is(err, outbox.ErrLocked):
		return deadFromDaemon(ctx, c, io, cfg, err, *requeue)
	case errors.Is(err, iofs.ErrNotExist):
		fmt.Fprintf(io.err, "trailbell notify dead: no outbox in %s yet: 0 dead letter(s)\n", cfg.StateDir)
		return exitOK
	case err != nil:
		return c.fail("%v", err)
	}
	if !*requeue {
		defer s.Close()
		dl, err := outbox.DeadLetters(s, 1000)
		if err != nil {
			return c.fail("%v", err)
		}
		printDead(io, dl)
		fmt.Fprintf(io.err, "trailbell notify dead: %d dead letter(s)\n", len(dl))
		return exitOK
	}
	if err := s.Close(); err != nil {
		return c.fail("%v", err)
	}
	logger := slog.New(slog.NewTextHandler(io.err, &slog.HandlerOptions{Level: slog.LevelWarn}))
	p, err := app.Pipeline(ctx, cfg, app.Process{Stdout: io.out, Logger: logger})
	if err != nil {
		return c.fail("%v", err)
	}
	defer p.Close()
	dl, err := p.DeadLetters(1000)
	if err != nil {
		return c.fail("%v", err)
	}
	printDead(io, dl)
	n, err := p.Requeue()
	if err != nil {
		return c.fail("%v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if err := p.Flush(ctx); err != nil {
		return c.fail("requeued %d, delivery failed: %v", n, err)
	}
	fmt.Fprintf(io.err, "trailbell notify dead: requeued and delivered %d finding(s)\n", n)
	return exitOK
}

// deadFromDaemon lists (and with requeue, requeues) the dead letters of the daemon that
// holds the outbox (locked is the error of opening it), through its run.listen address.
func deadFromDaemon(ctx context.Context, c *leaf, io stdio, cfg *config.Config, locked error, requeue bool) int {
	if cfg.Run.Listen == "" {
		return c.fail("%v: a running `trailbell run` holds it, and the configuration has no run.listen address to ask it through", locked)
	}
	base := "http://" + localAddr(cfg.Run.Listen)
	call := func(method, path string, v any) error {
		req, err := http.NewRequestWithContext(ctx, method, base+path, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("%v, and the daemon at %s did not answer: %w", locked, cfg.Run.Listen, err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("the daemon at %s answered %s %s with %s: %s", cfg.Run.Listen, method, path, resp.Status, errorBody(resp))
		}
		return json.NewDecoder(resp.Body).Decode(v)
	}
	var dl daemon.DeadLetters
	if err := call(http.MethodGet, "/dead-letters", &dl); err != nil {
		return c.fail("%v", err)
	}
	printDead(io, dl.DeadLetters)
	if !requeue {
		fmt.Fprintf(io.err, "trailbell notify dead: %d dead letter(s), from the running daemon\n", len(dl.DeadLetters))
		return exitOK
	}
	var rq daemon.Requeued
	if err := call(http.MethodPost, "/dead-letters/requeue", &rq); err != nil {
		return c.fail("%v", err)
	}
	fmt.Fprintf(io.err, "trailbell notify dead: requeued %d finding(s) in the running daemon, which delivers them (see its /metrics)\n", rq.Requeued)
	return exitOK
}

// errorBody is the first line of an error response's body, made safe for a terminal.
func errorBody(resp *http.Response) string {
	b := make([]byte, 512)
	n, _ := resp.Body.Read(b)
	line, _, _ := strings.Cut(string(b[:n]), "\n")
	return stdout.OneLine(line)
}

// localAddr is the address to reach a listener bound to listen from this machine: an
// unspecified host (":9090", "0.0.0.0:9090", "[::]:9090") is reached on loopback.
func localAddr(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			host = "::1"
		}
	}
	return net.JoinHostPort(host, port)
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
	c := newLeaf(io, "notify test", "trailbell notify test --config FILE --receiver NAME\ntrailbell notify test --slack-webhook-url URL",
		"Sends a sample alert through the real delivery path (formatting, rate limit, retries) and\n"+
			"reports whether the destination accepted it. Exit 0 on success, 2 on failure.")
	cfgPath := c.String("config", "", "configuration `file`")
	receiver := c.String("receiver", "", "`name` of the receiver to test (with --config)")
	webhook := c.String("slack-webhook-url", "", "Slack incoming webhook `URL` (default $TRAILBELL_SLACK_WEBHOOK_URL)")
	timeout := c.durationFlag("timeout", 30*time.Second, "give up after this long")
	if code, ok := c.parse(args); !ok {
		return code
	}
	if c.NArg() > 0 {
		return c.usageError("unexpected argument %q", c.Arg(0))
	}
	if *cfgPath == "" {
		*webhook = slackWebhookURL(*webhook)
	}
	var cfg *config.Config
	name := *receiver
	switch {
	case *cfgPath != "" && *webhook != "":
		return c.usageError("use --config or --slack-webhook-url, not both")
	case *cfgPath != "":
		if name == "" {
			return c.usageError("--receiver is required with --config")
		}
		l, err := config.Load(*cfgPath)
		if err != nil {
			return c.fail("%v", err)
		}
		cfg = l
	case *webhook != "":
		cfg = config.SlackWebhook(config.NewSecret(*webhook))
		name = "slack"
	default:
		return c.usageError("--config FILE --receiver NAME or --slack-webhook-url URL is required")
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	logger := slog.New(slog.NewTextHandler(io.err, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if err := app.SendTestAlert(ctx, cfg, name, app.Process{Stdout: io.out, Logger: logger}); err != nil {
		return c.fail("receiver %s: %v", name, err)
	}
	fmt.Fprintf(io.err, "trailbell notify test: receiver %s accepted the test alert\n", name)
	return exitOK
}

// notifyFlags are the delivery flags of `trailbell scan`.
type notifyFlags struct {
	slackWebhook string
	config       string
	flushTimeout *time.Duration
}

func (f *notifyFlags) register(c *leaf) {
	// No default from the environment here: --help would print the secret.
	c.StringVar(&f.slackWebhook, "slack-webhook-url", "", "send findings of severity medium or above to this Slack incoming webhook `URL` (default $TRAILBELL_SLACK_WEBHOOK_URL)")
	c.StringVar(&f.config, "config", "", "configuration `file`: receivers and routes for the findings, min_severity, the run section's rules and limits, state settings")
	f.flushTimeout = c.durationFlag("notify-timeout", 5*time.Minute, "how long to keep trying to deliver findings after the scan")
}

// load returns the configuration of --config, or of one Slack webhook
// (--slack-webhook-url, $TRAILBELL_SLACK_WEBHOOK_URL), or an empty one: no receivers.
func (f *notifyFlags) load() (*config.Config, error) {
	hook := f.slackWebhook
	if f.config == "" {
		hook = slackWebhookURL(hook)
	}
	switch {
	case hook != "" && f.config != "":
		return nil, errors.New("use --slack-webhook-url or --config, not both")
	case f.config != "":
		return config.Load(f.config)
	case hook != "":
		return config.SlackWebhook(config.NewSecret(hook)), nil
	}
	return &config.Config{}, nil
}
