package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
)

// newFlags returns the flag set of subcommand name, writing its messages to stderr.
func newFlags(name string, io stdio) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.err)
	return fs
}

// setUsage makes -h print text, then the flags.
func setUsage(fs *flag.FlagSet, io stdio, text string) {
	fs.Usage = func() {
		fmt.Fprint(io.err, text)
		fs.PrintDefaults()
	}
}

// parseFlags parses args into fs. When it returns false the subcommand ends with code: 0
// after -h, 2 for a bad flag (the flag package has already said which).
func parseFlags(fs *flag.FlagSet, args []string) (code int, ok bool) {
	err := fs.Parse(args)
	switch {
	case err == nil:
		return exitOK, true
	case errors.Is(err, flag.ErrHelp):
		return exitOK, false
	default:
		return exitError, false
	}
}

// failer returns the error exit of subcommand name: it prints "trailbell NAME: message" on
// stderr and returns exitError.
func failer(io stdio, name string) func(format string, a ...any) int {
	return func(format string, a ...any) int {
		fmt.Fprintf(io.err, "trailbell "+name+": "+format+"\n", a...)
		return exitError
	}
}

// dispatch runs the subcommand of group (for example "trailbell rules") that args[0] names.
// No subcommand prints usage and fails; help prints it and succeeds; an unknown one is named,
// then usage follows.
func dispatch(ctx context.Context, group string, args []string, io stdio, subs []command, usage func()) int {
	if len(args) == 0 {
		usage()
		return exitError
	}
	switch args[0] {
	case "-h", "--help", "help":
		usage()
		return exitOK
	}
	for _, c := range subs {
		if c.name == args[0] {
			return c.run(ctx, args[1:], io)
		}
	}
	fmt.Fprintf(io.err, "%s: unknown subcommand %q\n\n", group, args[0])
	usage()
	return exitError
}

// repeated is a flag that may be given several times, each value kept whole (paths may hold
// commas).
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ",") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

// commaList is a flag that may be given several times, each value a comma-separated list.
type commaList []string

func (l *commaList) String() string { return strings.Join(*l, ",") }
func (l *commaList) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

// slackWebhookURL is the --slack-webhook-url value, or when it is empty the URL in
// $TRAILBELL_SLACK_WEBHOOK_URL, which keeps it out of `ps`.
func slackWebhookURL(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	return os.Getenv("TRAILBELL_SLACK_WEBHOOK_URL")
}
