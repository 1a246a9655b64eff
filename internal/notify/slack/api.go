package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/trailbell/trailbell/internal/finding"
	"github.com/trailbell/trailbell/internal/notify"
	"github.com/trailbell/trailbell/internal/triage"
)

// API posts findings through the Web API (chat.postMessage with a bot token). Repeats of a
// rule and principal go into the thread of the group's first message. Every message
// carries its delivery id in Slack's message metadata, so that after a lost answer or a
// crash Delivered finds it in the channel's history instead of posting it twice; that
// needs the channels:history (groups:history for a private channel) scope, and
// channels:read (groups:read) when the channel is given by name.
type API struct {
	o Options

	mu        sync.Mutex
	threads   map[string]thread // group → thread of the first message
	channelID string            // learnt from an answer, or looked up by name
}

type thread struct {
	ts   string
	when time.Time
}

var _ notify.Confirmer = (*API)(nil)

// metadataType is the event_type of trailbell's message metadata.
const metadataType = "trailbell_alert"

// Metadata is Slack's message metadata: an event type and a payload of our own.
type Metadata struct {
	EventType    string          `json:"event_type"`
	EventPayload MetadataPayload `json:"event_payload"`
}

// MetadataPayload names the delivery (notify.DeliveryID) and how many findings it holds.
type MetadataPayload struct {
	Delivery string `json:"delivery"`
	Findings int    `json:"findings"`
}

// Notify posts one alert, or one summary of repeats into the thread of the group's first
// message when there is one, or one digest.
func (n *API) Notify(ctx context.Context, fs ...*finding.Finding) (bool, error) {
	if len(fs) == 0 {
		return false, nil
	}
	delivery := notify.DeliveryID(fs...)
	var msg Message
	var alert *triage.Alert
	if n.o.Triage != nil {
		// Remembered before posting, so that its buttons name something when clicked.
		copies := make([]finding.Finding, len(fs))
		for i, f := range fs {
			copies[i] = *f
		}
		a, err := n.o.Triage.Prepare(ctx, n.o.Receiver, delivery, copies)
		if err != nil {
			return true, fmt.Errorf("slack: %w", &notify.Error{Reason: "triage_state", Err: err})
		}
		msg, alert = n.alertMessage(a), a
	} else {
		msg = Build(n.o.Style, fs...)
	}
	msg.Metadata = &Metadata{EventType: metadataType, EventPayload: MetadataPayload{Delivery: delivery, Findings: len(fs)}}
	key := n.threadKey(fs)
	n.mu.Lock()
	if th, ok := n.threads[key]; ok && key != "" && n.o.Now().Sub(th.when) < n.o.ThreadTTL {
		msg.ThreadTS = th.ts
	}
	n.mu.Unlock()
	msg.Channel = n.o.Channel
	body, err := Encode(msg)
	if err != nil {
		return false, err
	}
	var r struct {
		TS      string `json:"ts"`
		Channel string `json:"channel"`
	}
	if retry, err := n.call(ctx, "chat.postMessage", "application/json; charset=utf-8", body, &r); err != nil {
		return retry, err
	}
	if alert != nil {
		thread := msg.ThreadTS
		if thread == "" {
			thread = r.TS
		}
		if err := n.o.Triage.Posted(ctx, alert.ID, r.Channel, r.TS, thread); err != nil {
			// Posted all the same: a click on it fills in where it is.
			n.o.Logger.Error("interactive alert posted, but where it went is not recorded", "alert", alert.ID, "err", err)
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if r.Channel != "" {
		n.channelID = r.Channel
	}
	if msg.ThreadTS == "" && r.TS != "" && key != "" {
		now := n.o.Now()
		for k, t := range n.threads {
			if now.Sub(t.when) >= n.o.ThreadTTL {
				delete(n.threads, k)
			}
		}
		n.threads[key] = thread{ts: r.TS, when: now}
	}
	return false, nil
}

// threadKey is the group fs belong to; a digest belongs to no thread.
func (n *API) threadKey(fs []*finding.Finding) string {
	if !finding.SameGroup(fs) {
		return ""
	}
	return fs[0].GroupKey()
}

// Delivered reports whether the message for fs was posted since since: it looks for its
// delivery id in the metadata of the channel's messages (conversations.history), and in
// the thread it would have gone into (conversations.replies).
func (n *API) Delivered(ctx context.Context, since time.Time, fs ...*finding.Finding) (bool, error) {
	ch, err := n.channel(ctx)
	if err != nil {
		return false, err
	}
	id := notify.DeliveryID(fs...)
	args := url.Values{"channel": {ch}, "oldest": {slackTS(since)}, "include_all_metadata": {"true"}, "limit": {"200"}}
	found, err := n.search(ctx, "conversations.history", args, id)
	if found || err != nil {
		return found, err
	}
	n.mu.Lock()
	th, ok := n.threads[n.threadKey(fs)]
	n.mu.Unlock()
	if !ok {
		return false, nil
	}
	args.Set("ts", th.ts)
	return n.search(ctx, "conversations.replies", args, id)
}

// maxPages bounds a history search: a channel busy enough to need more since the
// message was sent is answered "not found" (the message is sent again) rather than
// spending the rate limit.
const maxPages = 10

func (n *API) search(ctx context.Context, method string, args url.Values, id string) (bool, error) {
	for range maxPages {
		var r struct {
			Messages []struct {
				Metadata *Metadata `json:"metadata"`
			} `json:"messages"`
			HasMore  bool `json:"has_more"`
			Metadata struct {
				NextCursor string `json:"next_cursor"`
			} `json:"response_metadata"`
		}
		if _, err := n.call(ctx, method, "application/x-www-form-urlencoded", []byte(args.Encode()), &r); err != nil {
			return false, err
		}
		for _, m := range r.Messages {
			if m.Metadata != nil && m.Metadata.EventType == metadataType && m.Metadata.EventPayload.Delivery == id {
				return true, nil
			}
		}
		if !r.HasMore || r.Metadata.NextCursor == "" {
			return false, nil
		}
		args.Set("cursor", r.Metadata.NextCursor)
	}
	return false, nil
}

var channelIDRE = regexp.MustCompile(`^[CGD][A-Z0-9]{6,}$`)

// channel is the channel's id, which history needs: the one an answer named, the
// configured channel when it is an id, else looked up by name (conversations.list).
func (n *API) channel(ctx context.Context) (string, error) {
	n.mu.Lock()
	id := n.channelID
	n.mu.Unlock()
	if id != "" {
		return id, nil
	}
	if channelIDRE.MatchString(n.o.Channel) {
		return n.o.Channel, nil
	}
	name := strings.TrimPrefix(n.o.Channel, "#")
	args := url.Values{"types": {"public_channel,private_channel"}, "exclude_archived": {"true"}, "limit": {"1000"}}
	for range maxPages {
		var r struct {
			Channels []struct {
				ID   string `json:"id"`
				Name string `json:"name"`
			} `json:"channels"`
			Metadata struct {
				NextCursor string `json:"next_cursor"`
			} `json:"response_metadata"`
		}
		if _, err := n.call(ctx, "conversations.list", "application/x-www-form-urlencoded", []byte(args.Encode()), &r); err != nil {
			return "", err
		}
		for _, c := range r.Channels {
			if c.Name == name {
				n.mu.Lock()
				n.channelID = c.ID
				n.mu.Unlock()
				return c.ID, nil
			}
		}
		if r.Metadata.NextCursor == "" {
			break
		}
		args.Set("cursor", r.Metadata.NextCursor)
	}
	return "", fmt.Errorf("slack conversations.list: no channel named %q visible to the bot", name)
}

// slackTS is t as a Slack timestamp ("1700000000.000000").
func slackTS(t time.Time) string {
	return strconv.FormatInt(t.Unix(), 10) + "." + fmt.Sprintf("%06d", t.Nanosecond()/1000)
}

// transientAPI are Web API errors worth retrying; every other ok:false is permanent.
var transientAPI = map[string]bool{
	"ratelimited": true, "rate_limited": true, "internal_error": true, "fatal_error": true,
	"service_unavailable": true, "request_timeout": true, "team_added_to_org": true,
}

// call posts body to a Web API method and decodes a successful answer into out. Slack
// answers failures with HTTP 200 and ok:false, or 429 with Retry-After.
func (n *API) call(ctx context.Context, method, contentType string, body []byte, out any) (retry bool, _ error) {
	h := http.Header{"Authorization": {"Bearer " + n.o.Token}, "Content-Type": {contentType}}
	resp, err := notify.Post(ctx, n.o.Client, n.o.APIURL+method, h, body)
	if err != nil {
		retry, err := notify.NetworkError(err)
		return retry, fmt.Errorf("slack %s: %w", method, err)
	}
	if resp.Status != http.StatusOK {
		retry, err := notify.StatusError(resp, "", n.o.Now())
		return retry, fmt.Errorf("slack %s: %w", method, err)
	}
	var r struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(resp.Body, &r); err != nil {
		return true, fmt.Errorf("slack %s: %w", method, &notify.Error{Reason: "bad_answer", Err: fmt.Errorf("unreadable answer: %s", notify.Snippet(resp.Body))})
	}
	if !r.OK {
		reason := r.Error
		if reason == "" {
			reason = "unknown_error"
		}
		e := &notify.Error{Reason: reason, Err: errors.New("ok:false")}
		if reason == "ratelimited" {
			e.RetryAfter = notify.ParseRetryAfter(resp.Header.Get("Retry-After"), n.o.Now())
		}
		return transientAPI[reason], fmt.Errorf("slack %s: %w", method, e)
	}
	if err := json.Unmarshal(resp.Body, out); err != nil {
		return true, fmt.Errorf("slack %s: %w", method, &notify.Error{Reason: "bad_answer", Err: err})
	}
	return false, nil
}
