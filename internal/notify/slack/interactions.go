package slack

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/trailbell/trailbell/internal/triage"
)

// InteractionsPath is where Slack posts interactions (the app's interactivity request URL).
const InteractionsPath = "/slack/interactions"

// MaxInteraction bounds the body of an interaction: a block_actions payload carries the
// whole message clicked, which Slack's limits keep far below this.
const MaxInteraction = 1 << 20

// maxSkew is how far a request's timestamp may be from the clock (Slack's advice: 5 minutes).
const maxSkew = 5 * time.Minute

// Signature failures: the request gets 401 and nothing else happens.
var (
	ErrUnsigned     = errors.New("request is not signed (X-Slack-Signature, X-Slack-Request-Timestamp)")
	ErrBadSignature = errors.New("request signature does not match")
	ErrStale        = errors.New("request timestamp is more than 5 minutes from now")
)

// Verify checks a request's Slack signature: v0=HMAC-SHA256(secret, "v0:" + timestamp + ":"
// + body) in X-Slack-Signature, the timestamp within 5 minutes of now, compared in constant
// time. It returns the signature and its time, for the replay check.
func Verify(secret []byte, h http.Header, body []byte, now time.Time) (string, time.Time, error) {
	tsText, sig := h.Get("X-Slack-Request-Timestamp"), h.Get("X-Slack-Signature")
	if tsText == "" || sig == "" {
		return "", time.Time{}, ErrUnsigned
	}
	secs, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return "", time.Time{}, ErrUnsigned
	}
	ts := time.Unix(secs, 0)
	if d := now.Sub(ts); d > maxSkew || d < -maxSkew {
		return "", time.Time{}, ErrStale
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("v0:" + tsText + ":"))
	mac.Write(body)
	want := "v0=" + hex.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(want), []byte(sig)) {
		return "", time.Time{}, ErrBadSignature
	}
	return sig, ts, nil
}

// Interactions serves Slack's interaction requests (POST InteractionsPath): every request is
// verified (size, signature, timestamp, replay) before anything in it is read, then handed
// to triage, which records what it does before the answer; the slow part (updating
// messages, asking the actor, escalating) is done after, by triage's jobs. A modal a click
// asks for is opened at once: Slack's trigger is valid for three seconds.
type Interactions struct {
	Secret  []byte
	Service *triage.Service
	Slack   *Triage
	// After is called when a request changed something: the work waits in triage's jobs
	// (the daemon wakes its worker, the Lambda invokes itself).
	After   func(ctx context.Context)
	Logger  *slog.Logger
	Metrics *InteractionMetrics
	Now     func() time.Time
}

// InteractionMetrics count interaction requests by outcome.
type InteractionMetrics struct {
	requests *prometheus.CounterVec
}

// NewInteractionMetrics registers the metrics with reg (nil: none).
func NewInteractionMetrics(reg prometheus.Registerer) *InteractionMetrics {
	m := &InteractionMetrics{requests: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "trailbell_slack_interactions_total",
		Help: "Slack interaction requests, by outcome (ok, refused ones: unsigned, bad_signature, stale, replayed, too_large, malformed, unknown_action, forged; error).",
	}, []string{"outcome"})}
	if reg != nil {
		reg.MustRegister(m.requests)
	}
	return m
}

// payload is the part of an interaction payload trailbell reads.
type payload struct {
	Type string `json:"type"`
	User struct {
		ID       string `json:"id"`
		Username string `json:"username"`
		Name     string `json:"name"`
	} `json:"user"`
	TriggerID   string `json:"trigger_id"`
	ResponseURL string `json:"response_url"`
	Container   struct {
		ChannelID string `json:"channel_id"`
		MessageTS string `json:"message_ts"`
	} `json:"container"`
	Channel struct {
		ID string `json:"id"`
	} `json:"channel"`
	Actions []struct {
		ActionID string `json:"action_id"`
		Value    string `json:"value"`
		URL      string `json:"url"`
	} `json:"actions"`
	View struct {
		CallbackID      string `json:"callback_id"`
		PrivateMetadata string `json:"private_metadata"`
		State           struct {
			Values map[string]map[string]struct {
				Value          string `json:"value"`
				SelectedOption *struct {
					Value string `json:"value"`
				} `json:"selected_option"`
			} `json:"values"`
		} `json:"state"`
	} `json:"view"`
}

func (p *payload) user() triage.User {
	name := p.User.Username
	if name == "" {
		name = p.User.Name
	}
	return triage.User{ID: p.User.ID, Name: name}
}

// value is what was typed or chosen in a modal's block.
func (p *payload) value(block string) string {
	v, ok := p.View.State.Values[block][block]
	if !ok {
		return ""
	}
	if v.SelectedOption != nil {
		return v.SelectedOption.Value
	}
	return v.Value
}

// linkButtons are the alert's buttons that open a URL: Slack tells the app of their clicks
// too, and wants its 200.
var linkButtons = map[string]bool{"cloudtrail": true, "iam": true, "caller": true}

type refusal struct {
	status  int
	outcome string
	err     error
}

func (h *Interactions) count(outcome string) {
	if h.Metrics != nil {
		h.Metrics.requests.WithLabelValues(outcome).Inc()
	}
}

var discard = slog.New(slog.DiscardHandler)

func (h *Interactions) log() *slog.Logger { return cmp.Or(h.Logger, discard) }

func (h *Interactions) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Slack gives up after three seconds; what is left is the jobs'.
	ctx, cancel := context.WithTimeout(r.Context(), 2500*time.Millisecond)
	defer cancel()
	if r.Method != http.MethodPost {
		h.refuse(w, refusal{http.StatusMethodNotAllowed, "malformed", fmt.Errorf("method %s", r.Method)})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxInteraction))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			h.refuse(w, refusal{http.StatusRequestEntityTooLarge, "too_large", err})
			return
		}
		h.refuse(w, refusal{http.StatusBadRequest, "malformed", err})
		return
	}
	out, rf := h.handle(ctx, r.Header, body)
	if rf != nil {
		h.refuse(w, *rf)
		return
	}
	h.count("ok")
	if out == nil {
		w.WriteHeader(http.StatusOK)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(out)
}

func (h *Interactions) refuse(w http.ResponseWriter, rf refusal) {
	h.count(rf.outcome)
	level := slog.LevelWarn
	if rf.status >= 500 {
		level = slog.LevelError
	}
	h.log().Log(context.Background(), level, "slack interaction refused", "status", rf.status, "outcome", rf.outcome, "err", rf.err)
	http.Error(w, http.StatusText(rf.status), rf.status)
}

// handle verifies and handles one request; it returns the answer's JSON body (nil: an
// empty 200) or why it is refused.
func (h *Interactions) handle(ctx context.Context, header http.Header, body []byte) ([]byte, *refusal) {
	if len(h.Secret) == 0 {
		// Anyone can compute an HMAC with an empty key: nothing is taken without a secret.
		return nil, &refusal{http.StatusUnauthorized, "bad_signature", errors.New("no signing secret configured")}
	}
	now := time.Now()
	if h.Now != nil {
		now = h.Now()
	}
	sig, ts, err := Verify(h.Secret, header, body, now)
	if err != nil {
		outcome := map[error]string{ErrUnsigned: "unsigned", ErrBadSignature: "bad_signature", ErrStale: "stale"}[err]
		return nil, &refusal{http.StatusUnauthorized, outcome, err}
	}
	fresh, err := h.Service.Fresh(ctx, sig, ts)
	if err != nil {
		return nil, &refusal{http.StatusInternalServerError, "error", err}
	}
	if !fresh {
		return nil, &refusal{http.StatusUnauthorized, "replayed", errors.New("a request with this signature was handled before")}
	}
	// Signed by Slack and new: now it may be read.
	form, err := url.ParseQuery(string(body))
	if err != nil || form.Get("payload") == "" {
		return nil, &refusal{http.StatusBadRequest, "malformed", errors.New("no payload form field")}
	}
	var p payload
	if err := json.Unmarshal([]byte(form.Get("payload")), &p); err != nil {
		return nil, &refusal{http.StatusBadRequest, "malformed", fmt.Errorf("payload: %w", err)}
	}
	var reply triage.Reply
	switch p.Type {
	case "block_actions":
		if len(p.Actions) != 1 {
			return nil, &refusal{http.StatusBadRequest, "malformed", fmt.Errorf("%d actions in one click", len(p.Actions))}
		}
		act := p.Actions[0]
		if linkButtons[act.ActionID] && act.URL != "" {
			return nil, nil // a link opened in the browser: nothing to do
		}
		channel := p.Container.ChannelID
		if channel == "" {
			channel = p.Channel.ID
		}
		reply, err = h.Service.Click(ctx, triage.Click{Action: act.ActionID, Value: act.Value, User: p.user(),
			Channel: channel, MessageTS: p.Container.MessageTS, ResponseURL: p.ResponseURL})
		if err == nil && reply.Modal != "" {
			if oerr := h.Slack.openModal(ctx, p.TriggerID, reply, p.User.ID, h.Service); oerr != nil {
				// Nothing changed: the user clicks again.
				h.log().Warn("could not open the modal a click asked for", "modal", reply.Modal, "alert", reply.Alert.ID, "err", oerr)
			}
		}
	case "view_submission":
		var meta metadata
		if err := json.Unmarshal([]byte(p.View.PrivateMetadata), &meta); err != nil {
			return nil, &refusal{http.StatusBadRequest, "malformed", fmt.Errorf("private_metadata: %w", err)}
		}
		sub := triage.Submission{Modal: p.View.CallbackID, User: p.user(), Alert: meta.Alert, Opener: meta.User,
			Reason: p.value("reason"), Scope: p.value("scope")}
		if d := p.value("duration"); d != "" {
			secs, perr := strconv.ParseInt(d, 10, 64)
			if perr != nil || secs <= 0 {
				return nil, &refusal{http.StatusBadRequest, "malformed", fmt.Errorf("duration %q", d)}
			}
			sub.Duration = time.Duration(secs) * time.Second
		}
		reply, err = h.Service.Submit(ctx, sub)
	case "view_closed":
		return nil, nil // a modal closed unsent: nothing to do
	default:
		return nil, &refusal{http.StatusBadRequest, "unknown_action", fmt.Errorf("payload type %q", p.Type)}
	}
	switch {
	case errors.Is(err, triage.ErrForged):
		return nil, &refusal{http.StatusForbidden, "forged", err}
	case errors.Is(err, triage.ErrUnknownAction):
		return nil, &refusal{http.StatusBadRequest, "unknown_action", err}
	case err != nil:
		return nil, &refusal{http.StatusInternalServerError, "error", err}
	}
	if reply.Changed && h.After != nil {
		h.After(ctx)
	}
	if len(reply.Errors) > 0 {
		out, _ := json.Marshal(map[string]any{"response_action": "errors", "errors": reply.Errors})
		return out, nil
	}
	return nil, nil
}
