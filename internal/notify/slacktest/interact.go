package slacktest

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// The people of the workspace and what an interactive app does with them: users who click
// buttons on messages they see and submit the modals the app opens for them, posted to the
// app as Slack's signed payloads; direct messages; modals; response URLs.

// Team is the workspace id of every payload.
const Team = "T0000001"

// User is a member of the workspace.
type User struct {
	ID, Name, Email string
}

// View is a modal the app opened (views.open) for a user.
type View struct {
	ID     string
	User   string
	View   json.RawMessage // as the app sent it
	Closed bool            // submitted and closed
}

// Ephemeral is a message the app sent a user through a response_url.
type Ephemeral struct {
	User, Text string
}

type trigger struct {
	user string
	at   time.Time
	used bool
}

type responseURL struct {
	user string
	at   time.Time
	uses int
}

// people is the workspace's state; the Server's mutex guards it.
type people struct {
	users      map[string]User
	dms        map[string]string // user → D channel
	views      []*View
	triggers   map[string]*trigger
	responses  map[string]*responseURL
	ephemerals []Ephemeral
	// Now is the clock of triggers and response URLs (and of the signatures of the
	// payloads the server posts); default time.Now.
	Now func() time.Time
}

func newPeople() people {
	return people{users: map[string]User{}, dms: map[string]string{}, triggers: map[string]*trigger{}, responses: map[string]*responseURL{}}
}

func (p *people) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

// SetClock sets the clock of triggers, response URLs and signatures (a test's fake clock).
func (s *Server) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.people.Now = now
}

// AddUser makes a member of the workspace.
func (s *Server) AddUser(id, name, email string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[id] = User{ID: id, Name: name, Email: email}
}

// dmUser is the user of a direct message channel. Call with s.mu held.
func (s *Server) dmUser(channel string) (string, bool) {
	for u, ch := range s.dms {
		if ch == channel {
			return u, true
		}
	}
	return "", false
}

// Views lists the modals opened, oldest first.
func (s *Server) Views() []View {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]View, len(s.views))
	for i, v := range s.views {
		out[i] = *v
	}
	return out
}

// Ephemerals lists what the app told users through response URLs.
func (s *Server) Ephemerals() []Ephemeral {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ephemerals)
}

// Message returns the message with ts in channel as it is now (after any chat.update).
func (s *Server) Message(channel, ts string) (Received, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.received {
		if m.Channel == channel && m.TS == ts {
			return m, true
		}
	}
	return Received{}, false
}

// scopeOf is the bot scope each Web API method needs.
var scopeOf = map[string]string{
	"chat.postMessage":      "chat:write",
	"chat.update":           "chat:write",
	"conversations.history": "channels:history",
	"conversations.replies": "channels:history",
	"conversations.list":    "channels:read",
	"conversations.open":    "im:write",
	"users.lookupByEmail":   "users:read.email",
}

// scoped answers missing_scope, and returns false, when the token lacks the method's scope.
func (s *Server) scoped(w http.ResponseWriter, method string) bool {
	need, ok := scopeOf[method]
	if !ok || len(s.Scopes) == 0 || slices.Contains(s.Scopes, need) {
		return true
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": "missing_scope", "needed": need, "provided": strings.Join(s.Scopes, ",")})
	return false
}

func writeOK(w http.ResponseWriter, v map[string]any) {
	v["ok"] = true
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// update answers chat.update: the message is replaced, if it is the app's and its limits
// hold.
func (s *Server) update(w http.ResponseWriter, r *http.Request, body []byte) {
	var m struct {
		Channel  string          `json:"channel"`
		TS       string          `json:"ts"`
		Metadata json.RawMessage `json:"metadata"`
	}
	if !s.decode(w, r, body, &m) {
		return
	}
	if reason := CheckMessage(body); reason != "" {
		apiError(w, reason)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.received, func(x Received) bool { return x.TS == m.TS && x.Channel == m.Channel })
	if i < 0 {
		if s.channelName(m.Channel) == "" {
			if _, dm := s.dmUser(m.Channel); !dm {
				apiError(w, "channel_not_found")
				return
			}
		}
		apiError(w, "message_not_found")
		return
	}
	s.received[i].Body, s.received[i].Updates = body, s.received[i].Updates+1
	if len(m.Metadata) > 0 {
		s.received[i].Metadata = m.Metadata
	}
	writeOK(w, map[string]any{"channel": m.Channel, "ts": m.TS})
}

// openDM answers conversations.open with the user's direct message channel.
func (s *Server) openDM(w http.ResponseWriter, r *http.Request, body []byte) {
	v, ok := s.form(w, r, body)
	if !ok {
		return
	}
	users := strings.Split(v.Get("users"), ",")
	if len(users) != 1 || users[0] == "" {
		apiError(w, "users_list_not_supplied")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := users[0]
	if _, ok := s.users[u]; !ok {
		apiError(w, "user_not_found")
		return
	}
	if s.dms[u] == "" {
		s.dms[u] = fmt.Sprintf("D%07d", len(s.dms)+1)
	}
	writeOK(w, map[string]any{"channel": map[string]any{"id": s.dms[u]}})
}

// lookupByEmail answers users.lookupByEmail.
func (s *Server) lookupByEmail(w http.ResponseWriter, r *http.Request, body []byte) {
	v, ok := s.form(w, r, body)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range s.users {
		if u.Email != "" && strings.EqualFold(u.Email, v.Get("email")) {
			writeOK(w, map[string]any{"user": map[string]any{"id": u.ID, "name": u.Name, "deleted": false,
				"profile": map[string]any{"email": u.Email}}})
			return
		}
	}
	apiError(w, "users_not_found")
}

// openView answers views.open: the trigger must be one a click of the last three seconds
// gave, used once; the modal must keep Block Kit's limits.
func (s *Server) openView(w http.ResponseWriter, r *http.Request, body []byte) {
	var m struct {
		TriggerID string          `json:"trigger_id"`
		View      json.RawMessage `json:"view"`
	}
	if !s.decode(w, r, body, &m) {
		return
	}
	if err := CheckView(m.View); err != nil {
		apiError(w, "invalid_arguments")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.triggers[m.TriggerID]
	switch {
	case t == nil:
		apiError(w, "invalid_trigger_id")
		return
	case t.used || s.people.now().Sub(t.at) > 3*time.Second:
		apiError(w, "expired_trigger_id")
		return
	}
	t.used = true
	v := &View{ID: fmt.Sprintf("V%07d", len(s.views)+1), User: t.user, View: m.View}
	s.views = append(s.views, v)
	writeOK(w, map[string]any{"view": map[string]any{"id": v.ID}})
}

// respond takes a message posted to a response_url: valid 30 minutes, five times.
func (s *Server) respond(w http.ResponseWriter, r *http.Request, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ru := s.responses[strings.TrimPrefix(r.URL.Path, "/respond/")]
	if ru == nil || ru.uses >= 5 || s.people.now().Sub(ru.at) > 30*time.Minute {
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, "expired_url")
		return
	}
	var m struct {
		Text string `json:"text"`
	}
	if err := json.Unmarshal(body, &m); err != nil || m.Text == "" {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, "no_text")
		return
	}
	ru.uses++
	s.ephemerals = append(s.ephemerals, Ephemeral{User: ru.user, Text: m.Text})
	io.WriteString(w, "ok")
}

// Sign returns the headers Slack signs a request body with at t.
func (s *Server) Sign(body []byte, t time.Time) http.Header {
	return SignWith(s.SigningSecret, body, t)
}

// SignWith returns the headers of body signed with secret at t, as Slack signs requests.
func SignWith(secret string, body []byte, t time.Time) http.Header {
	ts := strconv.FormatInt(t.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v0:" + ts + ":"))
	mac.Write(body)
	return http.Header{
		"Content-Type":              {"application/x-www-form-urlencoded"},
		"X-Slack-Request-Timestamp": {ts},
		"X-Slack-Signature":         {"v0=" + hex.EncodeToString(mac.Sum(nil))},
	}
}

// Form is an interaction payload as Slack posts it: a form with the JSON in "payload".
func Form(payload any) ([]byte, error) {
	b, err := json.Marshal(payload)
	if err != nil {
		return nil, err
	}
	return []byte(url.Values{"payload": {string(b)}}.Encode()), nil
}

// Post posts body to an app's interactivity URL with the given headers and returns the
// status and answer.
func Post(target string, header http.Header, body []byte) (int, []byte, error) {
	req, err := http.NewRequest(http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header = header.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// PostSigned signs payload as Slack would now and posts it to target.
func (s *Server) PostSigned(target string, payload any) (int, []byte, error) {
	body, err := Form(payload)
	if err != nil {
		return 0, nil, err
	}
	s.mu.Lock()
	now := s.people.now()
	s.mu.Unlock()
	return Post(target, s.Sign(body, now), body)
}

// token is a fresh random-looking id for triggers and response URLs.
func (s *Server) token(prefix string) string {
	s.seq++
	h := sha256.Sum256([]byte(prefix + strconv.Itoa(s.seq)))
	return prefix + strconv.Itoa(s.seq) + "." + hex.EncodeToString(h[:8])
}

// ErrNotVisible is a click on a message the user cannot see or a button it does not have.
var ErrNotVisible = errors.New("no such button on a message this user sees")

// ClickPayload is the block_actions payload Slack sends when user presses the button
// actionID on the message ts of channel: the button must be on the message as it is now,
// and a direct message's buttons are only its user's.
func (s *Server) ClickPayload(channel, ts, actionID, user string) (map[string]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[user]
	if !ok {
		return nil, fmt.Errorf("no user %s", user)
	}
	i := slices.IndexFunc(s.received, func(x Received) bool { return x.Channel == channel && x.TS == ts })
	if i < 0 {
		return nil, fmt.Errorf("%w: no message %s in %s", ErrNotVisible, ts, channel)
	}
	if owner, dm := s.dmUser(channel); dm && owner != user {
		return nil, fmt.Errorf("%w: %s's direct message", ErrNotVisible, owner)
	}
	m := s.received[i]
	var msg map[string]any
	if err := json.Unmarshal(m.Body, &msg); err != nil {
		return nil, err
	}
	button, blockID, inAttachment := findButton(msg, actionID)
	if button == nil {
		return nil, fmt.Errorf("%w: %s on %s", ErrNotVisible, actionID, ts)
	}
	now := s.people.now()
	trig := s.token("trig")
	s.triggers[trig] = &trigger{user: user, at: now}
	resp := s.token("resp")
	s.responses[resp] = &responseURL{user: user, at: now}
	container := map[string]any{"type": "message", "message_ts": ts, "channel_id": channel, "is_ephemeral": false}
	if inAttachment {
		container["type"], container["attachment_id"] = "message_attachment", 1
	}
	if m.ThreadTS != "" {
		container["thread_ts"] = m.ThreadTS
	}
	msg["ts"], msg["type"] = ts, "message"
	delete(msg, "channel")
	action := map[string]any{"type": "button", "action_id": actionID, "block_id": blockID, "text": button["text"],
		"action_ts": fmt.Sprintf("%d.%06d", now.Unix(), s.seq)}
	for _, k := range []string{"value", "url", "style"} {
		if v, ok := button[k]; ok {
			action[k] = v
		}
	}
	return map[string]any{
		"type": "block_actions", "api_app_id": "A0000001", "token": "legacy-verification-token",
		"user":         map[string]any{"id": u.ID, "username": u.Name, "name": u.Name, "team_id": Team},
		"team":         map[string]any{"id": Team, "domain": "trailbell-test"},
		"container":    container,
		"channel":      map[string]any{"id": channel, "name": strings.TrimPrefix(s.channelName(channel), "#")},
		"message":      msg,
		"trigger_id":   trig,
		"response_url": s.URL + "/respond/" + resp,
		"actions":      []any{action},
	}, nil
}

// findButton finds the button actionID in a message's blocks or its attachments' blocks.
func findButton(msg map[string]any, actionID string) (button map[string]any, blockID string, inAttachment bool) {
	look := func(blocks any) (map[string]any, string) {
		list, _ := blocks.([]any)
		for _, b := range list {
			blk, _ := b.(map[string]any)
			if blk["type"] != "actions" {
				continue
			}
			els, _ := blk["elements"].([]any)
			for _, e := range els {
				el, _ := e.(map[string]any)
				if el["type"] == "button" && el["action_id"] == actionID {
					id, _ := blk["block_id"].(string)
					return el, id
				}
			}
		}
		return nil, ""
	}
	if b, id := look(msg["blocks"]); b != nil {
		return b, id, false
	}
	atts, _ := msg["attachments"].([]any)
	for _, a := range atts {
		att, _ := a.(map[string]any)
		if b, id := look(att["blocks"]); b != nil {
			return b, id, true
		}
	}
	return nil, "", false
}

// Click presses a button as user (see ClickPayload) and posts the signed payload to target,
// the app's interactivity URL.
func (s *Server) Click(target, channel, ts, actionID, user string) (int, []byte, error) {
	p, err := s.ClickPayload(channel, ts, actionID, user)
	if err != nil {
		return 0, nil, err
	}
	return s.PostSigned(target, p)
}

// SubmitPayload is the view_submission payload of the modal viewID filled in with values
// (block id → the text typed, or the value of the option chosen), by the user it was opened
// for. A required input left empty, or an option the modal does not offer, is an error: Slack
// would not send it.
func (s *Server) SubmitPayload(viewID string, values map[string]string) (map[string]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.views, func(v *View) bool { return v.ID == viewID })
	if i < 0 || s.views[i].Closed {
		return nil, fmt.Errorf("no open view %s", viewID)
	}
	v := s.views[i]
	var view map[string]any
	if err := json.Unmarshal(v.View, &view); err != nil {
		return nil, err
	}
	state := map[string]any{}
	blocks, _ := view["blocks"].([]any)
	for _, b := range blocks {
		blk, _ := b.(map[string]any)
		if blk["type"] != "input" {
			continue
		}
		id, _ := blk["block_id"].(string)
		el, _ := blk["element"].(map[string]any)
		actionID, _ := el["action_id"].(string)
		val, given := values[id]
		if !given {
			if opt, ok := el["initial_option"].(map[string]any); ok {
				val, _ = opt["value"].(string)
				given = true
			}
		}
		if (!given || val == "") && blk["optional"] != true {
			return nil, fmt.Errorf("input %s is required", id)
		}
		switch el["type"] {
		case "plain_text_input":
			if maxLen, ok := el["max_length"].(float64); ok && float64(len([]rune(val))) > maxLen {
				return nil, fmt.Errorf("input %s: longer than %v characters", id, maxLen)
			}
			state[id] = map[string]any{actionID: map[string]any{"type": "plain_text_input", "value": val}}
		case "static_select", "radio_buttons":
			opts, _ := el["options"].([]any)
			var chosen map[string]any
			for _, o := range opts {
				if om, _ := o.(map[string]any); om["value"] == val {
					chosen = om
				}
			}
			if chosen == nil {
				return nil, fmt.Errorf("input %s: %q is not one of its options", id, val)
			}
			state[id] = map[string]any{actionID: map[string]any{"type": el["type"], "selected_option": chosen}}
		default:
			return nil, fmt.Errorf("input %s: element %v not supported here", id, el["type"])
		}
	}
	u := s.users[v.User]
	view["id"], view["state"] = v.ID, map[string]any{"values": state}
	return map[string]any{
		"type": "view_submission", "api_app_id": "A0000001", "token": "legacy-verification-token",
		"user": map[string]any{"id": u.ID, "username": u.Name, "name": u.Name, "team_id": Team},
		"team": map[string]any{"id": Team, "domain": "trailbell-test"},
		"view": view,
	}, nil
}

// Submit submits the modal viewID (see SubmitPayload) to target. The modal closes unless the
// app answers with errors for its blocks.
func (s *Server) Submit(target, viewID string, values map[string]string) (int, []byte, error) {
	p, err := s.SubmitPayload(viewID, values)
	if err != nil {
		return 0, nil, err
	}
	status, body, err := s.PostSigned(target, p)
	if err == nil && status == http.StatusOK && !bytes.Contains(body, []byte(`"response_action"`)) {
		s.mu.Lock()
		for _, v := range s.views {
			if v.ID == viewID {
				v.Closed = true
			}
		}
		s.mu.Unlock()
	}
	return status, body, err
}

// CheckView checks a modal against Block Kit's limits: a title, submit and close of at most
// 24 characters, at most 100 blocks each within its own limits, a callback_id of at most 255
// and private_metadata of at most 3000 characters.
func CheckView(raw json.RawMessage) error {
	var v struct {
		Type            string            `json:"type"`
		Title           *textObj          `json:"title"`
		Submit          *textObj          `json:"submit"`
		Close           *textObj          `json:"close"`
		Blocks          []json.RawMessage `json:"blocks"`
		CallbackID      string            `json:"callback_id"`
		PrivateMetadata string            `json:"private_metadata"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return err
	}
	switch {
	case v.Type != "modal":
		return fmt.Errorf("view type %q", v.Type)
	case v.Title == nil || v.Title.Type != "plain_text":
		return errors.New("a modal needs a plain_text title")
	case len(v.Blocks) == 0 || len(v.Blocks) > 100:
		return fmt.Errorf("%d blocks (1..100)", len(v.Blocks))
	case len(v.CallbackID) > 255:
		return errors.New("callback_id too long")
	case utf16Len(v.PrivateMetadata) > 3000:
		return errors.New("private_metadata too long")
	}
	for _, t := range []struct {
		o    *textObj
		what string
	}{{v.Title, "title"}, {v.Submit, "submit"}, {v.Close, "close"}} {
		if err := t.o.check(24, t.what); err != nil {
			return err
		}
	}
	for _, b := range v.Blocks {
		if err := CheckBlock(b); err != nil {
			return err
		}
	}
	return nil
}

// Manifest is what tests read of the Slack app manifest shipped in deploy/slack.
type Manifest struct {
	OAuth struct {
		Scopes struct {
			Bot []string `yaml:"bot"`
		} `yaml:"scopes"`
	} `yaml:"oauth_config"`
	Settings struct {
		Interactivity struct {
			Enabled    bool   `yaml:"is_enabled"`
			RequestURL string `yaml:"request_url"`
		} `yaml:"interactivity"`
	} `yaml:"settings"`
}

// ReadManifest reads an app manifest (YAML).
func ReadManifest(path string) (*Manifest, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := yaml.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &m, nil
}

// MethodScope is the bot scope a Web API method needs, for the methods this server serves.
func MethodScope(method string) (string, bool) {
	s, ok := scopeOf[method]
	return s, ok
}

// Plain is a message's JSON with <, > and & as themselves (Slack reads \u003c as <), for
// tests to look for mentions and links in.
func Plain(body []byte) string {
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return string(body)
	}
	var out strings.Builder
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
	return out.String()
}

// The people of NewWorkspace.
const (
	OnCall = "U0ONCALL1" // on-call, oncall@example.com
	Jane   = "U0JANE001" // jane@example.com, the Identity Center user of testenv.SSORecord
)

// NewWorkspace starts a server for the rest of the test that plays a workspace with the app
// installed: its bot token has the scopes of the app manifest at manifest (as shipped in
// deploy/slack), channels #alerts and #pager, and two people, OnCall and Jane.
func NewWorkspace(t testing.TB, manifest string) *Server {
	t.Helper()
	s := New()
	t.Cleanup(s.Close)
	m, err := ReadManifest(manifest)
	if err != nil {
		t.Fatal(err)
	}
	s.Scopes = m.OAuth.Scopes.Bot
	s.AddChannel("#pager")
	s.AddUser(OnCall, "oncall", "oncall@example.com")
	s.AddUser(Jane, "jane", "jane@example.com")
	return s
}

// NotifyYAML is the notify section of a trailbell configuration posting to this workspace
// through the Web API: receiver security in #alerts with pager as its fallback, receiver pager
// in #pager, critical findings routed to pager. extra is added under notify (indented YAML).
func (s *Server) NotifyYAML(extra string) string {
	return fmt.Sprintf(`notify:
%s  receivers:
    - {name: security, fallback: pager, slack_api: {token: %s, channel: "#alerts", api_url: %q}}
    - {name: pager, slack_api: {token: %s, channel: "#pager", api_url: %q}}
  route:
    receiver: security
    routes: [{receiver: pager, min_severity: critical}]
`, extra, s.Token, s.APIURL(), s.Token, s.APIURL())
}
