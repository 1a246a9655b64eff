package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/trailbell/trailbell/internal/cloudtrail"
	"github.com/trailbell/trailbell/pattern"
)

// runTestPattern is trailbell's `aws events test-event-pattern`: same flags, same
// file:// convention, same {"Result": ...} answer, computed locally.
func runTestPattern(_ context.Context, args []string, io stdio) int {
	c := newLeaf(io, "test-pattern", "trailbell test-pattern --event-pattern PATTERN --event EVENT [--lift]",
		"Prints {\"Result\": true} when EVENT matches PATTERN and {\"Result\": false} when not,\n"+
			"like `aws events test-event-pattern`. Exit 0 either way; 2 for a bad pattern or event.")
	patternArg := c.String("event-pattern", "", "the EventBridge event `pattern`: JSON text or file://PATH")
	eventArg := c.String("event", "", "the `event`: JSON text or file://PATH (an EventBridge envelope, or any JSON object)")
	lift := c.Bool("lift", false, "EVENT is a CloudTrail record: wrap it in the EventBridge envelope first, as trailbell does")
	if code, ok := c.parse(args); !ok {
		return code
	}
	fail := c.fail
	if c.NArg() > 0 {
		return c.usageError("unexpected argument %q", c.Arg(0))
	}
	if *patternArg == "" || *eventArg == "" {
		return c.usageError("both --event-pattern and --event are required")
	}

	p, pName, err := cliValue(*patternArg)
	if err != nil {
		return fail("read event pattern: %v", err)
	}
	ev, evName, err := cliValue(*eventArg)
	if err != nil {
		return fail("read event: %v", err)
	}
	// The matcher may stop reading an event early; a one-off check can afford to validate
	// all of it so a broken event is never answered.
	if err := checkJSON(ev); err != nil {
		if hint := fileHint(*eventArg); hint != "" {
			return fail("invalid event: %s", hint)
		}
		return fail("invalid event (%s): %v", evName, err)
	}
	if *lift {
		if ev, err = cloudtrail.Lift(ev); err != nil {
			return fail("lift event (%s): %v", evName, err)
		}
	} else if missing := missingEnvelopeFields(ev); len(missing) > 0 {
		// Answer anyway (trailbell matches any JSON object), but say that AWS would not.
		fmt.Fprintf(io.err, "trailbell test-pattern: note: aws events test-event-pattern would reject this event: no %s (use --lift for a CloudTrail record)\n",
			strings.Join(missing, ", "))
	}
	m := pattern.New()
	if err := m.Add("pattern", string(p)); err != nil {
		var pe *pattern.PatternError
		if hint := fileHint(*patternArg); hint != "" && errors.As(err, &pe) && pe.Line > 0 {
			return fail("invalid event pattern: %s", hint)
		}
		return fail("invalid event pattern (%s): %v", pName, err)
	}
	ids, err := m.Match(ev)
	if err != nil {
		return fail("invalid event (%s): %v", evName, err)
	}
	fmt.Fprintf(io.out, "{\"Result\": %t}\n", len(ids) > 0)
	return exitOK
}

// cliValue resolves an AWS CLI style argument: file://PATH reads the file, anything else is
// the value itself. name says where the value came from, for error messages.
func cliValue(arg string) (value []byte, name string, err error) {
	if path, ok := strings.CutPrefix(arg, "file://"); ok {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, "", err
		}
		return b, path, nil
	}
	return []byte(arg), "argument", nil
}

// fileHint suggests file:// for an argument that is not JSON and looks like a file name:
// like the AWS CLI, test-pattern reads a file only with the prefix.
func fileHint(arg string) string {
	if strings.HasPrefix(arg, "file://") {
		return ""
	}
	t := strings.TrimSpace(arg)
	if t == "" || strings.ContainsAny(t[:1], "{[\"") {
		return ""
	}
	if _, err := os.Stat(t); err == nil || strings.HasSuffix(t, ".json") || strings.ContainsRune(t, '/') {
		return fmt.Sprintf("%q is not JSON; did you mean file://%s?", t, t)
	}
	return ""
}

// checkJSON reports whether b is one valid JSON value, naming line and column when not.
func checkJSON(b []byte) error {
	if json.Valid(b) {
		return nil
	}
	var v json.RawMessage
	err := json.Unmarshal(b, &v)
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		off := int(syn.Offset)
		if off > len(b) {
			off = len(b)
		}
		line := bytes.Count(b[:off], []byte("\n")) + 1
		col := off - bytes.LastIndexByte(b[:off], '\n')
		return fmt.Errorf("line %d, column %d: %w", line, col, err)
	}
	if err == nil {
		err = errors.New("not valid JSON")
	}
	return err
}

// envelopeFields are the fields TestEventPattern requires in an event.
var envelopeFields = []string{"id", "account", "source", "time", "region", "resources", "detail-type"}

// missingEnvelopeFields lists the fields AWS requires that the event (valid JSON) lacks;
// nil when it is not an object, which the matcher reports itself.
func missingEnvelopeFields(ev []byte) []string {
	var top map[string]json.RawMessage
	if json.Unmarshal(ev, &top) != nil {
		return nil
	}
	var missing []string
	for _, f := range envelopeFields {
		if _, ok := top[f]; !ok {
			missing = append(missing, f)
		}
	}
	return missing
}
