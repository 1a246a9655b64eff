package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/trailbell/trailbell/internal/config"
	"github.com/trailbell/trailbell/internal/finding"
	"github.com/trailbell/trailbell/internal/notify"
	"github.com/trailbell/trailbell/internal/notify/slack"
	"github.com/trailbell/trailbell/internal/notify/sns"
	"github.com/trailbell/trailbell/internal/notify/stdout"
	"github.com/trailbell/trailbell/internal/notify/webhook"
	"github.com/trailbell/trailbell/pattern"
)

// Pipeline builds the configuration's notification pipeline (receivers, routes, exceptions,
// the outbox under state_dir, in memory without one), resolving its secrets.
func Pipeline(ctx context.Context, cfg *config.Config, p Process) (*notify.Pipeline, error) {
	return newWiring(cfg, p).pipeline(ctx, pipelineSpec{dir: cfg.StateDir})
}

// pipelineSpec says where a pipeline keeps what it has accepted (its outbox), how long it
// retries, and where its metrics go: what differs between the programs.
type pipelineSpec struct {
	// dir holds the outbox file; empty keeps it in memory (the Lambda, whose durable outbox
	// is SQS and asynchronous retries; a test alert).
	dir string
	// deadline overrides notify.retry_deadline when set.
	deadline time.Duration
	// reg receives the delivery metrics (the daemon's /metrics); nil leaves them unregistered.
	reg prometheus.Registerer
	// ia makes the alerts of its receivers interactive, and applies its mutes.
	ia *interactive
	// mutes are applied without interactive alerts (scan --apply-mutes).
	mutes notify.Muter
}

// pipeline resolves the configuration's secrets and builds the notification Pipeline: one
// notifier per receiver, the route tree, exceptions and the outbox. Every receiver's problem
// is reported, not just the first.
func (w *wiring) pipeline(ctx context.Context, spec pipelineSpec) (*notify.Pipeline, error) {
	cfg := w.cfg
	if err := cfg.ResolveSecrets(ctx, w.fetch); err != nil {
		return nil, err
	}
	n := cfg.Notify
	if len(n.Receivers) == 0 {
		return nil, errors.New("notify.receivers: no receiver configured")
	}
	style := slack.Style{Accounts: cfg.Accounts}
	var receivers []notify.Receiver
	var errs []error
	for i, rc := range n.Receivers {
		path := fmt.Sprintf("notify.receivers[%d]", i)
		nt, err := w.notifier(ctx, rc, style, spec.ia)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s (%s): %w", path, rc.Name, err))
			continue
		}
		receivers = append(receivers, receiver(rc, nt))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	root := route(n.Route)
	root.Path = "notify.route" // errors name a child from it: notify.route.routes[1].match
	opts := notify.Options{
		Receivers:    receivers,
		Route:        root,
		NewMatcher:   func() notify.Matcher { return pattern.New() },
		StateDir:     spec.dir,
		DedupeWindow: time.Duration(n.DedupeWindow),
		Deadline:     cmp.Or(spec.deadline, time.Duration(n.RetryDeadline)),
		Backoff:      notify.Backoff{Initial: time.Duration(n.Backoff.Initial), Max: time.Duration(n.Backoff.Max)},
		Logger:       w.log.With("component", "notify"),
		Metrics:      notify.NewMetrics(spec.reg),
		Mutes:        spec.mutes,
	}
	if spec.ia != nil {
		opts.Mutes = spec.ia.svc
	}
	for i, e := range n.Exceptions {
		opts.Exceptions = append(opts.Exceptions, notify.Exception{Name: e.Name, Rules: e.Rules, Match: string(e.Match), Path: fmt.Sprintf("notify.exceptions[%d]", i)})
	}
	return notify.New(opts)
}

// receiver is a configured receiver's delivery policy around its notifier.
func receiver(rc config.Receiver, nt notify.Notifier) notify.Receiver {
	r := notify.Receiver{
		Name:        rc.Name,
		Notifier:    nt,
		MinSeverity: config.Severity(rc.MinSeverity),
		Fallback:    rc.Fallback,
		GroupWindow: time.Duration(rc.GroupWindow),
		// JSON lines are for machines: one finding per rule and event, as scan writes them.
		PerRule: rc.Stdout != nil && rc.Stdout.Format != "text",
	}
	if rc.PerRule != nil {
		r.PerRule = *rc.PerRule
	}
	chat := rc.Slack != nil || rc.SlackAPI != nil
	switch {
	case rc.DigestAfter != nil:
		r.DigestAfter = *rc.DigestAfter
	case chat || rc.SNS != nil:
		r.DigestAfter = 20
	}
	switch {
	case rc.RateLimit != nil && rc.RateLimit.PerSecond > 0:
		r.RateLimit = notify.RateLimit{Every: time.Duration(float64(time.Second) / rc.RateLimit.PerSecond), Burst: rc.RateLimit.Burst}
	case rc.RateLimit == nil && chat:
		// Slack allows about one message a second per webhook or channel.
		r.RateLimit = notify.RateLimit{Every: time.Second, Burst: 3}
	}
	return r
}

func route(r config.Route) notify.Route {
	nr := notify.Route{
		Receiver: r.Receiver, MinSeverity: config.Severity(r.MinSeverity), Rules: r.Rules, Accounts: r.Accounts,
		Actors: r.Actors, Tags: r.Tags, Match: string(r.Match), Continue: r.Continue,
	}
	for _, c := range r.Routes {
		nr.Routes = append(nr.Routes, route(c))
	}
	return nr
}

// notifier builds the destination of one receiver; ia makes its alerts interactive when it
// is one of ia's receivers.
func (w *wiring) notifier(ctx context.Context, rc config.Receiver, style slack.Style, ia *interactive) (notify.Notifier, error) {
	switch {
	case rc.Slack != nil:
		return slack.New(slack.Options{WebhookURL: rc.Slack.WebhookURL.Reveal(), Style: style})
	case rc.SlackAPI != nil:
		o := slack.Options{Token: rc.SlackAPI.Token.Reveal(), Channel: rc.SlackAPI.Channel, APIURL: rc.SlackAPI.APIURL, Style: style}
		if ia.has(rc.Name) {
			o.Triage, o.Receiver, o.Logger = ia.svc, rc.Name, w.log.With("component", "slack", "receiver", rc.Name)
		}
		return slack.New(o)
	case rc.Webhook != nil:
		return webhook.New(webhook.Options{URL: rc.Webhook.URL.Reveal(), HMACKey: rc.Webhook.HMACSecret.Reveal(), SignatureHeader: rc.Webhook.SignatureHeader})
	case rc.Stdout != nil:
		return stdout.New(w.out, rc.Stdout.Format)
	case rc.SNS != nil:
		ac, err := w.awsConfig(ctx)
		if err != nil {
			return nil, err
		}
		client := awssns.NewFromConfig(ac, func(so *awssns.Options) {
			if rc.SNS.Region != "" {
				so.Region = rc.SNS.Region
			}
			if rc.SNS.Endpoint != "" {
				so.BaseEndpoint = aws.String(rc.SNS.Endpoint)
			}
		})
		return sns.New(client, sns.Options{TopicARN: rc.SNS.TopicARN, MessageStructureJSON: rc.SNS.MessageStructureJSON, Style: style})
	}
	return nil, errors.New("no destination configured")
}

// SampleFinding is the alert `trailbell notify test` sends: realistic, clearly a test.
func SampleFinding(now time.Time) finding.Finding {
	return finding.Finding{
		Rule:            "trailbell-test",
		Severity:        finding.High,
		Title:           "Test alert from trailbell: administrator policy attached to a user",
		Description:     "This is a test sent by `trailbell notify test`. A real alert looks like this one.",
		EventID:         fmt.Sprintf("trailbell-test-%d", now.UnixNano()),
		EventName:       "AttachUserPolicy",
		EventSource:     "iam.amazonaws.com",
		EventTime:       now.UTC().Format(time.RFC3339),
		Account:         "123456789012",
		Region:          "us-east-1",
		Principal:       "arn:aws:iam::123456789012:user/alice",
		PrincipalType:   "IAMUser",
		SourceIPAddress: "203.0.113.7",
		UserAgent:       "aws-cli/2.15.0",
		Target:          "bob",
		Params: []finding.Param{
			{Name: "userName", Value: "bob"},
			{Name: "policyArn", Value: "arn:aws:iam::aws:policy/AdministratorAccess"},
		},
		Grants: []string{"every action on every resource (AdministratorAccess)"},
		Origin: "trailbell notify test",
		Record: []byte(`{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::123456789012:user/alice"},"eventName":"AttachUserPolicy"}`),
	}
}

// SendTestAlert sends SampleFinding through a Pipeline made of the one named receiver (its
// notifier, rate limit and retries, for 20 seconds at most; an in-memory outbox, no routing)
// and waits until it is delivered or fails.
func SendTestAlert(ctx context.Context, cfg *config.Config, receiver string, p Process) error {
	rc, ok := cfg.Receiver(receiver)
	if !ok {
		names := make([]string, 0, len(cfg.Notify.Receivers))
		for _, r := range cfg.Notify.Receivers {
			names = append(names, r.Name)
		}
		return fmt.Errorf("no receiver named %q (have %v)", receiver, names)
	}
	one := *cfg
	r := *rc
	r.Fallback, r.MinSeverity, r.GroupWindow = "", "", 0
	one.Notify.Receivers = []config.Receiver{r}
	one.Notify.Route = config.Route{Receiver: r.Name}
	one.Notify.Exceptions = nil
	// A test should report the reason soon, not retry for a day.
	pl, err := newWiring(&one, p).pipeline(ctx, pipelineSpec{deadline: 20 * time.Second})
	if err != nil {
		return err
	}
	defer pl.Close()
	if err := pl.Submit(ctx, SampleFinding(time.Now())); err != nil {
		return err
	}
	return pl.Flush(ctx)
}
