// Package config owns trailbell's configuration file: the YAML schema, defaults, strict
// parsing, validation that names every bad field by its path, and the Secret type.
// It only reads; turning a Config into running parts is internal/app's job.
package config

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/trailbell/trailbell/internal/duration"

	"go.yaml.in/yaml/v3"

	"github.com/trailbell/trailbell/internal/cloudtrail"
	"github.com/trailbell/trailbell/internal/finding"
	"github.com/trailbell/trailbell/internal/yamlnode"
	"github.com/trailbell/trailbell/pattern"
)

// Config is the whole configuration file.
type Config struct {
	// StateDir holds durable state (the notification outbox); relative to the file.
	StateDir string `yaml:"state_dir"`
	// Accounts maps account ids to the aliases people know them by.
	Accounts map[string]string `yaml:"accounts"`
	// MinSeverity is the lowest severity trailbell reports at all (info, low, medium, high,
	// critical): rules below it are not evaluated by scan (its --min-severity flag overrides
	// this), run and the Lambda. trailbell's own alerts (unreadable input, a silent source, a
	// failing receiver) are not rule findings and still go out; a route's or receiver's
	// min_severity chooses what each destination gets.
	MinSeverity string  `yaml:"min_severity"`
	Notify      Notify  `yaml:"notify"`
	Sources     Sources `yaml:"sources"` // trailbell run (run.go)
	Run         Daemon  `yaml:"run"`     // trailbell run (run.go)
	State       State   `yaml:"state"`   // detections with memory (state.go)
	// Interactive makes slack_api alerts interactive (interactive.go); nil: the section is absent.
	Interactive *Interactive `yaml:"interactive"`

	// dir is the config file's directory, for relative paths.
	dir string
}

// Notify configures delivery: receivers, the route tree and exceptions.
type Notify struct {
	// DedupeWindow: how long a (rule, eventID) is remembered. Default 7d.
	DedupeWindow Duration `yaml:"dedupe_window"`
	// RetryDeadline: how long a finding is retried before it counts as failed. Default 24h.
	RetryDeadline Duration    `yaml:"retry_deadline"`
	Backoff       Backoff     `yaml:"backoff"`
	Receivers     []Receiver  `yaml:"receivers"`
	Route         Route       `yaml:"route"`
	Exceptions    []Exception `yaml:"exceptions"`
}

// Backoff is the retry delay: doubling from Initial up to Max, with jitter.
type Backoff struct {
	Initial Duration `yaml:"initial"`
	Max     Duration `yaml:"max"`
}

// Receiver is a named destination; exactly one of the destination blocks is set.
type Receiver struct {
	Name        string   `yaml:"name"`
	MinSeverity string   `yaml:"min_severity"`
	Fallback    string   `yaml:"fallback"`
	RateLimit   *Rate    `yaml:"rate_limit"`
	GroupWindow Duration `yaml:"group_window"`
	// DigestAfter: past this many waiting deliveries, send digests instead of paced
	// single messages. Default 20 for Slack and SNS receivers; 0 never.
	DigestAfter *int `yaml:"digest_after"`
	// PerRule delivers each rule's finding on its own (a SIEM that wants every finding
	// whole) instead of one alert per event with the other rules listed under the most
	// severe. Default true for stdout receivers writing JSON, false otherwise.
	PerRule *bool `yaml:"per_rule"`

	Slack    *Slack    `yaml:"slack"`
	SlackAPI *SlackAPI `yaml:"slack_api"`
	SNS      *SNS      `yaml:"sns"`
	Webhook  *Webhook  `yaml:"webhook"`
	Stdout   *Stdout   `yaml:"stdout"`
}

// Rate is a message rate with a burst allowance.
type Rate struct {
	PerSecond float64 `yaml:"per_second"`
	Burst     int     `yaml:"burst"`
}

// Slack posts to an incoming webhook.
type Slack struct {
	WebhookURL     Secret `yaml:"webhook_url"`
	WebhookURLFile string `yaml:"webhook_url_file"`
}

// SlackAPI posts with chat.postMessage and a bot token.
type SlackAPI struct {
	Token     Secret `yaml:"token"`
	TokenFile string `yaml:"token_file"`
	Channel   string `yaml:"channel"`
	// APIURL overrides https://slack.com/api/ (tests, proxies).
	APIURL string `yaml:"api_url"`
}

// SNS publishes AWS Chatbot custom notifications to a topic.
type SNS struct {
	TopicARN string `yaml:"topic_arn"`
	Region   string `yaml:"region"`
	Endpoint string `yaml:"endpoint"`
	// MessageStructureJSON publishes with MessageStructure=json, for topics that have
	// subscribers other than Chatbot.
	MessageStructureJSON bool `yaml:"message_structure_json"`
}

// Webhook posts each finding as JSON, optionally signed with HMAC-SHA256.
type Webhook struct {
	URL             Secret `yaml:"url"`
	URLFile         string `yaml:"url_file"`
	HMACSecret      Secret `yaml:"hmac_secret"`
	HMACSecretFile  string `yaml:"hmac_secret_file"`
	SignatureHeader string `yaml:"signature_header"`
}

// Stdout writes findings to standard output.
type Stdout struct {
	Format string `yaml:"format"` // "json" (one per line, default) or "text"
}

// Route is a node of the routing tree (see notify.Route).
type Route struct {
	Receiver    string   `yaml:"receiver"`
	MinSeverity string   `yaml:"min_severity"`
	Rules       []string `yaml:"rules"`
	Accounts    []string `yaml:"accounts"`
	// Actors: the finding's actor (id or name, e.g. an IAM user's ARN or an Identity Center
	// user's e-mail) is one of these.
	Actors   []string `yaml:"actors"`
	Tags     []string `yaml:"tags"`
	Match    Pattern  `yaml:"match"`
	Continue bool     `yaml:"continue"`
	Routes   []Route  `yaml:"routes"`
}

// Exception silences findings of some rules, or matching a pattern, or both.
type Exception struct {
	Name  string   `yaml:"name"`
	Rules []string `yaml:"rules"`
	Match Pattern  `yaml:"match"`
}

// Pattern is an event pattern over the finding's JSON, written in YAML either as a
// JSON string or as a YAML mapping.
type Pattern string

func (p *Pattern) UnmarshalYAML(n *yaml.Node) error {
	if n.ShortTag() == "!!null" {
		*p = ""
		return nil
	}
	if s, ok := yamlnode.IsString(n); ok {
		*p = Pattern(s)
		return nil
	}
	var b strings.Builder
	if err := yamlnode.JSON(&b, n); err != nil {
		return err
	}
	*p = Pattern(b.String())
	return nil
}

// Size is a number of bytes written like "1GiB", "512MiB", "64KiB", "10MB" or "1000".
type Size int64

func (z *Size) UnmarshalText(b []byte) error {
	n, err := ParseSize(string(b))
	if err != nil {
		return err
	}
	*z = Size(n)
	return nil
}

// UnmarshalYAML decodes through UnmarshalText, but says where in the file a bad value is.
func (z *Size) UnmarshalYAML(n *yaml.Node) error { return unmarshalScalar(n, z.UnmarshalText) }

// ParseSize reads a size: a whole number of bytes with an optional unit, KB/MB/GB (powers of
// 1000) or KiB/MiB/GiB (powers of 1024).
func ParseSize(s string) (int64, error) {
	num := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}} {
		if v, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mult = strings.TrimSpace(v), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("invalid size %q (use 1GiB, 512MiB, 10MB or a number of bytes)", s)
	}
	return n * mult, nil
}

// Duration is a time.Duration written like "90s", "5m", "24h" or "7d".
type Duration time.Duration

// A negative value is read, for Validate to report with every other mistake in the file.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := duration.Parse(string(b))
	if rest, neg := strings.CutPrefix(string(b), "-"); err != nil && neg {
		if p, perr := duration.Parse(rest); perr == nil {
			v, err = -p, nil
		}
	}
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

func (d Duration) MarshalText() ([]byte, error) {
	return []byte(duration.Format(time.Duration(d))), nil
}

// UnmarshalYAML decodes through UnmarshalText, but says where in the file a bad value is.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error { return unmarshalScalar(n, d.UnmarshalText) }

// unmarshalScalar decodes a YAML scalar with unmarshal, and places its error at the value.
func unmarshalScalar(n *yaml.Node, unmarshal func([]byte) error) error {
	if n.Kind != yaml.ScalarNode {
		return yamlnode.Errorf(n, "want a string, got %s", yamlnode.Kind(n))
	}
	if n.ShortTag() == "!!null" {
		return nil // not set: the default
	}
	if err := unmarshal([]byte(n.Value)); err != nil {
		return yamlnode.Errorf(n, "%v", err)
	}
	return nil
}

// Load reads, strictly parses and validates a configuration file. Secrets stay
// unresolved until ResolveSecrets.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	c, err := Parse(b, filepath.Dir(path))
	if err != nil {
		return nil, yamlnode.InFile("config "+path, err)
	}
	return c, nil
}

// Parse reads a configuration document; dir resolves relative paths in it.
func Parse(b []byte, dir string) (*Config, error) {
	c := &Config{}
	if err := yamlnode.Decode(b, c); err != nil {
		// "line:column: field: message"; it never quotes the file, which may hold a secret
		return nil, err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	c.dir = abs
	if c.StateDir != "" && !filepath.IsAbs(c.StateDir) {
		c.StateDir = filepath.Join(abs, c.StateDir)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// Dir is the directory relative paths are resolved against.
func (c *Config) Dir() string { return c.dir }

// Validate reports every problem, each with its field path.
func (c *Config) Validate() error {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
	}
	for id := range c.Accounts {
		if !cloudtrail.IsAccountID(id) {
			bad("accounts."+id, "account ids are 12 digits")
		}
	}
	checkSeverity("min_severity", c.MinSeverity, bad)
	n := c.Notify
	for _, d := range []struct {
		path string
		v    Duration
	}{{"notify.dedupe_window", n.DedupeWindow}, {"notify.retry_deadline", n.RetryDeadline},
		{"notify.backoff.initial", n.Backoff.Initial}, {"notify.backoff.max", n.Backoff.Max}} {
		if d.v < 0 {
			bad(d.path, "must not be negative")
		}
	}
	names := map[string]bool{}
	for i, r := range n.Receivers {
		p := fmt.Sprintf("notify.receivers[%d]", i)
		switch {
		case r.Name == "":
			bad(p+".name", "required")
		case strings.HasPrefix(r.Name, "!"):
			bad(p+".name", "must not start with '!'")
		case names[r.Name]:
			bad(p+".name", "%q is defined twice", r.Name)
		}
		names[r.Name] = true
		checkSeverity(p+".min_severity", r.MinSeverity, bad)
		if r.RateLimit != nil && (r.RateLimit.PerSecond < 0 || r.RateLimit.Burst < 0) {
			bad(p+".rate_limit", "must not be negative")
		}
		if r.DigestAfter != nil && *r.DigestAfter < 0 {
			bad(p+".digest_after", "must not be negative")
		}
		if r.GroupWindow < 0 {
			bad(p+".group_window", "must not be negative")
		}
		kinds := 0
		if r.Slack != nil {
			kinds++
		}
		if r.SlackAPI != nil {
			kinds++
			if r.SlackAPI.Channel == "" {
				bad(p+".slack_api.channel", "required")
			}
		}
		if r.SNS != nil {
			kinds++
			if !strings.HasPrefix(r.SNS.TopicARN, "arn:") {
				bad(p+".sns.topic_arn", "required: an SNS topic ARN")
			}
		}
		if r.Webhook != nil {
			kinds++
		}
		if r.Stdout != nil {
			kinds++
			if f := r.Stdout.Format; f != "" && f != "json" && f != "text" {
				bad(p+".stdout.format", "%q: want json or text", f)
			}
		}
		if kinds != 1 {
			bad(p, "set exactly one of slack, slack_api, sns, webhook, stdout (found %d)", kinds)
		}
	}
	for _, f := range c.secretFields() {
		name := lastPart(f.path)
		switch {
		case f.secret.IsSet() && f.file != "":
			bad(f.path, "set either %s or %s_file, not both", name, name)
		case f.required && !f.secret.IsSet() && f.file == "":
			bad(f.path, "required (or %s_file)", name)
		}
	}
	for i, r := range n.Receivers {
		if r.Fallback != "" && (!names[r.Fallback] || r.Fallback == r.Name) {
			bad(fmt.Sprintf("notify.receivers[%d].fallback", i), "%q is not another receiver", r.Fallback)
		}
	}
	if len(n.Receivers) > 0 || n.Route.Receiver != "" || len(n.Route.Routes) > 0 {
		if n.Route.Receiver == "" {
			bad("notify.route.receiver", "required: the default receiver")
		}
		checkRoute("notify.route", n.Route, names, bad)
	}
	for i, e := range n.Exceptions {
		p := fmt.Sprintf("notify.exceptions[%d]", i)
		if e.Match == "" && len(e.Rules) == 0 {
			bad(p, "set rules, match or both (an empty exception would silence everything)")
		}
		checkPattern(p+".match", e.Match, bad)
	}
	c.Sources.validate(bad)
	c.Run.validate(bad)
	c.State.validate(bad)
	c.validateInteractive(bad)
	return errors.Join(errs...)
}

func checkRoute(path string, r Route, receivers map[string]bool, bad func(string, string, ...any)) {
	if r.Receiver != "" && !receivers[r.Receiver] {
		bad(path+".receiver", "no receiver named %q", r.Receiver)
	}
	checkSeverity(path+".min_severity", r.MinSeverity, bad)
	checkPattern(path+".match", r.Match, bad)
	for i, c := range r.Routes {
		checkRoute(fmt.Sprintf("%s.routes[%d]", path, i), c, receivers, bad)
	}
}

func checkPattern(path string, p Pattern, bad func(string, string, ...any)) {
	if p == "" {
		return
	}
	if err := pattern.Validate(string(p)); err != nil {
		bad(path, "%v", err)
	}
}

func checkSeverity(path, s string, bad func(string, string, ...any)) {
	if s == "" {
		return
	}
	if _, err := finding.ParseSeverity(s); err != nil {
		bad(path, "%v", err)
	}
}

// secretField is one secret setting and its *_file variant.
type secretField struct {
	path     string // field path, like notify.receivers[0].slack.webhook_url
	secret   *Secret
	file     string
	required bool
}

// secretFields lists every secret setting of the configuration, so that Validate and
// ResolveSecrets cover the same ones.
func (c *Config) secretFields() []secretField {
	var out []secretField
	for i := range c.Notify.Receivers {
		r := &c.Notify.Receivers[i]
		p := fmt.Sprintf("notify.receivers[%d]", i)
		if r.Slack != nil {
			out = append(out, secretField{p + ".slack.webhook_url", &r.Slack.WebhookURL, r.Slack.WebhookURLFile, true})
		}
		if r.SlackAPI != nil {
			out = append(out, secretField{p + ".slack_api.token", &r.SlackAPI.Token, r.SlackAPI.TokenFile, true})
		}
		if r.Webhook != nil {
			out = append(out,
				secretField{p + ".webhook.url", &r.Webhook.URL, r.Webhook.URLFile, true},
				secretField{p + ".webhook.hmac_secret", &r.Webhook.HMACSecret, r.Webhook.HMACSecretFile, false})
		}
	}
	if i := c.Interactive; i != nil {
		out = append(out, secretField{"interactive.signing_secret", &i.SigningSecret, i.SigningSecretFile, false})
	}
	return out
}

func lastPart(path string) string { return path[strings.LastIndexByte(path, '.')+1:] }

// Severity parses a validated severity name; empty is Info.
func Severity(s string) finding.Severity {
	v, _ := finding.ParseSeverity(s)
	return v
}

// ResolveSecrets reads every secret reference and *_file setting. It names the failing
// field, never a value.
func (c *Config) ResolveSecrets(ctx context.Context, fetch Fetcher) error {
	var errs []error
	for _, f := range c.secretFields() {
		if f.file != "" {
			v, err := readSecretFile(c.dir, f.file)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s_file: %w", f.path, err))
				continue
			}
			*f.secret = NewSecret(v)
			continue
		}
		if err := f.secret.resolve(ctx, c.dir, fetch); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f.path, err))
		}
	}
	return errors.Join(errs...)
}

// Receiver returns the receiver named name.
func (c *Config) Receiver(name string) (*Receiver, bool) {
	i := slices.IndexFunc(c.Notify.Receivers, func(r Receiver) bool { return r.Name == name })
	if i < 0 {
		return nil, false
	}
	return &c.Notify.Receivers[i], true
}

// SlackWebhook is the configuration behind `--slack-webhook-url`: every finding of
// severity medium or above goes to that webhook.
func SlackWebhook(url Secret) *Config {
	return &Config{Notify: Notify{
		Receivers: []Receiver{{Name: "slack", MinSeverity: "medium", Slack: &Slack{WebhookURL: url}}},
		Route:     Route{Receiver: "slack"},
	}}
}
