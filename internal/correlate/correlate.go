// Package correlate owns detections with memory: threshold, sequence and new_terms rules,
// and the actor, the person or workload behind every call. It sees the records of one input
// after another (an Input is one log file, message or event), keeps its state in a Store,
// and works in event time only, so that a backtest, the daemon and the Lambda replaying the
// same records find the same things.
//
// Records arrive late and out of order: CloudTrail writes 5-minute files per region and
// delivers them up to ~15 minutes late. Records a stateful rule selects wait in a buffer
// until the newest event time seen has passed theirs by the tolerance (20 minutes by
// default), and are then evaluated in event-time order; any arrival order within the
// tolerance gives the same findings. A record older than what has been evaluated is late:
// it is still evaluated, at once, and counted. Tick also evaluates records that have waited
// the tolerance in wall-clock time, for quiet streams.
//
// Crash safety comes from replay: an input's changes are committed together, with the
// findings they produced under the input's name; an input read again re-emits exactly those
// findings (same rule and eventID) and changes nothing, so a delivery dedupe drops them.
package correlate

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trailbell/trailbell/internal/duration"

	"github.com/trailbell/trailbell/internal/cloudtrail"
	"github.com/trailbell/trailbell/internal/detect"
	"github.com/trailbell/trailbell/internal/finding"
)

// DefaultTolerance is how late a record may arrive, relative to the newest one seen, and
// still be evaluated in order: a 5-minute CloudTrail file delivered ~15 minutes late.
const DefaultTolerance = 20 * time.Minute

// Options configure an Engine; zero values take the defaults noted.
type Options struct {
	// Store keeps the state; nil keeps it in memory only (a scan's temporary store).
	Store Store
	// Tolerance: default DefaultTolerance.
	Tolerance time.Duration
	// MaxGroups bounds, per rule, the groups of a threshold or sequence rule and the values
	// (and learning scopes) of a new_terms rule; default 100,000.
	MaxGroups int
	// MaxKeys bounds the access keys followed back to their actor; default 200,000.
	MaxKeys int
	// MaxBuffered bounds the records held back for the tolerance; past it the oldest are
	// evaluated early (trailbell_state_records_total{outcome="early"}). Default 100,000.
	MaxBuffered int
	// MaxInputs bounds the inputs remembered for replays; default 200,000.
	MaxInputs int
	// KeepInputs is how long (event time) an input is remembered for replays; default 7d.
	KeepInputs time.Duration
	Metrics    *Metrics
	// Now is the wall clock, for Tick; default time.Now.
	Now func() time.Time
	// FixedRules says the rules are never swapped (a scan: Swap refuses). With the state in
	// memory only (no Store), a buffered record that cannot complete any rule it matched is
	// then kept without its bytes, which only a finding needs.
	FixedRules bool
}

func (o *Options) defaults() {
	o.Tolerance = cmp.Or(o.Tolerance, DefaultTolerance)
	o.MaxGroups = cmp.Or(o.MaxGroups, 100_000)
	o.MaxKeys = cmp.Or(o.MaxKeys, 200_000)
	o.MaxInputs = cmp.Or(o.MaxInputs, 200_000)
	o.MaxBuffered = cmp.Or(o.MaxBuffered, 100_000)
	o.KeepInputs = cmp.Or(o.KeepInputs, 7*24*time.Hour)
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Engine evaluates the stateful rules of a detect.Engine and resolves actors. Inputs are
// committed one at a time (it holds a lock while committing); Add may run on any goroutine.
type Engine struct {
	o   Options
	set atomic.Pointer[ruleSet] // read by Add on any goroutine; replaced by Swap

	callers callers
	staging sync.Pool // *[]staged, for Begin

	mu      sync.Mutex
	st      *state
	jobs    [][]job                      // evaluate's, by rule
	directs map[*identity]*finding.Actor // what callers name by themselves (direct), by caller
	synced  bool
	pruned  bool // the store has lost the tables of rules no longer in use
}

// ruleSet is the rules of one detect engine; immutable once built.
type ruleSet struct {
	det   *detect.Engine
	rules []*rule
	byID  map[string]*rule
}

// rule is one stateful rule and its tables.
type rule struct {
	idx    int // in det.Rules()
	pos    int // in ruleSet.rules
	def    *detect.Rule
	steps  []detect.Step
	keys   [][]string     // keyFields of each step, worked out once
	thr    *table[tgroup] // threshold
	seq    *table[sgroup] // sequence
	terms  *table[int64]  // new_terms: last time each tuple was seen
	scopes *table[scope]  // new_terms: learning scopes
}

// New builds the stateful side of det's rules.
func New(det *detect.Engine, o Options) (*Engine, error) {
	o.defaults()
	e := &Engine{o: o, callers: callers{m: map[string]*identity{}}}
	e.st = newState(e)
	if err := e.use(det); err != nil {
		return nil, err
	}
	return e, nil
}

// Swap evaluates det's rules from now on (a rule reload). A rule whose settings did not
// change keeps its state; a changed or new one starts afresh.
func (e *Engine) Swap(det *detect.Engine) error {
	if e.o.FixedRules {
		return errors.New("correlate: the rules of this engine are fixed")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.use(det); err != nil {
		return err
	}
	if e.o.Store != nil {
		e.synced = false // the next commit prunes the tables of rules gone
	}
	return nil
}

// use builds the rules of det, reusing the tables of unchanged rules.
func (e *Engine) use(det *detect.Engine) error {
	old := map[string]stateTable{}
	var cur []*rule
	if set := e.set.Load(); set != nil {
		cur = set.rules
	}
	for _, r := range cur {
		for _, t := range r.tables() {
			old[t.tableName()] = t
		}
	}
	var rules []*rule
	byID := map[string]*rule{}
	tables := []stateTable{e.st.facts, e.st.inputs}
	for i := range det.Rules() {
		d := &det.Rules()[i]
		if !d.Kind.Stateful() {
			continue
		}
		r := &rule{idx: i, def: d, steps: d.Steps()}
		for j := range r.steps {
			r.keys = append(r.keys, r.stepFields(j))
		}
		name := d.ID + ":" + shape(d)
		drop := func() { e.o.Metrics.dropped(d.ID) }
		switch d.Kind {
		case detect.KindThreshold:
			r.thr = reuse(old, newTable[tgroup]("r:"+name, e.o.MaxGroups, e.st.load, drop))
		case detect.KindSequence:
			r.seq = reuse(old, newTable[sgroup]("r:"+name, e.o.MaxGroups, e.st.load, drop))
		case detect.KindNewTerms:
			r.terms = reuse(old, newTable[int64]("t:"+name, e.o.MaxGroups, e.st.load, drop))
			r.scopes = reuse(old, newTable[scope]("c:"+name, e.o.MaxGroups, e.st.load, drop))
		default:
			return fmt.Errorf("rule %s: kind %s", d.ID, d.Kind)
		}
		tables = append(tables, r.tables()...)
		r.pos = len(rules)
		rules = append(rules, r)
		byID[d.ID] = r
	}
	e.set.Store(&ruleSet{det: det, rules: rules, byID: byID})
	e.st.tables = tables
	e.pruned = false
	return nil
}

// reuse returns the table of the same name from old, else t.
func reuse[V any](old map[string]stateTable, t *table[V]) *table[V] {
	if o, ok := old[t.name].(*table[V]); ok {
		return o
	}
	return t
}

// keyFields are the fields whose values a step of the rule needs, in order: a threshold's
// group_by then distinct, a sequence's by then the step's by, new_terms' fields then learn_by.
// They are shared: not to be changed.
func (r *rule) keyFields(step int) []string { return r.keys[step] }

func (r *rule) stepFields(step int) []string {
	switch d := r.def; d.Kind {
	case detect.KindThreshold:
		if d.Threshold.Distinct != "" {
			return append(slices.Clip(d.Threshold.GroupBy), d.Threshold.Distinct)
		}
		return d.Threshold.GroupBy
	case detect.KindSequence:
		return append(slices.Clip(d.Sequence.By), d.Sequence.Steps[step].By...)
	case detect.KindNewTerms:
		return append(slices.Clip(d.NewTerms.Fields), d.NewTerms.LearnBy...)
	}
	return nil
}

// tables are the rule's state tables.
func (r *rule) tables() []stateTable {
	switch {
	case r.thr != nil:
		return []stateTable{r.thr}
	case r.seq != nil:
		return []stateTable{r.seq}
	}
	return []stateTable{r.terms, r.scopes}
}

// shape names a rule's settings, so that state kept for a rule whose settings changed (a
// reload, a new version) is not read with the new meaning: it starts afresh.
func shape(d *detect.Rule) string {
	b, _ := json.Marshal(struct {
		K           detect.Kind
		T           *detect.Threshold
		S           *detect.Sequence
		N           *detect.NewTerms
		Steps, Pred int
	}{d.Kind, d.Threshold, d.Sequence, d.NewTerms, len(d.Steps()), len(d.Predicates)})
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:4])
}

// Rules reports how many stateful rules the engine evaluates.
func (e *Engine) Rules() int { return len(e.set.Load().rules) }

// Tolerance is how late a record may be and still be evaluated in order.
func (e *Engine) Tolerance() time.Duration { return e.o.Tolerance }

// Input is one input's records on their way in: Add each record in input order, then Commit.
// An input that is dropped without Commit changes nothing.
type Input struct {
	e        *Engine
	name     string
	recs     []staged
	min, max int64
	n        int // records added
}

type staged struct {
	t        int64  // event time, Unix ns; 0 unknown
	id       string // eventID and eventName, for a buffered record
	name     string
	origin   string
	raw      json.RawMessage // the record, copied when it is buffered
	hits     []hit
	findings []finding.Finding
	ident    *identity // the caller, read where Add runs (in parallel with other inputs)
	issued   *issued   // the credentials the record issued, if any
}

// issued is what a record that issued credentials tells of them.
type issued struct {
	key string
	f   fact
	exp int64
}

// identityOf is identityOf, read once for each userIdentity seen (of the last maxCallers):
// a caller makes many calls, in one log file and the next ones.
func (in *Input) identityOf(r *fields) *identity {
	b := r.Member("userIdentity")
	if b == nil {
		id := identityOf(r)
		return &id
	}
	c := &in.e.callers
	c.mu.Lock()
	id, ok := c.m[string(b)]
	c.mu.Unlock()
	if ok {
		return id
	}
	id = new(identity)
	*id = identityOf(r)
	c.mu.Lock()
	if len(c.m) >= maxCallers {
		clear(c.m)
	}
	c.m[string(b)] = id
	c.mu.Unlock()
	return id
}

// maxCallers bounds the identities remembered by their userIdentity.
const maxCallers = 4096

// callers are the identities read, by their userIdentity's JSON; what they point to is
// not changed.
type callers struct {
	mu sync.Mutex
	m  map[string]*identity
}

// Begin starts an input. name identifies it across replays: an S3 object's URL, a file's
// path, an EventBridge event's id.
func (e *Engine) Begin(name string) *Input {
	in := &Input{e: e, name: name}
	if p, ok := e.staging.Get().(*[]staged); ok {
		in.recs = *p
	}
	return in
}

// release hands the input's staging slice on to a later input: a log file stages a few
// hundred records, and growing a slice for each cost more than all else Add allocates.
func (in *Input) release() {
	if cap(in.recs) == 0 || cap(in.recs) > maxStaging {
		return
	}
	clear(in.recs) // nothing of the input is kept alive by it
	recs := in.recs[:0]
	in.recs = nil
	in.e.staging.Put(&recs)
}

// maxStaging bounds the staging slices kept for reuse (a large input's is left to the
// garbage collector).
const maxStaging = 4096

// Add takes one record (in input order) with what the detect engine matched on it: its
// findings, which Commit returns with their actor, and the steps of stateful rules. Call it
// for every record, matched or not: the newest event time moves evaluation along. An error
// is a bad record (counted like the decoder's), never a reason to retry the input.
func (in *Input) Add(ev cloudtrail.Event, m detect.Match) error {
	in.n++
	var t int64
	if !ev.Time.IsZero() {
		t = ev.Time.UnixNano()
		if in.max == 0 || t > in.max {
			in.max = t
		}
		if in.min == 0 || t < in.min {
			in.min = t
		}
	}
	if m.Empty() {
		return nil
	}
	rec, err := readFields(ev, m.Record)
	if err != nil {
		return err
	}
	s := staged{t: t, origin: ev.Origin, findings: m.Findings, ident: in.identityOf(&rec)}
	if m.Credentials && t != 0 {
		if key, f, exp := credentialFact(&rec, *s.ident, ev.Time); key != "" {
			s.issued = &issued{key, f, exp}
		}
	}
	set := in.e.set.Load()
	for _, h := range m.Steps {
		r := set.byID[h.Rule]
		if r == nil || h.Step >= len(r.steps) {
			continue
		}
		// the values the rule needs, read now (in parallel with other inputs) so that the
		// buffer holds strings, not decoded records; the actor is known only in order
		fields := r.keyFields(h.Step)
		vals := make([]string, len(fields))
		complete := true
		for i, f := range fields {
			if f == "actor" {
				vals[i] = actorField
				continue
			}
			if vals[i] = fieldValue(&rec, s.ident, f); vals[i] == "" {
				complete = false // an event missing a field is left out of the rule
				break
			}
		}
		if complete {
			s.hits = append(s.hits, hit{R: h.Rule, S: h.Step, V: vals})
		}
	}
	if len(s.hits) > 0 {
		s.id, s.name, s.raw = rec.Str("eventID"), rec.Str("eventName"), rec.raw()
	}
	if len(s.hits) > 0 && (t == 0 || s.id == "") {
		in.e.o.Metrics.event("untimed", len(s.hits))
		s.hits = nil // it cannot be placed in time (or told from a repeat)
	}
	for i := range s.findings {
		if s.findings[i].Origin == "" {
			s.findings[i].Origin = ev.Origin
		}
	}
	in.recs = append(in.recs, s)
	return nil
}

// Commit evaluates the input: it follows the credentials it issued, sets the actor of its
// event rules' findings, buffers its stateful records, evaluates what the tolerance allows,
// and stores the result under the input's name in one atomic change. It returns the input's
// findings: its event rules' (in record order), then its stateful ones. An error fails the
// input, which is retried: nothing of it was kept. Commit ends the input.
func (in *Input) Commit(ctx context.Context) ([]finding.Finding, error) {
	e := in.e
	e.mu.Lock()
	defer e.mu.Unlock()
	defer in.release()
	for attempt := 1; ; attempt++ {
		fs, err := e.commit(ctx, in)
		if err == nil {
			return fs, nil
		}
		e.reset()
		// Another writer (a Lambda container) committed first: evaluate again on top of
		// its state. Nothing of this attempt was kept.
		if !errors.Is(err, ErrConflict) || attempt == maxConflicts {
			return nil, fmt.Errorf("state: %w", err)
		}
	}
}

// maxConflicts bounds how often a commit is evaluated again after losing to another writer
// before the input fails (and is retried by its source).
const maxConflicts = 5

// Flush evaluates every buffered record, as at the end of a backtest when no more can come.
// Like Tick, it hands the findings to deliver before the state is stored.
func (e *Engine) Flush(ctx context.Context, deliver func(context.Context, []finding.Finding) error) error {
	return e.evaluateBuffered(ctx, math.MaxInt64, deliver)
}

// Tick evaluates the buffered records that arrived at least the tolerance ago by the wall
// clock (and any older ones), for a stream too quiet to move event time along. Its findings
// are handed to deliver before the state is stored, so a crash in between evaluates them
// again at the next Tick rather than losing them.
func (e *Engine) Tick(ctx context.Context, deliver func(context.Context, []finding.Finding) error) error {
	return e.evaluateBuffered(ctx, 0, deliver)
}

// evaluateBuffered evaluates buffered records up to event time cutoff, or (cutoff 0) those
// that arrived the tolerance ago by the wall clock and the older ones; deliver gets the
// findings before the state is stored.
func (e *Engine) evaluateBuffered(ctx context.Context, cutoff int64, deliver func(context.Context, []finding.Finding) error) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.sync(ctx); err != nil {
		e.reset()
		return fmt.Errorf("state: %w", err)
	}
	if cutoff == 0 {
		arrived := e.o.Now().Add(-e.o.Tolerance).Unix()
		cutoff = math.MinInt64
		for _, x := range e.st.buf {
			if x.p.A <= arrived && x.t > cutoff {
				cutoff = x.t
			}
		}
		if cutoff == math.MinInt64 {
			return nil
		}
	}
	// The end of a backtest is remembered like an input, by the event time reached: a scan
	// of the same records with the same state directory ends with the same findings.
	end := cutoff == math.MaxInt64 && e.o.Store != nil
	endKey := fmt.Sprintf("end/%d", e.st.meta.Watermark)
	if end && len(e.st.buf) == 0 {
		mk, ok, err := e.st.inputs.get(ctx, endKey, math.MinInt64)
		if err == nil && ok && len(mk.Findings) > 0 {
			err = deliver(ctx, mk.Findings)
		}
		if err != nil {
			e.reset()
			return fmt.Errorf("state: %w", err)
		}
		return nil
	}
	fs, err := e.flush(ctx, cutoff)
	if err == nil && len(fs) > 0 {
		err = deliver(ctx, fs)
	}
	if err == nil && end {
		err = e.st.inputs.put(ctx, endKey, marker{Findings: fs}, e.st.meta.Watermark+int64(e.o.KeepInputs), e.st.meta.Watermark)
	}
	if err == nil {
		err = e.persist(ctx)
	}
	if err != nil {
		e.reset()
		return fmt.Errorf("state: %w", err)
	}
	return nil
}

// relevant reports whether the input changes state by itself.
func (in *Input) relevant() bool {
	return slices.ContainsFunc(in.recs, func(s staged) bool { return s.issued != nil || len(s.hits) > 0 })
}

// key is the key of the input's marker: a hash of its name and of what it held (how many
// records, their first and last event times), so that a name that does not say what it
// holds ("stdin") is not taken for a replay of something else.
func (in *Input) key() string {
	h := sha256.Sum256(fmt.Appendf(nil, "%s\x00%d\x00%d\x00%d", in.name, in.n, in.min, in.max))
	return hex.EncodeToString(h[:12])
}

// marker remembers a committed input and the stateful findings its commit produced.
type marker struct {
	Findings []finding.Finding `json:"f,omitempty"`
}

func (e *Engine) commit(ctx context.Context, in *Input) ([]finding.Finding, error) {
	if err := e.sync(ctx); err != nil {
		return nil, err
	}
	st := e.st
	remember := e.o.Store != nil
	if remember {
		mk, replay, err := st.inputs.get(ctx, in.key(), math.MinInt64)
		if err != nil {
			return nil, err
		}
		if replay {
			// Committed before: its changes are in the state. Only its event rules'
			// findings are computed again (the same, with actors as known now).
			if err := e.singles(ctx, in, false); err != nil {
				return nil, err
			}
			e.o.Metrics.replay()
			return in.findings(mk.Findings), nil
		}
	}
	if err := e.singles(ctx, in, true); err != nil {
		return nil, err
	}
	var late []*pending
	now := e.o.Now().Unix()
	// the bytes of a record are for the finding it may complete: with rules that cannot
	// change and state that never leaves the process, only such records keep them
	keepAll := e.o.Store != nil || !e.o.FixedRules
	set := e.set.Load()
	var duplicates, buffered int // counted once an input: a counter's labels cost a hash each time
	for _, s := range in.recs {
		if len(s.hits) == 0 {
			continue
		}
		if st.bufIDs[s.id] {
			duplicates++
			continue
		}
		p := &pending{T: s.t, A: now, ID: s.id, N: s.name, H: s.hits, O: s.origin, C: s.ident}
		if keepAll || set.mayComplete(s.hits) {
			p.Rec = cloneRaw(s.raw)
		}
		if s.t < st.meta.Done {
			late = append(late, p)
			continue
		}
		st.push(p)
		buffered++
	}
	for _, c := range []struct {
		outcome string
		n       int
	}{{"duplicate", duplicates}, {"late", len(late)}, {"buffered", buffered}} {
		if c.n > 0 {
			e.o.Metrics.event(c.outcome, c.n)
		}
	}
	if in.max > st.meta.Watermark {
		st.meta.Watermark = in.max
		st.metaDirty = true
	}
	if in.min != 0 && (st.meta.Start == 0 || in.min < st.meta.Start) {
		st.meta.Start = in.min
		st.metaDirty = true
	}
	out, err := e.flush(ctx, st.meta.Watermark-int64(e.o.Tolerance))
	if err != nil {
		return nil, err
	}
	// late records: evaluated now, in time order among themselves
	slices.SortFunc(late, func(a, b *pending) int { return cmp.Or(cmp.Compare(a.T, b.T), cmp.Compare(a.ID, b.ID)) })
	for i := 0; i < len(late); {
		j := i + 1
		for j < len(late) && late[j].T == late[i].T {
			j++
		}
		fs, err := e.evaluate(ctx, late[i:j])
		if err != nil {
			return nil, err
		}
		out = append(out, fs...)
		i = j
	}
	if remember && (len(out) > 0 || in.relevant()) {
		exp := max(in.max, st.meta.Watermark) + int64(e.o.KeepInputs)
		if err := st.inputs.put(ctx, in.key(), marker{Findings: out}, exp, st.meta.Watermark); err != nil {
			return nil, err
		}
	}
	if err := e.persist(ctx); err != nil {
		return nil, err
	}
	return in.findings(out), nil
}

// singles sets the actor of the input's event-rule findings, in record order; learn also
// takes in the credentials the input's records issue, so a later record of the same input
// already knows them.
func (e *Engine) singles(ctx context.Context, in *Input, learn bool) error {
	learned := 0
	defer func() {
		if learned > 0 {
			e.o.Metrics.event("credentials", learned)
		}
	}()
	for _, s := range in.recs {
		if learn && s.issued != nil {
			if err := e.st.facts.put(ctx, s.issued.key, s.issued.f, s.issued.exp, s.t); err != nil {
				return err
			}
			learned++
		}
		if len(s.findings) == 0 {
			continue
		}
		a, err := e.resolveCaller(ctx, s.ident, s.t)
		if err != nil {
			return err
		}
		for i := range s.findings {
			s.findings[i].Actor = a
		}
	}
	return nil
}

// findings are the input's event-rule findings, in record order, then more, in one slice
// made to measure (a finding is half a kilobyte).
func (in *Input) findings(more []finding.Finding) []finding.Finding {
	n := len(more)
	for i := range in.recs {
		n += len(in.recs[i].findings)
	}
	out := make([]finding.Finding, 0, n) // never more itself: a marker may hold it
	for i := range in.recs {
		out = append(out, in.recs[i].findings...)
	}
	return append(out, more...)
}

func cloneRaw(b json.RawMessage) json.RawMessage { return append(json.RawMessage(nil), b...) }

// mayComplete reports whether a record that matched hits may be the one that completes a
// rule, and so be a finding's record: any event of a threshold, a sequence's last step, and
// a new_terms event that may report (one that also matches the report pattern, when the rule
// has one). A sequence's earlier steps, and new_terms events that only teach, never are.
func (set *ruleSet) mayComplete(hits []hit) bool {
	for _, h := range hits {
		r := set.byID[h.R]
		if r == nil {
			return true // not known to this engine: kept as it is
		}
		switch r.def.Kind {
		case detect.KindSequence:
			if h.S == len(r.steps)-1 {
				return true
			}
		case detect.KindNewTerms:
			if h.S == 0 && (r.def.NewTerms.Report == "" || slices.ContainsFunc(hits, func(o hit) bool { return o.R == h.R && o.S == 1 })) {
				return true
			}
		default:
			return true
		}
	}
	return false
}

// flush evaluates the buffered records up to event time cutoff, in time order.
func (e *Engine) flush(ctx context.Context, cutoff int64) ([]finding.Finding, error) {
	st := e.st
	var out []finding.Finding
	for len(st.buf) > 0 && (st.buf[0].t <= cutoff || len(st.buf) > e.o.MaxBuffered) {
		t := st.buf[0].t
		if t > cutoff {
			e.o.Metrics.event("early", 1) // the buffer is full: evaluated before the tolerance passed
		}
		var batch []*pending
		for len(st.buf) > 0 && st.buf[0].t == t {
			batch = append(batch, st.pop())
		}
		fs, err := e.evaluate(ctx, batch)
		if err != nil {
			return nil, err
		}
		out = append(out, fs...)
		if t > st.meta.Done {
			st.meta.Done = t
			st.metaDirty = true
		}
	}
	return out, nil
}

// job is one step of one rule matched by one record, with the values of the step's fields.
type job struct {
	p    *pending
	step int
	v    []string
}

// evaluate runs the rules on records of one event time. Records of the same second are
// taken step by step (all first steps, then all second steps ...), since CloudTrail's
// second resolution cannot order them.
func (e *Engine) evaluate(ctx context.Context, batch []*pending) ([]finding.Finding, error) {
	slices.SortFunc(batch, func(a, b *pending) int { return cmp.Compare(a.ID, b.ID) })
	set := e.set.Load()
	// each rule's jobs, by its place in set.rules, in slices kept from one batch to the next
	// (a batch is the records of one second: a handful)
	if len(e.jobs) < len(set.rules) {
		e.jobs = make([][]job, len(set.rules))
	}
	jobs := e.jobs[:len(set.rules)]
	defer func() {
		for i := range jobs {
			clear(jobs[i]) // holds no record past the batch
			jobs[i] = jobs[i][:0]
		}
	}()
	for _, p := range batch {
		a, err := e.resolveCaller(ctx, p.C, p.T)
		if err != nil {
			return nil, err
		}
		p.actor = a
		for _, h := range p.H {
			r := set.byID[h.R]
			if r == nil || h.S >= len(r.steps) || len(h.V) != len(r.keyFields(h.S)) {
				continue // a rule changed since the record was buffered
			}
			v, ok := withActor(h.V, p)
			if ok {
				jobs[r.pos] = append(jobs[r.pos], job{p, h.S, v})
			}
		}
	}
	var out []finding.Finding
	for i, r := range set.rules {
		js := jobs[i]
		if len(js) == 0 {
			continue
		}
		slices.SortStableFunc(js, func(a, b job) int { return cmp.Compare(a.step, b.step) })
		var fs []finding.Finding
		var err error
		switch r.def.Kind {
		case detect.KindThreshold:
			fs, err = e.threshold(ctx, r, js)
		case detect.KindSequence:
			fs, err = e.sequence(ctx, r, js)
		case detect.KindNewTerms:
			fs, err = e.newTerms(ctx, r, js)
		}
		if err != nil {
			return nil, fmt.Errorf("rule %s: %w", r.def.ID, err)
		}
		for range fs {
			e.o.Metrics.finding(r.def.ID)
		}
		out = append(out, fs...)
	}
	return out, nil
}

// fieldValue reads a field a rule needs: the caller's fields from the identity read already
// (no second decode of userIdentity), the rest from the record.
func fieldValue(rec *fields, id *identity, f string) string {
	if name, ok := strings.CutPrefix(f, "userIdentity."); ok {
		switch name {
		case "type":
			return id.Type
		case "arn":
			return id.ARN
		case "principalId":
			return id.PrincipalID
		case "accountId":
			return id.Account
		case "accessKeyId":
			return id.AccessKeyID
		case "userName":
			return id.UserName
		case "invokedBy":
			return id.InvokedBy
		}
	}
	switch f {
	case "account":
		// detect's account: recipientAccountId, else the caller's (read into id already)
		if a := rec.Str("recipientAccountId"); a != "" {
			return a
		}
		return id.Account
	case "principal":
		if rec.spans {
			// the caller's paths from id, not by decoding userIdentity again
			ui := rec.top("userIdentity")
			return detect.Principal(ui != nil && string(ui) != "null", func(path string) string { return id.str(rec, path) })
		}
	}
	return rec.Key(f)
}

// actorField stands for the actor among a step's values until evaluation resolves it.
const actorField = "\x00actor"

// withActor fills in the actor where a step's values name it: its id, or for a caller the
// stream does not explain, the caller itself (its ARN or principal id). False when unknown.
func withActor(vals []string, p *pending) ([]string, bool) {
	if !slices.Contains(vals, actorField) {
		return vals, true
	}
	key := ""
	switch {
	case p.actor != nil:
		key = p.actor.ID
	case p.C.ARN != "":
		key = "caller:" + p.C.ARN
	case p.C.PrincipalID != "":
		key = "caller:" + p.C.PrincipalID
	default:
		return nil, false
	}
	out := slices.Clone(vals)
	for i, v := range out {
		if v == actorField {
			out[i] = key
		}
	}
	return out, true
}

// ref is one event a group remembers.
type ref struct {
	T    int64  `json:"t"`
	ID   string `json:"i"`
	Name string `json:"n,omitempty"`
	Step int    `json:"s,omitempty"`
	V    string `json:"v,omitempty"`
}

func refOf(p *pending, step int) ref {
	return ref{T: p.T, ID: p.ID, Name: p.N, Step: step}
}

// build makes rule r's finding on trigger, the event that completed it, from the events
// behind it (oldest first, trigger last).
func (e *Engine) build(r *rule, trigger *pending, events []ref, extra map[string]string) finding.Finding {
	det := e.set.Load().det
	rec, err := det.DecodeRecord(trigger.Rec)
	if err != nil {
		// it decoded when it came in: only a corrupted state could get here
		e.o.Metrics.event("undecodable", 1)
		rec, _ = det.DecodeRecord([]byte(`{}`))
	}
	if _, ok := extra["actor"]; !ok {
		if trigger.actor != nil {
			extra["actor"] = cmpOr(trigger.actor.Name, trigger.actor.ID)
		} else {
			extra["actor"] = rec.Key("who")
		}
	}
	extra["window"] = e.window(r)
	f := det.Finding(r.idx, rec, func(name string) (string, bool) {
		v, ok := extra[name]
		return v, ok
	})
	f.Actor = trigger.actor
	f.Origin = trigger.O
	for _, ev := range events {
		fe := finding.Event{EventID: ev.ID, EventName: ev.Name, EventTime: formatTime(ev.T), Value: ev.V}
		if r.def.Kind == detect.KindSequence {
			fe.Step = r.steps[ev.Step].Name
		}
		f.Events = append(f.Events, fe)
		if ev.ID != trigger.ID {
			f.Related = append(f.Related, ev.ID)
		}
	}
	return f
}

func (e *Engine) window(r *rule) string {
	switch r.def.Kind {
	case detect.KindThreshold:
		return duration.Format(r.def.Threshold.Window)
	case detect.KindSequence:
		return duration.Format(r.def.Sequence.Window)
	case detect.KindNewTerms:
		return duration.Format(r.def.NewTerms.History)
	}
	return ""
}

func formatTime(t int64) string { return time.Unix(0, t).UTC().Format(time.RFC3339) }

// sync makes the cached state the stored one: loaded on first use, and again when another
// writer (another Lambda container) has committed since.
func (e *Engine) sync(ctx context.Context) error {
	if e.o.Store == nil {
		return nil
	}
	v, err := e.o.Store.Version(ctx)
	if err != nil {
		return err
	}
	if e.synced && v == e.st.version {
		return nil
	}
	e.st.clear()
	if err := e.st.loadAll(ctx, v); err != nil {
		return err
	}
	e.synced = true
	if p, ok := e.o.Store.(Pruner); ok && !e.pruned {
		live := map[string]bool{}
		for _, t := range e.st.tables {
			live[t.tableName()] = true
		}
		if _, err := p.Prune(ctx, func(table string) bool { return live[table] }); err != nil {
			return err
		}
		e.pruned = true
	}
	return nil
}

// reset forgets the cached state after a failed commit; the next one reloads it. Without a
// store there is nothing to reload from: the failure (a cancelled scan) ends the run.
func (e *Engine) reset() {
	if e.o.Store != nil {
		e.synced = false
		e.st.clear()
	}
}

// persist writes the commit's changes.
func (e *Engine) persist(ctx context.Context) error {
	st := e.st
	defer e.o.Metrics.gauges(st)
	if e.o.Store == nil {
		st.bufPut, st.bufDel = nil, nil
		return nil
	}
	b := Batch{Version: st.version, Put: map[string]Item{}}
	for _, t := range st.tables {
		if err := t.flush(&b); err != nil {
			return err
		}
	}
	for k, p := range st.bufPut {
		v, err := json.Marshal(p)
		if err != nil {
			return err
		}
		b.Put[k] = Item{Value: v, Expires: time.Unix(0, p.T).Add(e.o.Tolerance)}
	}
	b.Delete = append(b.Delete, st.bufDel...)
	if st.metaDirty || len(b.Put)+len(b.Delete) > 0 {
		v, _ := json.Marshal(st.meta)
		b.Put[metaKey] = Item{Value: v}
	}
	if len(b.Put)+len(b.Delete) == 0 {
		return nil
	}
	if err := e.o.Store.Commit(ctx, b); err != nil {
		if errors.Is(err, ErrConflict) {
			e.o.Metrics.event("conflict", 1)
		}
		return err
	}
	st.version++
	st.bufPut, st.bufDel, st.metaDirty = nil, nil, false
	st.trim()
	return nil
}

const metaKey = "meta"

// meta is the engine's clock.
type meta struct {
	Watermark int64 `json:"w"` // the newest event time seen (Unix ns)
	Done      int64 `json:"d"` // records up to this event time have been evaluated
	Start     int64 `json:"s"` // the oldest event time seen: when the stream began
}

// pending is a buffered record, waiting for the tolerance to pass.
type pending struct {
	T   int64           `json:"t"`           // event time, Unix ns
	A   int64           `json:"a"`           // arrival, wall clock, Unix s
	ID  string          `json:"id"`          // eventID
	N   string          `json:"n,omitempty"` // eventName
	H   []hit           `json:"h"`           // the steps it matched
	O   string          `json:"o,omitempty"` // origin
	C   *identity       `json:"c"`           // the caller (never nil; shared, not to be changed)
	Rec json.RawMessage `json:"r"`           // for the finding, should it complete one

	actor *finding.Actor
}

type hit struct {
	R string   `json:"r"`           // rule id
	S int      `json:"s"`           // step
	V []string `json:"v,omitempty"` // the values of the step's fields (rule.keyFields)
}

func (p *pending) key() string { return fmt.Sprintf("b|%020d|%s", p.T, p.ID) }

// state is the engine's working state: the clock, the buffer and the tables, cached from the
// store and changed by commits.
type state struct {
	e       *Engine
	version uint64
	meta    meta

	metaDirty bool
	buf       pendingHeap
	bufIDs    map[string]bool
	bufPut    map[string]*pending
	bufDel    []string

	facts  *table[fact]
	inputs *table[marker]
	tables []stateTable
}

func newState(e *Engine) *state {
	st := &state{e: e, bufIDs: map[string]bool{}}
	st.facts = newTable[fact]("k", e.o.MaxKeys, st.load, func() { e.o.Metrics.dropped("credentials") })
	st.inputs = newTable[marker]("in", e.o.MaxInputs, st.load, func() { e.o.Metrics.dropped("inputs") })
	st.tables = []stateTable{st.facts, st.inputs}
	return st
}

// load reads one item for a table; nil without a store.
func (st *state) load(ctx context.Context, key string) ([]byte, error) {
	s := st.e.o.Store
	if s == nil {
		return nil, nil
	}
	m, err := s.Load(ctx, []string{key})
	if err != nil {
		return nil, err
	}
	return m[key], nil
}

func (st *state) clear() {
	st.meta, st.metaDirty = meta{}, false
	st.buf = st.buf[:0]
	clear(st.bufIDs)
	st.bufPut, st.bufDel = nil, nil
	for _, t := range st.tables {
		t.reset()
	}
}

// loadAll reads the clock and the buffer; slots load as they are used.
func (st *state) loadAll(ctx context.Context, v uint64) error {
	s := st.e.o.Store
	m, err := s.Load(ctx, []string{metaKey})
	if err != nil {
		return err
	}
	if b := m[metaKey]; b != nil {
		if err := json.Unmarshal(b, &st.meta); err != nil {
			return fmt.Errorf("state meta: %w", err)
		}
	}
	buf, err := s.List(ctx, "b")
	if err != nil {
		return err
	}
	for k, b := range buf {
		p := new(pending)
		if err := json.Unmarshal(b, p); err != nil {
			return fmt.Errorf("state %s: %w", k, err)
		}
		if p.C == nil {
			p.C = new(identity) // "c" null or left out: no caller known
		}
		st.buf.push(p)
		st.bufIDs[p.ID] = true
	}
	st.version = v
	return nil
}

// trim keeps the cache of a stored state bounded: after a commit every slot is clean and
// may be read again from the store.
func (st *state) trim() {
	const maxCached = 200_000 // slots, across tables
	n := 0
	for _, t := range st.tables {
		n += t.cached()
	}
	if n > maxCached {
		for _, t := range st.tables {
			t.reset()
		}
	}
}

func (st *state) push(p *pending) {
	st.buf.push(p)
	st.bufIDs[p.ID] = true
	if st.e.o.Store != nil {
		if st.bufPut == nil {
			st.bufPut = map[string]*pending{}
		}
		st.bufPut[p.key()] = p
	}
}

func (st *state) pop() *pending {
	p := st.buf.pop()
	delete(st.bufIDs, p.ID)
	if st.e.o.Store != nil {
		k := p.key()
		if _, new := st.bufPut[k]; new {
			delete(st.bufPut, k) // buffered and evaluated in one commit: never stored
		} else {
			st.bufDel = append(st.bufDel, k)
		}
	}
	return p
}

// pendingHeap orders buffered records by event time, then eventID (unique among them).
// Each entry holds both, so that ordering reads the heap's array only, not every record
// it passes on the way (the buffer holds thousands).
type pendingHeap []heapEntry

type heapEntry struct {
	t  int64
	id string
	p  *pending
}

func (h pendingHeap) less(i, j int) bool {
	return h[i].t < h[j].t || h[i].t == h[j].t && h[i].id < h[j].id
}

func (h *pendingHeap) push(p *pending) {
	*h = append(*h, heapEntry{p.T, p.ID, p})
	// up from the new leaf while it is less than its parent
	for i := len(*h) - 1; i > 0; {
		parent := (i - 1) / 2
		if !h.less(i, parent) {
			break
		}
		(*h)[i], (*h)[parent] = (*h)[parent], (*h)[i]
		i = parent
	}
}

// pop removes and returns the first record.
func (h *pendingHeap) pop() *pending {
	old := *h
	n := len(old) - 1
	p := old[0].p
	old[0] = old[n]
	old[n] = heapEntry{}
	*h = old[:n]
	// down from the root while a child is less
	for i := 0; ; {
		c := 2*i + 1
		if c >= n {
			break
		}
		if r := c + 1; r < n && h.less(r, c) {
			c = r
		}
		if !h.less(c, i) {
			break
		}
		old[i], old[c] = old[c], old[i]
		i = c
	}
	return p
}
