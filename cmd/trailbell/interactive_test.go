package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/trailbell/trailbell/internal/notify/slacktest"
	"github.com/trailbell/trailbell/internal/testenv"
	"github.com/trailbell/trailbell/internal/triage"
)

// People of the workspace the daemon's alerts go to.
const (
	onCall = slacktest.OnCall
	jane   = slacktest.Jane // jane@example.com, the Identity Center user whose session acts
)

// daemonRig is `trailbell run` as a process, reading log files from an S3 bucket and posting
// interactive alerts to the Slack stand-in, which plays the people clicking.
type daemonRig struct {
	t       *testing.T
	srv     *slacktest.Server
	bin     string
	cfg     string
	state   string
	listen  string
	client  *s3.Client
	bucket  string
	files   int
	cmd     *exec.Cmd
	logs    *testenv.Buffer
	started time.Time
}

func newDaemonRig(t *testing.T, interactive string) *daemonRig {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	srv := slacktest.NewWorkspace(t, "../../deploy/slack/manifest.yaml")
	endpoint := s3Endpoint(t)
	r := &daemonRig{t: t, srv: srv, bin: buildBinary(t), state: t.TempDir(), listen: testenv.FreeAddr(t),
		client: testenv.S3Client(endpoint), bucket: fmt.Sprintf("trail-interactive-%d", time.Now().UnixNano()), started: time.Now()}
	testenv.Bucket(t, r.client, r.bucket)
	r.cfg = filepath.Join(t.TempDir(), "trailbell.yaml")
	writeFile(t, r.cfg, []byte(fmt.Sprintf(`state_dir: %s
sources:
  s3: [{url: "s3://%s/AWSLogs/", endpoint: %q, poll_interval: 200ms}]
run: {listen: %q, shutdown_grace: 5s}
%s%s`, r.state, r.bucket, endpoint, r.listen, srv.NotifyYAML("  backoff: {initial: 100ms, max: 500ms}\n"), interactive)))
	return r
}

func (r *daemonRig) start() {
	r.t.Helper()
	r.cmd, r.logs = startDaemon(r.t, r.bin, r.listen, []string{"TRAILBELL_SLACK_SIGNING_SECRET=" + r.srv.SigningSecret},
		"--config", r.cfg, "--log-level", "debug")
}

// startDaemon starts `trailbell run args...` with the stand-ins' AWS environment plus env,
// kills it when the test ends (showing its log if the test failed), and waits until it
// answers /healthz on listen.
func startDaemon(t *testing.T, bin, listen string, env []string, args ...string) (*exec.Cmd, *testenv.Buffer) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"run"}, args...)...)
	cmd.Env = append(append(os.Environ(), "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=testsecret", "AWS_REGION=us-east-1",
		"AWS_EC2_METADATA_DISABLED=true"), env...)
	logs := &testenv.Buffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("daemon log:\n%s", logs)
		}
	})
	waitUntil(t, "the daemon to listen", func() bool {
		resp, err := http.Get("http://" + listen + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})
	return cmd, logs
}

// put uploads a log file of records, its key a minute after the previous one's.
func (r *daemonRig) put(records ...string) {
	r.t.Helper()
	r.files++
	at := r.started.Add(-30 * time.Minute).Add(time.Duration(r.files) * time.Minute).UTC()
	key := fmt.Sprintf("AWSLogs/111122223333/CloudTrail/us-east-1/%s/111122223333_CloudTrail_us-east-1_%s_f%d.json.gz",
		at.Format("2006/01/02"), at.Format("20060102T1504Z"), r.files)
	if _, err := r.client.PutObject(r.t.Context(), &s3.PutObjectInput{Bucket: aws.String(r.bucket), Key: aws.String(key),
		Body: bytes.NewReader(logFile(records))}); err != nil {
		r.t.Fatal(err)
	}
}

// waitFor polls cond for up to 30 seconds.
func (r *daemonRig) waitFor(what string, cond func() bool) {
	r.t.Helper()
	waitUntil(r.t, what, cond)
}

// message waits for the first message in a channel (by id; "D" for any direct message)
// whose body matches.
func (r *daemonRig) message(what, channel string, match func(body string) bool) slacktest.Received {
	r.t.Helper()
	var got slacktest.Received
	r.waitFor(what, func() bool {
		for _, m := range r.srv.Received() {
			if (m.Channel == channel || channel == "D" && strings.HasPrefix(m.Channel, "D")) && match(slacktest.Plain(m.Body)) {
				got = m
				return true
			}
		}
		return false
	})
	return got
}

// current is message m as it is now.
func (r *daemonRig) current(m slacktest.Received) string {
	cur, _ := r.srv.Message(m.Channel, m.TS)
	return slacktest.Plain(cur.Body)
}

func has(parts ...string) func(string) bool {
	return func(s string) bool {
		for _, p := range parts {
			if !strings.Contains(s, p) {
				return false
			}
		}
		return true
	}
}

func (r *daemonRig) click(m slacktest.Received, action, user string) {
	r.t.Helper()
	code, body, err := r.srv.Click("http://"+r.listen+"/slack/interactions", m.Channel, m.TS, action, user)
	if err != nil || code != http.StatusOK {
		r.t.Fatalf("click %s as %s: HTTP %d %s %v", action, user, code, body, err)
	}
}

// filesRead is trailbell_files_total of the daemon's source.
func (r *daemonRig) filesRead() int {
	resp, err := http.Get("http://" + r.listen + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	n := 0
	for _, m := range regexp.MustCompile(`(?m)^trailbell_files_total\{[^}]*\} (\d+)`).FindAllStringSubmatch(string(b), -1) {
		fmt.Sscan(m[1], &n)
	}
	return n
}

// audit is `trailbell audit --json` of the daemon's configuration, run while it runs.
func (r *daemonRig) audit() []triage.Entry {
	r.t.Helper()
	code, out, errs := runCmd(r.t, "audit", "--config", r.cfg, "--json")
	if code != exitOK {
		r.t.Fatalf("trailbell audit: %d %s", code, errs)
	}
	var es []triage.Entry
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var e triage.Entry
		if err := dec.Decode(&e); err != nil {
			r.t.Fatal(err)
		}
		es = append(es, e)
	}
	return es
}

func count(es []triage.Entry, action string) int {
	n := 0
	for _, e := range es {
		if e.Action == action {
			n++
		}
	}
	return n
}

// TestInteractiveDaemon runs the flows through `trailbell run`: an alert, its actor
// asked, "No", and the escalation paged; a mute made in a modal, the next matching event
// silent, the mute ending and the event alerting again; `trailbell mutes` and `trailbell
// audit` reading the state while the daemon runs.
func TestInteractiveDaemon(t *testing.T) {
	r := newDaemonRig(t, "interactive: {reraise_after: 0s, mute_durations: [3s, 1h]}\n")
	r.start()
	alerts, pager := r.srv.ChannelID("#alerts"), r.srv.ChannelID("#pager")
	now := time.Now()

	// alert → ask → "No" → escalation
	r.put(testenv.SSORecord("ev-ask", now))
	alert := r.message("the alert", alerts, has("ev-ask", `"action_id":"trailbell_ask"`, "Ask jane@example.com"))
	r.click(alert, triage.ActAsk, onCall)
	question := r.message("the question to jane", "D", has("did you do this?", `"action_id":"trailbell_no"`))
	r.message("the note that jane was asked", alerts, has("Asked <@"+jane+"> (`jane@example.com`) whether they did this"))
	r.click(question, triage.ActNo, jane)
	page := r.message("the escalation on the pager channel", pager, has("jane@example.com says they did not do this", "trailbell-actor-denied"))
	if !strings.Contains(slacktest.Plain(page.Body), "CRITICAL") {
		t.Errorf("the escalation is not critical: %s", page.Body)
	}
	r.message("the escalation said in the alert's thread", alerts, has("<@"+jane+"> says they did *not* do this"))
	r.waitFor("the question to show the answer", func() bool { return strings.Contains(r.current(question), "You answered *No*") })

	// alert → mute → next matching event silent → mute expires → it alerts again
	r.put(testenv.SSORecord("ev-mute", now.Add(time.Second)))
	second := r.message("the second alert", alerts, has("ev-mute", `"action_id":"trailbell_mute"`))
	r.click(second, triage.ActMute, onCall)
	var view slacktest.View
	r.waitFor("the mute modal", func() bool {
		vs := r.srv.Views()
		if len(vs) > 0 {
			view = vs[len(vs)-1]
		}
		return len(vs) > 0
	})
	if code, body, err := r.srv.Submit("http://"+r.listen+"/slack/interactions", view.ID,
		map[string]string{"duration": "3", "reason": "group changes during the migration"}); err != nil || code != http.StatusOK || len(body) > 0 {
		t.Fatalf("mute: HTTP %d %s %v", code, body, err)
	}
	code, out, errs := runCmd(t, "mutes", "--config", r.cfg)
	if code != exitOK || !strings.Contains(out, "admin-policy-attached") || !strings.Contains(out, "group changes during the migration") {
		t.Fatalf("trailbell mutes while the daemon runs: %d\n%s%s", code, out, errs)
	}
	read := r.filesRead()
	r.put(testenv.SSORecord("ev-silent", now.Add(2*time.Second)))
	r.waitFor("the muted event's file to be read", func() bool { return r.filesRead() > read })
	r.waitFor("the muted finding to be dropped", func() bool {
		return strings.Contains(r.logs.String(), `"msg":"finding muted"`) && strings.Contains(r.logs.String(), "ev-silent")
	})
	r.message("the mute's end in the thread", alerts, has("ended: `admin-policy-attached` (with `iam-policy-changed`"))
	r.put(testenv.SSORecord("ev-again", now.Add(3*time.Second)))
	r.message("the alert after the mute", alerts, has("ev-again"))
	for _, m := range r.srv.Received() {
		if strings.Contains(string(m.Body), "ev-silent") {
			t.Errorf("the muted event reached Slack: %s", m.Body)
		}
	}

	es := r.audit()
	want := map[string]int{triage.AuditAsk: 1, triage.AuditAsked: 1, triage.AuditAnswerNo: 1, triage.AuditEscalate: 1,
		triage.AuditMute: 1, triage.AuditMuteExpired: 1}
	for action, n := range want {
		if got := count(es, action); got != n {
			t.Errorf("%d %s entries in the audit log, want %d", got, action, n)
		}
	}
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := r.cmd.Wait(); err != nil {
		t.Errorf("graceful stop: %v", err)
	}
	for _, secret := range []string{r.srv.SigningSecret, r.srv.Token} {
		if strings.Contains(r.logs.String(), secret) {
			t.Errorf("a secret reached the daemon's log")
		}
	}
}

// TestInteractiveKill9: the daemon is killed with SIGKILL after answering an acknowledgement
// and while its chat.update is in flight; started again, it updates the message, and the
// acknowledgement and its one audit line are there.
func TestInteractiveKill9(t *testing.T) {
	// jane mapped to her user: the click asks Slack nothing (the actor check needs no lookup)
	r := newDaemonRig(t, "interactive: {identities: {jane@example.com: "+jane+"}}\n")
	r.start()
	alerts := r.srv.ChannelID("#alerts")
	r.put(testenv.SSORecord("ev-kill", time.Now()))
	alert := r.message("the alert", alerts, has("ev-kill", `"action_id":"trailbell_ack"`))
	// The next Web API call (the chat.update after the click) hangs until the caller is gone.
	r.srv.Fail(slacktest.Fault{Status: http.StatusInternalServerError, Body: "internal_error", Hang: time.Minute})
	before := r.srv.Requests()
	r.click(alert, triage.ActAck, onCall)
	r.waitFor("the chat.update in flight", func() bool { return r.srv.Requests() > before })
	if err := r.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	r.cmd.Wait()
	if strings.Contains(r.current(alert), "Acknowledged by") {
		t.Fatal("the update reached Slack before the kill: the test killed too late")
	}
	if n := count(r.audit(), triage.AuditAcknowledge); n != 1 {
		t.Fatalf("%d acknowledge lines after the kill, want 1", n)
	}
	r.start()
	r.waitFor("the message to show the acknowledgement", func() bool {
		return strings.Contains(r.current(alert), "Acknowledged by <@"+onCall+">")
	})
	if n := count(r.audit(), triage.AuditAcknowledge); n != 1 {
		t.Errorf("%d acknowledge lines after the restart, want 1", n)
	}
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := r.cmd.Wait(); err != nil {
		t.Errorf("graceful stop: %v", err)
	}
}
