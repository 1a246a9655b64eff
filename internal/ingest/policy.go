package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/trailbell/trailbell/internal/cloudtrail"
	"github.com/trailbell/trailbell/internal/finding"
)

// The one policy for bad input, which every entry point applies:
//   - Every record before a fault is detected on and its findings go on.
//   - Every bad record and every fault is counted and reported with its input and position:
//     `trailbell scan` lists them and exits 2; the daemon and the Lambda function raise one
//     BadInputRule finding per input (Alert), which is delivered like any other.
//   - An input read whole is acknowledged even when some of its records were bad: reading it
//     again gives the same result.
//   - An input that could not be read whole (Report.Whole false: a syntax error, a value over
//     a limit, a cut-off or corrupt gzip stream, the inflated-size budget) is alerted, and then
//     returned to its queue where it has one (Judge's ErrNotWhole), so that the queue's
//     redrive policy keeps it in a dead-letter queue for a replay once the cause is fixed.
//     An S3 prefix polled in key order has no such place: it acknowledges the file, which
//     stays in S3 and is named in the alert, rather than stop the prefix behind it forever.
//   - An input that could not be read (the network, a missing object, a deadline) is neither
//     alerted nor acknowledged: it is retried.

// BadInputRule is the rule id of the finding raised for an input with bad records or faults.
const BadInputRule = "trailbell-bad-input"

// ErrNotWhole is wrapped by Judge's error when an input could not be read whole.
var ErrNotWhole = errors.New("not read whole")

// Judge applies the policy to the reports of what one message or file gave: the alerts to
// raise (one per report that is not clean), and ErrNotWhole, naming the inputs, when one of
// them could not be read whole.
func Judge(source string, now time.Time, reports ...Report) ([]finding.Finding, error) {
	var alerts []finding.Finding
	var cut []string
	for _, r := range reports {
		if r.Clean() {
			continue
		}
		alerts = append(alerts, r.Alert(source, now))
		if !r.Whole {
			cut = append(cut, r.Input)
		}
	}
	if len(cut) > 0 {
		return alerts, fmt.Errorf("%s: %w", strings.Join(cut, ", "), ErrNotWhole)
	}
	return alerts, nil
}

// Alert is the BadInputRule finding for this report. Its event id is the input's name, so the
// outbox and dedupe drop the alert of a replayed input.
func (r Report) Alert(source string, now time.Time) finding.Finding {
	list := make([]string, len(r.Problems))
	for i, p := range r.Problems {
		list[i] = p.String()
	}
	rec, _ := json.Marshal(map[string]any{
		"source": source, "input": r.Input, "records": r.Records, "bad": r.Bad, "whole": r.Whole,
		"bytes": r.Bytes, "inflated": r.Inflated, "problems": list,
	})
	title := fmt.Sprintf("%d unreadable CloudTrail records in %s", r.Bad, r.Input)
	desc := fmt.Sprintf("trailbell could not read these records, so no rule saw them; %d records were read and detected on. The first problems are listed.", r.Records)
	if !r.Whole {
		title += " (not read whole)"
		desc += " The input could not be read to its end as JSON: the problems say where reading broke off or resumed."
	}
	f := finding.Finding{
		Rule: BadInputRule, Severity: finding.Medium, Title: title, Description: desc,
		EventID: "bad-input/" + r.Input, EventName: "UnreadableRecords",
		EventTime: now.UTC().Format(time.RFC3339), Origin: r.Input, Record: rec,
	}
	if len(list) > 0 {
		f.Params = []finding.Param{{Name: "first problem", Value: list[0]}}
	}
	return f
}

// Open opens a log file a message announces.
type Open func(ctx context.Context, o cloudtrail.Object) (io.ReadCloser, error)

// ReadMessage reads what one queue message or invocation carries (cloudtrail.ParseMessage):
// an EventBridge event is detected on, the log files a notification announces are opened and
// read, and a message that is no known notification gets a report of its own. It goes on
// past a file that cannot be opened or read, so that one does not hold back the others'
// findings; those failures come back joined (the message is to be retried). The reports
// cover every input that was read.
func (r *Reader) ReadMessage(ctx context.Context, origin string, body []byte, open Open, found Found) ([]Report, error) {
	msg, perr := cloudtrail.ParseMessage(body)
	if msg.Event != nil {
		rep, err := r.Read(ctx, Input{Name: origin, Body: bytes.NewReader(msg.Event)}, found)
		return []Report{rep}, err
	}
	for _, o := range msg.Skipped {
		r.log.Info("not a CloudTrail log file; skipped", "origin", origin, "file", o.URL())
	}
	var reports []Report
	err := msg.ReadFiles(func(o cloudtrail.Object) (io.ReadCloser, error) {
		return open(ctx, o)
	}, func(name string, body io.Reader) error {
		rep, err := r.Read(ctx, Input{Name: name, Body: body}, found)
		if err == nil {
			reports = append(reports, rep)
		}
		return err
	})
	if err != nil {
		err = fmt.Errorf("%s: %w", origin, err)
	}
	if perr != nil {
		reports = append(reports, Unreadable(origin, perr))
	}
	return reports, err
}
