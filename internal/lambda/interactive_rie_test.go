package lambda_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trailbell/trailbell/internal/correlate/dynamo"
	"github.com/trailbell/trailbell/internal/lambda"
	"github.com/trailbell/trailbell/internal/notify/slacktest"
	"github.com/trailbell/trailbell/internal/testenv"
	"github.com/trailbell/trailbell/internal/triage"
)

// lambdaAPI stands in for the Lambda service's Invoke API, as the function calls it to invoke
// itself after an interaction: it keeps the asynchronous invocations for the test to run
// afterwards, one at a time, as Lambda would.
type lambdaAPI struct {
	*httptest.Server
	mu      sync.Mutex
	pending [][]byte
	calls   int
}

func newLambdaAPI(t *testing.T) *lambdaAPI {
	l := &lambdaAPI{}
	l.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.URL.Path != "/2015-03-31/functions/trailbell/invocations" ||
			r.Header.Get("X-Amz-Invocation-Type") != "Event" || !strings.Contains(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256") {
			t.Errorf("unexpected Invoke call: %s %s %v", r.Method, r.URL.Path, r.Header)
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		l.mu.Lock()
		l.pending = append(l.pending, body)
		l.calls++
		l.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(l.Close)
	return l
}

func (l *lambdaAPI) take() [][]byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.pending
	l.pending = nil
	return p
}

// functionURL is the function's URL: it turns an HTTP request into the payload Lambda gives
// the function (format 2.0, the body base64-encoded) and the function's answer back into
// HTTP.
func functionURL(t *testing.T, r *rie) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		headers := map[string]string{}
		for k, v := range req.Header {
			headers[strings.ToLower(k)] = strings.Join(v, ",")
		}
		ev, _ := json.Marshal(map[string]any{
			"version": "2.0", "routeKey": "$default", "rawPath": req.URL.Path, "rawQueryString": req.URL.RawQuery,
			"headers": headers, "isBase64Encoded": true, "body": base64.StdEncoding.EncodeToString(body),
			"requestContext": map[string]any{"domainName": "abc123.lambda-url.us-east-1.on.aws", "requestId": "r1",
				"http": map[string]any{"method": req.Method, "path": req.URL.Path, "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1"}},
		})
		out, _ := r.invoke(t, ev)
		var resp struct {
			StatusCode int               `json:"statusCode"`
			Headers    map[string]string `json:"headers"`
			Body       string            `json:"body"`
		}
		b, _ := json.Marshal(out)
		if err := json.Unmarshal(b, &resp); err != nil || resp.StatusCode == 0 {
			t.Errorf("function URL answer %s", b)
			http.Error(w, "bad answer", http.StatusBadGateway)
			return
		}
		for k, v := range resp.Headers {
			w.Header().Set(k, v)
		}
		w.WriteHeader(resp.StatusCode)
		io.WriteString(w, resp.Body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/slack/interactions"
}

// ssoEvent is an EventBridge event of jane's Identity Center session attaching IAMFullAccess
// to a group (admin-policy-attached, high).
func ssoEvent(t *testing.T, id string) []byte {
	return envelope(t, []byte(testenv.SSORecord(id, time.Now())))
}

const (
	onCall = slacktest.OnCall
	jane   = slacktest.Jane
)

// lambdaRig is the function under the runtime emulator with its state in DynamoDB
// (moto_server), its function URL, the Invoke API it calls itself through, and the Slack
// stand-in playing the people.
type lambdaRig struct {
	t   *testing.T
	srv *slacktest.Server
	fn  *rie
	api *lambdaAPI
	url string
}

func newLambdaRig(t *testing.T, interactive string) *lambdaRig {
	ddb, client := testenv.DynamoDB(t)
	srv := slacktest.NewWorkspace(t, "../../deploy/slack/manifest.yaml")
	table := testenv.UniqueName("trailbell-state")
	if err := dynamo.CreateTable(t.Context(), client, table); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "trailbell.yaml")
	if err := os.WriteFile(cfg, []byte(srv.NotifyYAML("")+fmt.Sprintf("state: {dynamodb_table: %s}\n", table)+interactive), 0o600); err != nil {
		t.Fatal(err)
	}
	api := newLambdaAPI(t)
	fn := startRIE(t, "TRAILBELL_CONFIG="+cfg, "AWS_ENDPOINT_URL_DYNAMODB="+ddb, "AWS_ENDPOINT_URL_LAMBDA="+api.URL,
		"AWS_LAMBDA_FUNCTION_NAME=trailbell", "TRAILBELL_SLACK_SIGNING_SECRET="+srv.SigningSecret)
	return &lambdaRig{t: t, srv: srv, fn: fn, api: api, url: functionURL(t, fn)}
}

// invoke runs one invocation and fails on a function error.
func (r *lambdaRig) invoke(payload []byte) {
	r.t.Helper()
	out, _ := r.fn.invoke(r.t, payload)
	if out["errorMessage"] != nil {
		r.t.Fatalf("invocation failed: %v", out)
	}
}

// drain runs the invocations the function asked for, until it asks for none.
func (r *lambdaRig) drain() {
	r.t.Helper()
	for {
		p := r.api.take()
		if len(p) == 0 {
			return
		}
		for _, payload := range p {
			if !bytes.Equal(payload, lambda.WorkPayload) {
				r.t.Fatalf("the function invoked itself with %s", payload)
			}
			r.invoke(payload)
		}
	}
}

func (r *lambdaRig) click(m slacktest.Received, action, user string) {
	r.t.Helper()
	code, body, err := r.srv.Click(r.url, m.Channel, m.TS, action, user)
	if err != nil || code != http.StatusOK {
		r.t.Fatalf("click %s as %s: HTTP %d %s %v\n%s", action, user, code, body, err, r.fn.out)
	}
}

// last is the newest message in a channel ("D" for any direct message) whose body has parts.
func (r *lambdaRig) last(channel string, parts ...string) (slacktest.Received, bool) {
	ms := r.srv.Received()
	for i := len(ms) - 1; i >= 0; i-- {
		m := ms[i]
		if m.Channel != channel && (channel != "D" || !strings.HasPrefix(m.Channel, "D")) {
			continue
		}
		body := slacktest.Plain(m.Body)
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(body, p)
		}
		if ok {
			return m, true
		}
	}
	return slacktest.Received{}, false
}

func (r *lambdaRig) want(what, channel string, parts ...string) slacktest.Received {
	r.t.Helper()
	m, ok := r.last(channel, parts...)
	if !ok {
		r.t.Fatalf("no %s (a message in %s with %q)\nemulator:\n%s", what, channel, parts, r.fn.out)
	}
	return m
}

// TestInteractiveLambda runs the flows through the function under the runtime
// emulator, its state in DynamoDB: an alert, its actor asked, "No", the escalation paged;
// a mute from a modal, the next matching event silent, the mute ended by the schedule, the
// event alerting again. The function URL answers each interaction and the work is done by
// the invocation the function makes of itself.
func TestInteractiveLambda(t *testing.T) {
	r := newLambdaRig(t, "interactive: {reraise_after: 0s, mute_durations: [2s, 1h]}\n")
	alerts, pager := r.srv.ChannelID("#alerts"), r.srv.ChannelID("#pager")

	r.invoke(ssoEvent(t, "ev-ask"))
	alert := r.want("alert", alerts, "ev-ask", `"action_id":"trailbell_ask"`)
	r.click(alert, triage.ActAsk, onCall)
	if _, ok := r.last("D"); ok {
		t.Fatal("the question went out before the function URL answered")
	}
	r.drain()
	question := r.want("question to jane", "D", "did you do this?", `"action_id":"trailbell_no"`)
	r.click(question, triage.ActNo, jane)
	r.drain()
	r.want("escalation", pager, "jane@example.com says they did not do this", "CRITICAL")
	r.want("escalation note", alerts, "<@"+jane+"> says they did *not* do this")

	r.invoke(ssoEvent(t, "ev-mute"))
	second := r.want("second alert", alerts, "ev-mute", `"action_id":"trailbell_mute"`)
	r.click(second, triage.ActMute, onCall)
	views := r.srv.Views()
	if len(views) != 1 {
		t.Fatalf("views %v", views)
	}
	if code, body, err := r.srv.Submit(r.url, views[0].ID, map[string]string{"duration": "2", "reason": "migration"}); err != nil || code != http.StatusOK || len(body) > 0 {
		t.Fatalf("mute: HTTP %d %s %v", code, body, err)
	}
	r.drain()
	r.want("mute note", alerts, "muted `admin-policy-attached`", "migration")
	before := len(r.srv.Received())
	r.invoke(ssoEvent(t, "ev-silent"))
	for _, m := range r.srv.Received()[before:] {
		if strings.Contains(string(m.Body), "ev-silent") {
			t.Fatalf("the muted event alerted: %s", m.Body)
		}
	}
	time.Sleep(2100 * time.Millisecond) // the mute's real end: the function reads the clock
	r.invoke([]byte(`{"version":"0","id":"tick","detail-type":"Scheduled Event","source":"aws.events","account":"111122223333","time":"2026-11-20T10:00:00Z","region":"us-east-1","resources":[],"detail":{}}`))
	r.want("the mute's end", alerts, "Mute `m-", "ended")
	r.invoke(ssoEvent(t, "ev-again"))
	r.want("alert after the mute", alerts, "ev-again")

	// through the function URL too, a badly signed or replayed request changes nothing
	req, err := r.srv.ClickPayload(alert.Channel, alert.TS, triage.ActAck, onCall)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := slacktest.Form(req)
	h := r.srv.Sign(body, time.Now())
	if code, _, _ := slacktest.Post(r.url, http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, body); code != http.StatusUnauthorized {
		t.Errorf("unsigned: HTTP %d, want 401", code)
	}
	if code, _, _ := slacktest.Post(r.url, h, body); code != http.StatusOK {
		t.Errorf("signed: HTTP %d, want 200", code)
	}
	if code, _, _ := slacktest.Post(r.url, h, body); code != http.StatusUnauthorized {
		t.Errorf("replayed: HTTP %d, want 401", code)
	}
	r.drain()
	if acks := strings.Count(slacktest.Plain(mustMessage(t, r.srv, alert)), "Acknowledged by"); acks != 1 {
		t.Errorf("the alert shows %d acknowledgements", acks)
	}
}

func mustMessage(t *testing.T, srv *slacktest.Server, m slacktest.Received) []byte {
	t.Helper()
	cur, ok := srv.Message(m.Channel, m.TS)
	if !ok {
		t.Fatalf("message %s gone", m.TS)
	}
	return cur.Body
}
