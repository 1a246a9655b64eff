package webhook_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trailbell/trailbell/internal/finding"
	"github.com/trailbell/trailbell/internal/notify"
	"github.com/trailbell/trailbell/internal/notify/notifytest"
	"github.com/trailbell/trailbell/internal/notify/webhook"
)

func sample(id string) *finding.Finding {
	return &finding.Finding{Rule: "root-console-login", Severity: finding.Critical, Title: "Root signed in", EventID: id,
		EventName: "ConsoleLogin", EventTime: "2026-11-28T01:00:00Z", Account: "123456789012", Region: "us-east-1",
		Principal: "arn:aws:iam::123456789012:root", SourceIPAddress: "203.0.113.7", Record: json.RawMessage(`{"eventName":"ConsoleLogin"}`)}
}

func TestSignedPayload(t *testing.T) {
	var got []byte
	var hdr http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = io.ReadAll(r.Body)
		hdr = r.Header
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	now := time.Unix(1795830000, 0)
	n, err := webhook.New(webhook.Options{URL: srv.URL, HMACKey: "k3y", Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Notify(t.Context(), sample("e1"), sample("e2")); err != nil {
		t.Fatal(err)
	}
	ts := hdr.Get(webhook.TimestampHeader)
	if ts != strconv.FormatInt(now.Unix(), 10) {
		t.Fatalf("timestamp header %q", ts)
	}
	if want := webhook.Sign("k3y", now.Unix(), got); hdr.Get(webhook.DefaultSignatureHeader) != want {
		t.Fatalf("signature %q, want %q", hdr.Get(webhook.DefaultSignatureHeader), want)
	}
	var indented bytes.Buffer
	if err := json.Indent(&indented, got, "", "  "); err != nil {
		t.Fatalf("payload is not JSON: %v\n%s", err, got)
	}
	indented.WriteByte('\n')
	notifytest.Golden(t, "testdata/summary.json", indented.Bytes())
}

func TestStatusClasses(t *testing.T) {
	for _, tc := range []struct {
		status    int
		retry     bool
		wantError bool
	}{{200, false, false}, {204, false, false}, {400, false, true}, {404, false, true}, {408, true, true}, {429, true, true}, {500, true, true}, {503, true, true}} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if tc.status == 429 {
				w.Header().Set("Retry-After", "4")
			}
			w.WriteHeader(tc.status)
		}))
		n, _ := webhook.New(webhook.Options{URL: srv.URL + "/secret-path"})
		retry, err := n.Notify(t.Context(), sample("e"))
		srv.Close()
		if retry != tc.retry || (err != nil) != tc.wantError {
			t.Errorf("HTTP %d: retry=%v err=%v", tc.status, retry, err)
		}
		if err != nil && strings.Contains(err.Error(), "secret-path") {
			t.Errorf("HTTP %d: error shows the URL: %v", tc.status, err)
		}
		if tc.status == 429 {
			if ra, _ := notify.RetryAfter(err); ra != 4*time.Second {
				t.Errorf("Retry-After %v", ra)
			}
		}
	}
}

// TestNewRefusesBadURL: a URL Post could never send to fails when the notifier is built,
// not after a day of retries, and the error does not quote it (it may hold a secret).
func TestNewRefusesBadURL(t *testing.T) {
	for _, u := range []string{"", "ftp://host/SECRET", "https://host/%zzSECRET", "https:///SECRET", "https://ho st/SECRET"} {
		_, err := webhook.New(webhook.Options{URL: u})
		if err == nil {
			t.Errorf("New accepted %q", u)
			continue
		}
		if strings.Contains(err.Error(), "SECRET") {
			t.Errorf("error quotes the URL: %v", err)
		}
	}
}

// TestMergedAlert: an event several rules matched arrives as one finding, the most severe,
// with the other rules under "also".
func TestMergedAlert(t *testing.T) {
	var got []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = io.ReadAll(r.Body)
	}))
	defer srv.Close()
	n, err := webhook.New(webhook.Options{URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	merged := finding.Merge(notifytest.SampleEvent(t, "access-key-created-for-other-user", 0))
	if _, err := n.Notify(t.Context(), merged); err != nil {
		t.Fatal(err)
	}
	var p struct {
		Count    int
		Rule     string
		Findings []struct {
			Rule       string
			AttackTool string
			Runbook    string
			Also       []struct{ Rule, Severity, Title string }
		}
	}
	if err := json.Unmarshal(got, &p); err != nil {
		t.Fatal(err)
	}
	f := p.Findings[0]
	if p.Count != 1 || p.Rule != "access-key-created-for-other-user" || f.AttackTool != "Stratus Red Team" || f.Runbook == "" {
		t.Fatalf("payload: %s", got)
	}
	var also []string
	for _, a := range f.Also {
		also = append(also, a.Rule+":"+a.Severity)
	}
	if strings.Join(also, " ") != "offensive-tool-user-agent:medium iam-credentials-created:info iam-write:info" || f.Also[0].Title == "" {
		t.Fatalf("also = %v", also)
	}
}
