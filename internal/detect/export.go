package detect

import (
	"encoding/json"
	"net/netip"

	"github.com/trailbell/trailbell/internal/cloudtrail"
	"github.com/trailbell/trailbell/internal/finding"
)

// Record is a decoded CloudTrail record, for the stateful evaluation in internal/correlate.
type Record struct{ r *record }

// DecodeEnvelope decodes the record inside an EventBridge envelope, each top-level member when
// it is first read. A Record is for one goroutine at a time.
func DecodeEnvelope(env []byte) (*Record, error) {
	if detail, ok := liftedDetail(env); ok {
		r, err := decodeLazy(detail)
		if err != nil {
			return nil, err
		}
		return &Record{r}, nil
	}
	r, err := envelopeRecordGeneral(env)
	if err != nil {
		return nil, err
	}
	return &Record{r}, nil
}

// DecodeEvent is DecodeEnvelope for a decoded event: the record's members are taken from
// the decoder (Event.Members) when it gives them, without splitting the record again.
func DecodeEvent(ev cloudtrail.Event) (*Record, error) {
	if ev.Members != nil {
		if top, ok := topOf(ev.Record, ev.Members); ok {
			return &Record{&record{raw: ev.Record, lazy: top, whole: true}}, nil
		}
	}
	return DecodeEnvelope(ev.Envelope) // which reads repeated keys, and words errors
}

// Str returns the scalar at a dotted path of the record as text ("" when absent or not a
// scalar).
func (r *Record) Str(path string) string { return r.r.str(path) }

// Raw returns the record's JSON (the envelope's detail).
func (r *Record) Raw() json.RawMessage { return r.r.raw }

// Key returns the value of a field a stateful rule groups, joins or counts by: a title name
// (principal, account ...), sourceNetwork, or a record path. It is "" when absent. The
// actor is not known here: internal/correlate resolves it.
func (r *Record) Key(name string) string {
	switch name {
	case "actor":
		return ""
	case "sourceNetwork":
		return Network(r.r.str("sourceIPAddress"))
	}
	return r.r.field(name)
}

// Principal is Key("principal") for a record that has a userIdentity (not null) or not,
// whose caller's paths str reads as Str would: internal/correlate reads them once.
func Principal(present bool, str func(path string) string) string { return principalOf(present, str) }

// Network reduces an IP address to its network, /24 for IPv4 and /48 for IPv6, the blocks
// one site or provider usually holds; anything else (an AWS service name) is returned as is.
func Network(addr string) string {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return addr
	}
	bits := 48
	if a.Unmap().Is4() {
		a, bits = a.Unmap(), 24
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return addr
	}
	return p.String()
}

// Finding builds stateful rule i's finding for the record that completed it; extra fills
// the stateful placeholders of its title and runbook ({count}, {actor}, ...).
func (e *Engine) Finding(i int, rec *Record, extra func(name string) (string, bool)) finding.Finding {
	return e.finding(i, rec.r, extra)
}

// DecodeRecord decodes a CloudTrail record (an envelope's detail, as Raw returns it) for a
// finding of e's rules: indexed as a record some rule matched is (indexRecord), else each
// top-level member when it is first read.
func (e *Engine) DecodeRecord(detail []byte) (*Record, error) {
	if r, ok := indexRecord(detail, e.index); ok {
		return &Record{r}, nil
	}
	r, err := decodeLazy(detail)
	if err != nil {
		return nil, err
	}
	return &Record{r}, nil
}

// Member returns the JSON of a top-level member of the record (userIdentity, say) for a
// caller that reads it its own way, or nil when the record was decoded whole (read its paths
// then) or has no such member.
func (r *Record) Member(name string) json.RawMessage {
	if r := r.r; r.lazy == nil && r.topSpans != nil {
		// the decoder's spans, none decoded yet: read without making the members of them
		for _, m := range r.topSpans {
			if string(m.Key(r.raw)) == name {
				return json.RawMessage(m.Value(r.raw))
			}
		}
		return nil
	}
	if m := r.r.member(name); m != nil && !m.done {
		return json.RawMessage(m.val)
	}
	return nil
}

// Members calls fn for each member of a JSON object with its key (as written) and raw value,
// without decoding or copying them; false when b is not one object with plain keys, each given
// once, and then fn may have seen some of its members: read what it found only on true.
func Members(b []byte, fn func(key, val []byte)) bool { return eachMember(b, fn) }

// String reads a JSON string, a number or a boolean as text, as Str does; false for
// anything else.
func String(b []byte) (string, bool) {
	s, ok := scalarTextOf(b)
	return s, ok && (s != "" || string(b) == `""`)
}
