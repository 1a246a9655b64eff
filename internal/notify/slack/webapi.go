package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/slack-go/slack"

	"github.com/trailbell/trailbell/internal/notify"
	"github.com/trailbell/trailbell/internal/triage"
)

// The Web API methods triage uses, besides chat.postMessage for alerts. Each returns an error
// wrapping triage.ErrPermanent when Slack's answer says trying again cannot help.

// permanent marks err as not worth retrying unless retry says otherwise.
func permanent(retry bool, err error) error {
	if err == nil || retry {
		return err
	}
	return fmt.Errorf("%w: %w", triage.ErrPermanent, err)
}

// callJSON posts v as JSON to a Web API method and decodes the answer into out.
func (n *API) callJSON(ctx context.Context, method string, v, out any) error {
	body, err := encodeJSON(v)
	if err != nil {
		return fmt.Errorf("slack %s: %w", method, err)
	}
	if out == nil {
		out = &struct{}{}
	}
	return permanent(n.call(ctx, method, "application/json; charset=utf-8", body, out))
}

// callForm posts form arguments to a Web API method and decodes the answer into out.
func (n *API) callForm(ctx context.Context, method string, args url.Values, out any) error {
	return permanent(n.call(ctx, method, "application/x-www-form-urlencoded", []byte(args.Encode()), out))
}

// update replaces a message (chat.update).
func (n *API) update(ctx context.Context, channel, ts string, msg Message) error {
	msg.Channel = channel
	return n.callJSON(ctx, "chat.update", struct {
		Message
		TS string `json:"ts"`
	}{msg, ts}, nil)
}

// postThread posts mrkdwn text into a thread (or the channel when thread is empty); with
// broadcast the reply also shows in the channel.
func (n *API) postThread(ctx context.Context, channel, thread, text string, broadcast bool) error {
	msg := struct {
		Channel     string        `json:"channel"`
		ThreadTS    string        `json:"thread_ts,omitempty"`
		Broadcast   bool          `json:"reply_broadcast,omitempty"`
		Text        string        `json:"text"`
		Blocks      []slack.Block `json:"blocks"`
		UnfurlLinks bool          `json:"unfurl_links"`
		UnfurlMedia bool          `json:"unfurl_media"`
	}{Channel: channel, ThreadTS: thread, Broadcast: broadcast && thread != "", Text: fallbackOf(text),
		Blocks: []slack.Block{section(text)}}
	return n.callJSON(ctx, "chat.postMessage", msg, nil)
}

// post posts a message and returns its channel and timestamp.
func (n *API) post(ctx context.Context, msg Message) (channel, ts string, err error) {
	var r struct {
		TS      string `json:"ts"`
		Channel string `json:"channel"`
	}
	if err := n.callJSON(ctx, "chat.postMessage", msg, &r); err != nil {
		return "", "", err
	}
	return r.Channel, r.TS, nil
}

// openDM opens (or finds) the direct message with a user (conversations.open, scope
// im:write).
func (n *API) openDM(ctx context.Context, user string) (string, error) {
	var r struct {
		Channel struct {
			ID string `json:"id"`
		} `json:"channel"`
	}
	if err := n.callForm(ctx, "conversations.open", url.Values{"users": {user}}, &r); err != nil {
		return "", err
	}
	if r.Channel.ID == "" {
		return "", fmt.Errorf("%w: slack conversations.open: no channel in the answer", triage.ErrPermanent)
	}
	return r.Channel.ID, nil
}

// lookupByEmail finds a user by e-mail address (users.lookupByEmail, scope
// users:read.email).
func (n *API) lookupByEmail(ctx context.Context, email string) (string, error) {
	var r struct {
		User struct {
			ID      string `json:"id"`
			Deleted bool   `json:"deleted"`
		} `json:"user"`
	}
	if err := n.callForm(ctx, "users.lookupByEmail", url.Values{"email": {email}}, &r); err != nil {
		return "", fmt.Errorf("no Slack user with e-mail %s: %w", email, err)
	}
	switch {
	case r.User.Deleted:
		return "", fmt.Errorf("%w: the Slack user with e-mail %s is deactivated", triage.ErrPermanent, email)
	case !triage.IsUserID(r.User.ID):
		return "", fmt.Errorf("%w: slack users.lookupByEmail: no user id in the answer", triage.ErrPermanent)
	}
	return r.User.ID, nil
}

// openView opens a modal for the user behind trigger (views.open); the trigger is valid for
// three seconds after the click.
func (n *API) openView(ctx context.Context, trigger string, view slack.ModalViewRequest) error {
	return n.callJSON(ctx, "views.open", struct {
		TriggerID string                 `json:"trigger_id"`
		View      slack.ModalViewRequest `json:"view"`
	}{trigger, view}, nil)
}

// respond posts an ephemeral message for the user behind a response_url (valid 30 minutes,
// five times). The URL is a capability: errors never show it.
func (n *API) respond(ctx context.Context, responseURL, text string) error {
	if err := notify.CheckURL(responseURL); err != nil {
		return fmt.Errorf("%w: response_url: %w", triage.ErrPermanent, err)
	}
	body, err := encodeJSON(map[string]any{"response_type": "ephemeral", "replace_original": false, "text": text})
	if err != nil {
		return err
	}
	resp, err := notify.Post(ctx, n.o.Client, responseURL, nil, body)
	if err != nil {
		retry, err := notify.NetworkError(err)
		return permanent(retry, fmt.Errorf("slack response_url: %w", err))
	}
	if resp.Status != http.StatusOK {
		retry, err := notify.StatusError(resp, "", n.o.Now())
		return permanent(retry, fmt.Errorf("slack response_url: %w", err))
	}
	var r struct {
		OK    *bool  `json:"ok"`
		Error string `json:"error"`
	}
	// Slack answers "ok" as text or {"ok":true}.
	if json.Unmarshal(resp.Body, &r) == nil && r.OK != nil && !*r.OK {
		return fmt.Errorf("%w: slack response_url: %s", triage.ErrPermanent, r.Error)
	}
	return nil
}

// encodeJSON is JSON without HTML escaping, like Encode.
func encodeJSON(v any) ([]byte, error) {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return []byte(strings.TrimSuffix(b.String(), "\n")), nil
}

// errNoReceiver is a job for a receiver this process does not have (the configuration
// changed since the alert was posted).
var errNoReceiver = errors.New("no such Slack Web API receiver")
