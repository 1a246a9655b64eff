package config

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

// redacted is how a Secret shows everywhere.
const redacted = "<secret>"

// Secret is a credential (webhook URL, token, signing key). It prints as <secret> with
// every fmt verb, in JSON, YAML and slog; only Reveal gives the value, to the code that
// sends it.
//
// In YAML a secret is the value itself or a reference resolved by Config.ResolveSecrets:
// "env:NAME", "file:PATH" (relative to the config file), "ssm:/parameter/name" (AWS SSM
// Parameter Store, decrypted), "secretsmanager:NAME-OR-ARN" (AWS Secrets Manager).
type Secret struct {
	value string
	ref   string // "kind:name"; names are not secret, so errors may show them
}

// NewSecret wraps a value obtained elsewhere (a flag, the environment).
func NewSecret(v string) Secret { return Secret{value: v} }

// Reveal returns the secret value.
func (s Secret) Reveal() string { return s.value }

// IsSet reports whether the secret has a value or a reference to one.
func (s Secret) IsSet() bool { return s.value != "" || s.ref != "" }

func (s Secret) String() string                    { return redacted }
func (s Secret) GoString() string                  { return redacted }
func (s Secret) Format(f fmt.State, _ rune)        { _, _ = f.Write([]byte(redacted)) }
func (s Secret) LogValue() slog.Value              { return slog.StringValue(redacted) }
func (s Secret) MarshalJSON() ([]byte, error)      { return json.Marshal(redacted) }
func (s Secret) MarshalText() ([]byte, error)      { return []byte(redacted), nil }
func (s Secret) MarshalYAML() (any, error)         { return redacted, nil }
func (s *Secret) UnmarshalText(b []byte) error     { return s.parse(string(b)) }
func (s *Secret) UnmarshalYAML(n *yaml.Node) error { return unmarshalScalar(n, s.UnmarshalText) }
func (s *Secret) UnmarshalJSON(b []byte) error {
	var v string
	if err := json.Unmarshal(b, &v); err != nil {
		return errors.New("a secret must be a string")
	}
	return s.parse(v)
}

var secretKinds = []string{"env", "file", "ssm", "secretsmanager"}

func (s *Secret) parse(v string) error {
	*s = Secret{}
	for _, k := range secretKinds {
		if name, ok := strings.CutPrefix(v, k+":"); ok {
			if name == "" {
				return fmt.Errorf("secret reference %q names nothing", k+":")
			}
			s.ref = v
			return nil
		}
	}
	s.value = v
	return nil
}

// Fetcher reads a secret from AWS: kind is "ssm" or "secretsmanager".
type Fetcher func(ctx context.Context, kind, name string) (string, error)

// resolve turns a reference into its value. dir resolves relative file paths.
func (s *Secret) resolve(ctx context.Context, dir string, fetch Fetcher) error {
	if s.ref == "" || s.value != "" {
		// Resolved once per loaded configuration: a Lambda building a Pipeline per
		// invocation should not call SSM every time. Reloading the file reads it afresh.
		return nil
	}
	kind, name, _ := strings.Cut(s.ref, ":")
	var v string
	switch kind {
	case "env":
		var ok bool
		if v, ok = os.LookupEnv(name); !ok || v == "" {
			return fmt.Errorf("%s: environment variable is not set", s.ref)
		}
	case "file":
		b, err := readSecretFile(dir, name)
		if err != nil {
			return err
		}
		v = b
	default:
		if fetch == nil {
			return fmt.Errorf("%s: no AWS access configured to read it", s.ref)
		}
		var err error
		if v, err = fetch(ctx, kind, name); err != nil {
			return fmt.Errorf("%s: %w", s.ref, err)
		}
		if v == "" {
			return fmt.Errorf("%s: empty value", s.ref)
		}
	}
	s.value = v
	return nil
}

func readSecretFile(dir, name string) (string, error) {
	path := name
	if !filepath.IsAbs(path) && dir != "" {
		path = filepath.Join(dir, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		// The error names the path, never the content.
		return "", fmt.Errorf("read secret file: %w", err)
	}
	v := strings.TrimRight(string(b), "\r\n")
	if v == "" {
		return "", fmt.Errorf("secret file %s is empty", path)
	}
	return v, nil
}
