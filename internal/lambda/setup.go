package lambda

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/trailbell/trailbell/internal/app"
	"github.com/trailbell/trailbell/internal/config"
	"github.com/trailbell/trailbell/internal/correlate/dynamo"
	"github.com/trailbell/trailbell/internal/detect"
	"github.com/trailbell/trailbell/internal/finding"
	"github.com/trailbell/trailbell/internal/ingest"
	"github.com/trailbell/trailbell/internal/notify"
)

// Env is the function's configuration, read from environment variables.
type Env struct {
	SlackWebhookURL    string // TRAILBELL_SLACK_WEBHOOK_URL: the simple case
	SlackWebhookSecret string // TRAILBELL_SLACK_WEBHOOK_SECRET: Secrets Manager id holding the URL
	ConfigPath         string // TRAILBELL_CONFIG: YAML file in the package
	ConfigSSM          string // TRAILBELL_CONFIG_SSM: SSM parameter holding the YAML
	DedupeTable        string // TRAILBELL_DEDUPE_TABLE: optional DynamoDB table
	// TRAILBELL_STATE_TABLE: DynamoDB table of detections with memory (or state.dynamodb_table).
	StateTable string
	// TRAILBELL_DISABLE_RULES: comma-separated ids of built-in rules to turn off.
	DisableRules []string
	// TRAILBELL_S3_PATH_STYLE=true: path-style S3 addressing (an S3 stand-in in tests).
	S3PathStyle bool
}

// EnvFrom reads Env with getenv (os.Getenv).
func EnvFrom(getenv func(string) string) Env {
	e := Env{
		SlackWebhookURL:    getenv("TRAILBELL_SLACK_WEBHOOK_URL"),
		SlackWebhookSecret: getenv("TRAILBELL_SLACK_WEBHOOK_SECRET"),
		ConfigPath:         getenv("TRAILBELL_CONFIG"),
		ConfigSSM:          getenv("TRAILBELL_CONFIG_SSM"),
		DedupeTable:        getenv("TRAILBELL_DEDUPE_TABLE"),
		StateTable:         getenv("TRAILBELL_STATE_TABLE"),
		S3PathStyle:        getenv("TRAILBELL_S3_PATH_STYLE") == "true",
	}
	if v := getenv("TRAILBELL_DISABLE_RULES"); v != "" {
		e.DisableRules = strings.Split(v, ",")
	}
	return e
}

// Validate reports settings that contradict each other or are missing.
func (e Env) Validate() error {
	n := 0
	for _, s := range []string{e.SlackWebhookURL, e.SlackWebhookSecret, e.ConfigPath, e.ConfigSSM} {
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

// SecretsManager is the part of the Secrets Manager client the webhook secret needs.
type SecretsManager interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// WebhookFromSecret reads the Slack webhook URL from a secret holding either the URL itself or
// a JSON object with "webhook_url". Errors name the secret, never its value.
func WebhookFromSecret(ctx context.Context, sm SecretsManager, id string) (string, error) {
	out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
	if err != nil {
		return "", fmt.Errorf("read secret %s: %w", id, err)
	}
	v := strings.TrimSpace(aws.ToString(out.SecretString))
	if strings.HasPrefix(v, "{") {
		var obj struct {
			URL string `json:"webhook_url"`
		}
		if err := json.Unmarshal([]byte(v), &obj); err != nil || obj.URL == "" {
			return "", fmt.Errorf("secret %s: a JSON secret needs a \"webhook_url\" string", id)
		}
		v = obj.URL
	}
	if v == "" {
		return "", fmt.Errorf("secret %s is empty: put the Slack webhook URL in it", id)
	}
	return v, nil
}

// SSM is the part of the SSM client the configuration parameter needs.
type SSM interface {
	GetParameter(ctx context.Context, in *ssm.GetParameterInput, optFns ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
}

// ConfigFromSSM reads the YAML configuration from a (possibly SecureString) parameter.
func ConfigFromSSM(ctx context.Context, c SSM, name string) ([]byte, error) {
	if !strings.HasPrefix(name, "/") && strings.Contains(name, "/") {
		name = "/" + name // the template takes the name without its leading slash
	}
	out, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name), WithDecryption: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("read parameter %s: %w", name, err)
	}
	if out.Parameter == nil || out.Parameter.Value == nil {
		return nil, fmt.Errorf("parameter %s has no value", name)
	}
	return []byte(*out.Parameter.Value), nil
}

// S3Objects opens objects with an S3 client.
type S3Objects struct{ Client *s3.Client }

func (o S3Objects) Open(ctx context.Context, bucket, key string) (io.ReadCloser, error) {
	out, err := o.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, err
	}
	return out.Body, nil
}

// PipelineDeliverer delivers through a fresh notify.Pipeline per call: the findings are
// submitted, then flushed before the deadline. Nothing outlives the call: what failed is
// retried by AWS with the whole message (SQS redelivery, asynchronous retries, then the
// dead-letter queue), never silently dropped by a memory of "already accepted" in a warm
// container. Duplicates across retries are the dedupe table's job.
type PipelineDeliverer struct {
	New func(ctx context.Context) (*notify.Pipeline, error)
	// Margin is kept free before the invocation deadline so that a slow destination fails
	// the message instead of timing out the whole batch; default 5s.
	Margin time.Duration
}

func (d PipelineDeliverer) Deliver(ctx context.Context, fs []finding.Finding) error {
	margin := d.Margin
	if margin == 0 {
		margin = 5 * time.Second
	}
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl.Add(-margin))
		defer cancel()
	}
	p, err := d.New(ctx)
	if err != nil {
		return err
	}
	defer p.Close()
	if err := p.Submit(ctx, fs...); err != nil {
		return fmt.Errorf("submit: %w", err)
	}
	return p.Flush(ctx)
}

// Setup builds the handler from the environment: the destination and the rules (a
// configuration's run section, else the built-in pack, minus TRAILBELL_DISABLE_RULES), the S3
// client and the optional dedupe table.
func Setup(ctx context.Context, getenv func(string) string, logger *slog.Logger) (*Handler, error) {
	env := EnvFrom(getenv)
	if err := env.Validate(); err != nil {
		return nil, err
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("aws config: %w", err)
	}
	h := &Handler{
		Objects: S3Objects{Client: s3.NewFromConfig(awsCfg, func(o *s3.Options) {
			o.UsePathStyle = env.S3PathStyle
			// Log files are checked as gzip and JSON as they are read; the SDK's note about
			// objects stored without a checksum would fill the function's log.
			o.DisableLogOutputChecksumValidationSkipped = true
		})},
		Logger: logger,
	}
	if env.DedupeTable != "" {
		h.Dedupe = &Dedupe{Client: dynamodb.NewFromConfig(awsCfg), Table: env.DedupeTable}
	}
	var cfg *config.Config
	switch {
	case env.ConfigPath != "":
		cfg, err = config.Load(env.ConfigPath)
	case env.ConfigSSM != "":
		var b []byte
		if b, err = ConfigFromSSM(ctx, ssm.NewFromConfig(awsCfg), env.ConfigSSM); err == nil {
			if cfg, err = config.Parse(b, "."); err != nil {
				err = fmt.Errorf("TRAILBELL_CONFIG_SSM parameter %s: %w", env.ConfigSSM, err)
			}
		}
	default:
		webhook := env.SlackWebhookURL
		if env.SlackWebhookSecret != "" {
			webhook, err = WebhookFromSecret(ctx, secretsmanager.NewFromConfig(awsCfg), env.SlackWebhookSecret)
		}
		cfg = webhookConfig(webhook)
	}
	if err != nil {
		return nil, err
	}
	eng, err := engine(cfg, env.DisableRules)
	if err != nil {
		return nil, err
	}
	io := ingest.Options{Detector: eng, Limits: cfg.Run.Limits(), Logger: logger}
	if table := cmp.Or(env.StateTable, cfg.State.DynamoDBTable); table != "" {
		store := &dynamo.Store{Client: dynamodb.NewFromConfig(awsCfg), Table: table}
		mem, err := app.NewMemory(eng, cfg.State, store, nil)
		if err != nil {
			return nil, err
		}
		io.Memory, h.Memory = mem, mem
	} else if n := stateful(eng); n > 0 && logger != nil {
		logger.Warn("no state table (TRAILBELL_STATE_TABLE): rules with memory are off and actors are not followed", "rules", n)
	}
	if h.Reader, err = ingest.New(io); err != nil {
		return nil, err
	}
	// Build once now so that a broken configuration or secret fails the start loudly.
	// The outbox lives in memory: in Lambda the durable outbox is the SQS queue and the
	// asynchronous-invocation retries, which a failed message falls back to.
	build := func(ctx context.Context) (*notify.Pipeline, error) {
		return app.BuildPipeline(ctx, cfg, logger, app.NotifyOptions{AWS: &awsCfg, MemoryOutbox: true})
	}
	p, err := build(ctx)
	if err != nil {
		return nil, err
	}
	p.Close()
	h.Deliverer = PipelineDeliverer{New: build}
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

// engine compiles the rules the configuration's run section selects (the built-in pack
// when it has none), less TRAILBELL_DISABLE_RULES.
func engine(cfg *config.Config, disable []string) (*detect.Engine, error) {
	rules, err := app.Rules(cfg)
	if err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	if len(disable) > 0 {
		if rules, err = detect.Select(rules, nil, disable); err != nil {
			return nil, fmt.Errorf("TRAILBELL_DISABLE_RULES: %w", err)
		}
	}
	return detect.New(rules)
}

// webhookConfig is the simple case, one Slack webhook, set up as `trailbell scan` and `run`
// set theirs up (config.SlackWebhook: medium severity and above), paced like any Slack
// receiver, never digested (an invocation's findings are few).
func webhookConfig(url string) *config.Config {
	cfg := config.SlackWebhook(config.NewSecret(url))
	noDigest := 0
	cfg.Notify.Receivers[0].DigestAfter = &noDigest
	return cfg
}
