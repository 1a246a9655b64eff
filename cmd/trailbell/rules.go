package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/trailbell/trailbell/internal/duration"

	"github.com/trailbell/trailbell/internal/app"
	"github.com/trailbell/trailbell/internal/config"
	"github.com/trailbell/trailbell/internal/correlate"
	"github.com/trailbell/trailbell/internal/detect"
	"github.com/trailbell/trailbell/internal/finding"
)

// rulesCommand lists, shows and validates detection rules: the built-in pack and rule files.
var rulesCommand = command{
	name: "rules", summary: "list, show and validate detection rules (list|show|validate)",
	about: "Lists, shows and validates detection rules: the built-in pack and your rule files.",
	subs: []command{
		{name: "list", summary: "list the enabled rules: id, severity, title (--json for more)", run: rulesList},
		{name: "show", summary: "show rules whole: pattern, predicates, runbook, samples", run: rulesShow},
		{name: "validate", summary: "check rule files (or the built-in pack) and run their samples", run: rulesValidate},
	},
}

// ruleFlags choose the enabled rules, the same way in every subcommand that takes them:
// --rules adds rule files to the built-in pack, --no-builtin leaves the pack out, --only and
// --disable narrow them by id, --min-severity drops the rules below it. With --config they
// add to or override the file's run section and min_severity; app.Rules does the choosing.
type ruleFlags struct {
	config      string
	rules       repeated
	noBuiltin   bool
	only        ruleIDs
	disable     ruleIDs
	minSeverity string
}

func (r *ruleFlags) register(c *leaf, withConfig bool) {
	if withConfig {
		c.StringVar(&r.config, "config", "", "configuration `file` whose rule choice (run: rules, no_builtin, only, disable) and min_severity apply")
	}
	c.Var(&r.rules, "rules", "add the rules in this YAML `file` or directory")
	c.BoolVar(&r.noBuiltin, "no-builtin", false, "leave out the built-in rule pack")
	c.Var(&r.only, "only", "enable only this rule `id`")
	c.Var(&r.disable, "disable", "disable this rule `id`")
	c.StringVar(&r.minSeverity, "min-severity", "", "only rules of this `severity` or above: info, low, medium, high, critical")
}

// load reads --config, when given, and puts the flags into it.
func (r *ruleFlags) load() (*config.Config, error) {
	cfg := &config.Config{}
	if r.config != "" {
		l, err := config.Load(r.config)
		if err != nil {
			return nil, err
		}
		cfg = l
	}
	return cfg, r.apply(cfg)
}

// apply puts the flags into cfg: --rules (absolute, as the command line meant them) and
// --disable add, --no-builtin, --only and --min-severity override.
func (r *ruleFlags) apply(cfg *config.Config) error {
	for _, p := range r.rules {
		abs, err := filepath.Abs(p)
		if err != nil {
			return fmt.Errorf("--rules %s: %w", p, err)
		}
		cfg.Run.Rules = append(cfg.Run.Rules, abs)
	}
	if r.noBuiltin {
		cfg.Run.NoBuiltin = true
	}
	if len(r.only.repeated) > 0 {
		cfg.Run.Only = r.only.repeated
	}
	cfg.Run.Disable = append(cfg.Run.Disable, r.disable.repeated...)
	if r.minSeverity != "" {
		if _, err := finding.ParseSeverity(r.minSeverity); err != nil {
			return fmt.Errorf("--min-severity: %w", err)
		}
		cfg.MinSeverity = r.minSeverity
	}
	return nil
}

func rulesList(_ context.Context, args []string, io stdio) int {
	c := newLeaf(io, "rules list", "trailbell rules list [flags]",
		"Lists the enabled rules: the built-in pack and the files of --rules, narrowed as the flags (or\n"+
			"the configuration of --config) say, one a line (id, severity, title), or as JSON lines.")
	var rf ruleFlags
	rf.register(c, true)
	asJSON := c.Bool("json", false, "print JSON lines (id, kind, severity, title, tags, file)")
	if code, ok := c.parse(args); !ok {
		return code
	}
	if c.NArg() > 0 {
		return c.usageError("unexpected argument %q", c.Arg(0))
	}
	cfg, err := rf.load()
	if err != nil {
		return c.fail("%v", err)
	}
	rs, err := app.Rules(cfg)
	if err != nil {
		return c.fail("%v", err)
	}
	if *asJSON {
		enc := json.NewEncoder(io.out)
		for _, r := range rs {
			enc.Encode(struct {
				ID       string   `json:"id"`
				Kind     string   `json:"kind,omitempty"`
				Severity string   `json:"severity"`
				Title    string   `json:"title"`
				Tags     []string `json:"tags,omitempty"`
				File     string   `json:"file"`
			}{r.ID, string(r.Kind), r.Severity.String(), r.Title, r.Tags, r.File})
		}
		return exitOK
	}
	tw := tabwriter.NewWriter(io.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSEVERITY\tTITLE")
	for _, r := range rs {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.ID, r.Severity, r.Title)
	}
	tw.Flush()
	return exitOK
}

func rulesShow(_ context.Context, args []string, io stdio) int {
	c := newLeaf(io, "rules show", "trailbell rules show [--rules FILE]... ID...",
		"Shows the named rules whole: severity, title, description, runbook, pattern, steps,\n"+
			"exceptions, predicates, tags, references and how many samples they carry.")
	var paths repeated
	c.Var(&paths, "rules", "also look in this YAML `file` or directory")
	if code, ok := c.parse(args); !ok {
		return code
	}
	if c.NArg() == 0 {
		return c.usageError("name at least one rule id (see `trailbell rules list`)")
	}
	rf := ruleFlags{rules: paths}
	rf.only.repeated = c.Args()
	cfg := &config.Config{}
	if err := rf.apply(cfg); err != nil {
		return c.fail("%v", err)
	}
	picked, err := app.Rules(cfg)
	if err != nil {
		return c.fail("%v", err)
	}
	docs := detect.Predicates()
	for i, r := range picked {
		if i > 0 {
			fmt.Fprintln(io.out)
		}
		fmt.Fprintf(io.out, "id:          %s\nseverity:    %s\ntitle:       %s\nfile:        %s\n", r.ID, r.Severity, r.Title, r.File)
		if r.Description != "" {
			fmt.Fprintf(io.out, "description: %s\n", r.Description)
		}
		if r.Runbook != "" {
			fmt.Fprintf(io.out, "runbook:\n  %s\n", strings.ReplaceAll(r.Runbook, "\n", "\n  "))
		}
		if r.Kind.Stateful() {
			fmt.Fprintf(io.out, "kind:        %s\n", kindText(&r))
		}
		if r.Pattern != "" {
			fmt.Fprintf(io.out, "pattern:\n%s\n", rulesIndentJSON(r.Pattern))
		}
		if r.Kind == detect.KindSequence {
			for i, st := range r.Steps() {
				fmt.Fprintf(io.out, "step %d:      %s", i+1, st.Name)
				if st.Count > 1 {
					fmt.Fprintf(io.out, " (%d times)", st.Count)
				}
				if len(st.By) > 0 {
					fmt.Fprintf(io.out, ", by %s", strings.Join(st.By, ", "))
				}
				fmt.Fprintf(io.out, "\n%s\n", rulesIndentJSON(st.Pattern))
				for _, p := range st.Predicates {
					fmt.Fprintf(io.out, "  predicate: %s: %s\n", p, docs[p])
				}
			}
		}
		if r.Kind == detect.KindNewTerms && r.NewTerms.Report != "" {
			fmt.Fprintf(io.out, "reported only when also:\n%s\n", rulesIndentJSON(r.NewTerms.Report))
		}
		for _, x := range r.Exceptions {
			fmt.Fprintf(io.out, "except when:\n%s\n", rulesIndentJSON(x))
		}
		for _, p := range r.Predicates {
			fmt.Fprintf(io.out, "predicate:   %s: %s\n", p, docs[p])
		}
		if len(r.Tags) > 0 {
			fmt.Fprintf(io.out, "tags:        %s\n", strings.Join(r.Tags, ", "))
		}
		for _, ref := range r.References {
			fmt.Fprintf(io.out, "reference:   %s\n", ref)
		}
		fmt.Fprintf(io.out, "samples:     %d that must match, %d that must not\n", len(r.Samples.Match), len(r.Samples.NoMatch))
	}
	return exitOK
}

// kindText says in one line what a stateful rule counts, joins or learns.
func kindText(r *detect.Rule) string {
	by := func(fs []string) string {
		if len(fs) == 0 {
			return ""
		}
		return " by " + strings.Join(fs, ", ")
	}
	switch r.Kind {
	case detect.KindThreshold:
		t := r.Threshold
		what := "events"
		if t.Distinct != "" {
			what = "distinct " + t.Distinct
		}
		s := fmt.Sprintf("threshold: %d %s within %s%s", t.Count, what, duration.Format(t.Window), by(t.GroupBy))
		if t.History > 0 {
			s += ", first time in " + duration.Format(t.History)
		}
		return s
	case detect.KindSequence:
		return fmt.Sprintf("sequence: %d steps within %s%s", len(r.Sequence.Steps), duration.Format(r.Sequence.Window), by(r.Sequence.By))
	case detect.KindNewTerms:
		n := r.NewTerms
		s := fmt.Sprintf("new_terms: %s not seen in %s, after learning %s", strings.Join(n.Fields, " + "), duration.Format(n.History), duration.Format(n.Learn))
		if len(n.LearnBy) > 0 {
			s += " per " + strings.Join(n.LearnBy, ", ")
		}
		if n.MaxKnown > 0 {
			s += fmt.Sprintf(", when at most %d known", n.MaxKnown)
		}
		return s
	}
	return string(r.Kind)
}

func rulesIndentJSON(s string) string {
	var b bytes.Buffer
	if err := json.Indent(&b, []byte(s), "  ", "  "); err != nil {
		return "  " + s
	}
	return "  " + b.String()
}

func rulesValidate(_ context.Context, args []string, io stdio) int {
	c := newLeaf(io, "rules validate", "trailbell rules validate [PATH...]",
		"Checks rule files (YAML, patterns, title and runbook templates, predicates) and runs every\n"+
			"rule's samples; with no PATH it checks the built-in pack. Exit 2 with file:line errors\n"+
			"when anything is invalid.")
	if code, ok := c.parse(args); !ok {
		return code
	}
	var rs []detect.Rule
	var err error
	what := "built-in pack"
	if c.NArg() == 0 {
		rs, err = detect.Builtin()
	} else {
		what = strings.Join(c.Args(), ", ")
		rs, err = detect.Load(c.Args()...)
	}
	if err == nil {
		err = errors.Join(detect.CheckSamples(rs), correlate.CheckSamples(rs))
	}
	if err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintln(io.err, line)
		}
		return exitError
	}
	samples := 0
	for _, r := range rs {
		samples += len(r.Samples.Match) + len(r.Samples.NoMatch)
	}
	fmt.Fprintf(io.out, "ok: %s: %d rules, %d samples checked\n", what, len(rs), samples)
	return exitOK
}
