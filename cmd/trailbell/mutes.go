package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/user"
	"strings"
	"time"

	"github.com/trailbell/trailbell/internal/app"
	"github.com/trailbell/trailbell/internal/config"
	"github.com/trailbell/trailbell/internal/notify/stdout"
	"github.com/trailbell/trailbell/internal/triage"
)

const mutesAbout = `Lists the mutes in force, soonest end first: the rules people muted for a principal from
interactive Slack alerts, each with its id, end, who made it and why. run, the Lambda and
scan --apply-mutes leave out what they silence. "remove ID" ends one before its time, with a
reason: it is written to the audit log (trailbell audit) and, once run or the Lambda picks
it up, said in the alert's thread.

The mutes are read from the configuration's state store: state.dynamodb_table (the Lambda's
table; --table overrides it) or else the file under state_dir, which works while trailbell
run is running.`

// storeFlags are the flags that name a triage store: a configuration and, for the Lambda's
// table, --table.
type storeFlags struct {
	config, table string
}

func (f *storeFlags) register(c *leaf) {
	c.StringVar(&f.config, "config", "", "configuration `file`: its state_dir or state.dynamodb_table holds the mutes and the audit log")
	c.StringVar(&f.table, "table", "", "the Lambda's DynamoDB state `table` (instead of state.dynamodb_table)")
}

// service opens the triage state the flags name.
func (f *storeFlags) service(ctx context.Context, c *leaf) (*triage.Service, int, bool) {
	if f.config == "" {
		return nil, c.usageError("--config FILE is required"), false
	}
	cfg, err := config.Load(f.config)
	if err != nil {
		return nil, c.fail("%v", err), false
	}
	svc, _, err := app.Triage(ctx, cfg, f.table, app.Process{Logger: slog.New(slog.NewTextHandler(c.io.err, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		return nil, c.fail("%v", err), false
	}
	return svc, 0, true
}

func runMutes(ctx context.Context, args []string, io stdio) int {
	if len(args) > 0 && args[0] == "remove" {
		return runMutesRemove(ctx, args[1:], io)
	}
	c := newLeaf(io, "mutes", "trailbell mutes --config FILE [--json]\ntrailbell mutes remove ID --config FILE --reason TEXT", mutesAbout)
	var sf storeFlags
	sf.register(c)
	asJSON := c.Bool("json", false, "one JSON object a line (id, rule, principal, scope, until, reason, by, created, alert)")
	if code, ok := c.parse(args); !ok {
		return code
	}
	if c.NArg() > 0 {
		return c.usageError("unexpected argument %q", c.Arg(0))
	}
	svc, code, ok := sf.service(ctx, c)
	if !ok {
		return code
	}
	ms, err := svc.Mutes(ctx)
	if err != nil {
		return c.fail("%v", err)
	}
	enc := json.NewEncoder(io.out)
	for _, m := range ms {
		if *asJSON {
			enc.Encode(m)
			continue
		}
		by := m.By.ID
		if m.By.Name != "" {
			by += " (" + m.By.Name + ")"
		}
		// Names and reasons reach a terminal: no control character may pass.
		fmt.Fprintf(io.out, "%s\t%s\t%s\tuntil %s\tby %s\t%s\n", m.ID, stdout.OneLine(strings.Join(m.Rules(), ",")), stdout.OneLine(m.Principal),
			m.Until.UTC().Format(time.RFC3339), stdout.OneLine(by), stdout.OneLine(m.Reason))
	}
	if !*asJSON {
		fmt.Fprintf(io.err, "trailbell mutes: %d in force\n", len(ms))
	}
	return exitOK
}

func runMutesRemove(ctx context.Context, args []string, io stdio) int {
	c := newLeaf(io, "mutes remove", "trailbell mutes remove ID --config FILE --reason TEXT", mutesAbout)
	var sf storeFlags
	sf.register(c)
	reason := c.String("reason", "", "why the mute ends early (required; kept in the audit log and said in the alert's thread)")
	// The id may come before the flags, as the usage shows.
	var id string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		id, args = args[0], args[1:]
	}
	if code, ok := c.parse(args); !ok {
		return code
	}
	if id == "" && c.NArg() > 0 {
		id = c.Arg(0)
	} else if c.NArg() > 0 {
		return c.usageError("unexpected argument %q", c.Arg(0))
	}
	switch {
	case id == "":
		return c.usageError("name the mute to remove (its id, from trailbell mutes)")
	case strings.TrimSpace(*reason) == "":
		return c.usageError("--reason TEXT is required")
	}
	svc, code, ok := sf.service(ctx, c)
	if !ok {
		return code
	}
	m, err := svc.RemoveMute(ctx, id, cliUser(), *reason)
	if err != nil {
		return c.fail("%v", err)
	}
	fmt.Fprintf(io.err, "trailbell mutes: removed %s (%s for %s): they alert again\n", m.ID, stdout.OneLine(strings.Join(m.Rules(), ",")), stdout.OneLine(m.Principal))
	return exitOK
}

// cliUser is who the audit log says acted from the command line.
func cliUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "cli:" + u.Username
	}
	if u := os.Getenv("USER"); u != "" {
		return "cli:" + u
	}
	return "cli:unknown"
}
