package app

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/trailbell/trailbell/internal/detect"
	"github.com/trailbell/trailbell/internal/notify/slacktest"
	"github.com/trailbell/trailbell/internal/testenv"
)

func TestLambdaEnv(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	if err := lambdaEnvFrom(env()).validate(); err == nil || !strings.Contains(err.Error(), "no destination") {
		t.Errorf("nothing set: %v", err)
	}
	if err := lambdaEnvFrom(env("TRAILBELL_SLACK_WEBHOOK_URL", "https://x", "TRAILBELL_CONFIG", "c.yaml")).validate(); err == nil {
		t.Error("two destinations: want an error")
	}
	e := lambdaEnvFrom(env("TRAILBELL_SLACK_WEBHOOK_SECRET", "arn:secret", "TRAILBELL_DEDUPE_TABLE", "tb"))
	if err := e.validate(); err != nil || e.dedupeTable != "tb" || e.slackWebhookSecret != "arn:secret" {
		t.Errorf("secret + table: %+v %v", e, err)
	}
	if e.disableRules != nil || e.s3PathStyle {
		t.Errorf("unset TRAILBELL_DISABLE_RULES and TRAILBELL_S3_PATH_STYLE: %+v", e)
	}
	e = lambdaEnvFrom(env("TRAILBELL_SLACK_WEBHOOK_URL", "https://x", "TRAILBELL_DISABLE_RULES", "root-activity,iam-write", "TRAILBELL_S3_PATH_STYLE", "true"))
	if !slices.Equal(e.disableRules, []string{"root-activity", "iam-write"}) || !e.s3PathStyle {
		t.Errorf("disabled rules and path style: %+v", e)
	}
}

type fakeSM func(*secretsmanager.GetSecretValueInput) (*secretsmanager.GetSecretValueOutput, error)

func (f fakeSM) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	return f(in)
}

func TestWebhookFromSecret(t *testing.T) {
	const url = "https://hooks.slack.com/services/T1/B1/very-secret"
	value := func(v string) fakeSM {
		return func(*secretsmanager.GetSecretValueInput) (*secretsmanager.GetSecretValueOutput, error) {
			return &secretsmanager.GetSecretValueOutput{SecretString: aws.String(v)}, nil
		}
	}
	for _, v := range []string{url, " " + url + "\n", `{"webhook_url":"` + url + `"}`} {
		got, err := secretReader{sm: value(v)}.webhook(t.Context(), "s")
		if err != nil || got != url {
			t.Errorf("secret %q: got %q, %v", v, got, err)
		}
	}
	for _, v := range []string{"", `{"url":"` + url + `"}`, `{"webhook_url":`} {
		_, err := secretReader{sm: value(v)}.webhook(t.Context(), "s")
		if err == nil {
			t.Errorf("secret %q: want an error", v)
		} else if strings.Contains(err.Error(), "very-secret") {
			t.Errorf("secret %q: error leaks the value: %v", v, err)
		}
	}
	_, err := secretReader{sm: fakeSM(func(*secretsmanager.GetSecretValueInput) (*secretsmanager.GetSecretValueOutput, error) {
		return nil, errors.New("AccessDenied")
	})}.webhook(t.Context(), "arn:aws:secretsmanager:us-east-1:1:secret:slack")
	if err == nil || !strings.Contains(err.Error(), "secret:slack") {
		t.Errorf("access denied: %v, want an error naming the secret", err)
	}
}

type fakeSSM func(*ssm.GetParameterInput) (*ssm.GetParameterOutput, error)

func (f fakeSSM) GetParameter(_ context.Context, in *ssm.GetParameterInput, _ ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
	return f(in)
}

func TestConfigDocumentFromSSM(t *testing.T) {
	var asked []string
	c := fakeSSM(func(in *ssm.GetParameterInput) (*ssm.GetParameterOutput, error) {
		asked = append(asked, aws.ToString(in.Name))
		if !aws.ToBool(in.WithDecryption) {
			t.Error("SecureString parameters need WithDecryption")
		}
		return &ssm.GetParameterOutput{Parameter: &ssmtypes.Parameter{Value: aws.String("notify: {}")}}, nil
	})
	for _, name := range []string{"trailbell/config", "/trailbell/config", "trailbell-config"} {
		b, err := secretReader{ssm: c}.configDocument(t.Context(), name)
		if err != nil || string(b) != "notify: {}" {
			t.Errorf("%s: %q %v", name, b, err)
		}
	}
	want := "/trailbell/config,/trailbell/config,trailbell-config"
	if strings.Join(asked, ",") != want {
		t.Errorf("asked for %v, want %s (the template passes hierarchical names without the leading slash)", asked, want)
	}
	_, err := secretReader{ssm: fakeSSM(func(*ssm.GetParameterInput) (*ssm.GetParameterOutput, error) {
		return &ssm.GetParameterOutput{}, nil
	})}.configDocument(t.Context(), "x")
	if err == nil {
		t.Error("parameter without value: want an error")
	}
}

// A configuration's run section chooses the function's rules, as it does the daemon's, and
// TRAILBELL_DISABLE_RULES narrows them further.
func TestSetupRulesFromConfig(t *testing.T) {
	testenv.AWSEnv(t)
	slack := slacktest.New()
	defer slack.Close()
	cfg := filepath.Join(t.TempDir(), "trailbell.yaml")
	yaml := "notify:\n  receivers:\n    - name: slack\n      slack: {webhook_url: " + strconv.Quote(slack.WebhookURL("a")) + "}\n  route: {receiver: slack}\n" +
		"run:\n  only: [cloudtrail-stopped, iam-user-created, root-account-used]\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	getenv := func(k string) string {
		return map[string]string{"TRAILBELL_CONFIG": cfg, "TRAILBELL_DISABLE_RULES": "root-account-used"}[k]
	}
	h, err := Lambda(t.Context(), getenv, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range h.Reader.Detector().(*detect.Engine).Rules() {
		ids = append(ids, r.ID)
	}
	slices.Sort(ids)
	if want := []string{"cloudtrail-stopped", "iam-user-created"}; !slices.Equal(ids, want) {
		t.Errorf("rules %v, want %v", ids, want)
	}

	getenv = func(k string) string {
		return map[string]string{"TRAILBELL_CONFIG": cfg, "TRAILBELL_DISABLE_RULES": "no-such-rule"}[k]
	}
	if _, err := Lambda(t.Context(), getenv, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "TRAILBELL_DISABLE_RULES") {
		t.Errorf("unknown rule to disable: %v, want an error naming TRAILBELL_DISABLE_RULES", err)
	}
}
