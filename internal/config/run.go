package config

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/trailbell/trailbell/internal/cloudtrail"
)

// Sources are the inputs `trailbell run` watches. The other commands ignore them.
type Sources struct {
	S3     []S3Source     `yaml:"s3"`
	SQS    []SQSSource    `yaml:"sqs"`
	Lookup []LookupSource `yaml:"lookup"`
}

// Daemon is the rest of `trailbell run`'s settings.
type Daemon struct {
	// Listen is the address of /metrics and /healthz; empty serves neither.
	Listen string `yaml:"listen"`
	// Rules are extra rule files or directories, read again on SIGHUP.
	Rules []string `yaml:"rules"`
	// NoBuiltin leaves out the built-in rule pack.
	NoBuiltin bool `yaml:"no_builtin"`
	// Only and Disable select rules by id (see detect.Select).
	Only    []string `yaml:"only"`
	Disable []string `yaml:"disable"`
	// ShutdownGrace bounds how long the file in hand and the outbox flush may take after
	// SIGTERM. Default 30s.
	ShutdownGrace Duration `yaml:"shutdown_grace"`
	// MaxInflated bounds the bytes one input may inflate to (a gzip bomb is cut off there);
	// MaxRecord bounds one record. Defaults 1GiB and 16MiB; see cloudtrail.Limits.
	MaxInflated Size `yaml:"max_inflated"`
	MaxRecord   Size `yaml:"max_record"`
}

// Limits are the per-input limits the run section sets (zero fields take the defaults).
func (d Daemon) Limits() cloudtrail.Limits {
	return cloudtrail.Limits{MaxInflated: int64(d.MaxInflated), MaxRecord: int(d.MaxRecord)}
}

// S3Source polls trail log files under a prefix.
type S3Source struct {
	// URL is s3://BUCKET/PREFIX: one account (AWSLogs/ACCOUNT/), an organization
	// (AWSLogs/o-ORG/), a whole bucket, or down to one region.
	URL string `yaml:"url"`
	// Endpoint is for S3-compatible servers (path-style addressing is used then).
	Endpoint string `yaml:"endpoint"`
	Region   string `yaml:"region"`
	// RoleARN is assumed to read the bucket (a log archive account).
	RoleARN      string   `yaml:"role_arn"`
	PollInterval Duration `yaml:"poll_interval"` // default 1m
	// Since is how far back to start in a prefix with no checkpoint; default 1h.
	Since Duration `yaml:"since"`
	// LateWindow is how long a file may arrive after a newer one and still be read; default 30m.
	LateWindow Duration `yaml:"late_window"`
	// SilenceAfter raises an alert when no new file arrives for this long; 0 never.
	SilenceAfter Duration `yaml:"silence_after"`
	// StuckAfter raises an alert when one file has failed for this long; default 30m.
	StuckAfter Duration `yaml:"stuck_after"`
}

// SQSSource reads a queue of S3 notifications announcing log files.
type SQSSource struct {
	QueueURL string `yaml:"queue_url"`
	Endpoint string `yaml:"endpoint"`
	Region   string `yaml:"region"`
	// RoleARN is assumed to read the queue and the files it announces.
	RoleARN string `yaml:"role_arn"`
	// S3Endpoint is for reading the announced files from an S3-compatible server.
	S3Endpoint string `yaml:"s3_endpoint"`
	// Visibility is how long a message stays hidden while handled, renewed at half; default 2m.
	Visibility   Duration `yaml:"visibility"`
	SilenceAfter Duration `yaml:"silence_after"`
}

// LookupSource polls CloudTrail LookupEvents in one region, for accounts without a trail.
type LookupSource struct {
	// Account labels the checkpoint and metrics (the credentials decide the real account).
	Account  string `yaml:"account"`
	Region   string `yaml:"region"`
	Endpoint string `yaml:"endpoint"`
	// RoleARN is assumed to call LookupEvents, usually a role in Account.
	RoleARN      string   `yaml:"role_arn"`
	PollInterval Duration `yaml:"poll_interval"` // default 1m
	// Overlap is how far each window reaches back; events show up late. Default 20m.
	Overlap      Duration `yaml:"overlap"`
	SilenceAfter Duration `yaml:"silence_after"`
}

func (s Sources) validate(bad func(path, format string, args ...any)) {
	nonNegative := func(path string, d Duration) {
		if d < 0 {
			bad(path, "must not be negative")
		}
	}
	endpoint := func(path, e string) {
		if e == "" {
			return
		}
		if u, err := url.Parse(e); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad(path, "%q: want an http:// or https:// URL", e)
		}
	}
	roleARN := func(path, arn string) {
		if arn != "" && !strings.HasPrefix(arn, "arn:") {
			bad(path, "%q: want a role ARN", arn)
		}
	}
	for i, src := range s.S3 {
		p := fmt.Sprintf("sources.s3[%d]", i)
		if _, _, err := cloudtrail.ParseURL(src.URL); err != nil {
			bad(p+".url", "%v", err)
		}
		endpoint(p+".endpoint", src.Endpoint)
		roleARN(p+".role_arn", src.RoleARN)
		nonNegative(p+".poll_interval", src.PollInterval)
		nonNegative(p+".since", src.Since)
		nonNegative(p+".late_window", src.LateWindow)
		nonNegative(p+".stuck_after", src.StuckAfter)
		nonNegative(p+".silence_after", src.SilenceAfter)
	}
	for i, src := range s.SQS {
		p := fmt.Sprintf("sources.sqs[%d]", i)
		if src.QueueURL == "" {
			bad(p+".queue_url", "required")
		}
		endpoint(p+".endpoint", src.Endpoint)
		endpoint(p+".s3_endpoint", src.S3Endpoint)
		roleARN(p+".role_arn", src.RoleARN)
		nonNegative(p+".silence_after", src.SilenceAfter)
		if v := src.Visibility; v != 0 && (v < Duration(2*time.Second) || v > Duration(12*time.Hour)) {
			bad(p+".visibility", "must be between 2s and 12h")
		}
	}
	seen := map[string]bool{}
	for i, src := range s.Lookup {
		p := fmt.Sprintf("sources.lookup[%d]", i)
		if src.Region == "" {
			bad(p+".region", "required")
		}
		if k := src.Account + "/" + src.Region; seen[k] {
			bad(p, "account %q and region %q are polled twice", src.Account, src.Region)
		} else {
			seen[k] = true
		}
		endpoint(p+".endpoint", src.Endpoint)
		roleARN(p+".role_arn", src.RoleARN)
		if src.Account != "" && !cloudtrail.IsAccountID(src.Account) {
			bad(p+".account", "account ids are 12 digits")
		}
		nonNegative(p+".poll_interval", src.PollInterval)
		nonNegative(p+".overlap", src.Overlap)
		nonNegative(p+".silence_after", src.SilenceAfter)
	}
}

func (d Daemon) validate(bad func(path, format string, args ...any)) {
	if d.ShutdownGrace < 0 {
		bad("run.shutdown_grace", "must not be negative")
	}
	if d.MaxRecord != 0 && d.MaxRecord < 64<<10 {
		bad("run.max_record", "must be at least 64KiB: CloudTrail records reach hundreds of KB")
	}
	if d.MaxInflated != 0 && d.MaxInflated < d.MaxRecord {
		bad("run.max_inflated", "must not be less than run.max_record")
	}
}
