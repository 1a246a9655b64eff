package correlate

import (
	"encoding/json"
	"strings"

	"github.com/trailbell/trailbell/internal/cloudtrail"
	"github.com/trailbell/trailbell/internal/detect"
)

// fields reads what Add needs of a record (its id and name, the caller, a step's values):
// the top-level members from the decoder's spans (cloudtrail.Event.Members), without
// splitting the record again (detect.DecodeEvent), and anything else from the record
// decoded by detect, once, when first needed. Each reads what the decoded record would.
type fields struct {
	ev    cloudtrail.Event
	rec   *detect.Record // matching's, or decoded here; nil while the spans do
	spans bool           // ev.Members are read: a record whose keys are each given once
}

// readFields reads ev through the spans when it can, else through rec (matching's) or the
// record decoded now: an error is a record detect cannot decode.
func readFields(ev cloudtrail.Event, rec *detect.Record) (fields, error) {
	f := fields{ev: ev, rec: rec}
	if rec != nil {
		return f, nil
	}
	if ev.Members != nil && uniqueKeys(ev.Record, ev.Members) {
		f.spans = true // DecodeEvent takes these spans as they are: it cannot fail later
		return f, nil
	}
	var err error
	f.rec, err = detect.DecodeEvent(ev)
	return f, err
}

// uniqueKeys reports whether no key of the record is given twice (detect decodes such a
// record whole, merging the repeats).
func uniqueKeys(rec []byte, ms []cloudtrail.Member) bool {
	var bits uint64
	for i, m := range ms {
		k := m.Key(rec)
		bit := uint64(1)
		if len(k) > 0 {
			bit <<= (uint(len(k))*7 + uint(k[0]) + 3*uint(k[len(k)-1])) & 63
		}
		if bits&bit == 0 {
			bits |= bit
			continue
		}
		for _, p := range ms[:i] {
			if string(p.Key(rec)) == string(k) {
				return false
			}
		}
	}
	return true
}

// decoded is the record decoded by detect.
func (f *fields) decoded() *detect.Record {
	if f.rec == nil {
		f.rec, _ = detect.DecodeEvent(f.ev) // the spans were taken: it does not fail
		f.spans = false
	}
	return f.rec
}

// top is the raw value of the top-level member key; nil when absent.
func (f *fields) top(key string) []byte {
	for _, m := range f.ev.Members {
		if string(m.Key(f.ev.Record)) == key {
			return m.Value(f.ev.Record)
		}
	}
	return nil
}

// Member is detect.Record.Member.
func (f *fields) Member(name string) json.RawMessage {
	if f.spans {
		return f.top(name)
	}
	return f.decoded().Member(name)
}

// Str is detect.Record.Str.
func (f *fields) Str(path string) string {
	if f.spans && isTopKey(path) {
		v := f.top(path)
		if v == nil || string(v) == "null" {
			return ""
		}
		if s, ok := detect.String(v); ok {
			return s
		}
	}
	return f.decoded().Str(path)
}

func isTopKey(path string) bool {
	for i := 0; i < len(path); i++ {
		if path[i] == '.' {
			return false
		}
	}
	return true
}

// Key is detect.Record.Key for the fields read as a record's members (or from them).
func (f *fields) Key(name string) string {
	if f.spans {
		switch name {
		case "region":
			return f.Str("awsRegion")
		case "sourceNetwork":
			return detect.Network(f.Str("sourceIPAddress"))
		case "eventName", "eventSource", "sourceIPAddress", "userAgent", "errorCode", "errorMessage":
			return f.Str(name)
		}
		if top, key, ok := strings.Cut(name, "."); ok && top != "detail" && !strings.Contains(key, ".") {
			if s, ok := f.child(top, key); ok {
				return s
			}
		}
	}
	return f.decoded().Key(name)
}

// child is Key(top + "." + key) for a top-level object's member that holds plain text (or
// is absent or null); false for anything else, which Key reads from the decoded record.
func (f *fields) child(top, key string) (string, bool) {
	obj := f.top(top)
	switch {
	case obj == nil || string(obj) == "null":
		return "", true
	case obj[0] != '{':
		return "", false
	}
	var v []byte
	if !detect.Members(obj, func(k, val []byte) {
		if string(k) == key {
			v = val
		}
	}) {
		return "", false // a key given twice, or with escapes
	}
	if v == nil || string(v) == "null" {
		return "", true
	}
	if s, ok := detect.String(v); ok && s != "" {
		return s, true
	}
	return "", false // an empty string reads as "" (quoted), an object as its JSON
}

// raw is the record's JSON.
func (f *fields) raw() json.RawMessage {
	if f.spans {
		return f.ev.Record
	}
	return f.rec.Raw()
}
