// Package slacktest is an HTTP server that behaves like Slack's incoming webhooks and Web API,
// for tests: it checks Block Kit limits, answers with Slack's real status codes and reasons,
// rate-limits per webhook and channel with 429 and Retry-After, and records what it accepted.
// It also plays the people in the workspace (interact.go): users who click buttons and
// submit modals, which it posts as Slack's signed block_actions and view_submission
// payloads to an app's interactivity URL; and it serves the methods an interactive app
// calls (chat.update, conversations.open, views.open, users.lookupByEmail, response_url),
// with their scopes when Scopes is set. No Slack emulator exists; this follows the
// behaviours listed in /work/shared/EMULATORS.md and Slack's API reference.
package slacktest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf16"
)

// Received is one accepted message.
type Received struct {
	Path      string // webhook path, or "/api/chat.postMessage"
	Channel   string // Web API only: the channel's id (D… for a direct message)
	ThreadTS  string
	Broadcast bool   // a thread reply also shown in the channel (reply_broadcast)
	Updates   int    // times chat.update replaced it; Body is the latest
	TS        string // the ts the server gave it (Web API)
	Body      []byte
	Metadata  json.RawMessage // message metadata, as posted (Web API)
	ChannelAs string          // the channel as the request named it (name or id)
}

// Fault is a scripted answer for the next matching request.
type Fault struct {
	Status     int
	Body       string // webhook: plain text; Web API: the error code of {"ok":false}
	RetryAfter string // Retry-After header value, if any
	// Hang makes the server wait this long (or until the client gives up) before answering.
	Hang time.Duration
	// Lose accepts the message as usual, then loses the answer: the server hangs until the
	// client gives up (or Hang passes), as when a connection drops after Slack posted.
	Lose bool
}

// Server is a Slack-like test server. Configure it before sending. Channels have ids
// ("C" and a number) and names ("#alerts"); chat.postMessage takes either,
// conversations.history and conversations.replies take the id, conversations.list lists
// both. The Web API keeps what it accepted as the channel's history, with metadata.
type Server struct {
	*httptest.Server

	// Token is the bot token the Web API accepts.
	Token string
	// Every and Burst rate-limit each webhook and channel; zero Every disables it.
	Every time.Duration
	Burst int
	// RetryAfter is the header value sent with rate-limit 429s; Slack sends whole seconds.
	RetryAfter string
	// SigningSecret signs the interaction payloads the server posts (Click, Submit).
	SigningSecret string
	// Scopes, when set, are the bot token's scopes: a method needing another answers
	// missing_scope, as Slack does.
	Scopes []string

	mu       sync.Mutex
	received []Received
	faults   []Fault
	revoked  map[string]bool
	archived map[string]bool
	channels map[string]string // name → id
	buckets  map[string]*bucket
	seq      int
	requests int
	people   // interact.go
}

type bucket struct {
	tokens float64
	last   time.Time
}

// New starts a server that accepts token "xoxb-test" and channel "#alerts".
func New() *Server {
	s := &Server{
		Token: "xoxb-test", RetryAfter: "1", SigningSecret: "8f742231b10e8888abcd99yyyzzz85a5",
		revoked: map[string]bool{}, archived: map[string]bool{}, channels: map[string]string{"#alerts": "C0000001"},
		buckets: map[string]*bucket{}, people: newPeople(),
	}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// WebhookURL is the URL of an incoming webhook named name.
func (s *Server) WebhookURL(name string) string { return s.URL + "/services/T0000/B0000/" + name }

// Transport serves requests in memory, with no socket, for tests under testing/synctest:
// a goroutine waiting on a real socket is never durably blocked, so the bubble's clock
// would stand still. Give it to the notifier's http.Client with the usual URLs.
func (s *Server) Transport() http.RoundTripper { return inMemory(s.serve) }

type inMemory func(http.ResponseWriter, *http.Request)

func (h inMemory) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body == nil {
		r.Body = http.NoBody
	}
	rec := httptest.NewRecorder()
	h(rec, r)
	return rec.Result(), nil
}

// APIURL is the Web API base URL (ends with a slash).
func (s *Server) APIURL() string { return s.URL + "/api/" }

// Revoke makes a webhook answer 404 no_service, as Slack does for a removed one.
func (s *Server) Revoke(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revoked["/services/T0000/B0000/"+name] = true
}

// AddChannel makes a channel known; Archive makes it archived.
func (s *Server) AddChannel(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.channels[name] = fmt.Sprintf("C%07d", len(s.channels)+1)
}

// ChannelID is the id of a known channel.
func (s *Server) ChannelID(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.channels[name]
}

func (s *Server) Archive(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.archived[name] = true
}

// Fail queues answers for the next requests, in order.
func (s *Server) Fail(fs ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, fs...)
}

// Received returns the accepted messages in arrival order.
func (s *Server) Received() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Received(nil), s.received...)
}

// Requests counts every request, accepted or not.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	api := strings.HasPrefix(r.URL.Path, "/api/")
	s.mu.Lock()
	s.requests++
	var fault *Fault
	if len(s.faults) > 0 {
		fault = &s.faults[0]
		s.faults = s.faults[1:]
	}
	s.mu.Unlock()
	if fault != nil && fault.Lose {
		ctx := r.Context()
		if fault.Hang > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, fault.Hang)
			defer cancel()
		}
		w = &lostAnswer{ResponseWriter: w, ctx: ctx}
		fault = nil
	}
	if fault != nil {
		if fault.Hang > 0 {
			select {
			case <-time.After(fault.Hang):
			case <-r.Context().Done():
				return
			}
		}
		if fault.RetryAfter != "" {
			w.Header().Set("Retry-After", fault.RetryAfter)
		}
		if api && fault.Status == http.StatusOK {
			apiError(w, fault.Body)
			return
		}
		w.WriteHeader(fault.Status)
		io.WriteString(w, fault.Body)
		return
	}
	switch {
	case r.Method != http.MethodPost:
		http.Error(w, "invalid_request", http.StatusMethodNotAllowed)
	case api && !s.scoped(w, strings.TrimPrefix(r.URL.Path, "/api/")):
	case api && r.URL.Path == "/api/chat.postMessage":
		s.postMessage(w, r, body)
	case api && r.URL.Path == "/api/chat.update":
		s.update(w, r, body)
	case api && r.URL.Path == "/api/conversations.open":
		s.openDM(w, r, body)
	case api && r.URL.Path == "/api/views.open":
		s.openView(w, r, body)
	case api && r.URL.Path == "/api/users.lookupByEmail":
		s.lookupByEmail(w, r, body)
	case strings.HasPrefix(r.URL.Path, "/respond/"):
		s.respond(w, r, body)
	case api && (r.URL.Path == "/api/conversations.history" || r.URL.Path == "/api/conversations.replies"):
		s.history(w, r, body)
	case api && r.URL.Path == "/api/conversations.list":
		s.list(w, r, body)
	case strings.HasPrefix(r.URL.Path, "/services/"):
		s.webhook(w, r, body)
	default:
		http.Error(w, "unknown_method", http.StatusNotFound)
	}
}

func (s *Server) webhook(w http.ResponseWriter, r *http.Request, body []byte) {
	text := func(status int, msg string) {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(status)
		io.WriteString(w, msg)
	}
	s.mu.Lock()
	revoked := s.revoked[r.URL.Path]
	s.mu.Unlock()
	if revoked {
		text(http.StatusNotFound, "no_service")
		return
	}
	if reason := CheckMessage(body); reason != "" {
		text(http.StatusBadRequest, reason)
		return
	}
	if !s.allow(r.URL.Path) {
		w.Header().Set("Retry-After", s.RetryAfter)
		text(http.StatusTooManyRequests, "rate_limited")
		return
	}
	s.mu.Lock()
	s.received = append(s.received, Received{Path: r.URL.Path, Body: body})
	s.mu.Unlock()
	text(http.StatusOK, "ok")
}

func apiError(w http.ResponseWriter, code string) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": code})
}

// decode reads a JSON Web API call's arguments into v after checking its token; it answers
// the error itself and returns false.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, body []byte, v any) bool {
	if r.Header.Get("Authorization") != "Bearer "+s.Token {
		apiError(w, "invalid_auth")
		return false
	}
	if err := json.Unmarshal(body, v); err != nil {
		apiError(w, "invalid_json")
		return false
	}
	return true
}

func (s *Server) postMessage(w http.ResponseWriter, r *http.Request, body []byte) {
	var m struct {
		Channel   string          `json:"channel"`
		ThreadTS  string          `json:"thread_ts"`
		Broadcast bool            `json:"reply_broadcast"`
		Metadata  json.RawMessage `json:"metadata"`
	}
	if !s.decode(w, r, body, &m) {
		return
	}
	s.mu.Lock()
	id := s.channelID(m.Channel)
	if _, dm := s.dmUser(m.Channel); dm {
		id = m.Channel
	}
	archived := s.archived[m.Channel] || s.archived[s.channelName(id)]
	s.mu.Unlock()
	switch {
	case archived:
		apiError(w, "is_archived")
		return
	case id == "":
		apiError(w, "channel_not_found")
		return
	}
	if reason := CheckMessage(body); reason != "" {
		apiError(w, reason)
		return
	}
	if !s.allow(id) {
		w.Header().Set("Retry-After", s.RetryAfter)
		w.WriteHeader(http.StatusTooManyRequests)
		json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": "ratelimited"})
		return
	}
	s.mu.Lock()
	s.seq++
	ts := fmt.Sprintf("%d.%06d", s.people.now().Unix(), s.seq%1000000)
	s.received = append(s.received, Received{Path: r.URL.Path, Channel: id, ChannelAs: m.Channel, ThreadTS: m.ThreadTS, TS: ts,
		Broadcast: m.Broadcast && m.ThreadTS != "", Body: body, Metadata: m.Metadata})
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"ok": true, "channel": id, "ts": ts})
}

// channelID is the id of a channel given by name or id, or "". Call with s.mu held.
func (s *Server) channelID(ch string) string {
	if id, ok := s.channels[ch]; ok {
		return id
	}
	for _, id := range s.channels {
		if id == ch {
			return id
		}
	}
	return ""
}

// channelName is the name of the channel with id. Call with s.mu held.
func (s *Server) channelName(id string) string {
	for name, cid := range s.channels {
		if cid == id {
			return name
		}
	}
	return ""
}

// form reads a Web API call's arguments (form-encoded, as Slack takes them) after checking
// its token; it answers the error itself and returns false.
func (s *Server) form(w http.ResponseWriter, r *http.Request, body []byte) (url.Values, bool) {
	if r.Header.Get("Authorization") != "Bearer "+s.Token {
		apiError(w, "invalid_auth")
		return nil, false
	}
	v, err := url.ParseQuery(string(body))
	if err != nil {
		apiError(w, "invalid_form_data")
		return nil, false
	}
	return v, true
}

// history answers conversations.history (top-level messages of a channel, newest first)
// and conversations.replies (a thread: its parent, then the replies), since oldest, with
// metadata only when include_all_metadata is set, in pages of limit.
func (s *Server) history(w http.ResponseWriter, r *http.Request, body []byte) {
	v, ok := s.form(w, r, body)
	if !ok {
		return
	}
	ch, replies := v.Get("channel"), strings.HasSuffix(r.URL.Path, ".replies")
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.channelName(ch) == "" {
		apiError(w, "channel_not_found") // an id is required: a name is not found
		return
	}
	oldest, _ := strconv.ParseFloat(v.Get("oldest"), 64)
	limit, _ := strconv.Atoi(v.Get("limit"))
	if limit <= 0 {
		limit = 100
	}
	from, _ := strconv.Atoi(v.Get("cursor"))
	type message struct {
		Type     string          `json:"type"`
		TS       string          `json:"ts"`
		ThreadTS string          `json:"thread_ts,omitempty"`
		Metadata json.RawMessage `json:"metadata,omitempty"`
	}
	var all []message
	for _, m := range s.received {
		ts, _ := strconv.ParseFloat(m.TS, 64)
		inThread := m.TS == v.Get("ts") || m.ThreadTS == v.Get("ts")
		if m.Channel != ch || ts < oldest || (replies && !inThread) || (!replies && m.ThreadTS != "") {
			continue
		}
		msg := message{Type: "message", TS: m.TS, ThreadTS: m.ThreadTS}
		if v.Get("include_all_metadata") == "true" {
			msg.Metadata = m.Metadata
		}
		all = append(all, msg)
	}
	if !replies {
		slices.Reverse(all)
	}
	page := all[min(from, len(all)):min(from+limit, len(all))]
	out := map[string]any{"ok": true, "messages": page, "has_more": from+limit < len(all)}
	if from+limit < len(all) {
		out["response_metadata"] = map[string]string{"next_cursor": strconv.Itoa(from + limit)}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}

// list answers conversations.list: every channel that is not archived, in pages.
func (s *Server) list(w http.ResponseWriter, r *http.Request, body []byte) {
	v, ok := s.form(w, r, body)
	if !ok {
		return
	}
	s.mu.Lock()
	var chans []map[string]string
	for name, id := range s.channels {
		if !s.archived[name] {
			chans = append(chans, map[string]string{"id": id, "name": strings.TrimPrefix(name, "#")})
		}
	}
	s.mu.Unlock()
	slices.SortFunc(chans, func(a, b map[string]string) int { return strings.Compare(a["id"], b["id"]) })
	limit, _ := strconv.Atoi(v.Get("limit"))
	if limit <= 0 {
		limit = 100
	}
	from, _ := strconv.Atoi(v.Get("cursor"))
	out := map[string]any{"ok": true, "channels": chans[min(from, len(chans)):min(from+limit, len(chans))]}
	next := ""
	if from+limit < len(chans) {
		next = strconv.Itoa(from + limit)
	}
	out["response_metadata"] = map[string]string{"next_cursor": next}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}

// lostAnswer lets the handler accept a message, then drops its answer: it holds the
// request until ctx ends, and the client sees no answer.
type lostAnswer struct {
	http.ResponseWriter
	ctx context.Context
}

func (l *lostAnswer) WriteHeader(int) { <-l.ctx.Done() }

func (l *lostAnswer) Write(b []byte) (int, error) {
	<-l.ctx.Done()
	return len(b), nil
}

func (s *Server) allow(key string) bool {
	if s.Every <= 0 {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	burst := float64(max(s.Burst, 1))
	b := s.buckets[key]
	if b == nil {
		b = &bucket{tokens: burst, last: now}
		s.buckets[key] = b
	}
	b.tokens = min(burst, b.tokens+float64(now.Sub(b.last))/float64(s.Every))
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// CheckMessage returns the reason Slack would refuse a message with ("no_text",
// "invalid_blocks", "invalid_payload"), or "" when it keeps every Block Kit limit.
func CheckMessage(body []byte) string {
	var m struct {
		Text        string            `json:"text"`
		Blocks      []json.RawMessage `json:"blocks"`
		Attachments []struct {
			Blocks   []json.RawMessage `json:"blocks"`
			Text     string            `json:"text"`
			Fallback string            `json:"fallback"`
		} `json:"attachments"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		return "invalid_payload"
	}
	if len(m.Attachments) > 100 {
		return "too_many_attachments"
	}
	blocks := m.Blocks
	for _, a := range m.Attachments {
		blocks = append(blocks, a.Blocks...)
	}
	if m.Text == "" && len(blocks) == 0 {
		return "no_text"
	}
	if len(m.Blocks) > 50 {
		return "invalid_blocks"
	}
	for _, a := range m.Attachments {
		if len(a.Blocks) > 50 {
			return "invalid_blocks"
		}
	}
	for _, b := range blocks {
		if err := CheckBlock(b); err != nil {
			return "invalid_blocks"
		}
	}
	return ""
}

type textObj struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

func (t *textObj) check(max int, what string) error {
	if t == nil {
		return nil
	}
	if t.Type != "plain_text" && t.Type != "mrkdwn" {
		return fmt.Errorf("%s: text type %q", what, t.Type)
	}
	n := utf16Len(t.Text)
	if n < 1 || n > max {
		return fmt.Errorf("%s: %d characters (1..%d)", what, n, max)
	}
	return nil
}

// CheckBlock checks one block against Slack's limits and known shapes.
func CheckBlock(raw json.RawMessage) error {
	var b struct {
		Type     string            `json:"type"`
		Text     *textObj          `json:"text"`
		Fields   []textObj         `json:"fields"`
		Elements []json.RawMessage `json:"elements"`
		BlockID  string            `json:"block_id"`
	}
	if err := json.Unmarshal(raw, &b); err != nil {
		return err
	}
	if len(b.BlockID) > 255 {
		return errors.New("block_id too long")
	}
	switch b.Type {
	case "header":
		if b.Text == nil || b.Text.Type != "plain_text" {
			return errors.New("header needs plain_text")
		}
		return b.Text.check(150, "header")
	case "section":
		if b.Text == nil && len(b.Fields) == 0 {
			return errors.New("section needs text or fields")
		}
		if err := b.Text.check(3000, "section text"); err != nil {
			return err
		}
		if len(b.Fields) > 10 {
			return errors.New("more than 10 fields")
		}
		for i := range b.Fields {
			if err := b.Fields[i].check(2000, "field"); err != nil {
				return err
			}
		}
	case "context":
		if len(b.Elements) == 0 || len(b.Elements) > 10 {
			return errors.New("context needs 1..10 elements")
		}
		for _, e := range b.Elements {
			var t textObj
			if err := json.Unmarshal(e, &t); err != nil {
				return err
			}
			if t.Type == "plain_text" || t.Type == "mrkdwn" {
				if err := t.check(2000, "context element"); err != nil {
					return err
				}
			}
		}
	case "actions":
		if len(b.Elements) == 0 || len(b.Elements) > 25 {
			return errors.New("actions needs 1..25 elements")
		}
		for _, e := range b.Elements {
			var el struct {
				Type     string   `json:"type"`
				Text     *textObj `json:"text"`
				URL      string   `json:"url"`
				Value    string   `json:"value"`
				Style    string   `json:"style"`
				ActionID string   `json:"action_id"`
				Confirm  *struct {
					Title   *textObj `json:"title"`
					Text    *textObj `json:"text"`
					Confirm *textObj `json:"confirm"`
					Deny    *textObj `json:"deny"`
				} `json:"confirm"`
			}
			if err := json.Unmarshal(e, &el); err != nil {
				return err
			}
			if el.Type == "button" {
				if el.Text == nil || el.Text.Type != "plain_text" {
					return errors.New("button needs plain_text")
				}
				if err := el.Text.check(75, "button"); err != nil {
					return err
				}
				switch {
				case len(el.URL) > 3000:
					return errors.New("button url too long")
				case len(el.ActionID) > 255:
					return errors.New("action_id too long")
				case len(el.Value) > 2000:
					return errors.New("button value too long")
				case el.Style != "" && el.Style != "primary" && el.Style != "danger":
					return fmt.Errorf("button style %q", el.Style)
				}
				if c := el.Confirm; c != nil {
					if c.Title == nil || c.Text == nil || c.Confirm == nil || c.Deny == nil {
						return errors.New("confirm needs title, text, confirm and deny")
					}
					for _, t := range []struct {
						o    *textObj
						n    int
						what string
					}{{c.Title, 100, "confirm title"}, {c.Text, 300, "confirm text"}, {c.Confirm, 30, "confirm button"}, {c.Deny, 30, "deny button"}} {
						if err := t.o.check(t.n, t.what); err != nil {
							return err
						}
					}
				}
			}
		}
	case "input":
		return checkInput(raw)
	case "divider", "image", "rich_text", "file", "video":
	default:
		return fmt.Errorf("unknown block type %q", b.Type)
	}
	return nil
}

// utf16Len is a length as Slack measures its limits: in UTF-16 code units (JavaScript's
// string length), so most emoji count two.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

// checkInput checks an input block (modals): its label and hint, and its element.
func checkInput(raw json.RawMessage) error {
	var b struct {
		Label   *textObj `json:"label"`
		Hint    *textObj `json:"hint"`
		Element *struct {
			Type          string            `json:"type"`
			ActionID      string            `json:"action_id"`
			Placeholder   *textObj          `json:"placeholder"`
			MaxLength     *int              `json:"max_length"`
			MinLength     *int              `json:"min_length"`
			Options       []json.RawMessage `json:"options"`
			InitialOption json.RawMessage   `json:"initial_option"`
		} `json:"element"`
	}
	if err := json.Unmarshal(raw, &b); err != nil {
		return err
	}
	if b.Label == nil || b.Label.Type != "plain_text" {
		return errors.New("input needs a plain_text label")
	}
	if err := b.Label.check(2000, "input label"); err != nil {
		return err
	}
	if err := b.Hint.check(2000, "input hint"); err != nil {
		return err
	}
	el := b.Element
	if el == nil || el.ActionID == "" || len(el.ActionID) > 255 {
		return errors.New("input needs an element with an action_id of at most 255 characters")
	}
	if err := el.Placeholder.check(150, "placeholder"); err != nil {
		return err
	}
	switch el.Type {
	case "plain_text_input":
		if el.MaxLength != nil && (*el.MaxLength < 1 || *el.MaxLength > 3000) ||
			el.MinLength != nil && (*el.MinLength < 0 || *el.MinLength > 3000) {
			return errors.New("plain_text_input length bounds outside 0..3000")
		}
	case "static_select", "radio_buttons":
		most := 100
		if el.Type == "radio_buttons" {
			most = 10
		}
		if len(el.Options) == 0 || len(el.Options) > most {
			return fmt.Errorf("%s: %d options (1..%d)", el.Type, len(el.Options), most)
		}
		for _, o := range el.Options {
			if err := checkOption(o); err != nil {
				return err
			}
		}
		if len(el.InitialOption) > 0 && !slices.ContainsFunc(el.Options, func(o json.RawMessage) bool {
			return optionValue(o) == optionValue(el.InitialOption)
		}) {
			return errors.New("initial_option is not one of the options")
		}
	default:
		return fmt.Errorf("input element %q not checked here", el.Type)
	}
	return nil
}

// checkOption checks an option object: text at most 75 characters, value at most 150,
// description at most 75.
func checkOption(raw json.RawMessage) error {
	var o struct {
		Text        *textObj `json:"text"`
		Value       string   `json:"value"`
		Description *textObj `json:"description"`
	}
	if err := json.Unmarshal(raw, &o); err != nil {
		return err
	}
	if o.Text == nil {
		return errors.New("option without text")
	}
	if err := o.Text.check(75, "option text"); err != nil {
		return err
	}
	if o.Value == "" || len(o.Value) > 150 {
		return errors.New("option value: 1..150 characters")
	}
	return o.Description.check(75, "option description")
}

func optionValue(raw json.RawMessage) string {
	var o struct {
		Value string `json:"value"`
	}
	json.Unmarshal(raw, &o)
	return o.Value
}
