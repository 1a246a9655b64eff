package detect

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/trailbell/trailbell/internal/cloudtrail"
	"github.com/trailbell/trailbell/internal/finding"
	"github.com/trailbell/trailbell/internal/jsonlex"
)

// record is a CloudTrail record decoded for the few rules that matched it. Decoding is
// generic (a map) because titles and predicates may look at any path, and it happens only
// after the matcher selected the record, so its cost does not grow with traffic.
type record struct {
	raw     json.RawMessage
	m       map[string]any
	docs    []policyDoc // policy documents in the record, parsed on first use
	parsed  bool
	whole   bool // the decoded value was all of raw
	valid   bool // raw is the decoder's record, valid JSON (cloudtrail.Event.Record)
	compact bool // and has no white space between its tokens (cloudtrail.Event.Compact)
	// lazy holds the top-level members, decoded into m when first read (see decodeLazy);
	// nil when m is whole. An indexed record the decoder gave with its members' spans keeps
	// those (topSpans) and makes lazy of them only when a member is looked up (member).
	lazy     []member
	topSpans []cloudtrail.Member
	// at and spans index where the values of indexedPaths lie in raw (see indexRecord):
	// at[slot] is 1 + the value's place in spans, 0 when the record has none; at is nil for
	// a record not indexed.
	ix    *pathIndex
	at    []uint8
	spans []span
	// event is the part of a finding that is the same for every rule matching the record
	// (in ev once worked out), and derived the derived values titles and runbooks read (those
	// set in have), each worked out once: a record that several rules match (and a title, a
	// runbook and a finding reading the same target) costs one lookup of each
	event   *finding.Finding
	ev      finding.Finding
	derived [numFields]string
	have    uint16
	// top is the top-level member strAt looked up last (its value once loaded never changes)
	top struct {
		name string
		v    any
		set  bool
	}
}

// envelopeRecord decodes the record inside an EventBridge envelope. (Decoding the envelope
// with a token-level json.Decoder to save a pass measured slower: it copies its input and
// allocates per member.)
func envelopeRecord(env []byte) (*record, error) {
	if detail, ok := liftedDetail(env); ok {
		if rec, err := decodeRecord(detail); err == nil && rec.whole {
			return rec, nil
		}
		// anything unusual takes the general path, which also words the errors
	}
	return envelopeRecordGeneral(env)
}

// matchedRecord reads the record of an envelope some rule matched: indexed when it can be
// (indexRecord), else decoded whole.
// rec and top, when not nil, are the envelope's record and its top-level members as the
// decoder gave them (cloudtrail.Event), which spare reading the record's top level again.
func matchedRecord(env, rec []byte, top []cloudtrail.Member, ix *pathIndex) (*record, error) {
	// the decoder's record is the envelope's detail: its head need not be read to find it
	if len(rec) > 1 && rec[0] == '{' && rec[len(rec)-1] == '}' {
		if r, ok := indexMembers(rec, top, ix); ok {
			return r, nil
		}
	}
	if detail, ok := liftedDetail(env); ok {
		if r, ok := indexRecord(detail, ix); ok {
			return r, nil
		}
	}
	return envelopeRecord(env)
}

// envelopeRecordGeneral decodes the envelope to find its detail, whatever the layout.
func envelopeRecordGeneral(env []byte) (*record, error) {
	var ev struct {
		Detail json.RawMessage `json:"detail"`
	}
	if err := json.Unmarshal(env, &ev); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) && ute.Field == "" {
			return nil, fmt.Errorf("decode envelope: not a JSON object")
		}
		return nil, fmt.Errorf("decode envelope: %w", err)
	}
	if ev.Detail == nil {
		return nil, fmt.Errorf("decode envelope: no detail")
	}
	return decodeRecord(ev.Detail)
}

// liftMarker ends the members cloudtrail.Lift writes before the record.
var liftMarker = []byte(`,"resources":[],"detail":`)

// liftedDetail finds the record in an envelope laid out as cloudtrail.Lift writes it (flat
// members, then resources and detail last) without decoding the envelope twice: it reads the
// members before the marker (keys with strings, numbers, true, false or null) and reports false
// for any other layout. The envelope's head is read once, and nothing of the record.
func liftedDetail(env []byte) ([]byte, bool) {
	i, ok := liftHead(env)
	if !ok {
		return nil, false
	}
	end := len(bytes.TrimRight(env, " \t\r\n"))
	if end == 0 || env[end-1] != '}' {
		return nil, false
	}
	return bytes.TrimSpace(env[i+len(liftMarker) : end-1]), true
}

// liftHead reads the head of a Lift-shaped envelope: '{', then one or more members whose
// values are scalars, separated by commas, up to liftMarker, whose offset it returns.
func liftHead(b []byte) (int, bool) {
	if len(b) == 0 || b[0] != '{' {
		return 0, false
	}
	i := skipSpace(b, 1)
	for {
		if i >= len(b) || b[i] != '"' {
			return 0, false
		}
		_, end, _, ok := jsonlex.StringEnd(b, i)
		if !ok {
			return 0, false
		}
		if i = skipSpace(b, end); i >= len(b) || b[i] != ':' {
			return 0, false
		}
		if i = skipSpace(b, i+1); i >= len(b) {
			return 0, false
		}
		switch c := b[i]; {
		case c == '"':
			_, i, _, ok = jsonlex.StringEnd(b, i)
		case c == 't':
			i, ok = i+4, len(b)-i >= 4 && string(b[i:i+4]) == "true"
		case c == 'f':
			i, ok = i+5, len(b)-i >= 5 && string(b[i:i+5]) == "false"
		case c == 'n':
			i, ok = i+4, len(b)-i >= 4 && string(b[i:i+4]) == "null"
		default:
			i, ok = jsonlex.NumberEnd(b, i)
		}
		if !ok {
			return 0, false
		}
		i = skipSpace(b, i)
		if bytes.HasPrefix(b[i:], liftMarker) {
			return i, true
		}
		if i >= len(b) || b[i] != ',' {
			return 0, false
		}
		i = skipSpace(b, i+1)
	}
}

func decodeRecord(detail json.RawMessage) (*record, error) {
	if v, end, ok := parseJSON(detail, true); ok {
		if m, isObj := v.(map[string]any); isObj {
			return &record{raw: detail, m: m, whole: skipSpace(detail, end) == len(detail)}, nil
		}
	}
	return decodeRecordSlow(detail)
}

// decodeRecordSlow is decodeRecord through encoding/json, for what parseJSON does not read
// (and to word the error).
func decodeRecordSlow(detail json.RawMessage) (*record, error) {
	d := json.NewDecoder(bytes.NewReader(detail))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) {
			return nil, fmt.Errorf("decode record: detail is not a JSON object")
		}
		return nil, fmt.Errorf("decode record: %w", err)
	}
	if m == nil {
		return nil, fmt.Errorf("decode record: detail is not a JSON object")
	}
	// whole: nothing but space follows the record (the fast path in envelopeRecord needs it)
	rest := detail[d.InputOffset():]
	whole := len(bytes.TrimLeft(rest, " \t\r\n")) == 0
	if hasRepeatedKey(detail[:d.InputOffset()]) {
		merged, err := decodeRepeated(detail[:d.InputOffset()])
		if err != nil {
			return nil, fmt.Errorf("decode record: %w", err)
		}
		m = merged
	}
	return &record{raw: detail, m: m, whole: whole}, nil
}

// lookup follows a dotted path; array elements are addressed by index ("resources.0.ARN").
func (r *record) lookup(path string) any {
	if strings.IndexByte(path, '.') > 0 {
		// an indexed path below the top level: only its value is decoded (a top-level
		// member is decoded once, into m, below)
		if v, ok := r.indexed(r.slot(path)); ok {
			if v == nil {
				return nil
			}
			if x, err := decodeMember(v); err == nil {
				return x
			}
		}
	}
	if r.isLazy() {
		top, _, _ := strings.Cut(path, ".")
		r.load(top)
	}
	return lookupPath(r.m, path)
}

// present reports whether the record has the top-level member top, not null (lookup(top) !=
// nil), without decoding it.
func (r *record) present(top string) bool {
	if v, ok := r.indexed(r.slot(top)); ok && r.whole {
		return v != nil && string(v) != "null" // the one member top, as indexRecord found it
	}
	if r.isLazy() {
		if m := r.member(top); m == nil || !m.done {
			return m != nil && string(m.val) != "null"
		}
	}
	return r.lookup(top) != nil
}

// isLazy reports whether the record is read member by member (see lazy).
func (r *record) isLazy() bool { return r.lazy != nil || r.topSpans != nil }

// member returns the top-level member named key of a lazily read record, or nil.
func (r *record) member(key string) *member {
	if r.lazy == nil && r.topSpans != nil {
		r.lazy = make([]member, len(r.topSpans))
		for i, m := range r.topSpans {
			r.lazy[i] = member{key: m.Key(r.raw), val: m.Value(r.raw)}
		}
		r.topSpans = nil
	}
	return find(r.lazy, key)
}

// load decodes the top-level member top of a lazily read record into its map, once.
func (r *record) load(top string) {
	if m := r.member(top); m != nil && !m.done {
		m.done = true
		if v, err := decodeMember(m.val); err == nil {
			if r.m == nil {
				r.m = make(map[string]any, 8)
			}
			r.m[top] = v
		}
	}
}

// dotted is a dotted path split once into its segments, with where each starts in the text
// (a repeated key's values are looked up by the rest of the path), and its slot in an
// indexed record: the lists of paths every finding reads (targets, parameters) are not cut
// again for each record.
type dotted struct {
	text string
	segs []string
	offs []int
	slot int
}

func splitDotted(path string) dotted {
	d := dotted{text: path, slot: staticIndex.slot(path)}
	for off := 0; ; {
		seg, _, more := strings.Cut(path[off:], ".")
		d.segs, d.offs = append(d.segs, seg), append(d.offs, off)
		if !more {
			return d
		}
		off += len(seg) + 1
	}
}

// absent reports whether the record is indexed and has no value at the path of slot (-1 for
// a path not indexed): strAt reads "" there. The lists of paths a finding reads are mostly
// absent from a record, and this spares them the calls.
func (r *record) absent(slot int) bool { return slot >= 0 && r.at != nil && r.at[slot] == 0 }

// strAt is str(p.text).
func (r *record) strAt(p *dotted) string {
	if s, ok := r.indexedText(p.slot); ok {
		return s
	}
	if r.isLazy() {
		if m := r.member(p.segs[0]); len(p.segs) == 1 && m != nil && !m.done {
			if s, ok := scalarTextOf(m.val); ok {
				return s
			}
		}
		r.load(p.segs[0])
	}
	// the lists of paths mostly share their first segment: it is looked up once for a run
	var cur any
	if r.top.set && r.top.name == p.segs[0] {
		cur = r.top.v
	} else {
		cur = r.m[p.segs[0]]
		r.top.name, r.top.v, r.top.set = p.segs[0], cur, true
	}
	if cur == nil {
		return ""
	}
	for i := 1; i < len(p.segs); i++ {
		next, rep := stepInto(cur, p.segs[i])
		if rep != nil {
			return scalarText(lookupRepeated(rep, p.text[p.offs[i]:]))
		}
		if cur = next; cur == nil {
			return ""
		}
	}
	return scalarText(cur)
}

// decodeLazy splits a record into its top-level members and decodes each only when a path
// first reaches into it: detection with memory reads a few fields of many records (the
// caller, a key, a name), and a whole decode of every one would cost it most of its time.
// A record with a top-level key set twice takes decodeRecord's way, which merges them.
func decodeLazy(detail json.RawMessage) (*record, error) {
	// The values are not checked here (that is what made a whole decode cost so much): a
	// member that is not valid JSON reads as absent. Records reach here from the decoder,
	// which checked them.
	top, ok := splitTop(detail)
	if !ok {
		return decodeRecord(detail) // which reads repeated keys, and words errors
	}
	return &record{raw: detail, lazy: top, whole: true}, nil
}

// decodeMember decodes one member's value, numbers as json.Number, repeated keys inside it
// merged as decodeRecord merges them.
func decodeMember(b []byte) (any, error) {
	if v, ok := scalar(b); ok {
		return v, nil
	}
	if v, _, ok := parseJSON(b, true); ok {
		return v, nil
	}
	if len(b) > 0 && b[0] == '{' && hasRepeatedKey(b) {
		return decodeRepeated(b)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	err := d.Decode(&v)
	return v, err
}

func lookupPath(cur any, path string) any {
	for {
		seg, rest, more := strings.Cut(path, ".")
		next, rep := stepInto(cur, seg)
		if rep != nil {
			return lookupRepeated(rep, path)
		}
		cur = next
		if cur == nil || !more {
			return cur
		}
		path = rest
	}
}

// stepInto goes one segment of a path down from cur: a member of an object, an element of an
// array by its index. rep holds the values of a repeated key instead, each of which the rest of
// the path (this segment included) is to be looked up in.
func stepInto(cur any, seg string) (next any, rep repeated) {
	switch v := cur.(type) {
	case map[string]any:
		return v[seg], nil
	case []any:
		n, err := strconv.Atoi(seg)
		if err != nil || n < 0 || n >= len(v) {
			return nil, nil
		}
		return v[n], nil
	case repeated:
		return nil, v
	}
	return nil, nil
}

// str returns a scalar at path as text ("" when absent, null or not a scalar).
func (r *record) str(path string) string {
	if r.at != nil {
		if s, ok := r.indexedText(r.slot(path)); ok {
			return s
		}
	}
	return r.strUnindexed(path)
}

// knownPath is a path of the static index the code reads by name, with its slot, looked up
// once rather than for each record (every index gives the static paths the same slots).
type knownPath struct {
	path string
	slot int
}

func known(path string) knownPath { return knownPath{path, staticIndex.slot(path)} }

// The paths every finding reads.
var (
	pathEventID       = known("eventID")
	pathEventName     = known("eventName")
	pathEventSource   = known("eventSource")
	pathEventTime     = known("eventTime")
	pathRegion        = known("awsRegion")
	pathSourceIP      = known("sourceIPAddress")
	pathUserAgent     = known("userAgent")
	pathErrorCode     = known("errorCode")
	pathErrorMessage  = known("errorMessage")
	pathRecipient     = known("recipientAccountId")
	pathCallerType    = known("userIdentity.type")
	pathCallerARN     = known("userIdentity.arn")
	pathCallerAccount = known("userIdentity.accountId")
)

// strOf is str(p.path).
func (r *record) strOf(p *knownPath) string {
	if r.at != nil {
		if s, ok := r.indexedText(p.slot); ok {
			return s
		}
	}
	return r.strUnindexed(p.path)
}

// strUnindexed is str for a record or path that is not indexed.
func (r *record) strUnindexed(path string) string {
	if r.isLazy() && strings.IndexByte(path, '.') < 0 {
		// a top-level scalar not decoded yet: its text, without decoding it into the map
		if m := r.member(path); m != nil && !m.done {
			if s, ok := scalarTextOf(m.val); ok {
				return s
			}
		}
	}
	return scalarText(r.lookup(path))
}

func scalarText(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	case bool:
		return strconv.FormatBool(v)
	case repeated:
		return repeatedText(v)
	}
	return ""
}

// fieldID is what a placeholder reads, worked out once when its template is parsed
// (fieldOf): a path into the record, a record field by its name (str), or a derived value.
type fieldID uint8

const (
	fieldPath fieldID = iota
	fieldName
	fieldPrincipal
	fieldPrincipalType
	fieldTarget
	fieldPolicy
	fieldWho
	fieldTargetName
	fieldPolicyName
	fieldGrants
	fieldAccount
	fieldResult
	fieldRegion
	fieldSourceNetwork
	numFields
)

// fieldOf is the fieldID of a placeholder's name.
func fieldOf(name string) fieldID {
	switch name {
	case "principal":
		return fieldPrincipal
	case "principalType":
		return fieldPrincipalType
	case "target":
		return fieldTarget
	case "policy":
		return fieldPolicy
	case "who":
		return fieldWho
	case "targetName":
		return fieldTargetName
	case "policyName":
		return fieldPolicyName
	case "grants":
		return fieldGrants
	case "account":
		return fieldAccount
	case "result":
		return fieldResult
	case "region":
		return fieldRegion
	case "sourceNetwork":
		return fieldSourceNetwork
	}
	if fieldNames[name] {
		return fieldName
	}
	return fieldPath
}

// field resolves a template placeholder.
func (r *record) field(name string) string {
	return r.fieldAt(fieldOf(name), name, strings.TrimPrefix(name, "detail."))
}

// fieldAt is the value of a placeholder named name, of id, reading path when it is a path.
func (r *record) fieldAt(id fieldID, name, path string) string {
	switch id {
	case fieldName:
		return r.str(name)
	case fieldPath:
		return r.pathField(path)
	}
	if r.have&(1<<id) != 0 {
		return r.derived[id]
	}
	v := r.derive(id)
	r.derived[id] = v
	r.have |= 1 << id
	return v
}

// derive works out a derived value.
func (r *record) derive(id fieldID) string {
	switch id {
	case fieldPrincipal:
		return r.principal()
	case fieldPrincipalType:
		return r.str("userIdentity.type")
	case fieldTarget:
		return r.target()
	case fieldPolicy:
		return r.policy()
	case fieldWho:
		return r.who()
	case fieldTargetName:
		return shortName(r.fieldAt(fieldTarget, "", ""))
	case fieldPolicyName:
		return shortName(r.fieldAt(fieldPolicy, "", ""))
	case fieldGrants:
		if r.event != nil {
			return strings.Join(r.event.Grants, "; ") // worked out already for the finding
		}
		return strings.Join(r.grants(), "; ")
	case fieldAccount:
		return r.account()
	case fieldResult:
		return r.result()
	case fieldRegion:
		return r.str("awsRegion")
	case fieldSourceNetwork:
		return Network(r.str("sourceIPAddress"))
	}
	return ""
}

// pathField is a placeholder's value at a record path: a scalar's text, else (an object, an
// array) its JSON, trimmed.
func (r *record) pathField(path string) string {
	if s, ok := r.indexedText(r.slot(path)); ok && s != "" {
		return s // a scalar's text; what reads "" (an object, an empty string) is decoded below
	}
	v := r.lookup(path)
	if s := scalarText(v); s != "" || v == nil {
		return s
	}
	b, _ := json.Marshal(v) // decoded JSON always re-encodes
	return trimText(string(b), 120)
}

func trimText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8Start(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

func (r *record) account() string {
	if a := r.strOf(&pathRecipient); a != "" {
		return a
	}
	return r.strOf(&pathCallerAccount)
}

// principal names the caller readably: the ARN when there is one, else a phrase for root,
// AWS services and records without userIdentity.
func (r *record) principal() string { return principalOf(r.present("userIdentity"), r.str) }

// principalOf is principal for a record that has a userIdentity or not, whose paths str reads.
func principalOf(present bool, str func(path string) string) string {
	typ := str("userIdentity.type")
	arn := str("userIdentity.arn")
	switch {
	case !present:
		return "unknown principal"
	case typ == "AWSService":
		if by := str("userIdentity.invokedBy"); by != "" {
			return "AWS service " + by
		}
		return "an AWS service"
	case arn != "":
		return arn
	case typ == "Root":
		if a := str("userIdentity.accountId"); a != "" {
			return "root of account " + a
		}
		return "root"
	case typ == "AWSAccount":
		return "account " + str("userIdentity.accountId")
	}
	for _, p := range []string{"userIdentity.userName", "userIdentity.onBehalfOf.userId", "userIdentity.principalId"} {
		if v := str(p); v != "" {
			return v
		}
	}
	if typ != "" {
		return typ
	}
	return "unknown principal"
}

// who names the caller briefly for titles: "user/alice", "root", "role/deploy (session)",
// "jane@example.com (SSO AdministratorAccess)", "federated-user/bob", "service
// ec2.amazonaws.com", and " of account N" when the caller belongs to another account than
// the record's. The full ARN stays in Finding.Principal.
func (r *record) who() string {
	typ := r.str("userIdentity.type")
	arn := r.str("userIdentity.arn")
	var s string
	switch {
	case !r.present("userIdentity"):
		return "unknown caller"
	case typ == "Root":
		s = "root"
	case typ == "AWSService":
		if by := r.str("userIdentity.invokedBy"); by != "" {
			return "service " + by
		}
		return "an AWS service"
	case typ == "AWSAccount":
		return "account " + cmp.Or(r.str("userIdentity.accountId"), r.str("userIdentity.principalId"), "?")
	case typ == "IdentityCenterUser":
		s = "Identity Center user " + cmp.Or(r.str("userIdentity.userName"), r.str("userIdentity.onBehalfOf.userId"), "?")
	case arn != "":
		s = shortPrincipal(arn)
	default:
		s = cmp.Or(r.str("userIdentity.userName"), r.str("userIdentity.principalId"), typ, "unknown caller")
	}
	own := r.str("recipientAccountId")
	if from := cmp.Or(accountOf(arn), r.str("userIdentity.accountId")); own != "" && from != "" && from != own {
		s += " of account " + from
	}
	return s
}

// shortPrincipal shortens a caller's ARN to its kind and name: IAM paths are dropped, an
// assumed role shows its session, and an Identity Center (AWSReservedSSO_) session shows the
// person and the permission set.
func shortPrincipal(arn string) string {
	_, res, ok := splitARN(arn)
	if !ok {
		return arn
	}
	kind, rest, ok := strings.Cut(res, "/")
	if !ok {
		return res // "root"
	}
	switch kind {
	case "assumed-role":
		role, session, _ := strings.Cut(rest, "/")
		if set, ok := strings.CutPrefix(role, "AWSReservedSSO_"); ok {
			// AWSReservedSSO_<permission set>_<16 hex digits>
			if i := strings.LastIndexByte(set, '_'); i > 0 {
				set = set[:i]
			}
			return session + " (SSO " + set + ")"
		}
		if session == "" {
			return "role/" + role
		}
		return "role/" + role + " (" + session + ")"
	case "user", "role", "group", "federated-user":
		return kind + "/" + rest[strings.LastIndexByte(rest, '/')+1:]
	}
	return res
}

// splitARN returns the service and resource parts of an ARN (the resource is everything
// after the fifth colon); ok is false when s is not an ARN.
func splitARN(s string) (service, resource string, ok bool) {
	p, ok := arnParts(s)
	return p[2], p[5], ok
}

// arnParts cuts an ARN at its first five colons (strings.SplitN(s, ":", 6) without the
// slice); ok is false when s is not an ARN.
func arnParts(s string) (p [6]string, ok bool) {
	if !strings.HasPrefix(s, "arn:") {
		return p, false
	}
	for i := range 5 {
		j := strings.IndexByte(s, ':')
		if j < 0 {
			return [6]string{}, false
		}
		p[i], s = s[:j], s[j+1:]
	}
	p[5] = s
	return p, true
}

// shortName is the name inside an ARN, for titles: "arn:aws:iam::aws:policy/AdministratorAccess"
// gives "AdministratorAccess", a trail ARN the trail's name, a Lambda function ARN the
// function's name; an S3 ARN keeps its bucket (and key). Anything else is returned unchanged.
func shortName(s string) string {
	service, res, ok := splitARN(s)
	switch {
	case !ok:
		return s
	case service == "s3":
		return res
	case service == "lambda":
		// function:NAME or function:NAME:QUALIFIER
		if kind, rest, ok := strings.Cut(res, ":"); ok && kind == "function" {
			return rest
		}
	}
	if i := strings.LastIndexAny(res, "/:"); i >= 0 && i < len(res)-1 {
		return res[i+1:]
	}
	return res
}

// callerName is the name the caller goes by: an IAM user's name, or the session name of an
// assumed role (people's sessions are usually named after them, e.g. SSO "jane@example.com").
func (r *record) callerName() string {
	switch r.str("userIdentity.type") {
	case "IAMUser":
		if n := r.str("userIdentity.userName"); n != "" {
			return n
		}
	case "AssumedRole", "FederatedUser":
	default:
		return ""
	}
	arn := r.str("userIdentity.arn")
	return arn[strings.LastIndexAny(arn, "/:")+1:]
}

// targetUser is the IAM user acted on, from the request or (CreateAccessKey) the response.
func (r *record) targetUser() string {
	if u := r.str("requestParameters.userName"); u != "" {
		return u
	}
	return r.str("responseElements.accessKey.userName")
}

// targetPaths are, in order, where the thing acted on is named.
var targetPaths = []string{
	"requestParameters.userName", "requestParameters.roleName", "requestParameters.groupName",
	"requestParameters.instanceProfileName", "requestParameters.policyArn",
	"requestParameters.sAMLProviderArn", "requestParameters.openIDConnectProviderArn",
	"requestParameters.serialNumber", "requestParameters.virtualMFADeviceName", "requestParameters.roleArn", "requestParameters.name",
	"requestParameters.trailName", "requestParameters.bucketName", "requestParameters.keyId",
	"requestParameters.functionName", "requestParameters.detectorId",
	"requestParameters.configurationRecorderName", "requestParameters.deliveryChannelName",
	"requestParameters.queueUrl", "requestParameters.topicArn", "requestParameters.repositoryName",
	"requestParameters.secretId", "requestParameters.groupId", "requestParameters.networkAclId",
	"requestParameters.resolverQueryLogConfigId", "requestParameters.regionName",
	"requestParameters.RegionName", "requestParameters.internetGatewayId",
	"requestParameters.routeTableId", "requestParameters.customerGatewayId",
	"requestParameters.vpcPeeringConnectionId", "requestParameters.vpcId",
	"requestParameters.directoryId", "requestParameters.policyId",
	"responseElements.accessKey.userName", "responseElements.user.userName",
	"responseElements.policy.arn", "requestParameters.url",
	"requestParameters.DeleteFlowLogsRequest.FlowLogId.content",
	"requestParameters.ModifyInstanceMetadataOptionsRequest.InstanceId", "requestParameters.InstanceId",
	"responseElements.internetGateway.internetGatewayId", "responseElements.vpc.vpcId",
	"responseElements.routeTable.routeTableId", "responseElements.networkAcl.networkAclId",
	"responseElements.groupId",
	// monitoring and data-protection services
	"requestParameters.eventDataStore", "requestParameters.configRuleName",
	"requestParameters.organizationConfigRuleName", "requestParameters.configurationAggregatorName",
	"requestParameters.conformancePackName", "requestParameters.organizationConformancePackName",
	"requestParameters.retentionConfigurationName", "requestParameters.authorizedAccountId",
	"requestParameters.customKeyStoreId", "requestParameters.customKeyStoreName",
	"requestParameters.logGroupName", "requestParameters.rule", "requestParameters.GraphArn",
	"requestParameters.backupVaultName", "requestParameters.reportPlanName",
	"requestParameters.frameworkName", "requestParameters.snapshotId", "requestParameters.imageId",
	"requestParameters.dBSnapshotIdentifier", "requestParameters.dBClusterSnapshotIdentifier",
	"requestParameters.accountId", "requestParameters.targetPrincipal",
}

// targetDotted is targetPaths, split.
var targetDotted = splitEach(targetPaths, func(p string) string { return p })

// splitEach splits the path of each of xs.
func splitEach[T any](xs []T, path func(T) string) []dotted {
	out := make([]dotted, len(xs))
	for i, x := range xs {
		out[i] = splitDotted(path(x))
	}
	return out
}

func (r *record) target() string {
	for i := range targetDotted {
		if r.absent(targetDotted[i].slot) {
			continue
		}
		if v := r.strAt(&targetDotted[i]); v != "" {
			return v
		}
	}
	// Lists such as DeleteFlowLogs' flowLogIds arrive as arrays or {"item": [...]}.
	if v := r.lookup("requestParameters.flowLogIds"); v != nil {
		b, _ := json.Marshal(v)
		return trimText(string(b), 120)
	}
	switch {
	case r.str("eventName") == "ModifyInstanceMetadataDefaults":
		return "new instances in " + r.str("awsRegion") // the account's default in the region
	case strings.HasSuffix(r.str("eventName"), "AccountPublicAccessBlock"):
		return "account " + r.account() // S3 Block Public Access of the whole account
	case r.str("eventName") == "CreateAccessKey" && r.str("userIdentity.type") == "Root":
		return "root (own key)"
	case r.str("eventName") == "ConsoleLogin" || r.str("eventName") == "CreateAccessKey" ||
		r.str("eventName") == "ChangePassword":
		return r.principal() // the caller acted on itself
	}
	return ""
}

// result is the error code of a failed call, or "success".
func (r *record) result() string {
	if c := r.str("errorCode"); c != "" {
		return c
	}
	if m := r.str("errorMessage"); m != "" {
		return trimText(m, 80)
	}
	return "success"
}

func (r *record) policy() string {
	for _, p := range []string{"requestParameters.policyArn", "requestParameters.policyName", "responseElements.policy.arn", "requestParameters.taskPolicyArn.arn"} {
		if v := r.str(p); v != "" {
			return v
		}
	}
	return ""
}

// paramPaths are the request parameters worth showing, with the names findings use.
var paramPaths = []struct{ name, path string }{
	{"userName", "requestParameters.userName"},
	{"roleName", "requestParameters.roleName"},
	{"groupName", "requestParameters.groupName"},
	{"instanceProfileName", "requestParameters.instanceProfileName"},
	{"policyArn", "requestParameters.policyArn"},
	{"policyName", "requestParameters.policyName"},
	{"versionId", "requestParameters.versionId"},
	{"setAsDefault", "requestParameters.setAsDefault"},
	{"accessKeyId", "requestParameters.accessKeyId"},
	{"accessKeyId", "responseElements.accessKey.accessKeyId"},
	{"status", "requestParameters.status"},
	{"passwordResetRequired", "requestParameters.passwordResetRequired"},
	{"serialNumber", "requestParameters.serialNumber"},
	{"roleArn", "requestParameters.roleArn"},
	{"roleSessionName", "requestParameters.roleSessionName"},
	{"samlProviderArn", "requestParameters.sAMLProviderArn"},
	{"name", "requestParameters.name"},
	{"trailName", "requestParameters.trailName"},
	{"bucketName", "requestParameters.bucketName"},
	{"keyId", "requestParameters.keyId"},
	{"pendingWindowInDays", "requestParameters.pendingWindowInDays"},
	{"functionName", "requestParameters.functionName"},
	{"detectorId", "requestParameters.detectorId"},
	{"enable", "requestParameters.enable"},
	{"groupId", "requestParameters.groupId"},
	{"cidrIp", "requestParameters.ipPermissions.items.0.ipRanges.items.0.cidrIp"},
	{"cidrBlock", "requestParameters.cidrBlock"},
	{"ruleAction", "requestParameters.ruleAction"},
	{"regionName", "requestParameters.regionName"},
	{"consoleLogin", "responseElements.ConsoleLogin"},
	{"mfaUsed", "additionalEventData.MFAUsed"},
	{"createdUser", "responseElements.user.arn"},
	{"createdPolicy", "responseElements.policy.arn"},
	{"newVersion", "responseElements.policyVersion.versionId"},
	{"targetPrincipal", "requestParameters.targetPrincipal"},
	{"taskPolicyArn", "requestParameters.taskPolicyArn.arn"},
}

// paramDotted is paramPaths' paths, split.
var paramDotted = splitEach(paramPaths, func(p struct{ name, path string }) string { return p.path })

func (r *record) params() []finding.Param {
	var ps []finding.Param
	for i, p := range paramPaths {
		if r.absent(paramDotted[i].slot) {
			continue
		}
		if v := r.strAt(&paramDotted[i]); v != "" {
			ps = append(ps, finding.Param{Name: p.name, Value: trimText(v, 200)})
		}
	}
	return ps
}
