package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/trailbell/trailbell/internal/app"
	"github.com/trailbell/trailbell/internal/deploy"
	"github.com/trailbell/trailbell/internal/detect"
)

// deployCommand helps deploy the Lambda function.
var deployCommand = command{
	name: "deploy", summary: "print the EventBridge pre-filter pattern; check a deployment (pattern|check)",
	about: "Helps deploy the Lambda function: the EventBridge pre-filter for the enabled rules, and checks of a deployment.",
	subs: []command{
		{name: "pattern", summary: "print the EventBridge pre-filter pattern(s) for the enabled rules", run: runDeployPattern},
		{name: "check", summary: "warn about a deployment that would miss events (region, stale patterns)", run: runDeployCheck},
	},
}

// deployFlags are the flags both deploy subcommands take: the rule choice, as the function's
// configuration makes it, and EventBridge's pattern size.
type deployFlags struct {
	ruleFlags
	maxSize int
}

func (d *deployFlags) register(c *leaf) {
	d.ruleFlags.register(c, true)
	c.IntVar(&d.maxSize, "max-size", deploy.DefaultMaxSize, "`characters` per pattern: EventBridge's quota is 2048 by default, 4096 at most after an increase")
}

// rules returns the enabled rules.
func (d *deployFlags) rules() ([]detect.Rule, error) {
	cfg, err := d.load()
	if err != nil {
		return nil, err
	}
	return app.Rules(cfg)
}

func runDeployPattern(_ context.Context, args []string, io stdio) int {
	c := newLeaf(io, "deploy pattern", "trailbell deploy pattern [flags]",
		"Prints the EventBridge pattern(s) that pre-filter CloudTrail events for the enabled rules\n"+
			"(chosen as the function's configuration chooses them: give it with --config, or the same\n"+
			"--disable flags as its TRAILBELL_DISABLE_RULES). They match a superset of what the rules\n"+
			"match, split to fit EventBridge's pattern size.")
	var rf deployFlags
	rf.register(c)
	format := c.String("format", "json", "output `format`: json (array of patterns, the Terraform module's event-patterns.json), "+
		"lines (one pattern per line), cfn-params (EventPatternN=... for --parameter-overrides), tfvars (JSON for -var-file)")
	if code, ok := c.parse(args); !ok {
		return code
	}
	fail := c.fail
	if c.NArg() > 0 {
		return c.usageError("unexpected argument %q", c.Arg(0))
	}
	rs, err := rf.rules()
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
	c := newLeaf(io, "deploy check", "trailbell deploy check [--region REGION] [--template FILE] [flags]",
		"Warns when rules for IAM, Organizations or sign-in events would be deployed outside us-east-1\n"+
			"(they would never fire), and when a template's patterns miss events the enabled rules report.\n"+
			"Exit 0 when clean, 1 with warnings, 2 on errors.")
	var rf deployFlags
	rf.register(c)
	region := c.String("region", "", "`region` the EventBridge rules go to (default: AWS_REGION, then AWS_DEFAULT_REGION)")
	template := c.String("template", "", "CloudFormation/SAM template or JSON pattern list (Terraform's event-patterns.json) `file` to check for stale patterns")
	if code, ok := c.parse(args); !ok {
		return code
	}
	fail := c.fail
	if c.NArg() > 0 {
		return c.usageError("unexpected argument %q", c.Arg(0))
	}
	if *region == "" {
		*region = os.Getenv("AWS_REGION")
	}
	if *region == "" {
		*region = os.Getenv("AWS_DEFAULT_REGION")
	}
	if *region == "" && *template == "" {
		return c.usageError("give --region (or set AWS_REGION) and/or --template")
	}
	rs, err := rf.rules()
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
