// Command trailbell watches AWS CloudTrail for risky IAM and account-security activity and
// tells people in Slack. main only turns arguments and signals into a call of one subcommand
// and its result into an exit code; the work lives in the packages under internal/.
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
	exitFindings = 1 // scan: at least one finding
	exitError    = 2
)

// stdio is what a subcommand may touch of the process, so tests can run it in-process.
type stdio struct {
	in       io.Reader
	out, err io.Writer
}

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, io stdio) int
}

// commands lists every subcommand; each lives in a file named after it.
var commands = []command{
	// keep sorted by name
	{"deploy", "print the EventBridge pre-filter pattern; check a deployment (pattern|check)", runDeploy},
	{"notify", "send a test alert; list or requeue undeliverable alerts (test|dead)", runNotify},
	{"rules", "list, show and validate detection rules (list|show|validate)", runRules},
	{"run", "watch CloudTrail continuously (S3 prefixes, SQS, LookupEvents) and alert", runRun},
	{"scan", "scan log files, directories, stdin or s3:// prefixes for findings (a backtest)", runScan},
	{"test-pattern", "test an EventBridge event pattern against an event", runTestPattern},
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
	return dispatch(ctx, "trailbell", args, io, commands, func() { usage(io.err) })
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: trailbell COMMAND [flags]\n\ncommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-14s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'trailbell COMMAND --help' for a command's flags.")
}
