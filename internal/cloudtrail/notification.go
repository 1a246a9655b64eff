package cloudtrail

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
)

// Object is a log file announced by a notification.
type Object struct {
	Bucket, Key string
	Size        int64 // 0 when the notification does not say
}

// A Message is what one queue message, SNS notification or invocation carries: an event to
// detect on, or log files to read. Lambda and `trailbell run` both take messages apart here,
// so that the same message is treated the same way by either.
type Message struct {
	// Event is an EventBridge event of a CloudTrail record, bare or as an SNS notification's
	// Message (EventBridge → SNS → SQS).
	Event []byte
	// Files are the log files a notification announces, to read (see NotifiedLogFile).
	Files []Object
	// Skipped are the announced objects that are not log files, other than digests (a bucket
	// notification without a suffix filter announces a shared bucket's other logs too).
	Skipped []Object
}

// ParseMessage reads a message. A notification is read with ParseNotification: when parts of
// it are bad, Files holds the log files of the good parts and the error names the bad ones.
func ParseMessage(body []byte) (Message, error) {
	var m eventHead
	if json.Unmarshal(body, &m) == nil {
		if m.isEvent() {
			return Message{Event: body}, nil
		}
		if m.Type == "Notification" && m.Message != nil {
			var inner eventHead
			if json.Unmarshal([]byte(*m.Message), &inner) == nil && inner.isEvent() {
				return Message{Event: []byte(*m.Message)}, nil
			}
		}
	}
	objs, err := ParseNotification(body)
	var msg Message
	for _, o := range objs {
		switch {
		case NotifiedLogFile(o.Key):
			msg.Files = append(msg.Files, o)
		case !IsDigestKey(o.Key):
			msg.Skipped = append(msg.Skipped, o)
		}
	}
	return msg, err
}

// eventHead holds the fields that tell an EventBridge event, and an SNS notification, apart.
type eventHead struct {
	DetailType *string `json:"detail-type"`
	Source     string  `json:"source"`
	Type       string  `json:"Type"`
	Message    *string `json:"Message"`
}

// isEvent tells an EventBridge event to detect on from an S3 "Object Created" event announcing
// a log file (source aws.s3 too, but not "via CloudTrail").
func (h *eventHead) isEvent() bool {
	return h.DetailType != nil && (h.Source != "aws.s3" || strings.HasSuffix(*h.DetailType, "via CloudTrail"))
}

// NotifiedLogFile reports whether a notification's key is read. Under AWSLogs/[o-ORG/]ACCOUNT/,
// where CloudTrail writes, only log files of the CloudTrail and CloudTrail-Insight folders
// are: the rest is digests and other services' logs (load balancers, Config, VPC flow logs).
// Any other key was put there by someone (a copy, an export) and announced on purpose, so it
// is read whatever its name, unless it is a digest; Decode reports what it cannot read.
func NotifiedLogFile(key string) bool {
	if IsDigestKey(key) {
		return false
	}
	folder, ok := accountFolder(key)
	return !ok || (folder == LogFolder || folder == InsightFolder) && IsLogKey(key)
}

// ReadFiles opens and reads each of the message's log files, named by their s3:// URL. It goes
// on past a file that fails, so that one unreadable file does not hold back the findings of
// the others; the failures come back joined.
func (m Message) ReadFiles(open func(Object) (io.ReadCloser, error), read func(name string, r io.Reader) error) error {
	var errs []error
	for _, o := range m.Files {
		rc, err := open(o)
		if err != nil {
			errs = append(errs, fmt.Errorf("open %s: %w", o.URL(), err))
			continue
		}
		err = read(o.URL(), rc)
		rc.Close()
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ErrNotNotification is wrapped by ParseNotification for bodies of no known shape.
var ErrNotNotification = errors.New("not a known notification")

// maxNesting bounds SQS-in-SNS-in-... unwrapping.
const maxNesting = 4

// ParseNotification reads a message that announces log files: an S3 event notification, one
// wrapped in SNS or SQS (the Lambda event of either, or a bare SNS message), EventBridge
// "Object Created", or CloudTrail's own SNS notification ({"s3Bucket":..,"s3ObjectKey":[..]}).
// S3 test events and events about other than created objects give no objects and no error.
// When some parts of a batch are bad, the objects of the good parts are returned with an
// error naming the bad ones.
func ParseNotification(body []byte) ([]Object, error) {
	return parseNotification(body, 0)
}

type notification struct {
	// S3 event notification, and the Lambda events of SNS and SQS
	Records []json.RawMessage `json:"Records"`
	// SNS message (HTTP/SQS delivery)
	Type    string  `json:"Type"`
	Message *string `json:"Message"`
	// S3 test event
	Event string `json:"Event"`
	// CloudTrail's notification of a delivered log file
	S3Bucket    string   `json:"s3Bucket"`
	S3ObjectKey []string `json:"s3ObjectKey"`
	// EventBridge
	DetailType *string         `json:"detail-type"`
	Source     string          `json:"source"`
	Detail     json.RawMessage `json:"detail"`
}

// s3Location names an object as both S3 event notifications ("s3") and EventBridge
// ("detail") do.
type s3Location struct {
	Bucket struct {
		Name string `json:"name"`
	} `json:"bucket"`
	Object struct {
		Key  string `json:"key"`
		Size int64  `json:"size"`
	} `json:"object"`
}

type notificationRecord struct {
	EventSource  string      `json:"eventSource"`
	EventSource2 string      `json:"EventSource"` // SNS Lambda events capitalise it
	EventName    string      `json:"eventName"`
	S3           *s3Location `json:"s3"`
	Sns          *struct {
		Message string `json:"Message"`
	} `json:"Sns"`
	Body *string `json:"body"`
}

func parseNotification(body []byte, depth int) ([]Object, error) {
	if depth > maxNesting {
		return nil, fmt.Errorf("notification nested deeper than %d", maxNesting)
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return nil, fmt.Errorf("%w: not a JSON object", ErrNotNotification)
	}
	var n notification
	if err := json.Unmarshal(body, &n); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotNotification, err)
	}
	switch {
	case n.Records != nil:
		return parseRecords(n.Records, depth)
	case n.Message != nil && (n.Type == "Notification" || n.Type == ""):
		objs, err := parseNotification([]byte(*n.Message), depth+1)
		if err != nil {
			return objs, fmt.Errorf("SNS Message: %w", err)
		}
		return objs, nil
	case n.Event == "s3:TestEvent":
		return nil, nil
	case n.S3Bucket != "" || n.S3ObjectKey != nil:
		if n.S3Bucket == "" {
			return nil, errors.New("CloudTrail notification without s3Bucket")
		}
		objs := make([]Object, 0, len(n.S3ObjectKey))
		for _, k := range n.S3ObjectKey {
			objs = append(objs, Object{Bucket: n.S3Bucket, Key: k})
		}
		return objs, nil
	case n.DetailType != nil:
		return parseEventBridge(&n)
	}
	return nil, fmt.Errorf("%w: no Records, Message, s3Bucket or detail-type", ErrNotNotification)
}

func parseRecords(records []json.RawMessage, depth int) ([]Object, error) {
	var objs []Object
	var errs []error
	for i, raw := range records {
		var r notificationRecord
		if err := json.Unmarshal(raw, &r); err != nil {
			errs = append(errs, fmt.Errorf("record %d: %v", i+1, err))
			continue
		}
		src := r.EventSource
		if src == "" {
			src = r.EventSource2
		}
		switch {
		case src == "aws:s3" || r.S3 != nil:
			if r.S3 == nil {
				errs = append(errs, fmt.Errorf("record %d: aws:s3 record without s3", i+1))
				continue
			}
			if !strings.HasPrefix(r.EventName, "ObjectCreated:") {
				continue // removals and restores announce no new log file
			}
			// S3 notifications URL-encode keys, with '+' for space.
			key, err := url.QueryUnescape(r.S3.Object.Key)
			if err != nil {
				errs = append(errs, fmt.Errorf("record %d: key %q: %v", i+1, r.S3.Object.Key, err))
				continue
			}
			objs = append(objs, Object{Bucket: r.S3.Bucket.Name, Key: key, Size: r.S3.Object.Size})
		case src == "aws:sns" || r.Sns != nil:
			if r.Sns == nil {
				errs = append(errs, fmt.Errorf("record %d: aws:sns record without Sns", i+1))
				continue
			}
			o, err := parseNotification([]byte(r.Sns.Message), depth+1)
			objs = append(objs, o...)
			if err != nil {
				errs = append(errs, fmt.Errorf("record %d: SNS Message: %w", i+1, err))
			}
		case src == "aws:sqs" || r.Body != nil:
			if r.Body == nil {
				errs = append(errs, fmt.Errorf("record %d: aws:sqs record without body", i+1))
				continue
			}
			o, err := parseNotification([]byte(*r.Body), depth+1)
			objs = append(objs, o...)
			if err != nil {
				errs = append(errs, fmt.Errorf("record %d: SQS body: %w", i+1, err))
			}
		default:
			errs = append(errs, fmt.Errorf("record %d: %w (eventSource %q)", i+1, ErrNotNotification, src))
		}
	}
	return objs, errors.Join(errs...)
}

func parseEventBridge(n *notification) ([]Object, error) {
	if n.Source != "aws.s3" {
		return nil, fmt.Errorf("%w: EventBridge event from %q", ErrNotNotification, n.Source)
	}
	if *n.DetailType != "Object Created" {
		return nil, nil // deletions, restores, annotations: no new log file
	}
	var d struct {
		EventVersion string `json:"event-version"`
		s3Location
	}
	if err := json.Unmarshal(n.Detail, &d); err != nil {
		return nil, fmt.Errorf("EventBridge Object Created detail: %v", err)
	}
	// Fields may change meaning in a new major version; refuse rather than guess.
	if major, _, _ := strings.Cut(d.EventVersion, "."); d.EventVersion != "" && major != "1" {
		return nil, fmt.Errorf("EventBridge Object Created event-version %q is not supported (want 1.x)", d.EventVersion)
	}
	if d.Bucket.Name == "" || d.Object.Key == "" {
		return nil, errors.New("EventBridge Object Created without bucket name or object key")
	}
	// EventBridge carries the key as stored (not URL-encoded, unlike S3 notifications).
	return []Object{{Bucket: d.Bucket.Name, Key: d.Object.Key, Size: d.Object.Size}}, nil
}
