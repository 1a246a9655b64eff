// Package detect owns detection: rules (loaded from YAML), the named predicates rules may
// reference, the reading of policy documents, and the Engine that compiles every rule into
// one pattern matcher and turns a matching EventBridge envelope into findings. It does no I/O
// beyond reading rule files.
package detect

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"go.yaml.in/yaml/v3"

	"github.com/trailbell/trailbell/internal/finding"
	"github.com/trailbell/trailbell/internal/yamlnode"
	"github.com/trailbell/trailbell/pattern"
	"github.com/trailbell/trailbell/rules"
)

// Rule is one detection: an EventBridge pattern that selects records, optional exception
// patterns that suppress a match, and named predicates for conditions a pattern cannot say.
type Rule struct {
	ID          string
	Title       string // template over event fields, e.g. "{principal} attached {policy} to {target}"
	Description string
	// Runbook is a template like Title, over several lines: what to check and how to undo
	// the change, with AWS CLI commands that the placeholders fill with the event's values.
	Runbook    string
	Severity   finding.Severity
	Pattern    string   // JSON
	Exceptions []string // JSON patterns; a record matching any of them is not reported
	Predicates []string // names from Predicates(); all must hold
	Tags       []string
	References []string
	Samples    Samples
	// Kind is how the rule decides; stateful kinds carry their settings in Threshold,
	// Sequence or NewTerms (a sequence's patterns are in its steps, not in Pattern).
	Kind      Kind
	Threshold *Threshold
	Sequence  *Sequence
	NewTerms  *NewTerms
	// File is where the rule was loaded from, as "path:line" of its id.
	File string

	// compiled holds the patterns as loading compiled them, so New need not parse them again.
	compiled compiledPatterns
}

// compiledPatterns are a rule's pattern and exceptions compiled from the texts they keep, so
// a Rule whose Pattern or Exceptions were changed after loading is compiled afresh.
type compiledPatterns struct {
	pattern    string
	p          *pattern.Pattern
	exceptions map[string]*pattern.Pattern
}

// of returns the compiled form of text when loading compiled that very text.
func (c *compiledPatterns) of(text string, exception bool) *pattern.Pattern {
	if !exception {
		if c.p != nil && c.pattern == text {
			return c.p
		}
		return nil
	}
	return c.exceptions[text]
}

// Samples are CloudTrail records (or EventBridge envelopes) the rule must and must not report.
// For a stateful rule each sample is a scenario: a JSON array of records, fed in that order,
// over which the rule must report at least once (Match) or never (NoMatch).
type Samples struct {
	Match, NoMatch []json.RawMessage
}

// yamlFile is the strict on-disk form: `rules: [{id, title, severity, pattern, ...}]`.
type yamlFile struct {
	Rules []yamlRule `yaml:"rules"`
}

type yamlRule struct {
	ID          posString   `yaml:"id"`
	Title       posString   `yaml:"title"`
	Description string      `yaml:"description"`
	Runbook     posString   `yaml:"runbook"`
	Severity    string      `yaml:"severity"`
	Pattern     *jsonNode   `yaml:"pattern"`
	Exceptions  []*jsonNode `yaml:"exceptions"`
	Predicates  []string    `yaml:"predicates"`
	Tags        []string    `yaml:"tags"`
	References  []string    `yaml:"references"`
	Samples     struct {
		Match   []*sampleNode `yaml:"match"`
		NoMatch []*sampleNode `yaml:"no_match"`
	} `yaml:"samples"`
	Kind      posString      `yaml:"kind"`
	Threshold *yamlThreshold `yaml:"threshold"`
	Sequence  *yamlSequence  `yaml:"sequence"`
	NewTerms  *yamlNewTerms  `yaml:"new_terms"`
}

// Builtin returns the rule pack embedded in the binary.
func Builtin() ([]Rule, error) {
	return loadFS(rules.FS, ".", "builtin:", true)
}

// BuiltinForDetection returns the rule pack embedded in the binary without the rules'
// samples, which detection never reads: they are most of the pack's YAML, and loading the
// pack is most of a command's start-up. TestBuiltinForDetection checks that it gives the
// same rules as Builtin but for Samples.
func BuiltinForDetection() ([]Rule, error) {
	return loadFS(rules.FS, ".", "builtin:", false)
}

// Load reads rules from YAML files and from the *.yaml/*.yml files of directories (recursively).
// Every problem is reported, each with file and line; rule ids must be unique across all paths.
func Load(paths ...string) ([]Rule, error) {
	var out []Rule
	var errs []error
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !st.IsDir() {
			rs, err := loadFile(os.DirFS(filepath.Dir(p)), filepath.Base(p), p, true)
			out = append(out, rs...)
			errs = append(errs, err)
			continue
		}
		rs, err := loadFS(os.DirFS(p), ".", p+string(filepath.Separator), true)
		if err == nil && len(rs) == 0 {
			err = fmt.Errorf("%s: no rule files (*.yaml, *.yml)", p)
		}
		out = append(out, rs...)
		errs = append(errs, err)
	}
	errs = append(errs, checkUnique(out))
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// loadFS loads the rule files under root; without samples, the rules' samples are left out
// unread.
func loadFS(fsys fs.FS, root, prefix string, samples bool) ([]Rule, error) {
	var files []string
	err := fs.WalkDir(fsys, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
			files = append(files, p)
		}
		return nil
	})
	// Files are parsed on every CPU: loading the built-in pack (a megabyte of YAML, most of
	// it samples) is most of a command's start-up, which nothing else overlaps.
	type loaded struct {
		rules []Rule
		err   error
	}
	out := make([]loaded, len(files))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(files)) {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < len(files); i = int(next.Add(1)) - 1 {
				rs, err := loadFile(fsys, files[i], prefix+filepath.FromSlash(files[i]), samples)
				out[i] = loaded{rs, err}
			}
		})
	}
	wg.Wait()
	var rs []Rule
	errs := []error{err}
	for _, l := range out {
		rs = append(rs, l.rules...)
		errs = append(errs, l.err)
	}
	errs = append(errs, checkUnique(rs))
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return rs, nil
}

func checkUnique(rs []Rule) error {
	seen := make(map[string]string, len(rs))
	var errs []error
	for _, r := range rs {
		if prev, ok := seen[r.ID]; ok {
			errs = append(errs, fmt.Errorf("%s: rule id %q already defined at %s", r.File, r.ID, prev))
			continue
		}
		seen[r.ID] = r.File
	}
	return errors.Join(errs...)
}

func loadFile(fsys fs.FS, p, name string, samples bool) ([]Rule, error) {
	data, err := fs.ReadFile(fsys, p)
	if err != nil {
		// the path in err is relative to fsys; name is the one the user gave
		if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if !samples {
		data = blankSamples(data)
	}
	return Parse(data, name)
}

// blankSamples returns a copy of a rule file with the lines of every rule's samples key
// blanked, for loading without reading them: from a line that is a "samples:" key to the next
// line that is neither blank, a comment, nor indented deeper than that key (nothing of the key's
// value can be). Lines are blanked, not removed, so that every other line keeps its number for
// the positions rules and their errors carry.
func blankSamples(data []byte) []byte {
	out := make([]byte, 0, len(data))
	key := -1 // the indentation of the samples key being blanked, -1 outside one
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line = data[:i+1]
		}
		data = data[len(line):]
		text := bytes.TrimRight(line, "\r\n")
		body := bytes.TrimLeft(text, " ")
		indent := len(text) - len(body)
		if key >= 0 {
			if len(body) == 0 || body[0] == '#' || indent > key {
				out = append(out, '\n')
				continue
			}
			key = -1
		}
		if rest, ok := bytes.CutPrefix(body, []byte("samples:")); ok {
			if rest = bytes.TrimLeft(rest, " "); len(rest) == 0 || rest[0] == '#' {
				key = indent
				out = append(out, '\n')
				continue
			}
		}
		out = append(out, line...)
	}
	return out
}

// Parse reads one YAML rule file; name is used in error messages.
func Parse(data []byte, name string) ([]Rule, error) {
	var f yamlFile
	if err := yamlnode.Decode(data, &f); err != nil {
		return nil, yamlnode.InFile(name, err)
	}
	if len(f.Rules) == 0 {
		return nil, fmt.Errorf("%s: no rules (want `rules: [{id, title, severity, pattern}]`)", name)
	}
	var out []Rule
	var errs []error
	for _, yr := range f.Rules {
		r, rerrs := yr.rule(name)
		if len(rerrs) > 0 {
			errs = append(errs, rerrs...)
			continue
		}
		out = append(out, r)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

func (y *yamlRule) rule(name string) (Rule, []error) {
	line := y.ID.line
	at := func(l int) string {
		if l <= 0 {
			l = line
		}
		return fmt.Sprintf("%s:%d", name, l)
	}
	var errs []error
	fail := func(l int, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: rule %q: %s", at(l), y.ID.s, fmt.Sprintf(format, a...)))
	}
	r := Rule{
		ID: y.ID.s, Title: y.Title.s, Description: strings.TrimSpace(y.Description),
		Runbook:    strings.TrimSpace(y.Runbook.s),
		Predicates: y.Predicates, Tags: y.Tags, References: y.References, File: at(0),
	}
	if !validID(y.ID.s) {
		fail(0, "id must be short kebab-case (a-z, 0-9, '-')")
	}
	y.kind(&r, kindParser{fail})
	if y.Title.s == "" {
		fail(0, "title is required")
	} else if err := checkStatefulText(r.Kind, y.Title.s); err != nil {
		fail(y.Title.line, "title: %v", err)
	}
	// line by line, so an error names the file line (a block scalar starts on the next one)
	first := y.Runbook.line
	if y.Runbook.block {
		first++
	}
	for k, l := range strings.Split(y.Runbook.s, "\n") {
		if err := checkStatefulText(r.Kind, l); err != nil {
			fail(first+k, "runbook: %v", err)
		}
	}
	sev, err := finding.ParseSeverity(y.Severity)
	if err != nil {
		fail(0, "severity: %v", err)
	}
	r.Severity = sev
	switch {
	case y.Pattern == nil && r.Kind != KindSequence:
		fail(0, "pattern is required")
	case y.Pattern != nil && r.Kind != KindSequence:
		r.Pattern = y.Pattern.json
		if p, err := pattern.Compile(r.Pattern); err != nil {
			fail(y.Pattern.line, "pattern: %v", err)
		} else {
			r.compiled.pattern, r.compiled.p = r.Pattern, p
		}
	}
	for i, e := range y.Exceptions {
		if e == nil {
			fail(0, "exceptions[%d] is empty", i)
			continue
		}
		if p, err := pattern.Compile(e.json); err != nil {
			fail(e.line, "exceptions[%d]: %v", i, err)
		} else {
			if r.compiled.exceptions == nil {
				r.compiled.exceptions = map[string]*pattern.Pattern{}
			}
			r.compiled.exceptions[e.json] = p
		}
		r.Exceptions = append(r.Exceptions, e.json)
	}
	for _, p := range y.Predicates {
		if _, ok := predicates[p]; !ok {
			fail(0, "unknown predicate %q (known: %s)", p, strings.Join(PredicateNames(), ", "))
		}
	}
	samples := func(field string, nodes []*sampleNode) []json.RawMessage {
		var out []json.RawMessage
		for i, s := range nodes {
			// a nil node (an empty entry) is reported at the rule's line
			if s == nil || s.n == nil {
				fail(0, "%s[%d] is empty", field, i)
				continue
			}
			read := s.record
			if r.Kind.Stateful() {
				read = s.scenario
			}
			text, line, err := read()
			if err != nil {
				if errors.Is(err, errNotObject) {
					fail(line, "%s[%d] is not a JSON object", field, i)
					continue
				}
				fail(line, "%s[%d]: %v", field, i, err)
				continue
			}
			out = append(out, json.RawMessage(text))
		}
		return out
	}
	r.Samples.Match = samples("samples.match", y.Samples.Match)
	r.Samples.NoMatch = samples("samples.no_match", y.Samples.NoMatch)
	return r, errs
}

func validID(id string) bool {
	if id == "" || len(id) > 64 || id[0] == '-' || id[len(id)-1] == '-' {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// Select keeps the rules named in only (all when only is empty) minus those in disable.
// Unknown ids are an error so a typo cannot silently turn a rule off.
func Select(rs []Rule, only, disable []string) ([]Rule, error) {
	known := make(map[string]bool, len(rs))
	for _, r := range rs {
		known[r.ID] = true
	}
	var errs []error
	for _, id := range slices.Concat(only, disable) {
		if !known[id] {
			errs = append(errs, fmt.Errorf("unknown rule id %q", id))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	var out []Rule
	for _, r := range rs {
		if len(only) > 0 && !slices.Contains(only, r.ID) {
			continue
		}
		if slices.Contains(disable, r.ID) {
			continue
		}
		out = append(out, r)
	}
	return out, nil
}

// AtLeast keeps the rules of severity min or above (scan --min-severity, the configuration's
// min_severity): rules below it are not even evaluated.
func AtLeast(rs []Rule, min finding.Severity) []Rule {
	if min <= finding.Info {
		return rs
	}
	var out []Rule
	for _, r := range rs {
		if r.Severity >= min {
			out = append(out, r)
		}
	}
	return out
}

// jsonNode is a YAML value that the rule format allows to be written either as YAML or as a
// string of JSON (a pattern pasted from the EventBridge console). It keeps the JSON text and
// the line it started on.
type jsonNode struct {
	json string
	line int
}

func (j *jsonNode) UnmarshalYAML(n *yaml.Node) error {
	j.line = n.Line
	if s, ok := yamlnode.IsString(n); ok {
		t := strings.TrimSpace(s)
		if !json.Valid([]byte(t)) {
			var se *json.SyntaxError
			err := json.Unmarshal([]byte(t), new(any))
			if errors.As(err, &se) {
				return yamlnode.Errorf(n, "invalid JSON at byte %d: %v", se.Offset, err)
			}
			return yamlnode.Errorf(n, "invalid JSON: %v", err)
		}
		j.json = t
		return nil
	}
	var b strings.Builder
	if err := yamlnode.JSON(&b, n); err != nil {
		return err
	}
	j.json = b.String()
	return nil
}

// posString is a scalar that remembers its line, so errors can point at it.
type posString struct {
	s     string
	line  int
	block bool // a literal (|) or folded (>) scalar, whose text starts on the next line
}

func (p *posString) UnmarshalYAML(n *yaml.Node) error {
	p.line = n.Line
	p.block = n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0
	if n.Kind != yaml.ScalarNode {
		return yamlnode.Errorf(n, "want a string, got %s", yamlnode.Kind(n))
	}
	if n.ShortTag() != "!!null" {
		p.s = n.Value
	}
	return nil
}
