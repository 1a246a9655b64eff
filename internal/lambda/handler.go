// Package lambda is the AWS Lambda function's payload adapter: one handler that recognises the
// payload (an EventBridge event, an SQS batch, an SNS notification, an S3 event notification,
// a scheduled tick), reads it through internal/ingest into findings and delivers them, failing
// exactly the messages whose log file could not be read (or not read whole: ingest's policy),
// or whose findings could not be delivered, so that AWS retries only those. Every message gets
// its share of the invocation's time: one that runs late fails alone instead of timing out the
// whole batch. It builds nothing: internal/app makes a Handler from the function's
// environment (its reader, S3 objects, dedupe table, deliverer).
package lambda

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/trailbell/trailbell/internal/cloudtrail"
	"github.com/trailbell/trailbell/internal/finding"
	"github.com/trailbell/trailbell/internal/ingest"
)

// Deliverer hands findings to their destinations and returns nil only when every one of them
// was delivered (or durably accepted by the destination's own retry path).
type Deliverer interface {
	Deliver(ctx context.Context, fs []finding.Finding) error
}

// Objects opens S3 objects (log files announced by notifications).
type Objects interface {
	Open(ctx context.Context, bucket, key string) (io.ReadCloser, error)
}

// Ticker evaluates what detections with memory hold back once the tolerance has passed by
// the wall clock (correlate.Engine), handing its findings to deliver before storing its state.
type Ticker interface {
	Tick(ctx context.Context, deliver func(context.Context, []finding.Finding) error) error
}

// Handler is the Lambda function. Dedupe is optional: without it delivery is at-least-once
// and a redelivered message may alert twice.
type Handler struct {
	Reader *ingest.Reader // decoding and detection (ingest)
	// Memory, when set, is told of scheduled invocations (an EventBridge schedule every few
	// minutes): a quiet stream's held-back records are evaluated then.
	Memory    Ticker
	Deliverer Deliverer
	Objects   Objects // needed only for log-file notifications
	Dedupe    *Dedupe
	// Interactions serves Slack's interaction requests reaching the function through its
	// function URL (POST /slack/interactions); nil answers them 404.
	Interactions http.Handler
	// Triage does what interactions leave to do (triage's jobs): when the function invokes
	// itself after an interaction ({"trailbell":"triage"}), and on scheduled invocations.
	Triage Worker
	Logger *slog.Logger
	// Margin is the time kept, before the invocation's deadline, to deliver what a message
	// gave: reading must end by deadline - 2*Margin, each message of a batch having a fair
	// share of the time left, and a message that would start later fails at once (to be
	// retried) rather than let the batch time out. Default 5s.
	Margin time.Duration
	Now    func() time.Time // for bad-input alerts; default time.Now
}

// Worker does the jobs that are due (triage.Service).
type Worker interface {
	Work(ctx context.Context) (next time.Time, err error)
}

// WorkPayload is the payload of the invocation the function makes of itself, asynchronously,
// after an interaction: the function URL has answered Slack, and this one does the work.
var WorkPayload = []byte(`{"trailbell":"triage"}`)

// BatchResponse is the SQS partial-batch response (ReportBatchItemFailures): only the listed
// messages return to the queue.
type BatchResponse struct {
	BatchItemFailures []BatchItemFailure `json:"batchItemFailures"`
}

// BatchItemFailure names one failed SQS message.
type BatchItemFailure struct {
	ItemIdentifier string `json:"itemIdentifier"`
}

// Result summarises an invocation that is not an SQS batch.
type Result struct {
	Records  int `json:"records"`
	Findings int `json:"findings"`
	Bad      int `json:"bad"`
}

// eventID names an EventBridge event by its id, so that its bad-input alert is its own.
func eventID(raw []byte) string {
	var e struct {
		ID string `json:"id"`
	}
	json.Unmarshal(raw, &e)
	return e.ID
}

// ErrUnknownPayload is returned for an invocation payload of no supported shape.
var ErrUnknownPayload = errors.New("unrecognised payload: want an EventBridge event, SQS batch, SNS notification or S3 event notification")

// payload holds the fields that tell the invocation shapes apart; the rest of the payload
// is decoded only by the branch that takes it.
type payload struct {
	Trailbell      string          `json:"trailbell"`
	RequestContext json.RawMessage `json:"requestContext"` // a function URL request
	DetailType     *string         `json:"detail-type"`
	Source         string          `json:"source"`
	Records        []struct {
		EventSource    string `json:"eventSource"` // SQS and S3 records
		SNSEventSource string `json:"EventSource"` // SNS records
	} `json:"Records"`
}

func (h *Handler) log() *slog.Logger {
	if h.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Logger
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

func (h *Handler) margin() time.Duration { return cmp.Or(h.Margin, 5*time.Second) }

// errNoTime fails a message that would start too close to the invocation's deadline.
var errNoTime = errors.New("too close to the invocation deadline to start; left to a retry")

// Invoke handles one invocation. An SQS batch answers with a partial-batch response and fails
// only the messages that failed; any other payload fails as a whole, so Lambda's asynchronous
// retries (and then the dead-letter queue) take over.
func (h *Handler) Invoke(ctx context.Context, raw json.RawMessage) (any, error) {
	var p payload
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnknownPayload, err)
	}
	switch {
	case p.Trailbell == "triage":
		return Result{}, h.work(ctx)
	case len(p.RequestContext) > 0:
		return h.functionURL(ctx, raw)
	case p.DetailType != nil && *p.DetailType == "Scheduled Event" && p.Source == "aws.events":
		var st Result
		err := h.tick(ctx, &st)
		return st, err
	case p.DetailType != nil:
		var st Result
		err := h.message(ctx, raw, "event "+eventID(raw), &st)
		return st, err
	case len(p.Records) > 0 && p.Records[0].EventSource == "aws:sqs":
		return h.sqsBatch(ctx, raw)
	case len(p.Records) > 0 && p.Records[0].SNSEventSource == "aws:sns":
		return h.snsBatch(ctx, raw)
	case len(p.Records) > 0 && p.Records[0].EventSource == "aws:s3":
		var st Result
		err := h.message(ctx, raw, "s3 notification", &st)
		return st, err
	}
	return nil, ErrUnknownPayload
}

type sqsEvent struct {
	Records []struct {
		MessageID string `json:"messageId"`
		Body      string `json:"body"`
	} `json:"Records"`
}

func (h *Handler) sqsBatch(ctx context.Context, raw json.RawMessage) (BatchResponse, error) {
	var ev sqsEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		return BatchResponse{}, fmt.Errorf("sqs batch: %w", err)
	}
	resp := BatchResponse{BatchItemFailures: []BatchItemFailure{}}
	for i, m := range ev.Records {
		var st Result
		err := h.messageBy(ctx, []byte(m.Body), "sqs message "+m.MessageID, &st, len(ev.Records)-i)
		if err != nil {
			h.log().Error("message failed; it returns to the queue", "message", m.MessageID, "err", err)
			resp.BatchItemFailures = append(resp.BatchItemFailures, BatchItemFailure{ItemIdentifier: m.MessageID})
			continue
		}
		h.log().Info("message done", "message", m.MessageID, "records", st.Records, "findings", st.Findings, "bad", st.Bad)
	}
	return resp, nil
}

type snsEvent struct {
	Records []struct {
		Sns struct {
			MessageID string `json:"MessageId"`
			Message   string `json:"Message"`
		} `json:"Sns"`
	} `json:"Records"`
}

func (h *Handler) snsBatch(ctx context.Context, raw json.RawMessage) (Result, error) {
	var ev snsEvent
	var st Result
	if err := json.Unmarshal(raw, &ev); err != nil {
		return st, fmt.Errorf("sns notification: %w", err)
	}
	var errs []error
	for i, r := range ev.Records {
		if err := h.messageBy(ctx, []byte(r.Sns.Message), "sns message "+r.Sns.MessageID, &st, len(ev.Records)-i); err != nil {
			errs = append(errs, err)
		}
	}
	return st, errors.Join(errs...)
}

// message handles one message body through ingest (ingest.ReadMessage): an EventBridge event is
// detected on, the log files a notification announces are read. Its findings and bad-input
// alerts are delivered together; then it fails if a file could not be read, or an input not
// read whole (ingest's policy), so that it is retried and kept in the dead-letter queue.
func (h *Handler) message(ctx context.Context, body []byte, origin string, st *Result) error {
	return h.messageBy(ctx, body, origin, st, 1)
}

// messageBy is message as one of left messages still to handle in the invocation: its
// reading gets a fair share of the time left (what it does not use goes to the next ones), so
// that one slow or stalled message fails alone instead of starving the others.
func (h *Handler) messageBy(ctx context.Context, body []byte, origin string, st *Result, left int) error {
	rctx := ctx
	if dl, ok := ctx.Deadline(); ok {
		now, end := h.now(), dl.Add(-2*h.margin())
		if !now.Before(end) {
			return fmt.Errorf("%s: %w", origin, errNoTime)
		}
		var cancel context.CancelFunc
		rctx, cancel = context.WithDeadline(ctx, now.Add(end.Sub(now)/time.Duration(max(left, 1))))
		defer cancel()
	}
	var fs []finding.Finding
	reports, err := h.Reader.ReadMessage(rctx, origin, body, func(ctx context.Context, o cloudtrail.Object) (io.ReadCloser, error) {
		if h.Objects == nil {
			return nil, errors.New("no S3 client configured")
		}
		return h.Objects.Open(ctx, o.Bucket, o.Key)
	}, func(found []finding.Finding) error {
		fs = append(fs, found...)
		return nil
	})
	for _, rep := range reports {
		st.Records += rep.Records
		st.Bad += rep.Bad
	}
	alerts, verdict := ingest.Judge("lambda", h.now(), reports...)
	for _, a := range alerts {
		h.log().Warn("unreadable records", "origin", origin, "input", a.Origin, "title", a.Title, "first", firstProblem(a))
	}
	// What was read goes out even when another file of the message failed: a retry finds it
	// in the dedupe table, or alerts again without one.
	if derr := h.deliver(ctx, append(fs, alerts...), origin, st); derr != nil {
		return derr
	}
	return errors.Join(err, verdict)
}

// tick is a scheduled invocation: detections with memory evaluate the records that waited
// the tolerance, and their findings are delivered before the state moves on.
func (h *Handler) tick(ctx context.Context, st *Result) error {
	var errs []error
	if h.Memory != nil {
		errs = append(errs, h.Memory.Tick(ctx, func(ctx context.Context, fs []finding.Finding) error {
			return h.deliver(ctx, fs, "scheduled evaluation", st)
		}))
	}
	// Timers of triage (re-raises, deadlines of questions, ends of mutes) and jobs that failed.
	errs = append(errs, h.work(ctx))
	return errors.Join(errs...)
}

// work does triage's jobs that are due.
func (h *Handler) work(ctx context.Context) error {
	if h.Triage == nil {
		return nil
	}
	if _, err := h.Triage.Work(ctx); err != nil {
		return fmt.Errorf("triage jobs: %w", err)
	}
	return nil
}

func firstProblem(f finding.Finding) string {
	if len(f.Params) > 0 {
		return f.Params[0].Value
	}
	return ""
}

// deliver claims each finding in the dedupe table (when configured), delivers the new ones,
// and records them as sent, or releases the claims when delivery failed so a retry alerts.
func (h *Handler) deliver(ctx context.Context, fs []finding.Finding, origin string, st *Result) error {
	if len(fs) == 0 {
		return nil
	}
	fresh := fs
	if h.Dedupe != nil {
		fresh = fresh[:0:0]
		for _, f := range fs {
			if f.EventID == "" {
				// Without an event id the key would merge unrelated events: never skip it.
				fresh = append(fresh, f)
				continue
			}
			ok, err := h.Dedupe.Claim(ctx, f.Key())
			if err != nil {
				h.release(ctx, fresh)
				return fmt.Errorf("%s: dedupe: %w", origin, err)
			}
			if ok {
				fresh = append(fresh, f)
			} else {
				h.log().Info("duplicate finding skipped", "key", f.Key(), "origin", f.Origin)
			}
		}
	}
	if len(fresh) == 0 {
		return nil
	}
	if err := h.Deliverer.Deliver(ctx, fresh); err != nil {
		h.release(ctx, fresh)
		return fmt.Errorf("%s: deliver %d findings: %w", origin, len(fresh), err)
	}
	st.Findings += len(fresh)
	if h.Dedupe != nil {
		for _, f := range fresh {
			if f.EventID == "" {
				continue
			}
			if err := h.Dedupe.Done(ctx, f.Key()); err != nil {
				// Delivered already: failing the message would alert twice. The claim
				// expires with its lease and only a redelivery could repeat the alert.
				h.log().Warn("dedupe: could not mark finding sent", "key", f.Key(), "err", err)
			}
		}
	}
	return nil
}

func (h *Handler) release(ctx context.Context, fs []finding.Finding) {
	if h.Dedupe == nil {
		return
	}
	for _, f := range fs {
		if f.EventID == "" {
			continue
		}
		if err := h.Dedupe.Release(ctx, f.Key()); err != nil {
			h.log().Warn("dedupe: could not release claim; a retry waits for the lease to end", "key", f.Key(), "err", err)
		}
	}
}
