package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// maxBody bounds how much of a destination's answer we read: Slack's are a few bytes.
const maxBody = 64 << 10

// Response is what a destination answered to Post.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// CheckURL refuses a destination URL that is not http(s) or that Post could not send to,
// so a typo fails when the notifier is built instead of being retried until the deadline.
// The error never quotes the URL: webhook URLs are secrets.
func CheckURL(rawURL string) error {
	u, err := url.Parse(rawURL)
	switch {
	case err != nil:
		return errors.New("the URL does not parse")
	case u.Scheme != "http" && u.Scheme != "https":
		return errors.New("the URL must be http(s)")
	case u.Host == "":
		return errors.New("the URL has no host")
	}
	return nil
}

// Post sends body with our own small HTTP call so the answer's body can be read (Slack's
// reasons are in it; slack-go's PostWebhook discards it). Errors never contain the URL.
func Post(ctx context.Context, client *http.Client, rawURL string, header http.Header, body []byte) (*Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(body))
	if err != nil {
		// The parse error would quote the URL.
		return nil, errors.New("invalid destination URL")
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, Redact(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, Redact(fmt.Errorf("read response: %w", err))
	}
	// Drain the rest so the connection can be reused.
	_, _ = io.Copy(io.Discard, resp.Body)
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// NetworkError classifies a failed HTTP call (no answer at all): always worth retrying,
// since the message may never have reached the destination.
func NetworkError(err error) (retry bool, _ error) {
	reason := "network"
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		reason = "timeout"
	}
	return true, &Error{Reason: reason, Err: err}
}

// StatusError classifies an HTTP answer that is not a success: 429 and 5xx (and 408) are
// transient, other statuses permanent. detail is the destination's own reason, if any.
func StatusError(resp *Response, detail string, now time.Time) (retry bool, _ error) {
	if detail == "" {
		detail = Snippet(resp.Body)
	}
	e := &Error{Reason: "http_" + strconv.Itoa(resp.Status), Err: fmt.Errorf("HTTP %d: %s", resp.Status, detail)}
	switch {
	case resp.Status == http.StatusTooManyRequests:
		e.Reason = "rate_limited"
		e.RetryAfter = ParseRetryAfter(resp.Header.Get("Retry-After"), now)
		return true, e
	case resp.Status == http.StatusRequestTimeout || resp.Status >= 500:
		e.RetryAfter = ParseRetryAfter(resp.Header.Get("Retry-After"), now)
		return true, e
	}
	return false, e
}

// ParseRetryAfter reads a Retry-After header: delay seconds or an HTTP date.
// It returns 0 when the header is absent or unreadable.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if s <= 0 || s > 86400 {
			return 0
		}
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// Snippet returns a short printable piece of a response body for error messages.
func Snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\t' {
			return ' '
		}
		return r
	}, s)
}
