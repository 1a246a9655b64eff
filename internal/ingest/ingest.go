// Package ingest owns the one path from an input to findings that `trailbell scan`,
// `trailbell run` and the Lambda function share: an input (a log file, a queue message, a
// single record or event) is decoded into records (internal/cloudtrail, within its limits),
// every record is detected on, and a per-input Report says what was read and what was not:
// records, bad records with their position and reason, bytes read and inflated, and whether
// the input was read whole. It also holds the one policy for bad input (policy.go), and the
// hook where detection with memory plugs in (Memory).
package ingest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/trailbell/trailbell/internal/cloudtrail"
	"github.com/trailbell/trailbell/internal/detect"
	"github.com/trailbell/trailbell/internal/finding"
)

// Detector turns one EventBridge envelope into findings (detect.Engine). It must be safe for
// concurrent use: an input's records are detected on while the next ones are decoded.
type Detector interface {
	Detect(envelope []byte) ([]finding.Finding, error)
}

// Matcher is a Detector that also says, in the same pass over a record, what detection with
// memory needs: the steps of stateful rules it matched (detect.Engine.MatchEvent, which reads
// what the decoder found of the record, its members, rather than splitting it again). With
// Memory set, the Reader's detector must be one: no record is matched twice.
type Matcher interface {
	MatchEvent(e cloudtrail.Event) (detect.Match, error)
}

// Memory is detection that remembers across records (thresholds, sequences, first seen,
// the person behind a role session: internal/correlate). An input is read into a
// MemoryInput begun for it: every record of the input is added with what it matched, in input
// order, from one goroutine; then, after the input's last record and before its findings are
// handed on and the input acknowledged, Commit evaluates it and returns all of the input's
// findings, the event rules' (which Memory may enrich) and its own. An input that fails
// before Commit is dropped and changes nothing.
//
// Commits come one input at a time (scan commits in input order); inputs are at-least-once,
// so a replayed input must give the same findings (rule and event id), which the outbox and
// dedupe then drop. Only event time counts, never the wall clock.
type Memory interface {
	Begin(input string) MemoryInput
}

// MemoryInput is one input on its way into Memory.
type MemoryInput interface {
	// Add takes one record and what the detector matched on it. An error is a bad record,
	// counted with the input's others, never a reason to retry the input.
	Add(e cloudtrail.Event, m detect.Match) error
	// Commit evaluates the input and returns its findings; an error fails the input, which
	// is retried.
	Commit(ctx context.Context) ([]finding.Finding, error)
}

// Options configure a Reader.
type Options struct {
	Detector Detector
	Memory   Memory // optional
	// Window keeps records by eventTime; records outside it are counted, not detected on.
	Window cloudtrail.Window
	// Limits bound the bytes and the work one input may take.
	Limits cloudtrail.Limits
	Logger *slog.Logger
}

// Reader reads inputs into findings. It is safe for concurrent use.
type Reader struct {
	o   Options
	log *slog.Logger
	det atomic.Pointer[Detector] // swapped by a rule reload
	mem sync.Mutex               // one Commit at a time
}

// New builds a Reader.
func New(o Options) (*Reader, error) {
	if o.Detector == nil {
		return nil, fmt.Errorf("ingest: no detector")
	}
	if _, ok := o.Detector.(Matcher); o.Memory != nil && !ok {
		return nil, fmt.Errorf("ingest: detection with memory needs a detector that matches steps (%T does not)", o.Detector)
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Reader{o: o, log: log}
	r.det.Store(&o.Detector)
	return r, nil
}

// Detector is the detector inputs started now are read with.
func (r *Reader) Detector() Detector { return *r.det.Load() }

// Swap makes d the detector of the inputs started from now on (a rule reload); inputs in
// hand finish with the detector they started with. With Memory, d must be a Matcher.
func (r *Reader) Swap(d Detector) error {
	if _, ok := d.(Matcher); r.o.Memory != nil && !ok {
		return fmt.Errorf("ingest: detection with memory needs a detector that matches steps (%T does not)", d)
	}
	r.det.Store(&d)
	return nil
}

// Input is one thing to read.
type Input struct {
	// Name names the input in origins, problems and reports: a path, an s3:// URL, a message.
	Name string
	Body io.Reader
}

// Found receives an input's findings, in input order, a few at a time; calls never overlap.
// An error stops the input, which fails.
type Found func([]finding.Finding) error

// Report is what one input gave.
type Report struct {
	Input    string
	Records  int // records decoded and inside the window
	Outside  int // records outside the window, not detected on
	Findings int
	// Bad counts bad records and unreadable parts (faults included); the first
	// cloudtrail.MaxProblems are described, each with its position.
	Bad      int
	Problems []cloudtrail.Problem
	// DetectFailures are records the detector failed on (also in Bad).
	DetectFailures int
	// Whole says the input was read to its end as JSON. When false, the records before each
	// fault were read, and the problems say where reading broke off or resumed.
	Whole    bool
	Bytes    int64 // bytes read from the input (compressed bytes for gzip)
	Inflated int64 // bytes decoded, after decompression
}

// Clean reports whether the input had nothing to report: every byte read, every record good.
func (r Report) Clean() bool { return r.Bad == 0 && r.Whole }

// problem adds one bad record or unreadable part.
func (r *Report) problem(p cloudtrail.Problem) {
	r.Bad++
	if len(r.Problems) < cloudtrail.MaxProblems {
		r.Problems = append(r.Problems, p)
	}
}

// Unreadable is the report of an input that could not be read at all as what it should be
// (a queue message that is no known notification).
func Unreadable(name string, err error) Report {
	r := Report{Input: name}
	r.problem(cloudtrail.Problem{Origin: name, Err: err})
	return r
}

// batchPool recycles the batches of decoded records across inputs: a log file is a batch or
// two, so batches made for each would cost an allocation (and clearing) per few hundred records.
var batchPool = sync.Pool{New: func() any { b := make([]cloudtrail.Event, 0, eventBatch); return &b }}

func getBatch() []cloudtrail.Event { return (*batchPool.Get().(*[]cloudtrail.Event))[:0] }

// putBatch hands a batch detection is done with back for reuse, dropping its records.
func putBatch(b []cloudtrail.Event) {
	if cap(b) != eventBatch {
		return
	}
	clear(b)
	b = b[:0]
	batchPool.Put(&b)
}

// eventBatch is how many decoded records go to detection at a time; findingsChunk is how
// many findings are handed on at a time.
const (
	eventBatch    = 256
	findingsChunk = 512
)

// Pending is an input read and detected on, waiting for Memory's Commit (Finish). Scan
// finishes inputs in input order while reading several at once.
type Pending struct {
	r      *Reader
	det    Detector
	mem    MemoryInput // nil without Memory
	report Report
	// detectProblems are the first records the detector (or Memory) failed on
	detectProblems []cloudtrail.Problem
}

// Report is the input's report so far (before Commit).
func (p *Pending) Report() Report { return p.report }

// Read reads one input to its end: decoding, detection, then Memory. It returns an error
// only when the input is worth retrying: it could not be read (the network, ctx), found or
// Memory failed. Bad records and faults are in the report.
func (r *Reader) Read(ctx context.Context, in Input, found Found) (Report, error) {
	p, err := r.Start(ctx, in, found)
	if err != nil {
		return p.report, err
	}
	return p.Finish(ctx, found)
}

// Start decodes the input and detects on its records, with decoding and detection on two
// goroutines so that one large file keeps two cores busy. Findings go to found as they come.
// Finish must follow, unless Start failed.
func (r *Reader) Start(ctx context.Context, in Input, found Found) (*Pending, error) {
	p := &Pending{r: r, det: *r.det.Load(), report: Report{Input: in.Name}}
	if r.o.Memory != nil {
		p.mem = r.o.Memory.Begin(in.Name)
	}
	cr := &countingReader{ctx: ctx, r: in.Body}

	batches := make(chan []cloudtrail.Event, 4)
	var detectErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		var out []finding.Finding
		for b := range batches {
			if detectErr == nil { // else drain, so decoding never blocks
				out, detectErr = p.detect(b, out, found)
			}
			putBatch(b)
		}
		if detectErr == nil && len(out) > 0 {
			detectErr = found(out)
		}
	})
	batch := getBatch()
	handOn := func() error {
		select {
		case batches <- batch:
			batch = getBatch()
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	stats, err := r.o.Limits.Decode(cr, in.Name, func(e cloudtrail.Event) error {
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
	putBatch(batch) // the one being filled: empty, or never handed on

	rep := &p.report
	rep.Bytes, rep.Inflated, rep.Whole = cr.n, stats.Inflated, stats.Whole()
	// records the detector failed on were decoded but not examined
	rep.Records = stats.Records - rep.Outside - rep.DetectFailures
	rep.Bad = stats.Bad + rep.DetectFailures
	rep.Problems = append(stats.Problems, p.detectProblems...)
	rep.Problems = rep.Problems[:min(len(rep.Problems), cloudtrail.MaxProblems)]
	switch {
	case err != nil:
		return p, err
	case detectErr != nil:
		return p, detectErr
	}
	return p, nil
}

// detect runs detection on a batch of records, appending findings to out and handing them
// on in chunks. With Memory, every record goes to it instead, and the findings come from
// Commit.
func (p *Pending) detect(b []cloudtrail.Event, out []finding.Finding, found Found) ([]finding.Finding, error) {
	o := &p.r.o
	m, _ := p.det.(Matcher) // always one with memory: Start checks
	for _, e := range b {
		if !o.Window.Contains(e.Time) {
			p.report.Outside++
			continue
		}
		if p.mem != nil {
			matched, err := m.MatchEvent(e)
			if err == nil {
				err = p.mem.Add(e, matched)
			}
			if err != nil {
				p.failed(e, err)
			}
			continue
		}
		fs, err := p.det.Detect(e.Envelope)
		if err != nil {
			p.failed(e, err)
			continue
		}
		out = appendFindings(out, fs, e.Origin)
		p.report.Findings += len(fs)
		if len(out) >= findingsChunk {
			if err := found(out); err != nil {
				return nil, err
			}
			out = nil
		}
	}
	return out, nil
}

// failed counts a record detection failed on.
func (p *Pending) failed(e cloudtrail.Event, err error) {
	p.report.DetectFailures++
	if len(p.detectProblems) < cloudtrail.MaxProblems {
		p.detectProblems = append(p.detectProblems, cloudtrail.Problem{Origin: e.Origin, Err: fmt.Errorf("detect: %w", err)})
	}
}

// appendFindings adds fs, found in the record at origin, to out (see settle).
func appendFindings(out, fs []finding.Finding, origin string) []finding.Finding {
	settle(fs, origin)
	return append(out, fs...)
}

// settle sets the origin of findings that have none, and makes their records valid UTF-8. A
// record's bytes are whatever the input held: invalid UTF-8 becomes U+FFFD here, so that every
// output (JSON lines, webhooks, Slack) is valid UTF-8. The findings of one record come one
// after another and share its bytes, which are checked once.
func settle(fs []finding.Finding, origin string) {
	var in, out []byte // the record checked last, and what it became
	for i := range fs {
		f := &fs[i]
		if f.Origin == "" {
			f.Origin = origin
		}
		if sameBytes(f.Record, in) {
			f.Record = out
			continue
		}
		in = f.Record
		if !f.PlainRecord() && !utf8.Valid(f.Record) {
			f.Record = validUTF8(f.Record)
		}
		out = f.Record
	}
}

// sameBytes reports whether a and b are the same bytes in memory, not only equal ones.
func sameBytes(a, b []byte) bool { return len(a) == len(b) && len(a) > 0 && &a[0] == &b[0] }

// validUTF8 returns a copy of b with each byte that is not part of valid UTF-8 replaced by
// U+FFFD, as encoding/json does with strings. In a record, such bytes can only be inside JSON
// strings (the decoder checked the rest), so the result is still the same JSON.
func validUTF8(b []byte) []byte {
	out := make([]byte, 0, len(b)+16)
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n == 1 {
			out = utf8.AppendRune(out, utf8.RuneError)
		} else {
			out = append(out, b[:n]...)
		}
		b = b[n:]
	}
	return out
}

// Finish commits the input to Memory, one input at a time, and hands on the findings Commit
// returns. Without Memory it only returns the report.
func (p *Pending) Finish(ctx context.Context, found Found) (Report, error) {
	if p.mem == nil {
		return p.report, nil
	}
	p.r.mem.Lock()
	fs, err := p.mem.Commit(ctx)
	p.r.mem.Unlock()
	p.mem = nil
	if err != nil {
		return p.report, fmt.Errorf("%s: memory: %w", p.report.Input, err)
	}
	// Commit's findings are the input's own: settled where they lie, not copied
	settle(fs, p.report.Input)
	p.report.Findings += len(fs)
	if len(fs) > 0 {
		if err := found(fs); err != nil {
			return p.report, err
		}
	}
	return p.report, nil
}

// countingReader counts the bytes read and stops reading once ctx is done, so that an input
// that takes too long (a bomb within its budget, a slow network) ends at the caller's
// deadline instead of running past it.
type countingReader struct {
	ctx context.Context
	r   io.Reader
	n   int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
