package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/trailbell/trailbell/internal/app"
	"github.com/trailbell/trailbell/internal/cloudtrail"
	"github.com/trailbell/trailbell/internal/config"
	"github.com/trailbell/trailbell/internal/correlate"
	"github.com/trailbell/trailbell/internal/detect"
	"github.com/trailbell/trailbell/internal/finding"
	"github.com/trailbell/trailbell/internal/source/s3"
)

const scanUsage = `usage: trailbell scan [flags] PATH...

Scan CloudTrail records for the enabled rules and print the findings. PATH is a file, a
directory (read recursively: .json, .json.gz, .jsonl, .gz), - for standard input, or
s3://bucket/prefix; links to files and folders are followed, each file read once. Every path
is checked before the scan starts. Inputs: CloudTrail log files (plain or gzip), EventBridge
events, records one per line or in an array, LookupEvents and CloudTrail Lake output. Digest
files are skipped. A bad record is counted and listed in the summary with its input and
position, and the scan goes on: past a malformed record or one over --max-record at the next
record, past a bad line at the next line. An input inflating past --max-inflated is cut off.

A summary (files, records, findings per rule and per day, bad records, inputs not read whole,
throughput) is written to standard error at the end; a progress line too when it is a terminal.

Exit status: 0 no findings, 1 findings, 2 error (bad flags, rules or paths; an input that could
not be read, or not read whole; a bad record; an output that failed). Findings are written
whatever the exit status.

flags:
`

// scanFlags holds every flag of trailbell scan, defined in one place so that options such as
// notifiers are one small addition here and one sink in runScan.
type scanFlags struct {
	format           string
	rules            repeated
	noBuiltin        bool
	only, disable    commaList
	since, until     string
	region, endpoint string
	workers          int
	noProgress       bool
	maxInflated      string
	maxRecord        string
	stateDir         string
	tolerance        string
	minSeverity      string
	notify           notifyFlags // notify.go
}

func (f *scanFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.format, "format", "", "output: text (one entry per event, the other rules it matched under the most severe) or json (one line per rule and event); default text on a terminal, json otherwise")
	fs.Var(&f.rules, "rules", "add the rules in this YAML file or directory (repeatable)")
	fs.BoolVar(&f.noBuiltin, "no-builtin", false, "leave out the built-in rule pack")
	fs.Var(&f.only, "only", "enable only these rule ids (repeatable, or a comma list)")
	fs.Var(&f.disable, "disable", "disable these rule ids (repeatable, or a comma list)")
	fs.StringVar(&f.since, "since", "", "scan from this time: RFC 3339, YYYY-MM-DD, or a duration ago (36h, 7d); log files are chosen by the time in their name, records by eventTime")
	fs.StringVar(&f.until, "until", "", "scan up to this time (same forms as --since)")
	fs.StringVar(&f.region, "region", "", "AWS region for s3:// paths (default from the AWS configuration)")
	fs.StringVar(&f.endpoint, "endpoint-url", "", "S3-compatible endpoint for s3:// paths (path-style addressing)")
	fs.IntVar(&f.workers, "workers", 0, "files decoded at once (default: one per CPU, four per CPU for s3:// paths)")
	fs.BoolVar(&f.noProgress, "no-progress", false, "no progress line, even on a terminal")
	fs.StringVar(&f.maxInflated, "max-inflated", "1GiB", "cut off an input that inflates past this `size` (a gzip bomb): 512MiB, 4GiB, bytes")
	fs.StringVar(&f.maxRecord, "max-record", "16MiB", "skip a record larger than this `size`; decoding resumes at the next record")
	fs.StringVar(&f.stateDir, "state-dir", "", "keep the state of rules with memory (thresholds, sequences, first seen, actors) in this `dir`, to carry it from one scan to the next; default: in memory, for this scan only")
	fs.StringVar(&f.minSeverity, "min-severity", "", "report only findings of this `severity` or above: info, low, medium, high, critical; rules below it are not evaluated (default: min_severity of --config, else info)")
	fs.StringVar(&f.tolerance, "tolerance", "20m", "how late a record may arrive behind newer ones and still be evaluated in order, by rules with memory")
	f.notify.register(fs)
}

func runScan(ctx context.Context, args []string, io stdio) int {
	fs := newFlags("scan", io)
	setUsage(fs, io, scanUsage)
	var f scanFlags
	f.register(fs)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	fail := failer(io, "scan")
	if fs.NArg() == 0 {
		fs.Usage()
		return exitError
	}
	now := time.Now()
	var w cloudtrail.Window
	var err error
	if w.Since, err = parseScanTime(f.since, now); err != nil {
		return fail("--since: %v", err)
	}
	if w.Until, err = parseScanTime(f.until, now); err != nil {
		return fail("--until: %v", err)
	}
	if !w.Since.IsZero() && !w.Until.IsZero() && !w.Since.Before(w.Until) {
		return fail("--since %s is not before --until %s", w.Since.Format(time.RFC3339), w.Until.Format(time.RFC3339))
	}

	var lim cloudtrail.Limits
	if lim.MaxInflated, err = config.ParseSize(f.maxInflated); err != nil || lim.MaxInflated == 0 {
		return fail("--max-inflated %q: want a size such as 1GiB", f.maxInflated)
	}
	maxRecord, err := config.ParseSize(f.maxRecord)
	if err != nil || maxRecord < 64<<10 || maxRecord > lim.MaxInflated {
		return fail("--max-record %q: want a size from 64KiB to --max-inflated", f.maxRecord)
	}
	lim.MaxRecord = int(maxRecord)

	rs, err := loadRules(f.rules, f.noBuiltin)
	if err != nil {
		return fail("%v", err)
	}
	if rs, err = detect.Select(rs, f.only, f.disable); err != nil {
		return fail("%v", err)
	}
	if len(rs) == 0 {
		return fail("no rules enabled")
	}
	minSev, from, err := f.minimum()
	if err != nil {
		return fail("%v", err)
	}
	if rs = detect.AtLeast(rs, minSev); len(rs) == 0 {
		return fail("no rule enabled is of severity %s or above (%s)", minSev, from)
	}
	engine, err := detect.New(rs)
	if err != nil {
		return fail("%v", err)
	}

	tol, err := detect.ParseDuration(f.tolerance)
	if err != nil || tol <= 0 {
		return fail("--tolerance %q: want a duration such as 20m", f.tolerance)
	}
	var store correlate.Store
	if f.stateDir != "" {
		if err := os.MkdirAll(f.stateDir, 0o700); err != nil {
			return fail("--state-dir: %v", err)
		}
		bs, err := correlate.OpenBolt(filepath.Join(f.stateDir, app.StateFile))
		if err != nil {
			return fail("--state-dir: %v", err)
		}
		defer bs.Close()
		store = bs
	}
	memory, err := app.NewMemory(engine, config.State{Tolerance: config.Duration(tol)}, store, nil)
	if err != nil {
		return fail("%v", err)
	}

	outTerm := isTerminal(io.out)
	format := f.format
	if format == "" {
		format = "json"
		if outTerm {
			format = "text"
		}
	}
	var sinks []app.Sink
	flushText := func() error { return nil }
	switch format {
	case "text":
		tw := app.NewTextWriter(io.out)
		sinks, flushText = append(sinks, tw.Write), tw.Flush
	case "json":
		sinks = append(sinks, app.JSONSink(io.out))
	default:
		return fail("--format %q: want text or json", format)
	}
	// Notifiers add their sink here (and flush it after the scan).
	pipe, err := f.notify.pipeline(ctx, io)
	if err != nil {
		return fail("%v", err)
	}
	if pipe != nil {
		defer pipe.Close()
		// Submitted one by one: delivery starts after the scan (flush), when all of an
		// event's findings are in the outbox to be merged into its alert.
		sinks = append(sinks, func(ctx context.Context, f finding.Finding) error { return pipe.Submit(ctx, f) })
	}

	opts := app.ScanOptions{
		Paths:    fs.Args(),
		Stdin:    io.in,
		Detector: engine,
		Memory:   memory,
		Sinks:    sinks,
		Window:   w,
		Limits:   lim,
		S3:       s3.Options{Region: f.region, Endpoint: f.endpoint},
		Workers:  f.workers,
	}
	if !f.noProgress && isTerminal(io.err) {
		opts.Progress = io.err
	}
	if os.Getenv("GOGC") == "" {
		// A scan allocates an envelope per record but keeps little alive: collecting less
		// often saves a sixth of the CPU for a heap that stays under ~100 MB.
		debug.SetGCPercent(400)
	}
	sum, err := app.Scan(ctx, opts)
	if ferr := flushText(); ferr != nil && err == nil {
		err = ferr
	}
	if ferr := f.notify.flush(ctx, pipe, io); ferr != nil && err == nil {
		err = ferr
	}
	if sum != nil {
		if minSev > finding.Info {
			fmt.Fprintf(io.err, "\n%d rules enabled (severity %s and above)\n", len(rs), minSev)
		} else {
			fmt.Fprintf(io.err, "\n%d rules enabled\n", len(rs))
		}
		sum.WriteText(io.err)
	}
	switch {
	case err != nil:
		return fail("%v", err)
	case !sum.Clean():
		return exitError
	case sum.Findings > 0:
		return exitFindings
	}
	return exitOK
}

// minimum is the lowest severity to report: --min-severity, else min_severity of --config,
// else info; from names where it came from.
func (f *scanFlags) minimum() (finding.Severity, string, error) {
	if f.minSeverity != "" {
		s, err := finding.ParseSeverity(f.minSeverity)
		if err != nil {
			return 0, "", fmt.Errorf("--min-severity: %w", err)
		}
		return s, "--min-severity", nil
	}
	cfg, err := f.notify.loaded()
	if err != nil || cfg == nil {
		return finding.Info, "", err
	}
	return config.Severity(cfg.MinSeverity), "min_severity of " + f.notify.config, nil
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
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n >= 0 {
			return now.Add(-time.Duration(n) * 24 * time.Hour).UTC(), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a time (RFC 3339 or YYYY-MM-DD) or a duration ago (36h, 7d)", s)
}

// isTerminal reports whether w is a terminal.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
