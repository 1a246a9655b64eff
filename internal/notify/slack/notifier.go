package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/trailbell/trailbell/internal/finding"
	"github.com/trailbell/trailbell/internal/notify"
	"github.com/trailbell/trailbell/internal/triage"
)

// DefaultAPIURL is the Slack Web API base.
const DefaultAPIURL = "https://slack.com/api/"

// Options configure a Notifier: set WebhookURL, or Token and Channel for the Web API.
type Options struct {
	WebhookURL string
	Token      string
	Channel    string
	APIURL     string // default DefaultAPIURL
	Style      Style
	Client     *http.Client // default: 10s timeout
	Now        func() time.Time
	// ThreadTTL is how long repeats of a rule and principal go into the first message's
	// thread (Web API only); default 24h.
	ThreadTTL time.Duration
	// Triage, with the Web API, makes alerts interactive: each carries its state and buttons
	// to acknowledge it, ask the actor and mute it, remembered under Receiver's name.
	Triage   *triage.Service
	Receiver string
	Logger   *slog.Logger // default: discard
}

// Notifier posts findings to an incoming webhook.
type Notifier struct{ o Options }

var _ notify.Notifier = (*Notifier)(nil)

// New checks the options and returns the notifier they ask for: a *Notifier for a
// webhook, an *API for the Web API (which threads repeats, and can tell after a lost
// answer whether a message arrived).
func New(o Options) (notify.Notifier, error) {
	switch {
	case o.WebhookURL != "" && o.Token != "":
		return nil, errors.New("slack: set a webhook URL or a token, not both")
	case o.WebhookURL == "" && o.Token == "":
		return nil, errors.New("slack: a webhook URL or a token is required")
	case o.Token != "" && o.Channel == "":
		return nil, errors.New("slack: the Web API needs a channel")
	}
	if o.WebhookURL != "" {
		if err := notify.CheckURL(o.WebhookURL); err != nil {
			return nil, fmt.Errorf("slack: webhook URL: %w", err)
		}
	}
	if o.APIURL == "" {
		o.APIURL = DefaultAPIURL
	}
	if err := notify.CheckURL(o.APIURL); err != nil {
		return nil, fmt.Errorf("slack: API URL: %w", err)
	}
	if !strings.HasSuffix(o.APIURL, "/") {
		o.APIURL += "/"
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ThreadTTL <= 0 {
		o.ThreadTTL = 24 * time.Hour
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Triage != nil && (o.Token == "" || o.Receiver == "") {
		return nil, errors.New("slack: interactive alerts need the Web API (a token) and the receiver's name")
	}
	if o.Token != "" {
		return &API{o: o, threads: map[string]thread{}}, nil
	}
	return &Notifier{o: o}, nil
}

// Notify posts one alert, one summary of repeats, or one digest.
func (n *Notifier) Notify(ctx context.Context, fs ...*finding.Finding) (bool, error) {
	if len(fs) == 0 {
		return false, nil
	}
	return n.postWebhook(ctx, Build(n.o.Style, fs...))
}

// webhookReasons are the plain-text answers of incoming webhooks; the permanent ones
// (a revoked hook, an archived channel, a message Slack refuses) must not be retried.
var webhookReasons = map[string]bool{
	"invalid_payload": true, "invalid_blocks": true, "too_many_attachments": true, "no_text": true,
	"action_prohibited": true, "invalid_token": true, "channel_not_found": true, "no_service": true,
	"channel_is_archived": true, "no_active_hooks": true, "posting_to_general_channel_denied": true,
	"user_not_found": true, "rollup_error": true, "team_disabled": true, "invalid_blocks_format": true,
}

func (n *Notifier) postWebhook(ctx context.Context, msg Message) (bool, error) {
	body, err := Encode(msg)
	if err != nil {
		return false, err
	}
	resp, err := notify.Post(ctx, n.o.Client, n.o.WebhookURL, nil, body)
	if err != nil {
		retry, err := notify.NetworkError(err)
		return retry, fmt.Errorf("slack webhook: %w", err)
	}
	text := strings.TrimSpace(string(resp.Body))
	if resp.Status == http.StatusOK && text == "ok" {
		return false, nil
	}
	retry, err := notify.StatusError(resp, text, n.o.Now())
	var ne *notify.Error
	if errors.As(err, &ne) && webhookReasons[text] {
		ne.Reason = text
	}
	if resp.Status == http.StatusOK {
		// 200 with a body other than "ok" is not a success, and not a known transient.
		retry = false
		ne.Reason = "unexpected_answer"
	}
	return retry, fmt.Errorf("slack webhook: %w", err)
}

// Encode is the JSON Slack receives. Without HTML escaping: the mrkdwn entities we wrote
// (&amp; &lt; &gt;) stay readable, and the body is smaller.
func Encode(msg Message) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(msg); err != nil {
		return nil, fmt.Errorf("slack: encode message: %w", err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
