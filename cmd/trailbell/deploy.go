package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/trailbell/trailbell/internal/deploy"
	"github.com/trailbell/trailbell/internal/detect"
	"github.com/trailbell/trailbell/internal/finding"
)

// runDeploy dispatches `trailbell deploy pattern` and `trailbell deploy check`.
func runDeploy(ctx context.Context, args []string, io stdio) int {
	usage := func() {
		fmt.Fprintln(io.err, "usage: trailbell deploy pattern [flags]   print the EventBridge pre-filter pattern(s) for the enabled rules\n"+
			"       trailbell deploy check [flags]     warn about a deployment that would miss events\n\n"+
			"Run 'trailbell deploy pattern --help' or 'trailbell deploy check --help' for flags.")
	}
	return dispatch(ctx, "trailbell deploy", args, io, []command{
		{"pattern", "", runDeployPattern},
		{"check", "", runDeployCheck},
	}, usage)
}

// ruleFlags are the flags that choose the enabled rules, shared by both subcommands.
type ruleFlags struct {
	rules, only, disable commaList
	minSeverity          string
	maxSize              int
}

func (r *ruleFlags) register(fs *flag.FlagSet) {
	fs.Var(&r.rules, "rules", "comma-separated rule files or directories (default: the built-in pack)")
	fs.Var(&r.only, "only", "comma-separated rule ids to enable (default: all)")
	fs.Var(&r.disable, "disable", "comma-separated rule ids to disable")
	fs.StringVar(&r.minSeverity, "min-severity", "", "only rules of this `severity` or above, as the function's min_severity (info, low, medium, high, critical)")
	fs.IntVar(&r.maxSize, "max-size", deploy.DefaultMaxSize, "characters per pattern: EventBridge's quota is 2048 by default, 4096 at most after an increase")
}

// load returns the enabled rules: the files named by --rules instead of the built-in pack
// when given, narrowed by --only, --disable and --min-severity.
func (r *ruleFlags) load() ([]detect.Rule, error) {
	rs, err := loadRules(r.rules, len(r.rules) > 0)
	if err != nil {
		return nil, err
	}
	if rs, err = detect.Select(rs, r.only, r.disable); err != nil {
		return nil, err
	}
	if r.minSeverity != "" {
		min, err := finding.ParseSeverity(r.minSeverity)
		if err != nil {
			return nil, fmt.Errorf("--min-severity: %w", err)
		}
		rs = detect.AtLeast(rs, min)
	}
	return rs, nil
}

func runDeployPattern(_ context.Context, args []string, io stdio) int {
	fs := newFlags("deploy pattern", io)
	var rf ruleFlags
	rf.register(fs)
	format := fs.String("format", "json", "output: json (array of patterns, the Terraform module's event-patterns.json), "+
		"lines (one pattern per line), cfn-params (EventPatternN=... for --parameter-overrides), tfvars (JSON for -var-file)")
	setUsage(fs, io, "usage: trailbell deploy pattern [flags]\n\n"+
		"Prints the EventBridge pattern(s) that pre-filter CloudTrail events for the enabled rules.\n"+
		"They match a superset of what the rules match, split to fit EventBridge's pattern size.\n")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	fail := failer(io, "deploy pattern")
	if fs.NArg() > 0 {
		return fail("unexpected argument %q", fs.Arg(0))
	}
	rs, err := rf.load()
	if err != nil {
		return fail("%v", err)
	}
	rules, _, err := deploy.FromDetect(rs)
	if err != nil {
		return fail("%v", err)
	}
	ps, err := deploy.Generate(rules, deploy.Options{MaxSize: rf.maxSize})
	if err != nil {
		return fail("%v", err)
	}
	jsons := make([]string, len(ps))
	for i, p := range ps {
		jsons[i] = p.JSON
	}
	switch *format {
	case "json":
		fmt.Fprintln(io.out, "[")
		for i, p := range jsons {
			sep := ","
			if i == len(jsons)-1 {
				sep = ""
			}
			fmt.Fprintf(io.out, "  %s%s\n", p, sep)
		}
		fmt.Fprintln(io.out, "]")
	case "lines":
		for _, p := range jsons {
			fmt.Fprintln(io.out, p)
		}
	case "cfn-params":
		if len(jsons) > deploy.TemplateSlots {
			return fail("%d patterns but the CloudFormation template has %d slots: raise --max-size (after a quota increase) or disable rules", len(jsons), deploy.TemplateSlots)
		}
		for i := range deploy.TemplateSlots {
			v := ""
			if i < len(jsons) {
				v = jsons[i]
			}
			fmt.Fprintf(io.out, "EventPattern%d=%s\n", i+1, v)
		}
	case "tfvars":
		b, _ := json.MarshalIndent(map[string][]string{"event_patterns": jsons}, "", "  ")
		fmt.Fprintln(io.out, string(b))
	default:
		return fail("unknown --format %q (want json, lines, cfn-params or tfvars)", *format)
	}
	fmt.Fprintf(io.err, "%d pattern(s) for %d rule(s)\n", len(ps), len(rules))
	for _, p := range ps {
		for _, id := range p.Broad {
			// a stateful rule's steps are RULE#stepN in the pre-filter; --disable takes RULE
			rule, step, _ := strings.Cut(id, "#")
			if step != "" {
				step = " (" + step + ")"
			}
			fmt.Fprintf(io.err, "note: rule %s%s constrains neither service nor event name: its events reach the function broadly (--disable %s to narrow the pre-filter)\n", rule, step, rule)
		}
	}
	return exitOK
}

func runDeployCheck(_ context.Context, args []string, io stdio) int {
	fs := newFlags("deploy check", io)
	var rf ruleFlags
	rf.register(fs)
	region := fs.String("region", "", "region the EventBridge rules go to (default: AWS_REGION, then AWS_DEFAULT_REGION)")
	template := fs.String("template", "", "CloudFormation/SAM template or JSON pattern list (Terraform's event-patterns.json) to check for stale patterns")
	setUsage(fs, io, "usage: trailbell deploy check [--region REGION] [--template FILE] [flags]\n\n"+
		"Warns when rules for IAM, Organizations or sign-in events would be deployed outside us-east-1\n"+
		"(they would never fire), and when a template's patterns miss events the enabled rules report.\n"+
		"Exit 0 when clean, 1 with warnings, 2 on errors.\n")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	fail := failer(io, "deploy check")
	if fs.NArg() > 0 {
		return fail("unexpected argument %q", fs.Arg(0))
	}
	if *region == "" {
		*region = os.Getenv("AWS_REGION")
	}
	if *region == "" {
		*region = os.Getenv("AWS_DEFAULT_REGION")
	}
	if *region == "" && *template == "" {
		return fail("give --region (or set AWS_REGION) and/or --template")
	}
	rs, err := rf.load()
	if err != nil {
		return fail("%v", err)
	}
	rules, samples, err := deploy.FromDetect(rs)
	if err != nil {
		return fail("%v", err)
	}
	var warnings []deploy.Warning
	if *region != "" {
		w, err := deploy.CheckRegion(*region, rules)
		if err != nil {
			return fail("%v", err)
		}
		warnings = append(warnings, w...)
	}
	if *template != "" {
		deployed, err := deploy.TemplatePatterns(*template)
		if err != nil {
			return fail("%v", err)
		}
		for i, p := range deployed {
			if len(p) > rf.maxSize {
				warnings = append(warnings, deploy.Warning{Message: fmt.Sprintf(
					"%s: pattern %d is %d characters, over EventBridge's %d", *template, i+1, len(p), rf.maxSize)})
			}
		}
		missed, err := deploy.Uncovered(deployed, samples)
		if err != nil {
			return fail("%s: %v", *template, err)
		}
		for _, s := range missed {
			warnings = append(warnings, deploy.Warning{Rule: s.Rule, Message: fmt.Sprintf(
				"%s: no deployed pattern matches %s: EventBridge would never deliver such events "+
					"(regenerate with `trailbell deploy pattern`)", *template, s.Name)})
		}
		generated, err := deploy.Generate(rules, deploy.Options{MaxSize: rf.maxSize})
		if err != nil {
			return fail("%v", err)
		}
		stale, err := deploy.CheckStale(deployed, generated)
		if err != nil {
			return fail("%s: %v", *template, err)
		}
		if len(missed) == 0 && len(stale) > 0 {
			// Covered but different: worth a note, since extra patterns cost invocations.
			for _, w := range stale {
				w.Message = *template + ": " + w.Message
				warnings = append(warnings, w)
			}
		}
	}
	for _, w := range warnings {
		fmt.Fprintln(io.out, "warning: "+w.String())
	}
	if len(warnings) > 0 {
		return exitFindings
	}
	fmt.Fprintf(io.out, "ok: %d rule(s) checked\n", len(rules))
	return exitOK
}
