package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/trailbell/trailbell/internal/cloudtrail"
	"github.com/trailbell/trailbell/internal/config"
	"github.com/trailbell/trailbell/internal/correlate"
	"github.com/trailbell/trailbell/internal/detect"
	"github.com/trailbell/trailbell/internal/finding"
	"github.com/trailbell/trailbell/internal/notify"
	"github.com/trailbell/trailbell/internal/scan"
	"github.com/trailbell/trailbell/internal/source/s3"
	"github.com/trailbell/trailbell/internal/triage"
)

// ScanJob is what one scan reads and how, besides the configuration.
type ScanJob struct {
	// Paths are files, directories, "-" (Process.Stdin) and s3://bucket/prefix URLs.
	Paths  []string
	Window cloudtrail.Window
	// Format of the findings written to Process.Stdout: "text" or "json".
	Format string
	// StateDir carries the state of detections with memory from one scan to the next
	// (StateFile in it); empty keeps it in memory, for this scan only. It is never
	// state_dir: a backtest must not feed the daemon's live state.
	StateDir string
	// S3Region and S3Endpoint (an S3-compatible server) are for s3:// paths.
	S3Region, S3Endpoint string
	// Workers decode files at once; 0 is one per CPU (four per CPU for s3:// paths).
	Workers int
	// Progress, when set, receives a progress line (a terminal).
	Progress io.Writer
	// NotifyTimeout bounds the delivery of the findings after the scan; default 5m.
	NotifyTimeout time.Duration
	// ApplyMutes leaves out the findings a mute in force silences (the mutes people made from
	// interactive alerts, kept under state_dir or in state.dynamodb_table), as `run` and the
	// Lambda do: from the output, the summary's count and the receivers.
	ApplyMutes bool
}

// ScanResult is a finished scan: what it read and found, and how many rules it ran.
type ScanResult struct {
	*scan.Summary
	Rules int
	// Memory says what the rules with memory could not take in order or keep (records later
	// than the tolerance, evaluated early, groups dropped at a bound): a backtest with any
	// of these may differ from a live run.
	Memory []string
}

// Scan runs a backtest (internal/scan) as the configuration says: the rules it enables
// (Rules), detection with memory with its state settings, the run section's limits per
// input; findings are written to Process.Stdout and, when it has receivers, delivered through
// the pipeline once the scan is over. A nil result means nothing was scanned; with a result,
// the error says what failed after the scan started (a sink, delivery).
func Scan(ctx context.Context, cfg *config.Config, job ScanJob, p Process) (*ScanResult, error) {
	w := newWiring(cfg, p)
	rules, err := detectionRules(cfg)
	if err != nil {
		return nil, err
	}
	eng, err := detect.New(rules)
	if err != nil {
		return nil, err
	}
	var store correlate.Store
	if job.StateDir != "" {
		bs, err := openState(job.StateDir, "--state-dir")
		if err != nil {
			return nil, err
		}
		defer bs.Close()
		store = bs
	}
	memReg := prometheus.NewRegistry()
	mem, err := newMemory(eng, cfg.State, store, memReg, true)
	if err != nil {
		return nil, err
	}

	var sinks []scan.Sink
	var flush func() error
	switch job.Format {
	case "text":
		tw := scan.NewTextWriter(w.out)
		sinks, flush = append(sinks, tw.Write), tw.Flush
	case "json", "":
		jw := scan.NewJSONWriter(w.out)
		sinks, flush = append(sinks, jw.Write), jw.Flush
	default:
		return nil, fmt.Errorf("format %q: want text or json", job.Format)
	}
	var muted func(context.Context, *finding.Finding) (string, bool)
	if job.ApplyMutes {
		store, _, err := w.triageStore(ctx, "")
		if err != nil {
			return nil, fmt.Errorf("--apply-mutes: %w", err)
		}
		svc, err := triage.New(triage.Options{Store: store, Logger: w.log})
		if err != nil {
			return nil, err
		}
		// Read now, so that a store that cannot be read fails the scan before it starts.
		if _, err := svc.Mutes(ctx); err != nil {
			return nil, fmt.Errorf("--apply-mutes: %w", err)
		}
		muted = svc.Muted
	}
	var pl *notify.Pipeline
	if len(cfg.Notify.Receivers) > 0 {
		// secrets are resolved and receivers built before anything is read
		if pl, err = w.pipeline(ctx, pipelineSpec{dir: cfg.StateDir}); err != nil {
			return nil, err
		}
		defer pl.Close()
		// Submitted one by one: delivery starts after the scan (Flush), when all of an
		// event's findings are in the outbox to be merged into its alert.
		sinks = append(sinks, func(ctx context.Context, f finding.Finding) error { return pl.Submit(ctx, f) })
	}

	sum, err := scan.Run(ctx, scan.Options{
		Paths:    job.Paths,
		Stdin:    w.in,
		Detector: eng,
		Memory:   mem,
		Sinks:    sinks,
		Window:   job.Window,
		Limits:   scanLimits(cfg, eng),
		S3: func(ctx context.Context) (*s3.Source, error) {
			ac, err := w.awsConfig(ctx)
			if err != nil {
				return nil, err
			}
			return s3.New(s3Client(ac, job.S3Region, job.S3Endpoint, false), 0), nil
		},
		Workers:  job.Workers,
		Progress: job.Progress,
		Muted:    muted,
	})
	if sum == nil {
		return nil, err
	}
	err = errors.Join(err, flush())
	if pl != nil {
		fctx, cancel := context.WithTimeout(ctx, cmp.Or(job.NotifyTimeout, 5*time.Minute))
		if ferr := pl.Flush(fctx); ferr != nil {
			err = errors.Join(err, fmt.Errorf("notify: %w", ferr))
		}
		cancel()
	}
	return &ScanResult{Summary: sum, Rules: len(rules), Memory: memoryNotes(memReg)}, err
}

// memoryNotes reads what the rules with memory counted as taken late or early, or dropped.
func memoryNotes(reg *prometheus.Registry) []string {
	mfs, err := reg.Gather()
	if err != nil {
		return nil
	}
	var notes []string
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			v := m.GetCounter().GetValue()
			if v == 0 || len(m.GetLabel()) == 0 {
				continue
			}
			label := m.GetLabel()[0].GetValue()
			switch {
			case mf.GetName() == "trailbell_state_dropped_total":
				notes = append(notes, fmt.Sprintf("%.0f %s groups dropped at the bound (state.max_groups, max_keys)", v, label))
			case mf.GetName() == "trailbell_state_records_total" && label == "late":
				notes = append(notes, fmt.Sprintf("%.0f records later than the tolerance (evaluated out of order)", v))
			case mf.GetName() == "trailbell_state_records_total" && label == "early":
				notes = append(notes, fmt.Sprintf("%.0f records evaluated before the tolerance passed (too many waiting)", v))
			case mf.GetName() == "trailbell_state_records_total" && label == "untimed":
				notes = append(notes, fmt.Sprintf("%.0f records without eventTime or eventID (left out of rules with memory)", v))
			}
		}
	}
	return notes
}

// scanLimits are the run section's limits per input, and the envelopes' ids left out when no
// pattern of the scan's engine tests them: a scan's rules are fixed, where the daemon's and
// the Lambda's may change while they read (cloudtrail.Limits.NoIDs).
func scanLimits(cfg *config.Config, eng *detect.Engine) cloudtrail.Limits {
	l := cfg.Run.Limits()
	l.NoIDs = !eng.ReadsEnvelopeID()
	return l
}
