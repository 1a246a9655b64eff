package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/trailbell/trailbell/internal/correlate"
	"github.com/trailbell/trailbell/internal/detect"
)

// runRules lists, shows and validates detection rules: the built-in pack and rule files.
func runRules(ctx context.Context, args []string, io stdio) int {
	usage := func() {
		fmt.Fprintln(io.err, "usage: trailbell rules list [--rules PATH]... [--no-builtin] [--json]\n"+
			"       trailbell rules show [--rules PATH]... ID...\n"+
			"       trailbell rules validate [PATH...]\n\n"+
			"validate checks YAML, patterns, title and runbook templates and predicates, and runs every rule's samples;\n"+
			"with no PATH it checks the built-in pack. Exit 2 with file:line errors when anything is invalid.")
	}
	return dispatch(ctx, "trailbell rules", args, io, []command{
		{"list", "", rulesList},
		{"show", "", rulesShow},
		{"validate", "", rulesValidate},
	}, usage)
}

// loadRules returns the built-in pack (unless noBuiltin) followed by the rules in paths.
func loadRules(paths []string, noBuiltin bool) ([]detect.Rule, error) {
	var rs []detect.Rule
	if !noBuiltin {
		b, err := detect.Builtin()
		if err != nil {
			return nil, fmt.Errorf("built-in rules: %w", err)
		}
		rs = b
	}
	if len(paths) > 0 {
		more, err := detect.Load(paths...)
		if err != nil {
			return nil, err
		}
		rs = append(rs, more...)
	}
	return rs, nil
}

func rulesList(_ context.Context, args []string, io stdio) int {
	fs := newFlags("rules list", io)
	var paths repeated
	fs.Var(&paths, "rules", "also list the rules in this YAML file or directory (repeatable)")
	noBuiltin := fs.Bool("no-builtin", false, "leave out the built-in pack")
	asJSON := fs.Bool("json", false, "print JSON lines (id, severity, title, tags, file)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	fail := failer(io, "rules list")
	if fs.NArg() > 0 {
		return fail("unexpected argument %q", fs.Arg(0))
	}
	rs, err := loadRules(paths, *noBuiltin)
	if err != nil {
		return fail("%v", err)
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
	fs := newFlags("rules show", io)
	var paths repeated
	fs.Var(&paths, "rules", "also look in this YAML file or directory (repeatable)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	fail := failer(io, "rules show")
	if fs.NArg() == 0 {
		return fail("name at least one rule id (see `trailbell rules list`)")
	}
	rs, err := loadRules(paths, false)
	if err != nil {
		return fail("%v", err)
	}
	picked, err := detect.Select(rs, fs.Args(), nil)
	if err != nil {
		return fail("%v", err)
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
		s := fmt.Sprintf("threshold: %d %s within %s%s", t.Count, what, detect.FormatDuration(t.Window), by(t.GroupBy))
		if t.History > 0 {
			s += ", first time in " + detect.FormatDuration(t.History)
		}
		return s
	case detect.KindSequence:
		return fmt.Sprintf("sequence: %d steps within %s%s", len(r.Sequence.Steps), detect.FormatDuration(r.Sequence.Window), by(r.Sequence.By))
	case detect.KindNewTerms:
		n := r.NewTerms
		s := fmt.Sprintf("new_terms: %s not seen in %s, after learning %s", strings.Join(n.Fields, " + "), detect.FormatDuration(n.History), detect.FormatDuration(n.Learn))
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
	fs := newFlags("rules validate", io)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	var rs []detect.Rule
	var err error
	what := "built-in pack"
	if fs.NArg() == 0 {
		rs, err = detect.Builtin()
	} else {
		what = strings.Join(fs.Args(), ", ")
		rs, err = detect.Load(fs.Args()...)
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
