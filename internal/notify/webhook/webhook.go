// Package webhook delivers findings as JSON to any HTTP endpoint, optionally signed with
// HMAC-SHA256 so the receiver can check the body came from us.
package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/trailbell/trailbell/internal/finding"
	"github.com/trailbell/trailbell/internal/notify"
)

// DefaultSignatureHeader carries "sha256=<hex HMAC of timestamp.body>".
const DefaultSignatureHeader = "X-Trailbell-Signature"

// TimestampHeader carries the Unix time that is part of the signed text, so a receiver
// can refuse replays.
const TimestampHeader = "X-Trailbell-Timestamp"

// Options configure a Notifier.
type Options struct {
	URL string
	// HMACKey signs requests when set.
	HMACKey         string
	SignatureHeader string // default DefaultSignatureHeader
	Client          *http.Client
	Now             func() time.Time
}

// Payload is the body posted: one finding, or a summary of repeats of one rule and
// principal (Count, with every finding).
type Payload struct {
	Version  int                `json:"version"`
	Count    int                `json:"count"`
	Rule     string             `json:"rule,omitempty"` // empty in a digest
	Severity finding.Severity   `json:"severity"`
	Title    string             `json:"title"`
	Findings []*finding.Finding `json:"findings"`
}

// Notifier posts findings to a URL.
type Notifier struct{ o Options }

var _ notify.Notifier = (*Notifier)(nil)

// New checks the options.
func New(o Options) (*Notifier, error) {
	if err := notify.CheckURL(o.URL); err != nil {
		return nil, fmt.Errorf("webhook: %w", err)
	}
	if o.SignatureHeader == "" {
		o.SignatureHeader = DefaultSignatureHeader
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Notifier{o: o}, nil
}

// Sign returns the signature header value for body sent at ts.
func Sign(key string, ts int64, body []byte) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(strconv.FormatInt(ts, 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Notify posts the findings as one Payload. 2xx is success; 429, 5xx and network errors
// are retried; other statuses are permanent.
func (n *Notifier) Notify(ctx context.Context, fs ...*finding.Finding) (bool, error) {
	if len(fs) == 0 {
		return false, nil
	}
	p := Payload{Version: 1, Count: len(fs), Rule: fs[0].Rule, Severity: fs[0].Severity, Title: fs[0].Title, Findings: fs}
	if !finding.SameGroup(fs) {
		// A digest of different findings: no single rule; the worst severity.
		p.Rule, p.Title, p.Severity = "", fmt.Sprintf("%d alerts (digest)", len(fs)), finding.Worst(fs)
	}
	body, err := json.Marshal(p)
	if err != nil {
		return false, fmt.Errorf("webhook: encode: %w", err)
	}
	h := http.Header{"User-Agent": {"trailbell"}}
	if n.o.HMACKey != "" {
		ts := n.o.Now().Unix()
		h.Set(TimestampHeader, strconv.FormatInt(ts, 10))
		h.Set(n.o.SignatureHeader, Sign(n.o.HMACKey, ts, body))
	}
	resp, err := notify.Post(ctx, n.o.Client, n.o.URL, h, body)
	if err != nil {
		retry, err := notify.NetworkError(err)
		return retry, fmt.Errorf("webhook: %w", err)
	}
	if resp.Status >= 200 && resp.Status < 300 {
		return false, nil
	}
	retry, err := notify.StatusError(resp, "", n.o.Now())
	return retry, fmt.Errorf("webhook: %w", err)
}
