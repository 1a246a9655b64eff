package slack_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/trailbell/trailbell/internal/finding"
	"github.com/trailbell/trailbell/internal/notify/slack"
	"github.com/trailbell/trailbell/internal/triage"
)

// FuzzInteractions posts signed payloads of any content to the interactions endpoint: a
// payload Slack signed may still be anything, and must be answered (200, 400 or 403), never
// with a panic or a 500.
func FuzzInteractions(f *testing.F) {
	r := newRig(f, nil)
	m := r.post(alertFinding("ev-1"))
	click, err := r.srv.ClickPayload(m.Channel, m.TS, triage.ActAck, onCall)
	if err != nil {
		f.Fatal(err)
	}
	seed, _ := json.Marshal(click)
	f.Add(string(seed))
	f.Add(strings.Replace(string(seed), triage.ActAck, triage.ActMute, 1))
	f.Add(strings.Replace(string(seed), triage.ActAck, triage.ActUnmute, 1))
	f.Add(`{"type":"view_submission","user":{"id":"U0ONCALL1"},"view":{"callback_id":"trailbell_mute","private_metadata":"{\"alert\":\"x\",\"user\":\"U0ONCALL1\"}","state":{"values":{"duration":{"duration":{"selected_option":{"value":"-1"}}}}}}}`)
	f.Add(`{"type":"view_submission","user":{"id":"U0ONCALL1"},"view":{"callback_id":"trailbell_reason","private_metadata":"not json"}}`)
	f.Add(`{"type":"block_actions","actions":[]}`)
	f.Add(`{"type":"view_closed"}`)
	f.Add(`null`)
	var n atomic.Int64
	f.Fuzz(func(t *testing.T, payload string) {
		// A field of its own makes each request new: a repeat would be refused as a replay.
		body := []byte(url.Values{"payload": {payload}, "n": {strconv.FormatInt(n.Add(1), 10)}}.Encode())
		if len(body) > slack.MaxInteraction {
			return
		}
		req := httptest.NewRequest(http.MethodPost, slack.InteractionsPath, strings.NewReader(string(body)))
		req.Header = r.srv.Sign(body, r.clock.Now())
		w := httptest.NewRecorder()
		r.handler.ServeHTTP(w, req)
		switch w.Code {
		case http.StatusOK, http.StatusBadRequest, http.StatusForbidden:
		default:
			t.Fatalf("payload %q: HTTP %d %s", payload, w.Code, w.Body)
		}
	})
}

// BenchmarkAcknowledge measures what Slack waits for when someone clicks Acknowledge: the
// request verified (size, signature, timestamp), its signature recorded against replays,
// the acknowledgement, its audit line and its jobs committed (bbolt, synced), the answer
// written. Each iteration acknowledges an alert of its own.
func BenchmarkAcknowledge(b *testing.B) {
	r := newRig(b, nil)
	var ids []string
	for i := range b.N {
		a, err := r.svc.Prepare(b.Context(), "security", strconv.Itoa(i), []finding.Finding{alertFinding(strconv.Itoa(i))})
		if err != nil {
			b.Fatal(err)
		}
		ids = append(ids, a.ID)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		p, _ := json.Marshal(map[string]any{"type": "block_actions", "user": map[string]any{"id": onCall, "username": "oncall"},
			"container": map[string]any{"channel_id": "C0000001", "message_ts": "1796000000.000001"},
			"actions":   []any{map[string]any{"action_id": triage.ActAck, "value": ids[i]}}})
		body := []byte(url.Values{"payload": {string(p)}}.Encode())
		req := httptest.NewRequest(http.MethodPost, slack.InteractionsPath, strings.NewReader(string(body)))
		req.Header = r.srv.Sign(body, r.clock.Now())
		w := httptest.NewRecorder()
		r.handler.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("HTTP %d %s", w.Code, w.Body)
		}
	}
}
