package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
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

// NotifyOptions are what a Pipeline needs besides the configuration file.
type NotifyOptions struct {
	// Registerer receives the delivery metrics; nil leaves them unregistered.
	Registerer prometheus.Registerer
	// Stdout is where stdout receivers write; default os.Stdout.
	Stdout io.Writer
	// HTTPClient posts to Slack and webhooks; default a client with a 10s timeout.
	HTTPClient *http.Client
	// AWS is the SDK configuration for SNS, SSM and Secrets Manager; when nil it is
	// loaded from the environment, only if a receiver or secret needs it.
	AWS *aws.Config
	// StateDir overrides the configuration's state_dir; MemoryOutbox ignores both.
	StateDir     string
	MemoryOutbox bool
	// Tune adjusts the Pipeline options last (tests shorten backoffs with it).
	Tune func(*notify.Options)
}

// BuildPipeline resolves the configuration's secrets and builds the notification
// Pipeline: one notifier per receiver, the route tree, exceptions and the outbox.
// Every receiver's problem is reported, not just the first.
func BuildPipeline(ctx context.Context, cfg *config.Config, logger *slog.Logger, o NotifyOptions) (*notify.Pipeline, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	awsCfg := lazyAWS(o.AWS)
	if err := cfg.ResolveSecrets(ctx, func(ctx context.Context, kind, name string) (string, error) {
		ac, err := awsCfg(ctx)
		if err != nil {
			return "", err
		}
		return fetchSecret(ctx, ac, kind, name)
	}); err != nil {
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
		nt, err := buildNotifier(ctx, rc, style, o, awsCfg)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s (%s): %w", path, rc.Name, err))
			continue
		}
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
		switch {
		case rc.DigestAfter != nil:
			r.DigestAfter = *rc.DigestAfter
		case rc.Slack != nil || rc.SlackAPI != nil || rc.SNS != nil:
			r.DigestAfter = 20
		}
		switch {
		case rc.RateLimit != nil && rc.RateLimit.PerSecond > 0:
			r.RateLimit = notify.RateLimit{Every: time.Duration(float64(time.Second) / rc.RateLimit.PerSecond), Burst: rc.RateLimit.Burst}
		case rc.RateLimit == nil && (rc.Slack != nil || rc.SlackAPI != nil):
			// Slack allows about one message a second per webhook or channel.
			r.RateLimit = notify.RateLimit{Every: time.Second, Burst: 3}
		}
		receivers = append(receivers, r)
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
		StateDir:     cfg.StateDir,
		DedupeWindow: time.Duration(n.DedupeWindow),
		Deadline:     time.Duration(n.RetryDeadline),
		Backoff:      notify.Backoff{Initial: time.Duration(n.Backoff.Initial), Max: time.Duration(n.Backoff.Max)},
		Logger:       logger.With("component", "notify"),
		Metrics:      notify.NewMetrics(o.Registerer),
	}
	for i, e := range n.Exceptions {
		opts.Exceptions = append(opts.Exceptions, notify.Exception{Name: e.Name, Rules: e.Rules, Match: string(e.Match), Path: fmt.Sprintf("notify.exceptions[%d]", i)})
	}
	if o.StateDir != "" {
		opts.StateDir = o.StateDir
	}
	if o.MemoryOutbox {
		opts.StateDir = ""
	}
	if o.Tune != nil {
		o.Tune(&opts)
	}
	return notify.New(opts)
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

func buildNotifier(ctx context.Context, rc config.Receiver, style slack.Style, o NotifyOptions, awsCfg func(context.Context) (aws.Config, error)) (notify.Notifier, error) {
	switch {
	case rc.Slack != nil:
		return slack.New(slack.Options{WebhookURL: rc.Slack.WebhookURL.Reveal(), Style: style, Client: o.HTTPClient})
	case rc.SlackAPI != nil:
		return slack.New(slack.Options{Token: rc.SlackAPI.Token.Reveal(), Channel: rc.SlackAPI.Channel, APIURL: rc.SlackAPI.APIURL, Style: style, Client: o.HTTPClient})
	case rc.Webhook != nil:
		return webhook.New(webhook.Options{URL: rc.Webhook.URL.Reveal(), HMACKey: rc.Webhook.HMACSecret.Reveal(), SignatureHeader: rc.Webhook.SignatureHeader, Client: o.HTTPClient})
	case rc.Stdout != nil:
		w := o.Stdout
		if w == nil {
			w = os.Stdout
		}
		return stdout.New(w, rc.Stdout.Format)
	case rc.SNS != nil:
		ac, err := awsCfg(ctx)
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

// lazyAWS loads the SDK configuration once, on first use.
func lazyAWS(given *aws.Config) func(context.Context) (aws.Config, error) {
	var cached *aws.Config
	return func(ctx context.Context) (aws.Config, error) {
		if given != nil {
			return *given, nil
		}
		if cached != nil {
			return *cached, nil
		}
		c, err := awsconfig.LoadDefaultConfig(ctx)
		if err != nil {
			return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
		}
		cached = &c
		return c, nil
	}
}

func fetchSecret(ctx context.Context, ac aws.Config, kind, name string) (string, error) {
	switch kind {
	case "ssm":
		out, err := ssm.NewFromConfig(ac).GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name), WithDecryption: aws.Bool(true)})
		if err != nil {
			return "", fmt.Errorf("read SSM parameter: %w", err)
		}
		if out.Parameter == nil || out.Parameter.Value == nil {
			return "", errors.New("SSM parameter has no value")
		}
		return *out.Parameter.Value, nil
	case "secretsmanager":
		out, err := secretsmanager.NewFromConfig(ac).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)})
		if err != nil {
			return "", fmt.Errorf("read secret: %w", err)
		}
		if out.SecretString == nil {
			return "", errors.New("secret has no string value")
		}
		return *out.SecretString, nil
	}
	return "", fmt.Errorf("unknown secret source %q", kind)
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

// SendTestAlert sends SampleFinding through a Pipeline made of the one named receiver
// (its notifier, rate limit and retries; an in-memory outbox, no routing) and waits
// until it is delivered or fails.
func SendTestAlert(ctx context.Context, cfg *config.Config, receiver string, logger *slog.Logger, o NotifyOptions) error {
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
	o.MemoryOutbox = true
	tune := o.Tune
	o.Tune = func(po *notify.Options) {
		// A test should report the reason soon, not retry for a day.
		po.Deadline = 20 * time.Second
		if tune != nil {
			tune(po)
		}
	}
	p, err := BuildPipeline(ctx, &one, logger, o)
	if err != nil {
		return err
	}
	defer p.Close()
	if err := p.Submit(ctx, SampleFinding(time.Now())); err != nil {
		return err
	}
	return p.Flush(ctx)
}
