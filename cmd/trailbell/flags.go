package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/trailbell/trailbell/internal/duration"
)

// leaf is one subcommand's flags and help. Every subcommand's --help has the same shape, on
// standard output: the usage line(s), a blank line, what it does, a blank line, and its flags
// (each as --name, list flags marked repeatable). A bad flag is named on standard error with
// a pointer to --help.
type leaf struct {
	*flag.FlagSet
	path  string // "scan", "rules list"
	usage string // "trailbell scan [flags] PATH..." (several lines for several forms)
	about string
	io    stdio
}

// newLeaf returns the flag set of subcommand path ("rules list"); usage lists its forms
// after "usage: ", about says what it does.
func newLeaf(std stdio, path, usage, about string) *leaf {
	fs := flag.NewFlagSet("trailbell "+path, flag.ContinueOnError)
	// The flag package's own messages go nowhere: parse reports errors, help prints usage.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &leaf{FlagSet: fs, path: path, usage: usage, about: about, io: std}
}

// parse parses args. When it returns false the subcommand ends with code: 0 after --help
// (printed on standard output), 2 for a bad flag.
func (c *leaf) parse(args []string) (code int, ok bool) {
	err := c.Parse(args)
	switch {
	case err == nil:
		return exitOK, true
	case errors.Is(err, flag.ErrHelp):
		c.help(c.io.out)
		return exitOK, false
	}
	// the flag package names flags -x; the help and every message here write --x
	return c.usageError("%s", dashes.ReplaceAllString(err.Error(), "$1--$2")), false
}

// dashes finds the flag names in the flag package's messages.
var dashes = regexp.MustCompile(`(defined: |for flag |for |argument: )-([a-zA-Z0-9])`)

// usageError says what is wrong with the command line and where help is: exit 2.
func (c *leaf) usageError(format string, a ...any) int {
	fmt.Fprintf(c.io.err, "trailbell %s: %s\nRun 'trailbell %s --help' for usage.\n", c.path, fmt.Sprintf(format, a...), c.path)
	return exitError
}

// fail prints "trailbell PATH: message" on standard error and returns exitError.
func (c *leaf) fail(format string, a ...any) int {
	fmt.Fprintf(c.io.err, "trailbell %s: %s\n", c.path, fmt.Sprintf(format, a...))
	return exitError
}

// help writes the subcommand's help.
func (c *leaf) help(w io.Writer) {
	var b bytes.Buffer
	for i, line := range strings.Split(strings.TrimSpace(c.usage), "\n") {
		if i == 0 {
			fmt.Fprintf(&b, "usage: %s\n", strings.TrimSpace(line))
		} else {
			fmt.Fprintf(&b, "       %s\n", strings.TrimSpace(line))
		}
	}
	fmt.Fprintf(&b, "\n%s\n\n", strings.TrimSpace(c.about))
	n := 0
	c.VisitAll(func(*flag.Flag) { n++ })
	if n == 0 {
		b.WriteString("flags: none\n")
	} else {
		b.WriteString("flags:\n")
		c.VisitAll(func(f *flag.Flag) { writeFlag(&b, f) })
	}
	w.Write(b.Bytes())
}

// writeFlag writes one flag as --name TYPE, its usage indented under it, then its default
// or that it may be repeated.
func writeFlag(b *bytes.Buffer, f *flag.Flag) {
	name, usage := flag.UnquoteUsage(f)
	if _, ok := f.Value.(*durationValue); ok && name == "value" {
		name = "duration"
	}
	fmt.Fprintf(b, "  --%s", f.Name)
	if name != "" {
		fmt.Fprintf(b, " %s", name)
	}
	if _, ok := f.Value.(repeatable); ok {
		usage += " (repeatable)"
	} else if !zeroDefaults[f.DefValue] {
		usage += fmt.Sprintf(" (default %s)", f.DefValue)
	}
	b.WriteString("\n")
	for _, line := range wrap(usage, 88) {
		fmt.Fprintf(b, "        %s\n", line)
	}
}

// wrap breaks text into lines of at most width characters, at spaces.
func wrap(text string, width int) []string {
	var lines []string
	for _, para := range strings.Split(text, "\n") {
		line := ""
		for _, w := range strings.Fields(para) {
			if line != "" && len(line)+1+len(w) > width {
				lines = append(lines, line)
				line = ""
			}
			if line != "" {
				line += " "
			}
			line += w
		}
		lines = append(lines, line)
	}
	return lines
}

// zeroDefaults are the defaults not worth printing.
var zeroDefaults = map[string]bool{"": true, "0": true, "false": true, "0s": true}

// set lists the flags given on the command line.
func (c *leaf) set() map[string]bool {
	s := map[string]bool{}
	c.Visit(func(f *flag.Flag) { s[f.Name] = true })
	return s
}

// dispatch runs the subcommand of c (a group: trailbell itself, rules, notify, deploy) that
// args[0] names; path is c's place ("" for trailbell, "rules"). No subcommand prints the
// group's help and fails; help prints it and succeeds; an unknown one is named.
func (c command) dispatch(ctx context.Context, path string, args []string, io stdio) int {
	name := strings.TrimSpace("trailbell " + path)
	if len(args) == 0 {
		c.help(io.err, name)
		return exitError
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		c.help(io.out, name)
		return exitOK
	}
	for _, sub := range c.subs {
		if sub.name != args[0] {
			continue
		}
		if sub.run == nil {
			return sub.dispatch(ctx, strings.TrimSpace(path+" "+sub.name), args[1:], io)
		}
		return sub.run(ctx, args[1:], io)
	}
	fmt.Fprintf(io.err, "%s: unknown command %q\nRun '%s --help' for the commands.\n", name, args[0], name)
	return exitError
}

// help lists a group's subcommands.
func (c command) help(w io.Writer, name string) {
	fmt.Fprintf(w, "usage: %s COMMAND [flags]\n\n%s\n\ncommands:\n", name, strings.TrimSpace(c.about))
	for _, sub := range c.subs {
		fmt.Fprintf(w, "  %-14s %s\n", sub.name, sub.summary)
	}
	fmt.Fprintf(w, "\nRun '%s COMMAND --help' for a command's flags.\n", name)
}

// repeated is a list flag: given once per value, each value kept whole (paths may hold
// commas). Every list flag of every subcommand is one.
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ",") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }
func (r *repeated) repeatable()        {}

// repeatable marks the flags that may be given several times.
type repeatable interface{ repeatable() }

// ruleIDs is a repeated flag of rule ids. Ids never hold commas, so a value with one is a
// list given the wrong way, and says so rather than name an unknown rule "a,b".
type ruleIDs struct{ repeated }

func (r *ruleIDs) Set(v string) error {
	if strings.Contains(v, ",") {
		return errors.New("give one rule id per flag, repeating the flag for more")
	}
	return r.repeated.Set(v)
}

// durationValue is a duration flag that takes what the configuration takes: 90s, 5m, 24h, 30d.
type durationValue time.Duration

func (d *durationValue) String() string { return duration.Format(time.Duration(*d)) }
func (d *durationValue) Set(v string) error {
	p, err := duration.Parse(v)
	if err != nil {
		return err
	}
	*d = durationValue(p)
	return nil
}

// durationFlag defines a duration flag with a default.
func (c *leaf) durationFlag(name string, def time.Duration, usage string) *time.Duration {
	d := durationValue(def)
	c.Var(&d, name, usage)
	return (*time.Duration)(&d)
}

// slackWebhookURL is the --slack-webhook-url value, or when it is empty the URL in
// $TRAILBELL_SLACK_WEBHOOK_URL, which keeps it out of `ps`.
func slackWebhookURL(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	return os.Getenv("TRAILBELL_SLACK_WEBHOOK_URL")
}
