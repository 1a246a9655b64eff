package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	statedynamo "github.com/trailbell/trailbell/internal/correlate/dynamo"
	"github.com/trailbell/trailbell/internal/finding"
	"github.com/trailbell/trailbell/internal/notify"
	"github.com/trailbell/trailbell/internal/testenv"
	"github.com/trailbell/trailbell/internal/triage"
)

// TestMutesAndAudit: a mute made from an alert is listed by `trailbell mutes`, silences its
// event in `scan --apply-mutes` (and only with it), is removed by `trailbell mutes remove`
// with a reason, and `trailbell audit` shows both, as text and JSON lines.
func TestMutesAndAudit(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "trailbell.yaml")
	writeFile(t, cfg, []byte("state_dir: state\n"))
	logs := filepath.Join(dir, "trail.json.gz")
	writeFile(t, logs, logFile([]string{record("ev-muted", true, time.Now())}))

	// the findings of the event, as scan reports them, make one alert
	code, out, errs := runCmd(t, "scan", "--format", "json", logs)
	if code != exitFindings {
		t.Fatalf("scan: %d %s", code, errs)
	}
	var fs []*finding.Finding
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var f finding.Finding
		if err := dec.Decode(&f); err != nil {
			t.Fatal(err)
		}
		fs = append(fs, &f)
	}
	lead := finding.Merge(fs)
	store, err := triage.NewBolt(filepath.Join(dir, "state"), nil)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := triage.New(triage.Options{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	a, err := svc.Prepare(t.Context(), "security", notify.DeliveryID(lead), []finding.Finding{*lead})
	if err != nil {
		t.Fatal(err)
	}
	r, err := svc.Submit(t.Context(), triage.Submission{Modal: triage.ModalMute, User: triage.User{ID: "U0ONCALL1", Name: "oncall"},
		Opener: "U0ONCALL1", Alert: a.ID, Reason: "trail migration\x1b[31m", Duration: time.Hour})
	if err != nil || len(r.Errors) > 0 {
		t.Fatalf("mute: %+v %v", r, err)
	}

	code, out, errs = runCmd(t, "mutes", "--config", cfg)
	if code != exitOK || !strings.Contains(out, lead.Rule) || !strings.Contains(out, "user/mallory") || !strings.Contains(errs, "1 in force") {
		t.Fatalf("mutes: %d\n%s%s", code, out, errs)
	}
	if strings.Contains(out, "\x1b") {
		t.Errorf("a control character reached the terminal: %q", out)
	}
	code, out, _ = runCmd(t, "mutes", "--config", cfg, "--json")
	var m triage.Mute
	if err := json.Unmarshal([]byte(out), &m); code != exitOK || err != nil || m.Rule != lead.Rule || len(m.Also) != len(fs)-1 {
		t.Fatalf("mutes --json: %d %q %v", code, out, err)
	}

	code, out, errs = runCmd(t, "scan", "--config", cfg, "--apply-mutes", "--format", "json", logs)
	if code != exitOK || out != "" || !strings.Contains(errs, fmt.Sprintf("%d more silenced by mutes in force", len(fs))) {
		t.Errorf("scan --apply-mutes: %d\n%s%s", code, out, errs)
	}
	if code, _, errs := runCmd(t, "scan", "--apply-mutes", logs); code != exitError || !strings.Contains(errs, "--apply-mutes needs --config") {
		t.Errorf("--apply-mutes without --config: %d %s", code, errs)
	}

	if code, _, errs := runCmd(t, "mutes", "remove", m.ID, "--config", cfg); code != exitError || !strings.Contains(errs, "--reason") {
		t.Errorf("remove without a reason: %d %s", code, errs)
	}
	if code, _, errs := runCmd(t, "mutes", "remove", "m-nosuch", "--config", cfg, "--reason", "x"); code != exitError || !strings.Contains(errs, "no such mute") {
		t.Errorf("remove of an unknown mute: %d %s", code, errs)
	}
	if code, _, errs := runCmd(t, "mutes", "remove", m.ID, "--config", cfg, "--reason", "migration done"); code != exitOK {
		t.Fatalf("remove: %d %s", code, errs)
	}
	if code, out, errs := runCmd(t, "mutes", "--config", cfg); code != exitOK || out != "" || !strings.Contains(errs, "0 in force") {
		t.Errorf("after remove: %d %q %s", code, out, errs)
	}
	if code, _, _ := runCmd(t, "scan", "--config", cfg, "--apply-mutes", "--format", "json", logs); code != exitFindings {
		t.Errorf("scan --apply-mutes after the removal: %d, want findings", code)
	}

	code, out, errs = runCmd(t, "audit", "--config", cfg, "--json")
	if code != exitOK {
		t.Fatalf("audit: %d %s", code, errs)
	}
	var es []triage.Entry
	dec = json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var e triage.Entry
		if err := dec.Decode(&e); err != nil {
			t.Fatal(err)
		}
		es = append(es, e)
	}
	user := strings.TrimPrefix(cliUser(), "cli:")
	if len(es) != 2 || es[0].Action != triage.AuditMute || es[0].Who != "slack:U0ONCALL1" || es[0].Alert != a.ID ||
		es[1].Action != triage.AuditUnmute || es[1].Who != "cli:"+user || es[1].Reason != "migration done" || es[1].Mute != m.ID {
		t.Errorf("audit %+v", es)
	}
	code, out, _ = runCmd(t, "audit", "--config", cfg, "--alert", a.ID)
	if lines := strings.Split(strings.TrimSpace(out), "\n"); code != exitOK || len(lines) != 2 ||
		!strings.Contains(lines[0], "slack:U0ONCALL1 (oncall)  mute  alert "+a.ID) || strings.Contains(out, "\x1b") {
		t.Errorf("audit --alert as text: %d\n%s", code, out)
	}
	if code, out, _ := runCmd(t, "audit", "--config", cfg, "--alert", "nosuch"); code != exitOK || out != "" {
		t.Errorf("audit of another alert: %d %q", code, out)
	}
	if code, _, errs := runCmd(t, "audit"); code != exitError || !strings.Contains(errs, "--config") {
		t.Errorf("audit without --config: %d %s", code, errs)
	}
}

// TestMutesDynamoDB: with the Lambda's table, the commands read the same state there.
func TestMutesDynamoDB(t *testing.T) {
	ddb, client := testenv.DynamoDB(t)
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", ddb)
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testsecret")
	t.Setenv("AWS_REGION", "us-east-1")
	cfg := filepath.Join(t.TempDir(), "trailbell.yaml")
	writeFile(t, cfg, []byte("state: {dynamodb_table: no-such-table}\n"))
	if code, _, errs := runCmd(t, "mutes", "--config", cfg); code != exitError || !strings.Contains(errs, "no-such-table") {
		t.Errorf("mutes of a missing table: %d %s", code, errs)
	}
	table := testenv.UniqueName("trailbell-state")
	if err := statedynamo.CreateTable(t.Context(), client, table); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := runCmd(t, "audit", "--config", cfg, "--table", table, "--json"); code != exitOK || out != "" {
		t.Errorf("audit of an empty table: %d %q %s", code, out, errs)
	}
}
