package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

// ssmAPI is the part of the SSM client secrets need.
type ssmAPI interface {
	GetParameter(ctx context.Context, in *ssm.GetParameterInput, optFns ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
}

// secretsManagerAPI is the part of the Secrets Manager client secrets need.
type secretsManagerAPI interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// secretReader reads every secret trailbell fetches: ssm: and secretsmanager: references in the
// configuration, the Lambda's webhook secret and configuration parameter. Errors name the
// parameter or secret, never a value.
type secretReader struct {
	ssm ssmAPI
	sm  secretsManagerAPI
}

// secrets reads with clients made from the AWS configuration.
func (w *wiring) secrets(ctx context.Context) (secretReader, error) {
	ac, err := w.awsConfig(ctx)
	if err != nil {
		return secretReader{}, err
	}
	return secretReader{ssm: ssm.NewFromConfig(ac), sm: secretsmanager.NewFromConfig(ac)}, nil
}

// fetch resolves a configuration reference (config.Fetcher): kind "ssm" or "secretsmanager".
func (w *wiring) fetch(ctx context.Context, kind, name string) (string, error) {
	s, err := w.secrets(ctx)
	if err != nil {
		return "", err
	}
	switch kind {
	case "ssm":
		return s.parameter(ctx, name)
	case "secretsmanager":
		return s.secret(ctx, name)
	}
	return "", fmt.Errorf("unknown secret source %q", kind)
}

// parameter reads a (possibly SecureString) SSM parameter.
func (s secretReader) parameter(ctx context.Context, name string) (string, error) {
	out, err := s.ssm.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name), WithDecryption: aws.Bool(true)})
	if err != nil {
		return "", fmt.Errorf("read parameter %s: %w", name, err)
	}
	if out.Parameter == nil || out.Parameter.Value == nil {
		return "", fmt.Errorf("parameter %s has no value", name)
	}
	return *out.Parameter.Value, nil
}

// secret reads a Secrets Manager secret's string.
func (s secretReader) secret(ctx context.Context, id string) (string, error) {
	out, err := s.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
	if err != nil {
		return "", fmt.Errorf("read secret %s: %w", id, err)
	}
	if out.SecretString == nil {
		return "", fmt.Errorf("secret %s has no string value", id)
	}
	return *out.SecretString, nil
}

// webhook reads the Slack webhook URL from a secret holding either the URL itself or a JSON
// object with "webhook_url" (TRAILBELL_SLACK_WEBHOOK_SECRET).
func (s secretReader) webhook(ctx context.Context, id string) (string, error) {
	v, err := s.secret(ctx, id)
	if err != nil {
		return "", err
	}
	v = strings.TrimSpace(v)
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

// configDocument reads the YAML configuration from a parameter (TRAILBELL_CONFIG_SSM). The
// templates pass a hierarchical name without its leading slash.
func (s secretReader) configDocument(ctx context.Context, name string) ([]byte, error) {
	if !strings.HasPrefix(name, "/") && strings.Contains(name, "/") {
		name = "/" + name
	}
	v, err := s.parameter(ctx, name)
	if err != nil {
		return nil, err
	}
	if v == "" {
		return nil, errors.New("parameter " + name + " is empty")
	}
	return []byte(v), nil
}
