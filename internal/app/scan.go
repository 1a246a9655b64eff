package app

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
	"github.com/trailbell/trailbell/internal/source/file"
	"github.com/trailbell/trailbell/internal/source/s3"
)

// Detector turns one EventBridge envelope into findings (detect.Engine).
type Detector interface {
	Detect(envelope []byte) ([]finding.Finding, error)
}

// Sink receives every finding of a scan, in input order. An error stops the scan.
type Sink func(context.Context, finding.Finding) error

// ScanOptions say what to scan and where findings go.
type ScanOptions struct {
	// Paths are files, directories, "-" (Stdin) and s3://bucket/prefix URLs.
	Paths    []string
	Stdin    io.Reader
	Detector Detector
	Sinks    []Sink
	// Window keeps log files by the time in their key and records by eventTime.
	Window cloudtrail.Window
	// S3 configures the client for s3:// paths (built only when one is given).
	S3 s3.Options
	// Workers decode files concurrently; 0 means one per CPU (four per CPU for s3:// paths).
	Workers int
	// Progress, when set, receives a one-line progress display (a terminal).
	Progress io.Writer
	// Now is the clock for throughput; nil means time.Now.
	Now func() time.Time
}

// ScanSummary is what a scan saw: a backtest report.
type ScanSummary struct {
	Files          int   // inputs read
	Bytes          int64 // bytes read from them (compressed size for gzip)
	SkippedDigest  int
	SkippedByTime  int // files outside the window by key time
	SkippedOther   int // non-JSON files met in directories
	Records        int // records decoded
	RecordsByTime  int // records outside the window by eventTime
	Bad            int // bad records and unreadable parts of inputs
	Problems       []cloudtrail.Problem
	BadByInput     map[string]int // inputs with bad records, and how many
	Unreadable     []error        // inputs that could not be opened or read
	Findings       int
	PerRule        map[string]int
	PerSeverity    map[finding.Severity]int
	PerDay         map[string]int // YYYY-MM-DD of eventTime
	Elapsed        time.Duration
	DetectFailures int // records the detector failed on (also counted in Bad)
}

// input is one file or object to decode.
type input struct {
	name string
	size int64
	open func(context.Context) (io.ReadCloser, error)
}

// fileResult is what a worker learned from one input, flushed in input order. A large input
// sends its findings in chunks as it goes, so memory does not grow with its size; the last
// chunk is final and carries the counts.
type fileResult struct {
	seq      int
	name     string
	final    bool
	findings []finding.Finding
	stats    cloudtrail.Stats
	outside  int
	detFails int
	bytes    int64
	err      error
}

// Scan reads every input, runs detection, and hands findings to the sinks in input order
// (files in the order given and listed, records in file order), decoding files concurrently.
// Bad records never stop it; they are counted and described in the summary. It returns an
// error when listing fails, a sink fails or ctx ends; unreadable files are in the summary.
func Scan(ctx context.Context, o ScanOptions) (*ScanSummary, error) {
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
	if o.Detector == nil {
		return nil, errors.New("scan: no detector")
	}
	sum := &ScanSummary{
		PerRule:     map[string]int{},
		PerSeverity: map[finding.Severity]int{},
		PerDay:      map[string]int{},
		BadByInput:  map[string]int{},
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
		sk, err := listInputs(ctx, o, send)
		sum.SkippedDigest, sum.SkippedByTime, sum.SkippedOther = sk.digest, sk.byTime, sk.other
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
				if err := send(scanOne(ctx, j, o, prog, send)); err != nil {
					return err
				}
			}
			return nil
		})
	}
	go func() { wg.Wait(); close(results) }()

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
					sinkErr = sum.add(ctx, c, o.Sinks)
					if sinkErr != nil {
						// stop reading; the workers see ctx ended through the errgroup
						g.Go(func() error { return sinkErr })
					}
				}
				if prog != nil {
					prog.flushed(c)
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
	err := g.Wait()
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

type skipped struct{ digest, byTime, other int }

// listInputs finds the inputs of every path, in order.
func listInputs(ctx context.Context, o ScanOptions, send func(input) error) (skipped, error) {
	var sk skipped
	var src *s3.Source
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
		if src == nil {
			var err error
			if src, err = s3.New(ctx, o.S3); err != nil {
				return sk, err
			}
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

// countingReader counts bytes read, for throughput.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
	c int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.c += int64(n)
	c.n.Add(int64(n))
	return n, err
}

// findingsChunk is how many findings of one input are handed on at a time.
const findingsChunk = 512

// eventBatch is how many decoded events go to detection at a time.
const eventBatch = 256

// scanOne decodes one input and runs detection on its records. Decoding (with inflating) and
// detection run in two goroutines, so one large file keeps two cores busy; send passes on
// findings of a large input before it is done.
func scanOne(ctx context.Context, j job, o ScanOptions, prog *progress, send func(fileResult) error) fileResult {
	r := fileResult{seq: j.seq, name: j.in.name, final: true}
	rc, err := j.in.open(ctx)
	if err != nil {
		r.err = fmt.Errorf("%s: %w", j.in.name, err)
		return r
	}
	defer rc.Close()
	n := new(atomic.Int64)
	if prog != nil {
		n = &prog.bytes // the progress line shows bytes as they are read
	}
	cr := &countingReader{r: rc, n: n}

	batches := make(chan []cloudtrail.Event, 4)
	var probs []cloudtrail.Problem
	var detectErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for b := range batches {
			if detectErr != nil {
				continue // drain, so decoding never blocks
			}
			detectErr = detectBatch(b, j.seq, o, &r, &probs, send)
		}
	}()
	batch := make([]cloudtrail.Event, 0, eventBatch)
	handOn := func() error {
		select {
		case batches <- batch:
			batch = make([]cloudtrail.Event, 0, eventBatch)
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	stats, err := cloudtrail.Decode(cr, j.in.name, func(e cloudtrail.Event) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		batch = append(batch, e)
		if len(batch) == eventBatch {
			return handOn()
		}
		return nil
	})
	if err == nil && len(batch) > 0 {
		err = handOn()
	}
	close(batches)
	wg.Wait()
	r.stats = stats
	r.bytes = cr.c
	if r.detFails > 0 {
		r.stats.Add(cloudtrail.Stats{Bad: r.detFails, Problems: probs})
		r.stats.Records -= r.detFails // they were decoded but could not be examined
	}
	switch {
	case err != nil:
		r.err = err
	case detectErr != nil:
		r.err = detectErr
	}
	if prog != nil {
		prog.records.Add(int64(r.stats.Records))
	}
	return r
}

// detectBatch runs detection on decoded events, collecting findings into r.
func detectBatch(b []cloudtrail.Event, seq int, o ScanOptions, r *fileResult, probs *[]cloudtrail.Problem, send func(fileResult) error) error {
	for _, e := range b {
		if !o.Window.Contains(e.Time) {
			r.outside++
			continue
		}
		fs, err := o.Detector.Detect(e.Envelope)
		if err != nil {
			r.detFails++
			if len(*probs) < cloudtrail.MaxProblems {
				*probs = append(*probs, cloudtrail.Problem{Origin: e.Origin, Err: fmt.Errorf("detect: %w", err)})
			}
			continue
		}
		for i := range fs {
			if fs[i].Origin == "" {
				fs[i].Origin = e.Origin
			}
		}
		r.findings = append(r.findings, fs...)
		if len(r.findings) >= findingsChunk {
			if err := send(fileResult{seq: seq, findings: r.findings}); err != nil {
				return err
			}
			r.findings = nil
		}
	}
	return nil
}

// add merges one input's result (or a chunk of its findings) and hands the findings to the sinks.
func (s *ScanSummary) add(ctx context.Context, r fileResult, sinks []Sink) error {
	if !r.final {
		return s.addFindings(ctx, r.findings, sinks)
	}
	s.Files++
	s.Bytes += r.bytes
	s.Records += r.stats.Records
	s.RecordsByTime += r.outside
	s.Bad += r.stats.Bad
	if r.stats.Bad > 0 {
		s.BadByInput[r.name] += r.stats.Bad
	}
	s.DetectFailures += r.detFails
	for _, p := range r.stats.Problems {
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
	return s.addFindings(ctx, r.findings, sinks)
}

func (s *ScanSummary) addFindings(ctx context.Context, fs []finding.Finding, sinks []Sink) error {
	for _, f := range fs {
		s.Findings++
		s.PerRule[f.Rule]++
		s.PerSeverity[f.Severity]++
		day := "unknown"
		if t, ok := cloudtrail.ParseTime(f.EventTime); ok {
			day = t.Format("2006-01-02")
		}
		s.PerDay[day]++
		for _, sink := range sinks {
			if err := sink(ctx, f); err != nil {
				return fmt.Errorf("finding %s: %w", f.Key(), err)
			}
		}
	}
	return nil
}

// WriteText writes the summary for people: what was read, findings per rule and per day,
// the first problems, and throughput.
func (s *ScanSummary) WriteText(w io.Writer) {
	secs := s.Elapsed.Seconds()
	if secs <= 0 {
		secs = 1e-9
	}
	fmt.Fprintf(w, "scanned %d files (%s), %d records in %s: %.0f records/s, %.1f MB/s\n",
		s.Files, sizeText(s.Bytes), s.Records, s.Elapsed.Round(time.Millisecond), float64(s.Records)/secs, float64(s.Bytes)/1e6/secs)
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
