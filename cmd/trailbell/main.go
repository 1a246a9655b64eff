// Command trailbell watches AWS CloudTrail for risky IAM and account-security activity and
// tells people in Slack. main only turns arguments and signals into a call of one subcommand
// and its result into an exit code; internal/app builds the programs the subcommands run.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes shared by every subcommand.
const (
	exitOK       = 0
	exitFindings = 1 // scan: at least one finding; deploy check: warnings
	exitError    = 2
)

// stdio is what a subcommand may touch of the process, so tests can run it in-process.
type stdio struct {
	in       io.Reader
	out, err io.Writer
}

// command is a subcommand: a name, a one-line summary for the list it is in, and either the
// function that runs it (a leaf, whose flags and help newLeaf makes) or, for a group, a
// description and subcommands of its own.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, io stdio) int
	about   string
	subs    []command
}

// commands is the command tree; each subcommand lives in a file named after it.
var commands = command{
	about: "trailbell watches AWS CloudTrail for risky IAM and account-security activity and alerts in Slack.\n" +
		"Exit status: 0 success (scan: no findings), 1 findings (scan) or warnings (deploy check), 2 error.",
	subs: []command{
		// keep sorted by name
		{name: "audit", summary: "print the audit log of interactive alerts (text or JSON lines)", run: runAudit},
		deployCommand,
		{name: "mutes", summary: "list the mutes in force; remove one before its end (mutes remove ID)", run: runMutes},
		notifyCommand,
		rulesCommand,
		{name: "run", summary: "watch CloudTrail continuously (S3 prefixes, SQS, LookupEvents) and alert", run: runRun},
		{name: "scan", summary: "scan log files, directories, stdin or s3:// prefixes for findings (a backtest)", run: runScan},
		{name: "test-pattern", summary: "test an EventBridge event pattern against an event", run: runTestPattern},
		{name: "version", summary: "print the version and commit trailbell was built from (also --version)", run: runVersion},
	},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	std := stdio{in: os.Stdin, out: os.Stdout, err: os.Stderr}
	if inLambda() {
		os.Exit(serveLambda(ctx, std)) // lambda.go
	}
	code := run(ctx, os.Args[1:], std)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, io stdio) int {
	if len(args) > 0 && (args[0] == "--version" || args[0] == "-version") {
		return runVersion(ctx, args[1:], io)
	}
	return commands.dispatch(ctx, "", args, io)
}

// runVersion prints what version.go finds out about this binary.
func runVersion(_ context.Context, args []string, io stdio) int {
	c := newLeaf(io, "version", "trailbell version\ntrailbell --version",
		"Prints the version and the commit trailbell was built from, and the Go version.")
	if code, ok := c.parse(args); !ok {
		return code
	}
	if c.NArg() > 0 {
		return c.usageError("unexpected argument %q", c.Arg(0))
	}
	fmt.Fprintln(io.out, versionText())
	return exitOK
}
