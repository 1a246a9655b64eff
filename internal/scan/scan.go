// Package scan is the backtest engine behind `trailbell scan`: it lists every input of the
// paths it is given (files, directories, standard input, s3:// prefixes) in a stable order,
// reads them through internal/ingest on several workers, and hands the findings to its sinks
// in input order, with detection with memory committed input by input in that order. It
// sums up what it read in a Summary (records, findings per rule and day, bad records and
// where, inputs not read whole) and writes findings as JSON lines or text for people.
// It builds nothing from configuration: internal/app gives it a detector, a memory and an
// S3 source.
package scan

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/trailbell/trailbell/internal/cloudtrail"
	"github.com/trailbell/trailbell/internal/finding"
	"github.com/trailbell/trailbell/internal/ingest"
	"github.com/trailbell/trailbell/internal/source/file"
	"github.com/trailbell/trailbell/internal/source/s3"
)

// Detector turns one EventBridge envelope into findings (detect.Engine).
type Detector = ingest.Detector

// Memory is detection with memory in a scan: ingest's Memory, flushed at the end of the
// backtest, when no more records can come (internal/correlate); Flush hands what it finds to
// deliver before it stores its state.
type Memory interface {
	ingest.Memory
	Flush(ctx context.Context, deliver func(context.Context, []finding.Finding) error) error
}

// Sink receives every finding of a scan, in input order. An error stops the scan.
type Sink func(context.Context, finding.Finding) error

// Options say what to scan and where findings go.
type Options struct {
	// Paths are files, directories, "-" (Stdin) and s3://bucket/prefix URLs.
	Paths    []string
	Stdin    io.Reader
	Detector Detector
	// Memory, when set, is detection with memory: inputs are committed to it in input order
	// (log files in the order of the time in their names, across accounts and regions, when
	// every input has one; else as given and listed), and it is flushed at the end. Detector
	// must then be an ingest.Matcher.
	Memory Memory
	Sinks  []Sink
	// Window keeps log files by the time in their key and records by eventTime.
	Window cloudtrail.Window
	// Limits bound the bytes and the work one input may take.
	Limits cloudtrail.Limits
	// S3 returns the source of s3:// paths; it is called only when one is given.
	S3 func(context.Context) (*s3.Source, error)
	// Workers decode files concurrently; 0 means one per CPU (four per CPU for s3:// paths).
	Workers int
	// Progress, when set, receives a one-line progress display (a terminal).
	Progress io.Writer
	// Now is the clock for throughput; nil means time.Now.
	Now func() time.Time
	// Muted, when set, says whether a mute in force silences a finding (scan --apply-mutes):
	// such a finding reaches no sink and is counted in Summary.Muted, not Findings.
	Muted func(context.Context, *finding.Finding) (string, bool)
}

// Summary is what a scan saw: a backtest report.
type Summary struct {
	Files          int   // inputs read
	Bytes          int64 // bytes read from them (compressed bytes for gzip)
	Inflated       int64 // bytes decoded from them, after decompression
	SkippedDigest  int
	SkippedByTime  int // files outside the window by key time
	SkippedOther   int // non-JSON files met in directories
	Loops          int // links to a folder above them, not followed
	Repeats        int // files and folders reached a second time, read once
	Records        int // records decoded
	RecordsByTime  int // records outside the window by eventTime
	Bad            int // bad records and unreadable parts of inputs
	Problems       []cloudtrail.Problem
	BadByInput     map[string]int // inputs with bad records, and how many
	NotWhole       []string       // inputs that could not be read whole (the first MaxProblems)
	NotWholeCount  int
	Unreadable     []error // inputs that could not be opened or read
	Findings       int
	Muted          int // findings a mute silenced (Options.Muted)
	PerRule        map[string]int
	PerSeverity    map[finding.Severity]int
	PerDay         map[string]int // YYYY-MM-DD of eventTime
	Elapsed        time.Duration
	DetectFailures int // records the detector failed on (also counted in Bad)

	muted func(context.Context, *finding.Finding) (string, bool)
	// the day of the last eventTime counted (day)
	lastTime, lastDay string
}

// Clean reports whether every input was read whole with no bad record: what `scan` needs to
// exit 0 or 1 rather than 2.
func (s *Summary) Clean() bool { return s.Bad == 0 && len(s.Unreadable) == 0 }

// input is one file or object to decode.
type input struct {
	name string
	size int64
	open func(context.Context) (io.ReadCloser, error)
}

// fileResult is what a worker learned from one input, flushed in input order. A large input
// sends its findings in chunks as it goes, so memory does not grow with its size; the last
// chunk is final and carries the input's report, and what Memory still has to see.
type fileResult struct {
	seq      int
	final    bool
	findings []finding.Finding
	pending  *ingest.Pending // nil when the input could not be read
	report   ingest.Report
	err      error
}

// Run reads every input, runs detection, and hands findings to the sinks in input order
// (files in the order given and listed, records in file order), decoding files concurrently.
// Bad records never stop it; they are counted and described in the summary. It returns an
// error when listing fails, a sink fails or ctx ends; unreadable files are in the summary.
func Run(ctx context.Context, o Options) (*Summary, error) {
	now := o.Now
	if now == nil {
		now = time.Now
	}
	start := now()
	workers := o.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
		for _, p := range o.Paths {
			if strings.HasPrefix(p, "s3://") {
				// reading objects waits on the network: more at once keeps the CPUs fed
				workers *= 4
				break
			}
		}
	}
	io := ingest.Options{Detector: o.Detector, Window: o.Window, Limits: o.Limits}
	if o.Memory != nil {
		io.Memory = o.Memory
	}
	reader, err := ingest.New(io)
	if err != nil {
		return nil, fmt.Errorf("scan: %w", err)
	}
	// Every path is checked before anything is read: one missing path fails the scan
	// whole, never after a varying part of the output.
	src, err := checkPaths(ctx, o)
	if err != nil {
		return nil, err
	}
	sum := &Summary{
		PerRule:     map[string]int{},
		PerSeverity: map[finding.Severity]int{},
		PerDay:      map[string]int{},
		BadByInput:  map[string]int{},
		muted:       o.Muted,
	}

	var prog *progress
	if o.Progress != nil {
		prog = newProgress(o.Progress, now)
	}

	g, ctx := errgroup.WithContext(ctx)
	jobs := make(chan job)
	results := make(chan fileResult, workers)
	// tokens bound the inputs read but not yet flushed, so one slow file cannot make the
	// others pile up in memory while output waits for it
	tokens := make(chan struct{}, 4*workers)

	var listErr error
	g.Go(func() error {
		defer close(jobs)
		seq := 0
		send := func(in input) error {
			select {
			case tokens <- struct{}{}:
			case <-ctx.Done():
				return ctx.Err()
			}
			select {
			case jobs <- job{seq: seq, in: in}:
				seq++
				if prog != nil {
					prog.listed.Add(1)
				}
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		sk, err := listInputs(ctx, o, src, send)
		sum.SkippedDigest, sum.SkippedByTime, sum.SkippedOther = sk.digest, sk.byTime, sk.other
		sum.Loops, sum.Repeats = sk.loops, sk.repeats
		if prog != nil {
			prog.listingDone.Store(true)
		}
		listErr = err
		return err
	})

	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		g.Go(func() error {
			defer wg.Done()
			send := func(r fileResult) error {
				select {
				case results <- r:
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			for j := range jobs {
				if err := send(scanOne(ctx, reader, j, prog, send)); err != nil {
					return err
				}
			}
			return nil
		})
	}
	g.Go(func() error { wg.Wait(); close(results); return nil })

	// The collector runs here: it owns the summary and calls the sinks, in input order.
	var sinkErr error
	pending := map[int][]fileResult{}
	next := 0
	for r := range results {
		pending[r.seq] = append(pending[r.seq], r)
		for len(pending[next]) > 0 {
			chunks := pending[next]
			delete(pending, next)
			final := false
			for _, c := range chunks {
				if sinkErr == nil {
					sinkErr = sum.add(ctx, c, o.Sinks, prog)
					if sinkErr != nil {
						// stop reading; the workers see ctx ended through the errgroup
						g.Go(func() error { return sinkErr })
					}
				}
				final = final || c.final
			}
			if !final {
				break // the rest of this input is still being read
			}
			next++
			<-tokens
		}
	}
	err = g.Wait()
	if err == nil && sinkErr == nil && listErr == nil && o.Memory != nil {
		// the end of the backtest: what Memory still holds back for late records is evaluated
		err = o.Memory.Flush(ctx, func(ctx context.Context, fs []finding.Finding) error {
			sinkErr = sum.addFindings(ctx, fs, o.Sinks)
			return sinkErr
		})
		if sinkErr != nil {
			err = nil
		}
	}
	if prog != nil {
		prog.stop()
	}
	sum.Elapsed = now().Sub(start)
	switch {
	case sinkErr != nil:
		return sum, sinkErr
	case listErr != nil:
		return sum, listErr
	}
	return sum, err
}

type job struct {
	seq int
	in  input
}

type skipped struct{ digest, byTime, other, loops, repeats int }

// checkPaths checks every path before the scan starts, reporting all that are wrong at
// once: local paths exist, standard input is named once, s3:// URLs parse and can be listed.
// It returns the S3 source when an s3:// path needs one.
func checkPaths(ctx context.Context, o Options) (*s3.Source, error) {
	var local, remote []string
	for _, p := range o.Paths {
		if strings.HasPrefix(p, "s3://") {
			remote = append(remote, p)
		} else {
			local = append(local, p)
		}
	}
	errs := []error{file.Check(local)}
	var src *s3.Source
	if len(remote) > 0 {
		var err error
		if o.S3 == nil {
			return nil, fmt.Errorf("%s: no S3 client configured", remote[0])
		}
		if src, err = o.S3(ctx); err != nil {
			return nil, err
		}
		for _, p := range remote {
			errs = append(errs, src.Check(ctx, p))
		}
	}
	return src, errors.Join(errs...)
}

// listInputs finds the inputs of every path, in order.
func listInputs(ctx context.Context, o Options, src *s3.Source, send func(input) error) (skipped, error) {
	if o.Memory != nil {
		// Memory sees records in the order inputs are committed: log files of all accounts
		// and regions in the order of their times, as they arrive in S3, rather than one
		// region's days after another's, which would make every other region's records late.
		var all []input
		sk, err := listInputsInOrder(ctx, o, src, func(in input) error {
			all = append(all, in)
			return nil
		})
		if err != nil {
			return sk, err
		}
		sortByKeyTime(all)
		for _, in := range all {
			if err := send(in); err != nil {
				return sk, err
			}
		}
		return sk, nil
	}
	return listInputsInOrder(ctx, o, src, send)
}

// sortByKeyTime orders inputs by the time in their names (CloudTrail log files), when every
// one has such a time; else it keeps them as given.
func sortByKeyTime(ins []input) {
	times := make(map[string]time.Time, len(ins))
	for _, in := range ins {
		t, ok := cloudtrail.KeyTime(in.name)
		if !ok {
			return
		}
		times[in.name] = t
	}
	slices.SortStableFunc(ins, func(a, b input) int { return times[a.name].Compare(times[b.name]) })
}

// listInputsInOrder lists the inputs of every path, in the order given and listed.
func listInputsInOrder(ctx context.Context, o Options, src *s3.Source, send func(input) error) (skipped, error) {
	var sk skipped
	var local []string
	flushLocal := func() error {
		if len(local) == 0 {
			return nil
		}
		fs, err := file.Walk(ctx, local, o.Window, func(in file.Input) error {
			return send(input{name: displayName(in.Path), size: in.Size, open: func(context.Context) (io.ReadCloser, error) {
				return file.Open(in, o.Stdin)
			}})
		})
		local = local[:0]
		sk.digest += fs.Digest
		sk.byTime += fs.OutOfRange
		sk.other += fs.Other
		sk.loops += fs.Loops
		sk.repeats += fs.Repeats
		return err
	}
	for _, p := range o.Paths {
		if !strings.HasPrefix(p, "s3://") {
			local = append(local, p)
			continue
		}
		if err := flushLocal(); err != nil {
			return sk, err
		}
		ss, err := src.Walk(ctx, p, o.Window, func(obj s3.Object) error {
			return send(input{name: obj.URL(), size: obj.Size, open: func(ctx context.Context) (io.ReadCloser, error) {
				return src.Open(ctx, obj)
			}})
		})
		sk.digest += ss.Digest
		sk.byTime += ss.OutOfRange
		if err != nil {
			return sk, err
		}
	}
	return sk, flushLocal()
}

func displayName(p string) string {
	if p == "-" {
		return "stdin"
	}
	return p
}

// progressReader adds the bytes read to the progress line's count.
type progressReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *progressReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// scanOne reads one input through ingest; send passes on findings of a large input before it
// is done. Memory, if any, sees the input later, in input order (Summary.add).
func scanOne(ctx context.Context, reader *ingest.Reader, j job, prog *progress, send func(fileResult) error) fileResult {
	r := fileResult{seq: j.seq, final: true, report: ingest.Report{Input: j.in.name}}
	rc, err := j.in.open(ctx)
	if err != nil {
		r.err = fmt.Errorf("%s: %w", j.in.name, err)
		return r
	}
	defer rc.Close()
	var body io.Reader = rc
	if prog != nil {
		body = &progressReader{r: rc, n: &prog.bytes} // the progress line shows bytes as they are read
	}
	p, err := reader.Start(ctx, ingest.Input{Name: j.in.name, Body: body}, func(fs []finding.Finding) error {
		return send(fileResult{seq: j.seq, findings: fs})
	})
	r.report = p.Report()
	if err != nil {
		r.err = err
		return r
	}
	r.pending = p
	return r
}

// add merges one input's result (or a chunk of its findings) and hands the findings to the
// sinks; for the final chunk it runs Memory over the input first, in input order.
func (s *Summary) add(ctx context.Context, r fileResult, sinks []Sink, prog *progress) error {
	if prog != nil {
		prog.findings.Add(int64(len(r.findings)))
	}
	if !r.final {
		return s.addFindings(ctx, r.findings, sinks)
	}
	if err := s.addFindings(ctx, r.findings, sinks); err != nil {
		return err
	}
	rep := r.report
	if r.pending != nil {
		var err error
		rep, err = r.pending.Finish(ctx, func(fs []finding.Finding) error { return s.addFindings(ctx, fs, sinks) })
		if err != nil && r.err == nil {
			r.err = err
		}
	}
	if prog != nil {
		prog.files.Add(1)
		prog.records.Add(int64(rep.Records))
	}
	s.Files++
	s.Bytes += rep.Bytes
	s.Inflated += rep.Inflated
	s.Records += rep.Records
	s.RecordsByTime += rep.Outside
	s.Bad += rep.Bad
	if rep.Bad > 0 {
		s.BadByInput[rep.Input] += rep.Bad
	}
	if !rep.Whole && r.err == nil {
		if s.NotWholeCount++; len(s.NotWhole) < cloudtrail.MaxProblems {
			s.NotWhole = append(s.NotWhole, rep.Input)
		}
	}
	s.DetectFailures += rep.DetectFailures
	for _, p := range rep.Problems {
		if len(s.Problems) < cloudtrail.MaxProblems {
			s.Problems = append(s.Problems, p)
		}
	}
	if r.err != nil {
		if errors.Is(r.err, context.Canceled) && ctx.Err() != nil {
			return nil
		}
		s.Unreadable = append(s.Unreadable, r.err)
	}
	return nil
}

func (s *Summary) addFindings(ctx context.Context, fs []finding.Finding, sinks []Sink) error {
	for i := range fs {
		f := &fs[i] // not a copy of each finding on the heap for muted
		if s.muted != nil {
			if _, ok := s.muted(ctx, f); ok {
				s.Muted++
				continue
			}
		}
		s.Findings++
		s.PerRule[f.Rule]++
		s.PerSeverity[f.Severity]++
		s.PerDay[s.day(f.EventTime)]++
		for _, sink := range sinks {
			if err := sink(ctx, *f); err != nil {
				return fmt.Errorf("finding %s: %w", f.Key(), err)
			}
		}
	}
	return nil
}

// day is the YYYY-MM-DD of an eventTime, "unknown" when it is not a time. The findings of
// one record come one after another: their time is read once.
func (s *Summary) day(eventTime string) string {
	if eventTime != s.lastTime || s.lastDay == "" {
		day := "unknown"
		if t, ok := cloudtrail.ParseTime(eventTime); ok {
			// the usual time, in UTC as CloudTrail writes it, starts with its day: the one
			// made for the time before when they share it (most findings one after another)
			if len(eventTime) == 20 && eventTime[10] == 'T' && eventTime[19] == 'Z' && eventTime[:10] == s.lastDay {
				day = s.lastDay
			} else {
				day = t.Format("2006-01-02")
			}
		}
		s.lastTime, s.lastDay = eventTime, day
	}
	return s.lastDay
}

// WriteText writes the summary for people: what was read, findings per rule and per day,
// the first problems, and throughput.
func (s *Summary) WriteText(w io.Writer) {
	secs := s.Elapsed.Seconds()
	if secs <= 0 {
		secs = 1e-9
	}
	size := sizeText(s.Bytes)
	if s.Inflated != s.Bytes {
		size += " read, " + sizeText(s.Inflated) + " decompressed"
	}
	fmt.Fprintf(w, "scanned %d files (%s), %d records in %s: %.0f records/s, %.1f MB/s\n",
		s.Files, size, s.Records, s.Elapsed.Round(time.Millisecond), float64(s.Records)/secs, float64(s.Bytes)/1e6/secs)
	var skips []string
	if s.SkippedDigest > 0 {
		skips = append(skips, fmt.Sprintf("%d digest files", s.SkippedDigest))
	}
	if s.SkippedByTime > 0 {
		skips = append(skips, fmt.Sprintf("%d files outside the time window", s.SkippedByTime))
	}
	if s.SkippedOther > 0 {
		skips = append(skips, fmt.Sprintf("%d non-JSON files", s.SkippedOther))
	}
	if s.RecordsByTime > 0 {
		skips = append(skips, fmt.Sprintf("%d records outside the time window", s.RecordsByTime))
	}
	if s.Repeats > 0 {
		skips = append(skips, fmt.Sprintf("%d files or folders reached again through links (read once)", s.Repeats))
	}
	if s.Loops > 0 {
		skips = append(skips, fmt.Sprintf("%d links to a folder above them (loops, not followed)", s.Loops))
	}
	if len(skips) > 0 {
		fmt.Fprintf(w, "skipped %s\n", strings.Join(skips, ", "))
	}
	fmt.Fprintf(w, "findings: %d", s.Findings)
	if s.Findings > 0 {
		var sev []string
		for v := finding.Critical; v >= finding.Info; v-- {
			if n := s.PerSeverity[v]; n > 0 {
				sev = append(sev, fmt.Sprintf("%d %s", n, v))
			}
		}
		fmt.Fprintf(w, " (%s)", strings.Join(sev, ", "))
	}
	if s.Muted > 0 {
		fmt.Fprintf(w, "; %d more silenced by mutes in force (trailbell mutes)", s.Muted)
	}
	fmt.Fprintln(w)
	if len(s.PerRule) > 0 {
		fmt.Fprintln(w, "by rule:")
		for _, kv := range sortedCounts(s.PerRule, true) {
			fmt.Fprintf(w, "  %6d  %s\n", kv.n, kv.k)
		}
		fmt.Fprintln(w, "by day:")
		for _, kv := range sortedCounts(s.PerDay, false) {
			fmt.Fprintf(w, "  %6d  %s\n", kv.n, kv.k)
		}
	}
	if s.Bad > 0 {
		fmt.Fprintf(w, "bad records: %d", s.Bad)
		if s.DetectFailures > 0 {
			fmt.Fprintf(w, " (%d failed detection)", s.DetectFailures)
		}
		fmt.Fprintf(w, "; first %d:\n", len(s.Problems))
		for _, p := range s.Problems {
			fmt.Fprintf(w, "  %s\n", p)
		}
		if len(s.BadByInput) > 1 {
			// the first problems may all come from one input: say where the rest are
			fmt.Fprintf(w, "bad records by input (%d inputs):\n", len(s.BadByInput))
			for i, kv := range sortedCounts(s.BadByInput, true) {
				if i == 10 {
					fmt.Fprintf(w, "  ... and %d more inputs\n", len(s.BadByInput)-i)
					break
				}
				fmt.Fprintf(w, "  %6d  %s\n", kv.n, kv.k)
			}
		}
	}
	if s.NotWholeCount > 0 {
		fmt.Fprintf(w, "inputs not read whole (records up to each fault were scanned; the problems above say where): %d\n", s.NotWholeCount)
		for _, name := range s.NotWhole {
			fmt.Fprintf(w, "  %s\n", name)
		}
		if n := s.NotWholeCount - len(s.NotWhole); n > 0 {
			fmt.Fprintf(w, "  ... and %d more\n", n)
		}
	}
	if len(s.Unreadable) > 0 {
		fmt.Fprintf(w, "unreadable inputs: %d\n", len(s.Unreadable))
		for i, err := range s.Unreadable {
			if i == cloudtrail.MaxProblems {
				fmt.Fprintf(w, "  ... and %d more\n", len(s.Unreadable)-i)
				break
			}
			fmt.Fprintf(w, "  %v\n", err)
		}
	}
}

type count struct {
	k string
	n int
}

// sortedCounts orders by count (then name) when byCount, else by name.
func sortedCounts(m map[string]int, byCount bool) []count {
	out := make([]count, 0, len(m))
	for k, n := range m {
		out = append(out, count{k, n})
	}
	slices.SortFunc(out, func(a, b count) int {
		if byCount && a.n != b.n {
			return b.n - a.n
		}
		return cmp.Compare(a.k, b.k)
	})
	return out
}

func sizeText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
