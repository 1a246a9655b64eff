package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/trailbell/trailbell/internal/config"
	"github.com/trailbell/trailbell/internal/finding"
	"github.com/trailbell/trailbell/internal/notify/slack"
	"github.com/trailbell/trailbell/internal/triage"
	triagedynamo "github.com/trailbell/trailbell/internal/triage/dynamo"
)

// SigningSecretEnv names the environment variable that may hold the Slack app's signing
// secret (a value, or a reference like env:, file:, ssm:, secretsmanager:) instead of
// interactive.signing_secret.
const SigningSecretEnv = "TRAILBELL_SLACK_SIGNING_SECRET"

// interactive is the triage of one program: the service over its store, the Slack side
// doing its jobs, and the handler of Slack's interaction requests.
type interactive struct {
	svc       *triage.Service
	handler   *slack.Interactions
	receivers []string // the receivers whose alerts get buttons
}

// interactiveOn reports whether the configuration asks for interactive alerts: an
// interactive section, or a signing secret in the environment with a slack_api receiver.
func interactiveOn(cfg *config.Config, getenv func(string) string) bool {
	if cfg.Interactive != nil {
		return true
	}
	return getenv(SigningSecretEnv) != "" && len(cfg.InteractiveReceivers()) > 0
}

// signingSecret is the Slack app's signing secret: interactive.signing_secret (resolved with
// the other secrets), else TRAILBELL_SLACK_SIGNING_SECRET (a value or a reference).
func (w *wiring) signingSecret(ctx context.Context, getenv func(string) string) ([]byte, error) {
	if i := w.cfg.Interactive; i != nil && i.SigningSecret.Reveal() != "" {
		return []byte(i.SigningSecret.Reveal()), nil
	}
	v := getenv(SigningSecretEnv)
	if v == "" {
		return nil, fmt.Errorf("interactive: no Slack signing secret: set interactive.signing_secret or %s", SigningSecretEnv)
	}
	var s config.Secret
	if err := s.UnmarshalText([]byte(v)); err != nil {
		return nil, fmt.Errorf("%s: %w", SigningSecretEnv, err)
	}
	one := config.Config{Interactive: &config.Interactive{SigningSecret: s}}
	if err := one.ResolveSecrets(ctx, w.fetch); err != nil {
		return nil, fmt.Errorf("%s: %w", SigningSecretEnv, err)
	}
	return []byte(one.Interactive.SigningSecret.Reveal()), nil
}

// interactive builds triage over store, or returns nil when the configuration does not ask
// for it. submit and submitTo hand escalations and re-raises to the program's pipeline; sole
// says this process alone does the jobs (the daemon).
func (w *wiring) interactive(ctx context.Context, store triage.Store, getenv func(string) string, reg prometheus.Registerer, sole bool,
	submit func(context.Context, ...finding.Finding) error, submitTo func(context.Context, string, ...finding.Finding) error,
) (*interactive, error) {
	cfg := w.cfg
	if !interactiveOn(cfg, getenv) {
		return nil, nil
	}
	if err := cfg.ResolveSecrets(ctx, w.fetch); err != nil {
		return nil, err
	}
	secret, err := w.signingSecret(ctx, getenv)
	if err != nil {
		return nil, err
	}
	ic := cfg.Interactive
	if ic == nil {
		ic = &config.Interactive{}
	}
	names := cfg.InteractiveReceivers()
	if len(names) == 0 {
		return nil, errors.New("interactive: no slack_api receiver to make interactive")
	}
	opts := triage.Options{
		Store: store, Submit: submit, SubmitTo: submitTo, Fallbacks: map[string]string{},
		Responders: ic.Responders, Identities: ic.Identities, ReraiseAfter: ic.Reraise(),
		AskTimeout: time.Duration(ic.AskTimeout), Retention: time.Duration(ic.Retention),
		Logger: w.log.With("component", "triage"), SoleWorker: sole,
	}
	for _, d := range ic.MuteDurations {
		opts.MuteDurations = append(opts.MuteDurations, time.Duration(d))
	}
	apis := map[string]*slack.API{}
	style := slack.Style{Accounts: cfg.Accounts}
	for _, name := range names {
		rc, _ := cfg.Receiver(name)
		if rc.Fallback != "" {
			opts.Fallbacks[name] = rc.Fallback
		}
		// A client of its own for jobs: the pipeline's notifiers may be built per delivery.
		nt, err := slack.New(slack.Options{Token: rc.SlackAPI.Token.Reveal(), Channel: rc.SlackAPI.Channel, APIURL: rc.SlackAPI.APIURL, Style: style})
		if err != nil {
			return nil, fmt.Errorf("receiver %s: %w", name, err)
		}
		apis[name] = nt.(*slack.API)
	}
	sl := slack.NewTriage(apis)
	opts.Slack = sl
	svc, err := triage.New(opts)
	if err != nil {
		return nil, err
	}
	h := &slack.Interactions{Secret: secret, Service: svc, Slack: sl, Logger: w.log.With("component", "slack-interactions"),
		Metrics: slack.NewInteractionMetrics(reg)}
	return &interactive{svc: svc, handler: h, receivers: names}, nil
}

// interactiveReceiver reports whether receiver name gets buttons.
func (ia *interactive) has(name string) bool { return ia != nil && slices.Contains(ia.receivers, name) }

// triageStore is where the configuration keeps triage state: the Lambda's DynamoDB table
// (state.dynamodb_table, or table when set), else the bbolt file under state_dir.
func (w *wiring) triageStore(ctx context.Context, table string) (triage.Store, string, error) {
	if table = cmp.Or(table, w.cfg.State.DynamoDBTable); table != "" {
		ac, err := w.awsConfig(ctx)
		if err != nil {
			return nil, "", err
		}
		return &triagedynamo.Store{Client: dynamodb.NewFromConfig(ac), Table: table}, "DynamoDB table " + table, nil
	}
	if w.cfg.StateDir == "" {
		return nil, "", errors.New("no state_dir (or state.dynamodb_table) in the configuration: mutes and the audit log live there")
	}
	st, err := triage.NewBolt(w.cfg.StateDir, nil)
	if err != nil {
		return nil, "", err
	}
	return st, st.Path(), nil
}

// Triage is the triage state the configuration names, for `trailbell mutes` and `trailbell
// audit`: its mutes and audit log, read and changed without Slack (a removed mute is
// announced by the worker of `trailbell run` or the Lambda). table overrides
// state.dynamodb_table; where says which store it is.
func Triage(ctx context.Context, cfg *config.Config, table string, p Process) (svc *triage.Service, where string, err error) {
	w := newWiring(cfg, p)
	store, where, err := w.triageStore(ctx, table)
	if err != nil {
		return nil, "", err
	}
	svc, err = triage.New(triage.Options{Store: store, Logger: w.log})
	return svc, where, err
}
