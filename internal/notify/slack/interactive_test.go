package slack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trailbell/trailbell/internal/finding"
	"github.com/trailbell/trailbell/internal/notify"
	"github.com/trailbell/trailbell/internal/notify/slack"
	"github.com/trailbell/trailbell/internal/notify/slacktest"
	"github.com/trailbell/trailbell/internal/testenv"
	"github.com/trailbell/trailbell/internal/triage"
	"github.com/trailbell/trailbell/internal/triage/triagetest"
)

// People of the test workspace.
const (
	onCall   = slacktest.OnCall
	jane     = slacktest.Jane // the actor of the alerts: jane@example.com in Identity Center
	stranger = "U0OTHER01"
)

// manifest is the Slack app manifest users install trailbell with.
const manifest = "../../../deploy/slack/manifest.yaml"

// TestManifest: the shipped app manifest turns interactivity on at /slack/interactions and
// grants the scope of every Web API method trailbell calls (the stand-in serving the tests
// enforces them: see newRig).
func TestManifest(t *testing.T) {
	m, err := slacktest.ReadManifest(manifest)
	if err != nil {
		t.Fatal(err)
	}
	if !m.Settings.Interactivity.Enabled || !strings.HasSuffix(m.Settings.Interactivity.RequestURL, slack.InteractionsPath) ||
		!strings.HasPrefix(m.Settings.Interactivity.RequestURL, "https://") {
		t.Errorf("interactivity %+v, want on at an https URL ending in %s", m.Settings.Interactivity, slack.InteractionsPath)
	}
	for _, method := range []string{"chat.postMessage", "chat.update", "conversations.open", "users.lookupByEmail",
		"conversations.history", "conversations.replies", "conversations.list"} {
		need, ok := slacktest.MethodScope(method)
		if !ok {
			t.Errorf("the stand-in knows no scope for %s", method)
			continue
		}
		if !slices.Contains(m.OAuth.Scopes.Bot, need) {
			t.Errorf("%s needs %s, which the manifest does not grant", method, need)
		}
	}
	// private channels: the manifest asks for the groups:* twins of the channels:* scopes
	for _, s := range m.OAuth.Scopes.Bot {
		if twin, ok := strings.CutPrefix(s, "channels:"); ok && !slices.Contains(m.OAuth.Scopes.Bot, "groups:"+twin) {
			t.Errorf("%s without groups:%s: private channels would fail", s, twin)
		}
	}
}

// rig is an interactive Web API receiver "security" (fallback "pager") posting to the Slack
// stand-in, triage over a bbolt store, and the interactions endpoint on a loopback server.
type rig struct {
	t       testing.TB
	srv     *slacktest.Server
	clock   *triagetest.Clock
	svc     *triage.Service
	api     notify.Notifier
	url     string
	handler http.Handler
	logs    *testenv.Buffer

	mu          sync.Mutex
	escalations []finding.Finding
	reraised    map[string][]finding.Finding
}

func newRig(t testing.TB, opts func(*triage.Options)) *rig {
	t.Helper()
	srv := slacktest.NewWorkspace(t, manifest) // the app's scopes, as shipped
	srv.AddUser(stranger, "other", "other@example.com")
	c := triagetest.NewClock(time.Date(2026, 11, 20, 9, 15, 0, 0, time.UTC))
	srv.SetClock(c.Now)
	r := &rig{t: t, srv: srv, clock: c, logs: &testenv.Buffer{}, reraised: map[string][]finding.Finding{}}
	logger := slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	store, err := triage.NewBolt(t.TempDir(), c.Now)
	if err != nil {
		t.Fatal(err)
	}
	apis := map[string]*slack.API{}
	o := triage.Options{
		Store: store, Now: c.Now, Logger: logger, ReraiseAfter: 30 * time.Minute, Fallbacks: map[string]string{"security": "pager"},
		Submit: func(_ context.Context, fs ...finding.Finding) error {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.escalations = append(r.escalations, fs...)
			return nil
		},
		SubmitTo: func(_ context.Context, to string, fs ...finding.Finding) error {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.reraised[to] = append(r.reraised[to], fs...)
			return nil
		},
	}
	if opts != nil {
		opts(&o)
	}
	o.Slack = slack.NewTriage(apis)
	if r.svc, err = triage.New(o); err != nil {
		t.Fatal(err)
	}
	n, err := slack.New(slack.Options{Token: srv.Token, Channel: "#alerts", APIURL: srv.APIURL(), Now: c.Now,
		Triage: r.svc, Receiver: "security", Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	r.api = n
	apis["security"] = n.(*slack.API)
	h := &slack.Interactions{Secret: []byte(srv.SigningSecret), Service: r.svc, Slack: o.Slack.(*slack.Triage),
		Logger: logger, Now: c.Now, Metrics: slack.NewInteractionMetrics(nil)}
	r.handler = h
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	r.url = hs.URL + slack.InteractionsPath
	return r
}

// alertFinding is a high finding by an Identity Center user's session: the actor is jane.
func alertFinding(id string) finding.Finding {
	return finding.Finding{
		Rule: "iam-admin-policy-attached", Severity: finding.High, Title: "jane@example.com gave user bob AdministratorAccess",
		EventID: id, EventName: "AttachUserPolicy", EventSource: "iam.amazonaws.com", EventTime: "2026-11-20T09:12:00Z",
		Account: "123456789012", Region: "us-east-1",
		Principal:     "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Admin_0123456789abcdef/jane@example.com",
		PrincipalType: "AssumedRole", SourceIPAddress: "203.0.113.7", UserAgent: "aws-cli/2.15.0", Target: "bob",
		Actor:  &finding.Actor{ID: "identitycenter:jane@example.com", Type: "IdentityCenterUser", Name: "jane@example.com"},
		Record: json.RawMessage(`{"eventVersion":"1.08","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Admin_0123456789abcdef/jane@example.com"}}`),
	}
}

// post sends f through the interactive receiver and returns its message.
func (r *rig) post(f finding.Finding) slacktest.Received {
	r.t.Helper()
	if _, err := r.api.Notify(r.t.Context(), &f); err != nil {
		r.t.Fatal(err)
	}
	got := r.srv.Received()
	return got[len(got)-1]
}

// work does every job that is due.
func (r *rig) work() {
	r.t.Helper()
	if _, err := r.svc.Work(r.t.Context()); err != nil {
		r.t.Fatal(err)
	}
}

// click presses a button and wants status.
func (r *rig) click(m slacktest.Received, action, user string, status int) {
	r.t.Helper()
	code, body, err := r.srv.Click(r.url, m.Channel, m.TS, action, user)
	if err != nil {
		r.t.Fatal(err)
	}
	if code != status {
		r.t.Fatalf("click %s by %s: HTTP %d %s, want %d\nlog:\n%s", action, user, code, body, status, r.logs.String())
	}
}

// now is the message m as it is now (see plainJSON).
func (r *rig) now(m slacktest.Received) string {
	r.t.Helper()
	cur, ok := r.srv.Message(m.Channel, m.TS)
	if !ok {
		r.t.Fatalf("message %s gone", m.TS)
	}
	return slacktest.Plain(cur.Body)
}

// thread is what was posted in the thread of m, in order.
func (r *rig) thread(m slacktest.Received) []slacktest.Received {
	var out []slacktest.Received
	for _, x := range r.srv.Received() {
		if x.Channel == m.Channel && x.ThreadTS == m.TS {
			out = append(out, x)
		}
	}
	return out
}

// dms are the direct messages sent to user.
func (r *rig) dms() []slacktest.Received {
	var out []slacktest.Received
	for _, x := range r.srv.Received() {
		if strings.HasPrefix(x.Channel, "D") {
			out = append(out, x)
		}
	}
	return out
}

func (r *rig) audit() []triage.Entry {
	r.t.Helper()
	es, err := r.svc.Audit(r.t.Context(), time.Time{}, 0)
	if err != nil {
		r.t.Fatal(err)
	}
	return es
}

// wantAudit checks the audit log: who did what, in order ("slack:U… acknowledge").
func (r *rig) wantAudit(want ...string) {
	r.t.Helper()
	es := r.audit()
	got := make([]string, len(es))
	for i, e := range es {
		got[i] = e.Who + " " + e.Action
	}
	if !slices.Equal(got, want) {
		r.t.Errorf("audit %v, want %v", got, want)
	}
}

// buttons lists the action ids of the buttons of a message's body.
func buttons(body string) []string {
	var ids []string
	for _, id := range []string{triage.ActAck, triage.ActAsk, triage.ActMute, triage.ActUnmute, triage.ActYes, triage.ActNo} {
		if strings.Contains(body, `"action_id":"`+id+`"`) {
			ids = append(ids, id)
		}
	}
	return ids
}

func wantContains(t *testing.T, what, s string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(s, p) {
			t.Errorf("%s lacks %q:\n%s", what, p, s)
		}
	}
}

// TestAskActorNo is the flow of the issue: the alert, on-call asks the actor, the actor
// answers No, and the finding is escalated as critical at once, said in the thread.
func TestAskActorNo(t *testing.T) {
	r := newRig(t, nil)
	m := r.post(alertFinding("ev-1"))
	if got := buttons(string(m.Body)); !slices.Equal(got, []string{triage.ActAck, triage.ActAsk, triage.ActMute}) {
		t.Fatalf("an alert with an actor has buttons %v", got)
	}
	wantContains(t, "the alert", string(m.Body), `"text":"Ask jane@example.com"`)

	r.click(m, triage.ActAsk, onCall, http.StatusOK)
	if len(r.dms()) != 0 {
		t.Fatal("the question went out before the answer to Slack: the work is the jobs'")
	}
	r.work()
	dms := r.dms()
	if len(dms) != 1 {
		t.Fatalf("%d direct messages, want the question to jane", len(dms))
	}
	q := dms[0]
	wantContains(t, "the question", slacktest.Plain(q.Body), "did you do this?", "AttachUserPolicy", "<@"+onCall+">", "203.0.113.7",
		`"action_id":"trailbell_yes"`, `"action_id":"trailbell_no"`, "No answer by 09:45 UTC")
	wantContains(t, "the alert", r.now(m), "Asked <@"+jane+"> whether they did this")
	if th := r.thread(m); len(th) != 1 || !strings.Contains(slacktest.Plain(th[0].Body), "Asked <@"+jane+">") {
		t.Fatalf("thread after asking: %v", th)
	}

	// someone else cannot answer for jane: Slack would never show them her message, and a
	// payload saying so is refused with nothing changed
	p, err := r.srv.ClickPayload(q.Channel, q.TS, triage.ActNo, jane)
	if err != nil {
		t.Fatal(err)
	}
	p["user"] = map[string]any{"id": stranger, "username": "other"}
	before := len(r.audit())
	if code, _, err := r.srv.PostSigned(r.url, p); err != nil || code != http.StatusForbidden {
		t.Fatalf("an answer by another user: HTTP %d %v, want 403", code, err)
	}
	r.work()
	if len(r.audit()) != before || len(r.escalations) != 0 {
		t.Fatal("a forged answer changed something")
	}

	r.click(q, triage.ActNo, jane, http.StatusOK)
	r.work()
	if len(r.escalations) != 1 {
		t.Fatalf("%d escalations, want 1", len(r.escalations))
	}
	e := r.escalations[0]
	if e.Rule != triage.RuleDenied || e.Severity != finding.Critical || e.EventID != "ev-1" || e.Actor == nil {
		t.Errorf("escalation %s %s %s actor %v, want %s critical for ev-1 with its actor", e.Rule, e.Severity, e.EventID, e.Actor, triage.RuleDenied)
	}
	wantContains(t, "the escalation's title", e.Title, "jane@example.com says they did not do this")
	th := r.thread(m)
	last := th[len(th)-1]
	if !last.Broadcast || !strings.Contains(slacktest.Plain(last.Body), "<@"+jane+"> says they did *not* do this: escalated as critical") {
		t.Errorf("the thread's last note (broadcast %v): %s", last.Broadcast, last.Body)
	}
	wantContains(t, "the question after No", r.now(q), "You answered *No*")
	if got := buttons(r.now(q)); len(got) != 0 {
		t.Errorf("the answered question still has buttons %v", got)
	}
	wantContains(t, "the alert after No", r.now(m), "says they did *not* do this: escalated")
	// the buttons are gone: there is nothing to answer again with
	if _, _, err := r.srv.Click(r.url, q.Channel, q.TS, triage.ActNo, jane); !errors.Is(err, slacktest.ErrNotVisible) {
		t.Errorf("clicking No again: %v, want the button gone", err)
	}
	r.wantAudit("slack:"+onCall+" ask", "trailbell asked", "slack:"+jane+" answer_no", "trailbell escalate")
}

// TestAskActorYes: the actor answers Yes, gives a reason in a modal, and the reason is
// recorded in the thread, the question and the audit log; nothing is escalated.
func TestAskActorYes(t *testing.T) {
	r := newRig(t, nil)
	m := r.post(alertFinding("ev-1"))
	r.click(m, triage.ActAsk, onCall, http.StatusOK)
	r.work()
	q := r.dms()[0]
	r.click(q, triage.ActYes, jane, http.StatusOK)
	views := r.srv.Views()
	if len(views) != 1 || views[0].User != jane {
		t.Fatalf("views after Yes: %+v", views)
	}
	// an empty reason is refused by Slack itself (required input)
	if _, err := r.srv.SubmitPayload(views[0].ID, map[string]string{"reason": ""}); err == nil {
		t.Error("an empty reason was submitted")
	}
	// a blank one by trailbell, in the modal
	code, body, err := r.srv.Submit(r.url, views[0].ID, map[string]string{"reason": "   "})
	if err != nil || code != http.StatusOK || !strings.Contains(string(body), `"response_action":"errors"`) {
		t.Fatalf("a blank reason: HTTP %d %s %v", code, body, err)
	}
	reason := "rotating the deploy key, ticket OPS-123 <!channel>"
	if code, body, err := r.srv.Submit(r.url, views[0].ID, map[string]string{"reason": reason}); err != nil || code != http.StatusOK || len(body) != 0 {
		t.Fatalf("the reason: HTTP %d %s %v", code, body, err)
	}
	r.work()
	if len(r.escalations) != 0 {
		t.Fatalf("a Yes escalated: %v", r.escalations)
	}
	th := r.thread(m)
	note := slacktest.Plain(th[len(th)-1].Body)
	wantContains(t, "the thread's note", note, "<@"+jane+"> confirmed they did this", "rotating the deploy key, ticket OPS-123")
	if strings.Contains(note, "<!channel>") {
		t.Errorf("the reason pinged the channel: %s", note)
	}
	wantContains(t, "the question", r.now(q), "You answered *Yes*")
	wantContains(t, "the alert", r.now(m), "did this: “rotating the deploy key")
	es := r.audit()
	last := es[len(es)-1]
	if last.Action != triage.AuditAnswerYes || last.Who != "slack:"+jane || last.Reason != reason || last.EventID != "ev-1" {
		t.Errorf("last audit entry %+v", last)
	}
}

// TestAskNoAnswer: the actor does not answer in time: escalated as critical, said in the
// thread and in the question.
func TestAskNoAnswer(t *testing.T) {
	r := newRig(t, func(o *triage.Options) { o.AskTimeout = 10 * time.Minute })
	m := r.post(alertFinding("ev-1"))
	r.click(m, triage.ActAsk, onCall, http.StatusOK)
	r.work()
	q := r.dms()[0]
	r.clock.Add(9 * time.Minute)
	r.work()
	if len(r.escalations) != 0 {
		t.Fatal("escalated before the deadline")
	}
	r.clock.Add(2 * time.Minute)
	r.work()
	if len(r.escalations) != 1 || r.escalations[0].Rule != triage.RuleNoAnswer || r.escalations[0].Severity != finding.Critical {
		t.Fatalf("escalations %v", r.escalations)
	}
	wantContains(t, "the question", r.now(q), "closed at", "without an answer")
	if got := buttons(r.now(q)); len(got) != 0 {
		t.Errorf("the expired question has buttons %v", got)
	}
	th := r.thread(m)
	wantContains(t, "the thread", slacktest.Plain(th[len(th)-1].Body), "<@"+jane+"> did not answer within 10m")
	// a late answer is told the question is closed, and changes nothing
	n := len(r.audit())
	p, err := r.srv.ClickPayload(q.Channel, q.TS, triage.ActAck, jane)
	if err == nil {
		t.Fatalf("the question has an acknowledge button: %v", p)
	}
	if got := len(r.audit()); got != n {
		t.Errorf("audit grew")
	}
}

// TestAcknowledge: the message shows who acknowledged and when; a second click is told it
// was done; an acknowledged alert is not re-raised, an unacknowledged high one is, once, to
// the receiver's fallback.
func TestAcknowledge(t *testing.T) {
	r := newRig(t, nil)
	acked := r.post(alertFinding("ev-1"))
	other := alertFinding("ev-2")
	other.Rule = "iam-user-created" // not a repeat, which would go into the first one's thread
	left := r.post(other)
	// two people click at once: the second is told
	second, err := r.srv.ClickPayload(acked.Channel, acked.TS, triage.ActAck, stranger)
	if err != nil {
		t.Fatal(err)
	}
	r.click(acked, triage.ActAck, onCall, http.StatusOK)
	if code, _, err := r.srv.PostSigned(r.url, second); err != nil || code != http.StatusOK {
		t.Fatalf("the second acknowledgement: HTTP %d %v", code, err)
	}
	r.work()
	wantContains(t, "the acknowledged alert", r.now(acked), "Acknowledged by <@"+onCall+"> at 09:15 UTC, 20 Nov")
	if got := buttons(r.now(acked)); slices.Contains(got, triage.ActAck) {
		t.Errorf("still has Acknowledge: %v", got)
	}
	if e := r.srv.Ephemerals(); len(e) != 1 || e[0].User != stranger || !strings.Contains(e[0].Text, "acknowledged this alert already") {
		t.Errorf("ephemerals %+v", e)
	}
	r.clock.Add(31 * time.Minute)
	r.work()
	got := r.reraised["pager"]
	if len(got) != 1 || got[0].EventID != "ev-2" || got[0].Rule != triage.RuleUnacknowledged {
		t.Fatalf("re-raised %v, want ev-2 alone", got)
	}
	wantContains(t, "the re-raised alert", r.now(left), "re-raised at 09:46 UTC")
	th := r.thread(left)
	wantContains(t, "its thread", slacktest.Plain(th[len(th)-1].Body), "Nobody acknowledged this high alert within 30m: re-raised to pager")
	r.clock.Add(time.Hour)
	r.work()
	if len(r.reraised["pager"]) != 1 {
		t.Error("re-raised twice")
	}
	r.wantAudit("slack:"+onCall+" acknowledge", "trailbell reraise")
}

// TestMute: a mute from the alert's modal silences the rule for the principal (for every
// session of the role when chosen), is said in the channel, and ends at its time.
func TestMute(t *testing.T) {
	r := newRig(t, nil)
	m := r.post(alertFinding("ev-1"))
	r.click(m, triage.ActMute, onCall, http.StatusOK)
	views := r.srv.Views()
	if len(views) != 1 {
		t.Fatalf("views: %+v", views)
	}
	v := slacktest.Plain(views[0].View)
	wantContains(t, "the mute modal", v, `"callback_id":"trailbell_mute"`, "Every session of the role", `"value":"3600"`, `"value":"604800"`)
	// a duration the modal does not offer cannot be sent
	if _, err := r.srv.SubmitPayload(views[0].ID, map[string]string{"duration": "31536000", "reason": "x"}); err == nil {
		t.Error("a duration outside the options was sent")
	}
	code, body, err := r.srv.Submit(r.url, views[0].ID, map[string]string{"scope": triage.ScopeRole, "duration": "28800", "reason": "admin onboarding this week"})
	if err != nil || code != http.StatusOK || len(body) != 0 {
		t.Fatalf("submit: HTTP %d %s %v", code, body, err)
	}
	r.work()
	ms, err := r.svc.Mutes(t.Context())
	if err != nil || len(ms) != 1 {
		t.Fatalf("mutes %v %v", ms, err)
	}
	mu := ms[0]
	if mu.Rule != "iam-admin-policy-attached" || mu.Principal != "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Admin_0123456789abcdef/*" ||
		!mu.Until.Equal(r.clock.Now().Add(8*time.Hour)) || mu.By.ID != onCall {
		t.Errorf("mute %+v", mu)
	}
	other := alertFinding("ev-3")
	other.Principal = strings.Replace(other.Principal, "jane@example.com", "sam@example.com", 1)
	if _, ok := r.svc.Muted(t.Context(), &other); !ok {
		t.Error("another session of the role is not muted")
	}
	otherRule := alertFinding("ev-4")
	otherRule.Rule = "iam-user-created"
	if _, ok := r.svc.Muted(t.Context(), &otherRule); ok {
		t.Error("another rule is muted")
	}
	th := r.thread(m)
	note := th[len(th)-1]
	wantContains(t, "the mute note", slacktest.Plain(note.Body), "<@"+onCall+"> muted `iam-admin-policy-attached`", "for 8h", "admin onboarding this week", "trailbell mutes remove "+mu.ID)
	if !note.Broadcast {
		t.Error("the mute is not shown in the channel")
	}
	if got := buttons(r.now(m)); !slices.Contains(got, triage.ActUnmute) || slices.Contains(got, triage.ActMute) {
		t.Errorf("the muted alert's buttons %v", got)
	}
	r.clock.Add(8*time.Hour + time.Second)
	r.work()
	if _, ok := r.svc.Muted(t.Context(), &other); ok {
		t.Error("still muted after its end")
	}
	th = r.thread(m)
	wantContains(t, "the thread", slacktest.Plain(th[len(th)-1].Body), "Mute `"+mu.ID+"` ended")
	if got := buttons(r.now(m)); !slices.Contains(got, triage.ActMute) {
		t.Errorf("after the mute ended the alert's buttons %v", got)
	}
	r.wantAudit("slack:"+onCall+" mute", "trailbell mute_expired")
}

// TestUnmuteButton: the alert's Unmute button ends the mute early, in the audit log.
func TestUnmuteButton(t *testing.T) {
	r := newRig(t, nil)
	m := r.post(alertFinding("ev-1"))
	r.click(m, triage.ActMute, onCall, http.StatusOK)
	if code, _, err := r.srv.Submit(r.url, r.srv.Views()[0].ID, map[string]string{"duration": "3600", "reason": "noise"}); err != nil || code != http.StatusOK {
		t.Fatal(code, err)
	}
	r.work()
	r.click(m, triage.ActUnmute, stranger, http.StatusOK)
	r.work()
	if ms, _ := r.svc.Mutes(t.Context()); len(ms) != 0 {
		t.Errorf("mutes after Unmute: %v", ms)
	}
	f := alertFinding("ev-2")
	if _, ok := r.svc.Muted(t.Context(), &f); ok {
		t.Error("still muted")
	}
	es := r.audit()
	if last := es[len(es)-1]; last.Action != triage.AuditUnmute || last.Who != "slack:"+stranger {
		t.Errorf("last audit entry %+v", last)
	}
}

// state is everything an interaction could change: the audit log, the alert, the mutes, the
// messages and modals in Slack and the jobs' effects once done.
func (r *rig) state(id string) string {
	r.t.Helper()
	r.work()
	a, err := r.svc.Alert(r.t.Context(), id)
	if err != nil {
		r.t.Fatal(err)
	}
	ms, err := r.svc.Mutes(r.t.Context())
	if err != nil {
		r.t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{"audit": r.audit(), "alert": a, "mutes": ms, "slack": r.srv.Received(),
		"views": r.srv.Views(), "ephemerals": r.srv.Ephemerals(), "escalations": r.escalations, "reraised": r.reraised})
	return string(b)
}

// alertID is the id the buttons of message m carry.
func alertID(t testing.TB, m slacktest.Received) string {
	t.Helper()
	var msg struct {
		Attachments []struct {
			Blocks []struct {
				Elements []struct {
					ActionID string `json:"action_id"`
					Value    string `json:"value"`
				} `json:"elements"`
			} `json:"blocks"`
		} `json:"attachments"`
	}
	json.Unmarshal(m.Body, &msg)
	for _, a := range msg.Attachments {
		for _, b := range a.Blocks {
			for _, e := range b.Elements {
				if e.ActionID == triage.ActAck {
					return e.Value
				}
			}
		}
	}
	t.Fatalf("no acknowledge button on %s", m.Body)
	return ""
}

// TestInteractionsRefused sends what must be refused with nothing changed: unsigned, badly
// signed, stale, replayed, oversized, malformed, unknown and forged requests.
func TestInteractionsRefused(t *testing.T) {
	type request struct {
		method string
		header http.Header
		body   []byte
	}
	for _, tc := range []struct {
		name   string
		status int
		make   func(r *rig, m, other slacktest.Received) request
	}{
		{"unsigned", 401, func(r *rig, m, _ slacktest.Received) request {
			body := clickBody(r, m, triage.ActAck, onCall)
			return request{body: body, header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}}
		}},
		{"signed with another secret", 401, func(r *rig, m, _ slacktest.Received) request {
			body := clickBody(r, m, triage.ActAck, onCall)
			return request{body: body, header: slacktest.SignWith("not-the-apps-secret", body, r.clock.Now())}
		}},
		{"body changed after signing", 401, func(r *rig, m, _ slacktest.Received) request {
			body := clickBody(r, m, triage.ActAck, onCall)
			h := r.srv.Sign(body, r.clock.Now())
			return request{body: bytes.Replace(body, []byte(onCall), []byte(stranger), 1), header: h}
		}},
		{"signature of another length", 401, func(r *rig, m, _ slacktest.Received) request {
			body := clickBody(r, m, triage.ActAck, onCall)
			h := r.srv.Sign(body, r.clock.Now())
			h.Set("X-Slack-Signature", h.Get("X-Slack-Signature")[:40])
			return request{body: body, header: h}
		}},
		{"timestamp 6 minutes old", 401, func(r *rig, m, _ slacktest.Received) request {
			body := clickBody(r, m, triage.ActAck, onCall)
			return request{body: body, header: r.srv.Sign(body, r.clock.Now().Add(-6*time.Minute))}
		}},
		{"timestamp 6 minutes ahead", 401, func(r *rig, m, _ slacktest.Received) request {
			body := clickBody(r, m, triage.ActAck, onCall)
			return request{body: body, header: r.srv.Sign(body, r.clock.Now().Add(6*time.Minute))}
		}},
		{"timestamp not a number", 401, func(r *rig, m, _ slacktest.Received) request {
			body := clickBody(r, m, triage.ActAck, onCall)
			h := r.srv.Sign(body, r.clock.Now())
			h.Set("X-Slack-Request-Timestamp", "yesterday")
			return request{body: body, header: h}
		}},
		{"oversized body", 413, func(r *rig, m, _ slacktest.Received) request {
			body := append(clickBody(r, m, triage.ActAck, onCall), []byte("&pad="+strings.Repeat("x", slack.MaxInteraction))...)
			return request{body: body, header: r.srv.Sign(body, r.clock.Now())}
		}},
		{"GET", 405, func(r *rig, m, _ slacktest.Received) request {
			return request{method: http.MethodGet, header: r.srv.Sign(nil, r.clock.Now())}
		}},
		{"no payload", 400, func(r *rig, _, _ slacktest.Received) request {
			body := []byte("command=/trailbell")
			return request{body: body, header: r.srv.Sign(body, r.clock.Now())}
		}},
		{"payload not JSON", 400, func(r *rig, _, _ slacktest.Received) request {
			body := []byte("payload=%7Bnot+json")
			return request{body: body, header: r.srv.Sign(body, r.clock.Now())}
		}},
		{"unknown action", 400, func(r *rig, m, _ slacktest.Received) request {
			p := clickPayload(r, m, triage.ActAck, onCall)
			p["actions"].([]any)[0].(map[string]any)["action_id"] = "trailbell_delete_everything"
			return signed(r, p)
		}},
		{"unknown payload type", 400, func(r *rig, m, _ slacktest.Received) request {
			p := clickPayload(r, m, triage.ActAck, onCall)
			p["type"] = "shortcut"
			return signed(r, p)
		}},
		{"two actions in one click", 400, func(r *rig, m, _ slacktest.Received) request {
			p := clickPayload(r, m, triage.ActAck, onCall)
			a := p["actions"].([]any)
			p["actions"] = append(a, a[0])
			return signed(r, p)
		}},
		{"button of one alert on another's message", 403, func(r *rig, m, other slacktest.Received) request {
			p := clickPayload(r, m, triage.ActAck, onCall)
			p["container"].(map[string]any)["message_ts"] = other.TS
			return signed(r, p)
		}},
		{"no user", 403, func(r *rig, m, _ slacktest.Received) request {
			p := clickPayload(r, m, triage.ActAck, onCall)
			p["user"] = map[string]any{"id": "", "username": "nobody"}
			return signed(r, p)
		}},
		{"a question's answer on the alert", 403, func(r *rig, m, _ slacktest.Received) request {
			p := clickPayload(r, m, triage.ActAck, onCall)
			p["actions"].([]any)[0].(map[string]any)["action_id"] = triage.ActNo
			return signed(r, p)
		}},
		{"mute modal submitted by someone it was not opened for", 403, func(r *rig, m, _ slacktest.Received) request {
			r.click(m, triage.ActMute, onCall, http.StatusOK)
			v := r.srv.Views()
			p, err := r.srv.SubmitPayload(v[len(v)-1].ID, map[string]string{"duration": "3600", "reason": "noise"})
			if err != nil {
				r.t.Fatal(err)
			}
			p["user"] = map[string]any{"id": stranger, "username": "other"}
			return signed(r, p)
		}},
		{"unknown modal", 400, func(r *rig, m, _ slacktest.Received) request {
			r.click(m, triage.ActMute, onCall, http.StatusOK)
			v := r.srv.Views()
			p, err := r.srv.SubmitPayload(v[len(v)-1].ID, map[string]string{"duration": "3600", "reason": "noise"})
			if err != nil {
				r.t.Fatal(err)
			}
			p["view"].(map[string]any)["callback_id"] = "trailbell_drop_table"
			return signed(r, p)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, nil)
			m := r.post(alertFinding("ev-1"))
			second := alertFinding("ev-2")
			second.Rule = "iam-user-created"
			other := r.post(second)
			req := tc.make(r, m, other)
			before := r.state(alertID(t, m))
			if req.method == "" {
				req.method = http.MethodPost
			}
			hr, err := http.NewRequest(req.method, r.url, bytes.NewReader(req.body))
			if err != nil {
				t.Fatal(err)
			}
			hr.Header = req.header
			resp, err := http.DefaultClient.Do(hr)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("HTTP %d, want %d\nlog:\n%s", resp.StatusCode, tc.status, r.logs.String())
			}
			if after := r.state(alertID(t, m)); after != before {
				t.Errorf("the request changed something:\nbefore %s\nafter  %s", before, after)
			}
			for _, secret := range []string{r.srv.SigningSecret, r.srv.Token} {
				if strings.Contains(r.logs.String(), secret) {
					t.Errorf("a secret reached the log:\n%s", r.logs.String())
				}
			}
		})
	}
}

// TestReplayRefused: the same signed request twice acts once.
func TestReplayRefused(t *testing.T) {
	r := newRig(t, nil)
	m := r.post(alertFinding("ev-1"))
	req := signed(r, clickPayload(r, m, triage.ActAck, onCall))
	if code, _, err := slacktest.Post(r.url, req.header, req.body); err != nil || code != http.StatusOK {
		t.Fatalf("first: HTTP %d %v", code, err)
	}
	before := r.state(alertID(t, m))
	r.clock.Add(4 * time.Minute) // still inside the five minutes
	if code, _, err := slacktest.Post(r.url, req.header, req.body); err != nil || code != http.StatusUnauthorized {
		t.Fatalf("replay: HTTP %d %v, want 401", code, err)
	}
	if after := r.state(alertID(t, m)); after != before {
		t.Errorf("the replay changed something")
	}
}

// TestPolicyRefused: a user who may not act (not a responder; the alert's own actor) is told
// why, and nothing else happens.
func TestPolicyRefused(t *testing.T) {
	for _, tc := range []struct {
		name   string
		opts   func(*triage.Options)
		user   string
		action string
		told   string
	}{
		{"not a responder", func(o *triage.Options) { o.Responders = []string{onCall} }, stranger, triage.ActAck, "Only the responders"},
		{"the actor acknowledges", nil, jane, triage.ActAck, "about something you did"},
		{"the actor mutes", nil, jane, triage.ActMute, "about something you did"},
		{"the actor mapped by identities", func(o *triage.Options) {
			o.Identities = map[string]string{"identitycenter:jane@example.com": jane}
		}, jane, triage.ActAsk, "about something you did"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, tc.opts)
			m := r.post(alertFinding("ev-1"))
			id := alertID(t, m)
			before := r.state(id)
			r.click(m, tc.action, tc.user, http.StatusOK)
			r.work()
			e := r.srv.Ephemerals()
			if len(e) != 1 || e[0].User != tc.user || !strings.Contains(e[0].Text, tc.told) {
				t.Fatalf("told %+v, want %q", e, tc.told)
			}
			var b map[string]any
			json.Unmarshal([]byte(r.state(id)), &b)
			b["ephemerals"] = []any{}
			var a map[string]any
			json.Unmarshal([]byte(before), &a)
			a["ephemerals"] = []any{}
			if x, y := fmt.Sprint(a), fmt.Sprint(b); x != y {
				t.Errorf("state changed:\nbefore %s\nafter  %s", x, y)
			}
		})
	}
}

func clickPayload(r *rig, m slacktest.Received, action, user string) map[string]any {
	r.t.Helper()
	p, err := r.srv.ClickPayload(m.Channel, m.TS, action, user)
	if err != nil {
		r.t.Fatal(err)
	}
	return p
}

func clickBody(r *rig, m slacktest.Received, action, user string) []byte {
	r.t.Helper()
	b, err := slacktest.Form(clickPayload(r, m, action, user))
	if err != nil {
		r.t.Fatal(err)
	}
	return b
}

func signed(r *rig, p map[string]any) struct {
	method string
	header http.Header
	body   []byte
} {
	r.t.Helper()
	b, err := slacktest.Form(p)
	if err != nil {
		r.t.Fatal(err)
	}
	return struct {
		method string
		header http.Header
		body   []byte
	}{header: r.srv.Sign(b, r.clock.Now()), body: b}
}

// randomParts are what differs between runs: a mute's random id, and the block ids made
// from a state that names it.
var randomParts = regexp.MustCompile(`m-[a-z2-7]{8}|(trailbell_(?:status|triage))\.[0-9a-f]{8}`)

// indented is body as a golden file holds it, its random parts named instead.
func indented(t *testing.T, body []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, body, "", "  "); err != nil {
		t.Fatal(err)
	}
	return randomParts.ReplaceAllFunc(append(buf.Bytes(), '\n'), func(b []byte) []byte {
		if bytes.HasPrefix(b, []byte("m-")) {
			return []byte("m-MUTEID")
		}
		return append(b[:bytes.IndexByte(b, '.')+1:bytes.IndexByte(b, '.')+1], "HASH"...)
	})
}

// TestInteractiveGolden keeps every interactive message format in a golden file (rewritten
// with -update): the alert as posted and once handled, the question to the actor asked and
// answered, and both modals. TestGoldenTypeCheck checks them against Slack's types.
func TestInteractiveGolden(t *testing.T) {
	r := newRig(t, nil)
	m := r.post(alertFinding("ev-golden"))
	golden(t, "interactive/alert.json", indented(t, m.Body))
	r.click(m, triage.ActAsk, onCall, http.StatusOK)
	r.work()
	q := r.dms()[0]
	golden(t, "interactive/question.json", indented(t, q.Body))
	r.click(m, triage.ActAck, onCall, http.StatusOK)
	r.click(m, triage.ActMute, stranger, http.StatusOK)
	golden(t, "interactive/mute-modal.json", indented(t, r.srv.Views()[0].View))
	if code, _, err := r.srv.Submit(r.url, r.srv.Views()[0].ID, map[string]string{"scope": triage.ScopeRole, "duration": "86400", "reason": "SSO admins onboarding"}); err != nil || code != http.StatusOK {
		t.Fatal(code, err)
	}
	r.click(q, triage.ActYes, jane, http.StatusOK)
	golden(t, "interactive/reason-modal.json", indented(t, r.srv.Views()[1].View))
	if code, _, err := r.srv.Submit(r.url, r.srv.Views()[1].ID, map[string]string{"reason": "onboarding the new team, ticket OPS-123"}); err != nil || code != http.StatusOK {
		t.Fatal(code, err)
	}
	r.work()
	cur, _ := r.srv.Message(m.Channel, m.TS)
	golden(t, "interactive/alert-handled.json", indented(t, cur.Body))
	cur, _ = r.srv.Message(q.Channel, q.TS)
	golden(t, "interactive/question-answered.json", indented(t, cur.Body))
}
