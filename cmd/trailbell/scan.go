package main

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/trailbell/trailbell/internal/duration"

	"golang.org/x/term"

	"github.com/trailbell/trailbell/internal/app"
	"github.com/trailbell/trailbell/internal/cloudtrail"
	"github.com/trailbell/trailbell/internal/config"
	"github.com/trailbell/trailbell/internal/finding"
)

const scanAbout = `Scans CloudTrail records for the enabled rules and prints the findings. PATH is a file, a
directory (read recursively: .json, .json.gz, .jsonl, .gz), - for standard input, or
s3://bucket/prefix; links to files and folders are followed, each file read once. Every path
is checked before the scan starts. Inputs: CloudTrail log files (plain or gzip), EventBridge
events, records one per line or in an array, LookupEvents and CloudTrail Lake output. Digest
files are skipped. A bad record is counted and listed in the summary with its input and
position, and the scan goes on: past a malformed record or one over --max-record at the next
record, past a bad line at the next line. An input inflating past --max-inflated is cut off.

With --config, the file's receivers and routes get the findings, and its rule choice (run:
rules, no_builtin, only, disable), min_severity, limits (run: max_inflated, max_record) and
state settings apply too, as they do for run and the Lambda; the flags add to or override
them.

A summary (files, records, findings per rule and per day, bad records, inputs not read whole,
throughput) is written to standard error at the end; a progress line too when it is a terminal.

Exit status: 0 no findings, 1 findings, 2 error (bad flags, rules or paths; an input that could
not be read, or not read whole; a bad record; an output that failed). Findings are written
whatever the exit status.`

// scanFlags holds every flag of trailbell scan, defined in one place so that options such as
// notifiers are one small addition here and one setting in config.
type scanFlags struct {
	format           string
	choice           ruleFlags // rules.go
	since, until     string
	region, endpoint string
	workers          int
	noProgress       bool
	maxInflated      string
	maxRecord        string
	stateDir         string
	tolerance        *time.Duration
	applyMutes       bool
	notify           notifyFlags // notify.go
}

func (f *scanFlags) register(c *leaf) {
	c.StringVar(&f.format, "format", "", "output: text (one entry per event, the other rules it matched under the most severe) or json (one line per rule and event); default text on a terminal, json otherwise")
	f.choice.register(c, false)
	c.StringVar(&f.since, "since", "", "scan from this `time`: RFC 3339, YYYY-MM-DD, or a duration ago (36h, 30d); log files are chosen by the time in their name, records by eventTime")
	c.StringVar(&f.until, "until", "", "scan up to this `time` (same forms as --since)")
	c.StringVar(&f.region, "region", "", "AWS `region` for s3:// paths (default from the AWS configuration)")
	c.StringVar(&f.endpoint, "endpoint-url", "", "S3-compatible endpoint `URL` for s3:// paths (path-style addressing)")
	c.IntVar(&f.workers, "workers", 0, "files decoded at once (default: one per CPU, four per CPU for s3:// paths)")
	c.BoolVar(&f.noProgress, "no-progress", false, "no progress line, even on a terminal")
	c.StringVar(&f.maxInflated, "max-inflated", "1GiB", "cut off an input that inflates past this `size` (a gzip bomb): 512MiB, 4GiB, bytes")
	c.StringVar(&f.maxRecord, "max-record", "16MiB", "skip a record larger than this `size`; decoding resumes at the next record")
	c.StringVar(&f.stateDir, "state-dir", "", "keep the state of rules with memory (thresholds, sequences, first seen, actors) in this `dir`, to carry it from one scan to the next; default: in memory, for this scan only")
	f.tolerance = c.durationFlag("tolerance", 20*time.Minute, "how late a record may arrive behind newer ones and still be evaluated in order, by rules with memory")
	c.BoolVar(&f.applyMutes, "apply-mutes", false, "leave out what the mutes in force silence (made from interactive alerts, listed by trailbell mutes), as run and the Lambda do: needs --config with state_dir or state.dynamodb_table")
	f.notify.register(c)
}

func runScan(ctx context.Context, args []string, io stdio) int {
	c := newLeaf(io, "scan", "trailbell scan [flags] PATH...", scanAbout)
	var f scanFlags
	f.register(c)
	if code, ok := c.parse(args); !ok {
		return code
	}
	if c.NArg() == 0 {
		return c.usageError("name at least one PATH to scan (a file, a directory, - or s3://bucket/prefix)")
	}
	now := time.Now()
	var w cloudtrail.Window
	var err error
	if w.Since, err = parseScanTime(f.since, now); err != nil {
		return c.fail("--since: %v", err)
	}
	if w.Until, err = parseScanTime(f.until, now); err != nil {
		return c.fail("--until: %v", err)
	}
	if !w.Since.IsZero() && !w.Until.IsZero() && !w.Since.Before(w.Until) {
		return c.fail("--since %s is not before --until %s", w.Since.Format(time.RFC3339), w.Until.Format(time.RFC3339))
	}
	cfg, err := f.config(c)
	if err != nil {
		return c.fail("%v", err)
	}
	if f.applyMutes && f.notify.config == "" {
		return c.usageError("--apply-mutes needs --config FILE: its state_dir or state.dynamodb_table holds the mutes")
	}
	if f.notify.config != "" && len(cfg.Notify.Receivers) == 0 {
		// A file for min_severity, rules and account aliases alone: nothing to send to.
		fmt.Fprintf(io.err, "trailbell scan: %s has no notify.receivers: findings are not sent anywhere\n", f.notify.config)
	}

	format := f.format
	if format == "" {
		format = "json"
		if isTerminal(io.out) {
			format = "text"
		}
	}
	if format != "text" && format != "json" {
		return c.fail("--format %q: want text or json", format)
	}
	job := app.ScanJob{
		Paths: c.Args(), Window: w, Format: format, StateDir: f.stateDir,
		S3Region: f.region, S3Endpoint: f.endpoint, Workers: f.workers,
		NotifyTimeout: *f.notify.flushTimeout, ApplyMutes: f.applyMutes,
	}
	if !f.noProgress && isTerminal(io.err) {
		job.Progress = io.err
	}
	if os.Getenv("GOGC") == "" {
		// A scan allocates an envelope per record but keeps little alive: collecting less
		// often saves a sixth of the CPU for a heap that stays under ~100 MB.
		debug.SetGCPercent(400)
	}
	logger := slog.New(slog.NewTextHandler(io.err, &slog.HandlerOptions{Level: slog.LevelWarn}))
	res, err := app.Scan(ctx, cfg, job, app.Process{Stdin: io.in, Stdout: io.out, Logger: logger})
	if res != nil {
		if min := config.Severity(cfg.MinSeverity); min > finding.Info {
			fmt.Fprintf(io.err, "\n%d rules enabled (severity %s and above)\n", res.Rules, min)
		} else {
			fmt.Fprintf(io.err, "\n%d rules enabled\n", res.Rules)
		}
		res.WriteText(io.err)
		if len(res.Memory) > 0 {
			fmt.Fprintf(io.err, "rules with memory: %s\n", strings.Join(res.Memory, "; "))
		}
	}
	switch {
	case err != nil:
		return c.fail("%v", err)
	case !res.Clean():
		return exitError
	case res.Findings > 0:
		return exitFindings
	}
	return exitOK
}

// config is the configuration the scan runs with: --config's file (or one Slack webhook, or
// nothing), with the flags put into it.
func (f *scanFlags) config(c *leaf) (*config.Config, error) {
	cfg, err := f.notify.load()
	if err != nil {
		return nil, err
	}
	if err := f.choice.apply(cfg); err != nil {
		return nil, err
	}
	set := c.set()
	if set["max-inflated"] {
		n, err := config.ParseSize(f.maxInflated)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("--max-inflated %q: want a size such as 1GiB", f.maxInflated)
		}
		cfg.Run.MaxInflated = config.Size(n)
	}
	if set["max-record"] {
		n, err := config.ParseSize(f.maxRecord)
		if err != nil || n < 64<<10 || n > cmp.Or(int64(cfg.Run.MaxInflated), 1<<30) {
			return nil, fmt.Errorf("--max-record %q: want a size from 64KiB to --max-inflated", f.maxRecord)
		}
		cfg.Run.MaxRecord = config.Size(n)
	}
	if set["tolerance"] {
		if *f.tolerance <= 0 {
			return nil, fmt.Errorf("--tolerance %s: want a duration such as 20m", *f.tolerance)
		}
		cfg.State.Tolerance = config.Duration(*f.tolerance)
	}
	// the flags and the file together must still make sense: every problem, by its setting
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// parseScanTime reads RFC 3339, a date (UTC midnight) or a duration before now ("36h", "7d").
func parseScanTime(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	if d, err := duration.Parse(s); err == nil {
		return now.Add(-d).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a time (RFC 3339 or YYYY-MM-DD) or a duration ago (36h, 7d)", s)
}

// isTerminal reports whether w is a terminal.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
