package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/trailbell/trailbell/internal/config"
	"github.com/trailbell/trailbell/internal/correlate/dynamo"
	"github.com/trailbell/trailbell/internal/detect"
	"github.com/trailbell/trailbell/internal/finding"
	"github.com/trailbell/trailbell/internal/ingest"
	"github.com/trailbell/trailbell/internal/lambda"
	"github.com/trailbell/trailbell/internal/notify"
	triagedynamo "github.com/trailbell/trailbell/internal/triage/dynamo"
)

// lambdaEnv is the function's configuration, read from environment variables.
type lambdaEnv struct {
	slackWebhookURL    string // TRAILBELL_SLACK_WEBHOOK_URL: the simple case
	slackWebhookSecret string // TRAILBELL_SLACK_WEBHOOK_SECRET: Secrets Manager id holding the URL
	configPath         string // TRAILBELL_CONFIG: YAML file in the package
	configSSM          string // TRAILBELL_CONFIG_SSM: SSM parameter holding the YAML
	dedupeTable        string // TRAILBELL_DEDUPE_TABLE: optional DynamoDB table
	// TRAILBELL_STATE_TABLE: DynamoDB table of detections with memory (or state.dynamodb_table).
	stateTable string
	// TRAILBELL_DISABLE_RULES: comma-separated ids of rules to turn off.
	disableRules []string
	// TRAILBELL_S3_PATH_STYLE=true: path-style S3 addressing (an S3-compatible server).
	s3PathStyle bool
}

func lambdaEnvFrom(getenv func(string) string) lambdaEnv {
	e := lambdaEnv{
		slackWebhookURL:    getenv("TRAILBELL_SLACK_WEBHOOK_URL"),
		slackWebhookSecret: getenv("TRAILBELL_SLACK_WEBHOOK_SECRET"),
		configPath:         getenv("TRAILBELL_CONFIG"),
		configSSM:          getenv("TRAILBELL_CONFIG_SSM"),
		dedupeTable:        getenv("TRAILBELL_DEDUPE_TABLE"),
		stateTable:         getenv("TRAILBELL_STATE_TABLE"),
		s3PathStyle:        getenv("TRAILBELL_S3_PATH_STYLE") == "true",
	}
	for _, id := range strings.Split(getenv("TRAILBELL_DISABLE_RULES"), ",") {
		if id = strings.TrimSpace(id); id != "" {
			e.disableRules = append(e.disableRules, id)
		}
	}
	return e
}

// validate reports settings that contradict each other or are missing.
func (e lambdaEnv) validate() error {
	n := 0
	for _, s := range []string{e.slackWebhookURL, e.slackWebhookSecret, e.configPath, e.configSSM} {
		if s != "" {
			n++
		}
	}
	switch {
	case n == 0:
		return errors.New("no destination: set TRAILBELL_SLACK_WEBHOOK_URL, TRAILBELL_SLACK_WEBHOOK_SECRET, TRAILBELL_CONFIG or TRAILBELL_CONFIG_SSM")
	case n > 1:
		return errors.New("set only one of TRAILBELL_SLACK_WEBHOOK_URL, TRAILBELL_SLACK_WEBHOOK_SECRET, TRAILBELL_CONFIG and TRAILBELL_CONFIG_SSM")
	}
	return nil
}

// Lambda builds the function's handler from its environment (getenv is os.Getenv): the
// configuration (a file in the package, an SSM parameter, or one Slack webhook given or kept
// in Secrets Manager), the rules its run section enables less TRAILBELL_DISABLE_RULES,
// detection with memory when a state table is named, the S3 reader of announced log files,
// the optional dedupe table, and a pipeline per delivery. A broken configuration or secret
// fails here, at the start, loudly.
func Lambda(ctx context.Context, getenv func(string) string, logger *slog.Logger) (*lambda.Handler, error) {
	env := lambdaEnvFrom(getenv)
	if err := env.validate(); err != nil {
		return nil, err
	}
	w := newWiring(nil, Process{Logger: logger})
	cfg, err := w.lambdaConfig(ctx, env)
	if err != nil {
		return nil, err
	}
	w.cfg = cfg
	ac, err := w.awsConfig(ctx)
	if err != nil {
		return nil, err
	}
	// TRAILBELL_DISABLE_RULES narrows what the configuration enables.
	narrowed := *cfg
	narrowed.Run.Disable = append(cfg.Run.Disable[:len(cfg.Run.Disable):len(cfg.Run.Disable)], env.disableRules...)
	eng, err := engine(&narrowed)
	if err != nil {
		return nil, fmt.Errorf("rules (the configuration's run section and TRAILBELL_DISABLE_RULES): %w", err)
	}
	h := &lambda.Handler{
		Objects: s3Objects{s3Client(ac, "", "", env.s3PathStyle)},
		Logger:  w.log,
	}
	if env.dedupeTable != "" {
		h.Dedupe = &lambda.Dedupe{Client: dynamodb.NewFromConfig(ac), Table: env.dedupeTable}
	}
	in := ingest.Options{Detector: eng, Limits: cfg.Run.Limits(), Logger: w.log}
	if table := cmp.Or(env.stateTable, cfg.State.DynamoDBTable); table != "" {
		store := &dynamo.Store{Client: dynamodb.NewFromConfig(ac), Table: table}
		mem, err := newMemory(eng, cfg.State, store, nil, false)
		if err != nil {
			return nil, err
		}
		in.Memory, h.Memory = mem, mem
	} else if n := stateful(eng); n > 0 {
		w.log.Warn("no state table (TRAILBELL_STATE_TABLE): rules with memory are off and actors are not followed", "rules", n)
	}
	if h.Reader, err = ingest.New(in); err != nil {
		return nil, err
	}
	// Interactive alerts keep their state in the state table, next to that of rules with
	// memory; escalations and re-raises are delivered by a pipeline of their own, like findings.
	stateTable := cmp.Or(env.stateTable, cfg.State.DynamoDBTable)
	var ia *interactive
	var build func(ctx context.Context) (*notify.Pipeline, error)
	if interactiveOn(cfg, getenv) {
		if stateTable == "" {
			return nil, errors.New("interactive alerts keep their state in the state table: set TRAILBELL_STATE_TABLE (or state.dynamodb_table)")
		}
		store := &triagedynamo.Store{Client: dynamodb.NewFromConfig(ac), Table: stateTable}
		deliver := func(ctx context.Context, submit func(*notify.Pipeline) error) error {
			return lambda.PipelineDeliverer{New: build}.With(ctx, submit)
		}
		ia, err = w.interactive(ctx, store, getenv, nil, false,
			func(ctx context.Context, fs ...finding.Finding) error {
				return deliver(ctx, func(p *notify.Pipeline) error { return p.Submit(ctx, fs...) })
			},
			func(ctx context.Context, r string, fs ...finding.Finding) error {
				return deliver(ctx, func(p *notify.Pipeline) error { return p.SubmitTo(ctx, r, fs...) })
			})
		if err != nil {
			return nil, err
		}
		name := getenv("AWS_LAMBDA_FUNCTION_NAME")
		if name == "" {
			return nil, errors.New("interactive alerts: AWS_LAMBDA_FUNCTION_NAME is not set (the function invokes itself to do the work after answering Slack)")
		}
		self := &selfInvoker{client: awslambda.NewFromConfig(ac), function: name, log: w.log}
		ia.handler.After = self.invoke
		h.Interactions, h.Triage = ia.handler, ia.svc
	}
	// The outbox lives in memory: in Lambda the durable outbox is the SQS queue and the
	// asynchronous-invocation retries, which a failed message falls back to. The first
	// pipeline is built now, so that a broken receiver fails the start.
	build = func(ctx context.Context) (*notify.Pipeline, error) { return w.pipeline(ctx, pipelineSpec{ia: ia}) }
	p, err := build(ctx)
	if err != nil {
		return nil, err
	}
	p.Close()
	h.Deliverer = lambda.PipelineDeliverer{New: build}
	return h, nil
}

// stateful counts the rules that need memory.
func stateful(eng *detect.Engine) int {
	n := 0
	for _, r := range eng.Rules() {
		if r.Kind.Stateful() {
			n++
		}
	}
	return n
}

// lambdaConfig is the configuration env names.
func (w *wiring) lambdaConfig(ctx context.Context, env lambdaEnv) (*config.Config, error) {
	switch {
	case env.configPath != "":
		return config.Load(env.configPath)
	case env.configSSM != "":
		s, err := w.secrets(ctx)
		if err != nil {
			return nil, err
		}
		b, err := s.configDocument(ctx, env.configSSM)
		if err != nil {
			return nil, fmt.Errorf("TRAILBELL_CONFIG_SSM: %w", err)
		}
		cfg, err := config.Parse(b, ".")
		if err != nil {
			return nil, fmt.Errorf("TRAILBELL_CONFIG_SSM parameter %s: %w", env.configSSM, err)
		}
		return cfg, nil
	}
	url := env.slackWebhookURL
	if env.slackWebhookSecret != "" {
		s, err := w.secrets(ctx)
		if err != nil {
			return nil, err
		}
		if url, err = s.webhook(ctx, env.slackWebhookSecret); err != nil {
			return nil, fmt.Errorf("TRAILBELL_SLACK_WEBHOOK_SECRET: %w", err)
		}
	}
	// One Slack webhook, set up as `trailbell scan` and `run` set theirs up (medium severity
	// and above), paced like any Slack receiver, never digested (an invocation's findings
	// are few).
	cfg := config.SlackWebhook(config.NewSecret(url))
	noDigest := 0
	cfg.Notify.Receivers[0].DigestAfter = &noDigest
	return cfg, nil
}

// selfInvoker invokes the function asynchronously with lambda.WorkPayload: the function URL
// answers Slack at once and the work is done by that second invocation (and, should it be
// lost, by the next scheduled one). It needs lambda:InvokeFunction on the function itself.
type selfInvoker struct {
	client   *awslambda.Client
	function string
	log      *slog.Logger
}

func (s *selfInvoker) invoke(ctx context.Context) {
	_, err := s.client.Invoke(ctx, &awslambda.InvokeInput{
		FunctionName:   aws.String(s.function),
		InvocationType: lambdatypes.InvocationTypeEvent,
		Payload:        lambda.WorkPayload,
	})
	if err != nil {
		// The state is saved and the jobs wait: the schedule picks them up.
		s.log.Warn("could not invoke the function to do the interaction's work; the next scheduled invocation does it", "err", err)
	}
}

// s3Objects opens the log files notifications announce.
type s3Objects struct{ client *s3.Client }

func (o s3Objects) Open(ctx context.Context, bucket, key string) (io.ReadCloser, error) {
	out, err := o.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, err
	}
	return out.Body, nil
}
