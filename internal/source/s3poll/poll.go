// Package s3poll follows CloudTrail log files as they land in S3 trail prefixes. It discovers
// the ACCOUNT/CloudTrail/REGION prefixes under a configured prefix (one account, several, or an
// AWS Organizations trail), because keys sort by time only inside one of those, and keeps a
// StartAfter checkpoint for each. A checkpoint moves only after the handler has accepted a
// file, so delivery is at-least-once.
package s3poll

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"

	"github.com/trailbell/trailbell/internal/checkpoint"
	"github.com/trailbell/trailbell/internal/cloudtrail"
	"github.com/trailbell/trailbell/internal/source"
)

// API is the part of the S3 client the poller uses.
type API interface {
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, opts ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// Object is one log file.
type Object struct {
	cloudtrail.Object
	LastModified time.Time
}

// Handler processes one log file. Returning nil means every finding from it is durably
// accepted; the checkpoint then moves past it. An error leaves the file to the next poll.
type Handler func(ctx context.Context, obj Object, body io.Reader) error

// Options configure a Poller; zero durations take the defaults noted.
type Options struct {
	Client API
	Bucket string
	Prefix string // "" for the whole bucket; may end at any level down to a region
	State  *checkpoint.Dir

	Interval time.Duration // between polls of a prefix (default 1m)
	// Since is how far back to start in a prefix that has no checkpoint yet; 0 reads its whole
	// history.
	Since time.Duration
	// LateWindow is how long after a newer file a file with an older key is still picked up:
	// CloudTrail delivery is not strictly in order (default 30m).
	LateWindow time.Duration
	// Rediscover is how often to look for new account and region prefixes (default 10m).
	Rediscover time.Duration
	// Parallel bounds how many prefixes are polled at once (default 4).
	Parallel int
	// Grace is how long the file in hand may take to finish after shutdown begins (default 30s).
	Grace time.Duration

	Logger  *slog.Logger
	Metrics *Metrics
	Now     func() time.Time
	// OnError, when set, hears every error that is logged and retried (a file that keeps
	// failing, a listing denied), so the owner can say why data stopped.
	OnError func(error)
	// Stuck, when set, is told once when a file has failed for StuckAfter (default 30m):
	// the files behind it in its prefix wait, so someone must look (a KMS key or bucket
	// policy that denies, a corrupt object the handler refuses).
	// An error from Stuck means it should be told again at the next failure.
	Stuck      func(ctx context.Context, obj Object, since time.Time, err error) error
	StuckAfter time.Duration
}

// Poller polls one bucket prefix.
type Poller struct {
	o      Options
	source string // s3://bucket/prefix, for logs and metrics

	mu      sync.Mutex
	cursors map[string]*cursor // by leaf prefix
	failing map[string]failure // by key, while a file keeps failing
}

type failure struct {
	since    time.Time
	reported bool
}

// New checks the options and fills in defaults.
func New(o Options) (*Poller, error) {
	if o.Client == nil || o.Bucket == "" || o.State == nil {
		return nil, errors.New("s3poll: client, bucket and state directory are required")
	}
	o.Interval = cmp.Or(o.Interval, time.Minute)
	o.LateWindow = cmp.Or(o.LateWindow, 30*time.Minute)
	o.Rediscover = cmp.Or(o.Rediscover, 10*time.Minute)
	o.Parallel = cmp.Or(o.Parallel, 4)
	o.Grace = cmp.Or(o.Grace, 30*time.Second)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.OnError == nil {
		o.OnError = func(error) {}
	}
	src := cloudtrail.URL(o.Bucket, o.Prefix)
	o.Logger = o.Logger.With("source", src)
	o.StuckAfter = cmp.Or(o.StuckAfter, 30*time.Minute)
	return &Poller{o: o, source: src, cursors: map[string]*cursor{}, failing: map[string]failure{}}, nil
}

// Run polls until ctx is done, then returns nil once the file in hand is finished. Errors of
// single prefixes or files are logged, counted and retried on the next poll.
func (p *Poller) Run(ctx context.Context, h Handler) error {
	var leaves []string
	var discovered time.Time
	for {
		if leaves == nil || p.o.Now().Sub(discovered) >= p.o.Rediscover {
			l, err := p.discover(ctx)
			switch {
			case ctx.Err() != nil:
				return nil
			case err != nil:
				p.o.Metrics.listErrors(p.source)
				p.o.Logger.Error("discover prefixes", "err", err)
				p.o.OnError(err)
			default:
				if len(l) != len(leaves) {
					p.o.Logger.Info("trail prefixes", "count", len(l))
				}
				leaves, discovered = l, p.o.Now()
				p.o.Metrics.setPrefixes(p.source, len(leaves))
			}
		}
		p.pollAll(ctx, leaves, h)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(p.o.Interval):
		}
	}
}

// PollOnce discovers the prefixes and handles every new file once; for tests and one-shot use.
func (p *Poller) PollOnce(ctx context.Context, h Handler) error {
	leaves, err := p.discover(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, leaf := range leaves {
		if err := p.pollLeaf(ctx, leaf, h); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (p *Poller) pollAll(ctx context.Context, leaves []string, h Handler) {
	var g errgroup.Group
	g.SetLimit(p.o.Parallel)
	for _, leaf := range leaves {
		if ctx.Err() != nil {
			break
		}
		g.Go(func() error {
			if err := p.pollLeaf(ctx, leaf, h); err != nil && ctx.Err() == nil {
				p.o.Logger.Error("poll prefix", "prefix", leaf, "err", err)
				p.o.OnError(err)
			}
			return nil
		})
	}
	g.Wait()
}

// discover lists, with Delimiter "/", down to the ACCOUNT/CloudTrail/REGION/ prefixes.
func (p *Poller) discover(ctx context.Context) ([]string, error) {
	if _, _, ok := leafOf(p.o.Prefix); ok {
		return []string{p.o.Prefix}, nil
	}
	var leaves []string
	// AWSLogs/o-org/ACCOUNT/CloudTrail/REGION is five levels below the bucket root; the bound
	// only stops a walk through a bucket that holds something else.
	const maxDepth = 8
	var walk func(prefix string, depth int) error
	walk = func(prefix string, depth int) error {
		pg := s3.NewListObjectsV2Paginator(p.o.Client, &s3.ListObjectsV2Input{
			Bucket: aws.String(p.o.Bucket), Prefix: aws.String(prefix), Delimiter: aws.String("/"),
		})
		for pg.HasMorePages() {
			out, err := pg.NextPage(ctx)
			if err != nil {
				return fmt.Errorf("list %s: %w", cloudtrail.URL(p.o.Bucket, prefix), err)
			}
			for _, cp := range out.CommonPrefixes {
				sub := aws.ToString(cp.Prefix)
				if _, _, ok := leafOf(sub); ok {
					leaves = append(leaves, sub)
					continue
				}
				if depth >= maxDepth || !mayHoldTrail(sub) {
					continue
				}
				// A trail's own key prefix is a folder or two; deeper without AWSLogs/ is
				// something else's data.
				if depth >= 2 && !strings.Contains(sub, "AWSLogs/") {
					continue
				}
				if err := walk(sub, depth+1); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk(p.o.Prefix, 0); err != nil {
		return nil, err
	}
	slices.Sort(leaves)
	return leaves, nil
}

// leafOf reports whether prefix is at or below an ACCOUNT/CloudTrail/REGION/ prefix, and the
// account and region when prefix is exactly one. Insights folders are not followed.
func leafOf(prefix string) (account, region string, ok bool) {
	for i, c := range []byte(prefix) {
		if c != '/' {
			continue
		}
		if a, folder, r, ok := cloudtrail.RegionPrefix(prefix[:i+1]); ok && folder == cloudtrail.LogFolder {
			if i+1 == len(prefix) {
				return a, r, true
			}
			return "", "", true
		}
	}
	return "", "", false
}

// mayHoldTrail reports whether a prefix can lead to ACCOUNT/CloudTrail/REGION/. Below
// AWSLogs/ only [o-ORG/]ACCOUNT/CloudTrail/ can, so a shared log bucket's load balancer,
// Config and digest folders (with a folder per day) are never walked.
func mayHoldTrail(prefix string) bool {
	segs := strings.Split(strings.TrimSuffix(prefix, "/"), "/")
	at := slices.Index(segs, "AWSLogs")
	if at < 0 {
		return true // a trail's own key prefix, above AWSLogs/
	}
	rel := segs[at+1:]
	if len(rel) > 0 && cloudtrail.IsOrgID(rel[0]) {
		rel = rel[1:]
	}
	switch len(rel) {
	case 0:
		return true
	case 1:
		return cloudtrail.IsAccountID(rel[0])
	case 2:
		return cloudtrail.IsAccountID(rel[0]) && rel[1] == cloudtrail.LogFolder
	}
	return false
}

// cursor is the checkpoint of one leaf prefix.
type cursor struct {
	// After: every key up to and including it is handled, or older than the late window.
	After string `json:"after"`
	// Done are keys after After already handled, kept while a late file may still sort
	// before them.
	Done []doneKey `json:"done,omitempty"`
}

type doneKey struct {
	Key  string    `json:"key"`
	Time time.Time `json:"time"`
}

func (c *cursor) done(key string) bool {
	return key <= c.After || slices.ContainsFunc(c.Done, func(d doneKey) bool { return d.Key == key })
}

// mark records key as handled and moves After past every key older than the late window.
func (c *cursor) mark(key string, t time.Time, window time.Duration) {
	c.Done = append(c.Done, doneKey{key, t})
	newest := t
	for _, d := range c.Done {
		if d.Time.After(newest) {
			newest = d.Time
		}
	}
	cutoff := newest.Add(-window)
	for _, d := range c.Done {
		if d.Time.Before(cutoff) && d.Key > c.After {
			c.After = d.Key
		}
	}
	c.Done = slices.DeleteFunc(c.Done, func(d doneKey) bool { return d.Key <= c.After })
	slices.SortFunc(c.Done, func(a, b doneKey) int { return strings.Compare(a.Key, b.Key) })
}

func (p *Poller) cursor(leaf string) (*cursor, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.cursors[leaf]; ok {
		return c, nil
	}
	c := &cursor{}
	ok, err := p.o.State.Load(p.stateKey(leaf), c)
	if errors.Is(err, checkpoint.ErrCorrupt) {
		// A damaged checkpoint must not stop the prefix for good: it is kept aside, counted,
		// and the prefix is listed again from Since (the outbox drops what was sent already).
		p.o.Metrics.corruptCheckpoint(p.source)
		p.o.Logger.Error("corrupt checkpoint; listing the prefix again from since", "prefix", leaf, "since", p.o.Since, "err", err)
		p.o.OnError(err)
		if qerr := p.o.State.Quarantine(p.stateKey(leaf)); qerr != nil {
			return nil, errors.Join(err, qerr)
		}
		c, ok, err = &cursor{}, false, nil
	}
	if err != nil {
		return nil, err
	}
	if !ok {
		c.After = p.startAfter(leaf)
	}
	p.cursors[leaf] = c
	return c, nil
}

func (p *Poller) stateKey(leaf string) string { return cloudtrail.URL(p.o.Bucket, leaf) }

// startAfter places a new prefix's cursor Since ago, by the time in its keys' names.
func (p *Poller) startAfter(leaf string) string {
	if p.o.Since <= 0 {
		return ""
	}
	return cloudtrail.KeyAt(leaf, p.o.Now().Add(-p.o.Since))
}

// keyTime is the delivery time in a log file's name, or fallback for names that do not
// follow CloudTrail's layout.
func keyTime(key string, fallback time.Time) time.Time {
	if t, ok := cloudtrail.KeyTime(key); ok {
		return t
	}
	return fallback
}

// pollLeaf handles, in key order, every file of leaf that is not handled yet. It stops at the
// first file that fails, so the checkpoint never skips one.
func (p *Poller) pollLeaf(ctx context.Context, leaf string, h Handler) error {
	c, err := p.cursor(leaf)
	if err != nil {
		return err
	}
	pg := s3.NewListObjectsV2Paginator(p.o.Client, &s3.ListObjectsV2Input{
		Bucket: aws.String(p.o.Bucket), Prefix: aws.String(leaf), StartAfter: aws.String(c.After),
	})
	for pg.HasMorePages() {
		out, err := pg.NextPage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			p.o.Metrics.listErrors(p.source)
			return fmt.Errorf("list %s: %w", cloudtrail.URL(p.o.Bucket, leaf), err)
		}
		for _, o := range out.Contents {
			key := aws.ToString(o.Key)
			if c.done(key) || !cloudtrail.IsLogKey(key) {
				continue
			}
			if ctx.Err() != nil {
				return nil // shutting down: stop between files
			}
			obj := Object{cloudtrail.Object{Bucket: p.o.Bucket, Key: key, Size: aws.ToInt64(o.Size)}, aws.ToTime(o.LastModified)}
			if err := p.handle(ctx, obj, h); err != nil {
				p.o.Metrics.fileErrors(p.source)
				p.stuck(ctx, obj, err)
				return err
			}
			p.mu.Lock()
			delete(p.failing, key)
			p.mu.Unlock()
			p.o.Metrics.file(p.source, obj.Size)
			c.mark(key, keyTime(key, obj.LastModified), p.o.LateWindow)
			if err := p.o.State.Save(p.stateKey(leaf), c); err != nil {
				return err
			}
		}
	}
	return nil
}

// stuck tracks how long obj has been failing and reports it once past StuckAfter.
func (p *Poller) stuck(ctx context.Context, obj Object, err error) {
	if ctx.Err() != nil {
		return // cut short by shutdown, not failing
	}
	p.mu.Lock()
	f, ok := p.failing[obj.Key]
	if !ok {
		f.since = p.o.Now()
	}
	report := !f.reported && p.o.Stuck != nil && p.o.Now().Sub(f.since) >= p.o.StuckAfter
	p.failing[obj.Key] = f
	p.mu.Unlock()
	if report && p.o.Stuck(ctx, obj, f.since, err) == nil {
		p.mu.Lock()
		f.reported = true
		p.failing[obj.Key] = f
		p.mu.Unlock()
	}
}

// Stuck lists the files that have kept failing for StuckAfter or longer (by s3:// URL, with
// the time they started failing): the files behind them in their prefix wait.
func (p *Poller) Stuck() map[string]time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]time.Time{}
	for key, f := range p.failing {
		if p.o.Now().Sub(f.since) >= p.o.StuckAfter {
			out[cloudtrail.URL(p.o.Bucket, key)] = f.since
		}
	}
	return out
}

// handle reads one file and gives it to h. Once started, a file is finished even when ctx is
// cancelled, within Grace, so a graceful shutdown does not redo it.
func (p *Poller) handle(ctx context.Context, obj Object, h Handler) error {
	hctx, cancel := source.Finishing(ctx, p.o.Grace)
	defer cancel()
	out, err := p.o.Client.GetObject(hctx, &s3.GetObjectInput{Bucket: aws.String(obj.Bucket), Key: aws.String(obj.Key)})
	if err != nil {
		return fmt.Errorf("get %s: %w", obj.URL(), err)
	}
	defer out.Body.Close()
	if err := h(hctx, obj, out.Body); err != nil {
		return fmt.Errorf("handle %s: %w", obj.URL(), err)
	}
	return nil
}
