// Package cloudtrail owns the CloudTrail record: finding records in log files, EventBridge
// events, LookupEvents and CloudTrail Lake output, parsing the messages and notifications that
// announce log files, CloudTrail's S3 key layout and s3:// URLs (layout.go), and lifting each
// record into the EventBridge envelope so that one event pattern matches the same activity
// whatever the input was.
package cloudtrail

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"time"
)

// field indexes the top-level members of an object that decoding looks at.
type field int

const (
	fEventType field = iota
	fEventSource
	fEventName
	fEventVersion
	fEventID
	fEventTime
	fAWSRegion
	fRecipientAccountID
	fUserIdentity
	fDetailType
	fDetail
	fTime
	fRecords
	fCloudTrailEvent
	fEvents
	fQueryResultRows
	nFields
)

func fieldOf(key []byte, escaped bool) (field, bool) {
	if escaped {
		return fieldOf([]byte(unquote(key)), false)
	}
	if len(key) < 4 || len(key) > 18 {
		return 0, false // no known member is shorter or longer
	}
	switch string(key) { // compiled without a copy
	case "eventType":
		return fEventType, true
	case "eventSource":
		return fEventSource, true
	case "eventName":
		return fEventName, true
	case "eventVersion":
		return fEventVersion, true
	case "eventID":
		return fEventID, true
	case "eventTime":
		return fEventTime, true
	case "awsRegion":
		return fAWSRegion, true
	case "recipientAccountId":
		return fRecipientAccountID, true
	case "userIdentity":
		return fUserIdentity, true
	case "detail-type":
		return fDetailType, true
	case "detail":
		return fDetail, true
	case "time":
		return fTime, true
	case "Records":
		return fRecords, true
	case "CloudTrailEvent":
		return fCloudTrailEvent, true
	case "Events":
		return fEvents, true
	case "QueryResultRows":
		return fQueryResultRows, true
	}
	return 0, false
}

// fields holds, for each known member, its value's span [start,end) in the scanned slice.
type fields struct {
	start, end [nFields]int
	has        [nFields]bool
	// members, when set, receives every member's spans, relative to the object's opening
	// brace (scanObject empties it first); noMembers says they are incomplete: some key has
	// escapes, or the object is too long for a Member's offsets
	members   *[]Member
	noMembers bool
	// spaced says scanObject saw white space between the object's tokens (see Event.Compact)
	spaced bool
}

// Member is one top-level member of a record: the spans [start,end) of its key (without its
// quotes) and of its value in the record's bytes. Eight bytes, for records up to 64 KB
// (longer ones, rare, have no members: Event.Members).
type Member struct{ KeyStart, KeyEnd, ValStart, ValEnd uint16 }

// Key returns the member's key as written, without its quotes, in rec.
func (m Member) Key(rec []byte) []byte { return rec[m.KeyStart:m.KeyEnd] }

// Value returns the member's raw value in rec.
func (m Member) Value(rec []byte) []byte { return rec[m.ValStart:m.ValEnd] }

func (f *fields) value(b []byte, k field) []byte {
	if !f.has[k] {
		return nil
	}
	return b[f.start[k]:f.end[k]]
}

func (f *fields) str(b []byte, k field) string { return stringContent(f.value(b, k)) }

// rebase makes the spans, found in b, relative to b[off:]: a value scanned inside a larger
// slice is used on its own without scanning it again.
func (f *fields) rebase(off int) {
	for k := range f.start {
		f.start[k] -= off
		f.end[k] -= off
	}
}

// scanObject validates the object starting at b[i] (after optional white space) and records
// the spans of the known top-level members; the last duplicate wins, as in encoding/json.
func scanObject(b []byte, i int, f *fields) (int, error) {
	*f = fields{members: f.members}
	if f.members != nil {
		*f.members = (*f.members)[:0]
	}
	i = skipSpace(b, i)
	open := i // where the members' spans start from
	if i >= len(b) {
		return i, errShort
	}
	if b[i] != '{' {
		return i, errAt(i, "not a JSON object (starts with %q)", b[i])
	}
	i = spaceAt(b, i+1, &f.spaced)
	if i >= len(b) {
		return i, errShort
	}
	if b[i] == '}' {
		return i + 1, nil
	}
	for {
		key, escaped, next, err := scanKey(b, i, &f.spaced)
		if err != nil {
			return next, err
		}
		vs := spaceAt(b, next, &f.spaced)
		var end int
		if vs < len(b) && b[vs] == '"' { // the usual value, without going through skipValueDepth
			end, _, err = skipString(b, vs)
		} else {
			var inside bool
			end, inside, err = skipValueDepth(b, vs, 1)
			f.spaced = f.spaced || inside
		}
		if err != nil {
			return end, err
		}
		if k, ok := fieldOf(key, escaped); ok {
			f.start[k], f.end[k], f.has[k] = vs, end, true
		}
		if f.members != nil && !f.noMembers {
			ks := cap(b) - cap(key) - open // key is a slice of b
			if escaped || end-open > math.MaxUint16 {
				f.noMembers = true
			} else {
				*f.members = append(*f.members, Member{uint16(ks), uint16(ks + len(key)), uint16(vs - open), uint16(end - open)})
			}
		}
		i = spaceAt(b, end, &f.spaced)
		if i >= len(b) {
			return i, errShort
		}
		switch b[i] {
		case ',':
			i++
		case '}':
			return i + 1, nil
		default:
			return i, errAt(i, "invalid character %q after object value, want ',' or '}'", b[i])
		}
	}
}

// ErrNotObject is returned by Lift for input that is not one JSON object.
var ErrNotObject = errors.New("not a JSON object")

// Lift wraps one CloudTrail record (a JSON object) into the EventBridge envelope
// {"version":"0","id":..,"detail-type":..,"source":..,"account":..,"time":..,"region":..,
// "resources":[],"detail":<record>}. Missing or odd fields never fail it: a rule that does
// not need a field must still see the record.
func Lift(record []byte) ([]byte, error) { return AppendLift(nil, record) }

// AppendLift is Lift appending to dst (no allocation when dst has room).
func AppendLift(dst, record []byte) ([]byte, error) {
	start := skipSpace(record, 0)
	if start < len(record) && record[start] != '{' {
		return dst, fmt.Errorf("lift: %w (starts with %q)", ErrNotObject, record[start])
	}
	var f fields
	end, err := scanObject(record, start, &f)
	if err != nil {
		var se *syntaxError
		if errors.As(err, &se) {
			return dst, fmt.Errorf("lift: at offset %d: %w", se.off, err)
		}
		return dst, fmt.Errorf("lift: %w", err)
	}
	if skipSpace(record, end) != len(record) {
		return dst, fmt.Errorf("lift: %w: data after the record at offset %d", ErrNotObject, end)
	}
	f.rebase(start)
	dst, _ = appendEnvelope(dst, record[start:end], &f, false)
	return dst, nil
}

// appendEnvelope writes the envelope of rec (the record's bytes, with f's spans relative to
// it) and returns it with the event time, zero when unknown. With noID its id is zeros
// (Limits.NoIDs).
func appendEnvelope(dst, rec []byte, f *fields, noID bool) ([]byte, time.Time) {
	val := func(k field) []byte { return f.value(rec, k) }
	dst = append(dst, `{"version":"0","id":"`...)
	if noID {
		dst = append(dst, zeroID...)
	} else {
		dst = appendID(dst, val(fEventID), rec)
	}
	dst = append(dst, `","detail-type":`...)
	et, _ := rawContent(val(fEventType))
	en, _ := rawContent(val(fEventName))
	dst = appendQuoted(dst, detailType(et, en))
	dst = append(dst, `,"source":`...)
	es, _ := rawContent(val(fEventSource))
	dst = appendSource(dst, es)
	dst = append(dst, `,"account":`...)
	acct := val(fRecipientAccountID)
	if !isString(acct) {
		acct = nil
		if ui := val(fUserIdentity); len(ui) > 0 && ui[0] == '{' {
			acct = memberValue(ui, "accountId")
		}
	}
	dst = appendStringOrEmpty(dst, acct)
	dst = append(dst, `,"time":`...)
	rawTime := val(fEventTime)
	tc, _ := rawContent(rawTime)
	t, ok := parseTimeBytes(tc)
	switch {
	case ok && len(rawTime) == 22 && len(tc) == 20 && tc[10] == 'T' && tc[19] == 'Z':
		dst = append(dst, rawTime...) // already as EventBridge writes it
	case ok:
		dst = append(dst, '"')
		dst = t.AppendFormat(dst, "2006-01-02T15:04:05Z")
		dst = append(dst, '"')
	default:
		dst = appendStringOrEmpty(dst, rawTime)
	}
	dst = append(dst, `,"region":`...)
	dst = appendStringOrEmpty(dst, val(fAWSRegion))
	dst = append(dst, `,"resources":[],"detail":`...)
	dst = append(dst, rec...)
	dst = append(dst, '}')
	return dst, t
}

func isString(v []byte) bool { return len(v) >= 2 && v[0] == '"' }

// appendStringOrEmpty copies a JSON string value as is (it is already valid JSON), or "".
func appendStringOrEmpty(dst, v []byte) []byte {
	if isString(v) {
		return append(dst, v...)
	}
	return append(dst, `""`...)
}

// memberValue returns the value of a top-level member of the object obj, or nil.
func memberValue(obj []byte, name string) []byte {
	i := skipSpace(obj, 1)
	for i < len(obj) && obj[i] != '}' {
		key, escaped, next, err := readKey(obj, i)
		if err != nil {
			return nil
		}
		vs := skipSpace(obj, next)
		end, err := skipValue(obj, vs)
		if err != nil {
			return nil
		}
		if keyIs(key, escaped, name) {
			return obj[vs:end]
		}
		i = skipSpace(obj, end)
		if i < len(obj) && obj[i] == ',' {
			i++
		}
	}
	return nil
}

// zeroID is the id of an envelope whose id is left out (Limits.NoIDs).
const zeroID = "00000000-0000-0000-0000-000000000000"

// appendID writes a stable event id: the same CloudTrail event delivered twice (two files,
// EventBridge and S3, a redelivered message) gets the same id, so downstream dedupe works.
// It is UUID-shaped, like EventBridge's ids.
func appendID(dst, eventID, rec []byte) []byte {
	var sum [32]byte
	if id, _ := rawContent(eventID); len(id) > 0 {
		sum = sha256.Sum256(id)
	} else {
		sum = sha256.Sum256(rec) // no eventID: identical bytes are the best identity left
	}
	var h [32]byte
	hex.Encode(h[:], sum[:16])
	dst = append(dst, h[0:8]...)
	dst = append(dst, '-')
	dst = append(dst, h[8:12]...)
	dst = append(dst, '-')
	dst = append(dst, h[12:16]...)
	dst = append(dst, '-')
	dst = append(dst, h[16:20]...)
	dst = append(dst, '-')
	return append(dst, h[20:32]...)
}

// rawContent returns the decoded content of a JSON string value span, without allocating
// when it has no escapes; ok is false when v is not a string.
func rawContent(v []byte) (c []byte, ok bool) {
	if !isString(v) {
		return nil, false
	}
	raw := v[1 : len(v)-1]
	if bytes.IndexByte(raw, '\\') >= 0 {
		return []byte(unquote(raw)), true
	}
	return raw, true
}

// detailType is the EventBridge detail-type of a record with this eventType. Records without
// an eventType (older or hand-made ones) are treated as API calls, except console sign-ins.
func detailType(eventType, eventName []byte) string {
	switch string(eventType) {
	case "AwsApiCall":
		return "AWS API Call via CloudTrail"
	case "AwsConsoleSignIn":
		return "AWS Console Sign In via CloudTrail"
	case "AwsServiceEvent":
		return "AWS Service Event via CloudTrail"
	case "AwsConsoleAction":
		return "AWS Console Action via CloudTrail"
	case "AwsCloudTrailInsight":
		return "AWS Insight via CloudTrail"
	case "":
		switch string(eventName) {
		case "ConsoleLogin", "CheckMfa", "SwitchRole", "ExitRole", "RenewRole":
			return "AWS Console Sign In via CloudTrail"
		}
		return "AWS API Call via CloudTrail"
	}
	// A new kind of event (AwsVpceEvent, ...): keep it visible and matchable by name.
	return "AWS " + string(eventType) + " via CloudTrail"
}

// appendSource writes, as a JSON string, the EventBridge source of a record with this
// eventSource ("iam.amazonaws.com" → "aws.iam"). EventBridge's event reference lists, per
// service, the source of the events it delivers via CloudTrail; the ones checked (cloudtrail,
// logs, monitoring, cloudtrail-data in the reference; ec2 and s3 in real envelopes) follow this
// rule, so there is no exception table until one is found.
func appendSource(dst, eventSource []byte) []byte {
	if len(eventSource) == 0 {
		return append(dst, `""`...)
	}
	svc := eventSource
	if i := bytes.IndexByte(svc, '.'); i >= 0 {
		svc = svc[:i]
	}
	dst = append(dst, `"aws.`...)
	dst = appendEscaped(dst, svc)
	return append(dst, '"')
}

// timeLayouts are the eventTime spellings seen in real data; CloudTrail itself writes the first.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
}

// ParseTime reads a CloudTrail eventTime in any spelling seen in real data; times without a
// zone are UTC, as CloudTrail's are.
func ParseTime(s string) (time.Time, bool) {
	if len(s) < 19 {
		return time.Time{}, false
	}
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// appendQuoted writes s as a JSON string.
func appendQuoted(dst []byte, s string) []byte {
	dst = append(dst, '"')
	dst = appendEscaped(dst, []byte(s))
	return append(dst, '"')
}

// appendEscaped writes b as the content of a JSON string.
func appendEscaped(dst, b []byte) []byte {
	const hexd = "0123456789abcdef"
	for _, c := range b {
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hexd[c>>4], hexd[c&0xf])
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// parseTimeBytes is ParseTime without allocating for CloudTrail's own spellings
// (2026-11-01T10:00:00Z, with or without fraction, 'T' or ' ').
func parseTimeBytes(b []byte) (time.Time, bool) {
	if len(b) >= 19 && b[4] == '-' && b[7] == '-' && (b[10] == 'T' || b[10] == ' ') && b[13] == ':' && b[16] == ':' {
		rest := b[19:]
		if len(rest) > 0 && rest[0] == '.' {
			k := 1
			for k < len(rest) && isDigit(rest[k]) {
				k++
			}
			if k > 1 {
				rest = rest[k:]
			}
		}
		if len(rest) == 0 || len(rest) == 1 && rest[0] == 'Z' {
			y, ok1 := digits(b[0:4])
			mo, ok2 := digits(b[5:7])
			d, ok3 := digits(b[8:10])
			h, ok4 := digits(b[11:13])
			mi, ok5 := digits(b[14:16])
			sec, ok6 := digits(b[17:19])
			if ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h < 24 && mi < 60 && sec < 60 {
				t := time.Date(y, time.Month(mo), d, h, mi, sec, 0, time.UTC)
				if t.Day() == d { // rejects 2026-02-31
					return t, true
				}
			}
			return time.Time{}, false
		}
	}
	if len(b) < 19 {
		return time.Time{}, false
	}
	t, ok := ParseTime(string(b))
	return t.Truncate(time.Second), ok
}

func digits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if !isDigit(c) {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}
