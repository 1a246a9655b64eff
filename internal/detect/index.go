package detect

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/trailbell/trailbell/internal/cloudtrail"
	"github.com/trailbell/trailbell/internal/jsonlex"
)

// A record some rule matched is indexed rather than decoded: it is read once, member by
// member, down the objects on the paths a finding reads (indexedPaths), and where each of
// their values lies in the record's bytes is kept. Reading such a path is then a slice of
// the bytes (and a string made of it), and what no one reads is never decoded: in a scan
// where a quarter of the records alert, decoding each of them whole into maps was a sixth of
// the time. Any other path is read by decoding its top-level member (record.load), as in a
// record decoded lazily; both read the same JSON the same way.
//
// A record is not indexed when reading it by its bytes could differ from decoding it: a key
// with escapes or bytes that are not UTF-8 at the top level or in an object on an indexed path
// (it could decode to a name the index knows), a key on an indexed path given twice in its
// object (decoding keeps all its values, see repeated), or a top-level key given twice. Such
// a record is decoded whole, as before.

// indexedPaths are the paths every finding reads (its event part, who and what, the target,
// the key parameters, policy documents) and the ones the predicates of many rules read: the
// static index. An engine adds the paths its rules read (Engine.index).
func indexedPaths() []string {
	ps := []string{
		"eventID", "eventName", "eventSource", "eventTime", "eventType", "awsRegion", "recipientAccountId",
		"sourceIPAddress", "userAgent", "errorCode", "errorMessage", "readOnly",
		"userIdentity.type", "userIdentity.arn", "userIdentity.accountId", "userIdentity.invokedBy",
		"userIdentity.userName", "userIdentity.principalId", "userIdentity.onBehalfOf.userId",
		"userIdentity.accessKeyId",
		"requestParameters.policyArn", "requestParameters.policyName", "requestParameters.taskPolicyArn.arn",
		"requestParameters.flowLogIds", "requestParameters.attributeName", "requestParameters.attributeValue",
		"requestParameters.passwordResetRequired", "requestParameters.managedPolicyArn",
		"requestParameters.policyArns", "responseElements.policy.arn", "responseElements.accessKey.userName",
	}
	ps = append(ps, targetPaths...)
	for _, p := range paramPaths {
		ps = append(ps, p.path)
	}
	for _, p := range docPaths {
		ps = append(ps, p.path)
	}
	return ps
}

// pathNode is one segment of the indexed paths: its slot in a record's index, and the
// segments below it, by key in an object and by position in an array.
type pathNode struct {
	slot  int
	kids  map[string]*pathNode
	byKey strTable[*pathNode] // kids again, for walkObject (see strTable)
	elems []*pathNode
}

// pathIndex is a tree of indexed paths, and the slot of each of them and of every path
// leading to one. An engine's index is staticIndex with the paths of its rules' titles,
// runbooks and fields with memory added after: the paths of staticIndex have the same slots
// in every index (dotted.slot relies on it).
type pathIndex struct {
	root  *pathNode
	slots map[string]int
	paths []string // as added
	// bySlot holds slots again, for slot (see strTable)
	bySlot strTable[int]
}

var staticIndex = newPathIndex(indexedPaths())

// maxSlots bounds the paths indexed: a record's index holds one byte a path. Paths past it
// are read by decoding their top-level member.
const maxSlots = 255

func newPathIndex(paths []string) *pathIndex {
	ix := &pathIndex{root: &pathNode{slot: -1}, slots: map[string]int{}}
	for _, p := range paths {
		ix.add(p)
	}
	ix.bySlot = newStrTable(ix.slots)
	ix.root.freeze()
	return ix
}

// freeze makes the tables walkObject looks keys up in, below n.
func (n *pathNode) freeze() {
	n.byKey = newStrTable(n.kids)
	for _, k := range n.kids {
		k.freeze()
	}
}

// with returns ix with paths added (ix itself when none is new).
func (ix *pathIndex) with(paths []string) *pathIndex {
	var more []string
	for _, p := range paths {
		if _, ok := ix.slots[p]; !ok && indexable(p) {
			more = append(more, p)
		}
	}
	if len(more) == 0 {
		return ix
	}
	return newPathIndex(append(slices.Clip(ix.paths), more...))
}

// add indexes path p and the paths leading to it, unless there is no room for all of them.
func (ix *pathIndex) add(p string) {
	if _, ok := ix.slots[p]; ok || !indexable(p) {
		return
	}
	missing := 0
	for off := 0; ; {
		seg, _, more := strings.Cut(p[off:], ".")
		if _, ok := ix.slots[p[:off+len(seg)]]; !ok {
			missing++
		}
		if !more {
			break
		}
		off += len(seg) + 1
	}
	if len(ix.slots)+missing > maxSlots {
		return
	}
	ix.paths = append(ix.paths, p)
	n := ix.root
	for off := 0; ; {
		seg, _, more := strings.Cut(p[off:], ".")
		next := n.kids[seg]
		if next == nil {
			next = &pathNode{slot: len(ix.slots)}
			ix.slots[p[:off+len(seg)]] = next.slot
			if n.kids == nil {
				n.kids = map[string]*pathNode{}
			}
			n.kids[seg] = next
			if i, err := strconv.Atoi(seg); err == nil {
				// in an array, the element (stepInto reads the segment as an index)
				n.elems = append(n.elems, make([]*pathNode, max(0, i+1-len(n.elems)))...)
				n.elems[i] = next
			}
		}
		n = next
		if !more {
			return
		}
		off += len(seg) + 1
	}
}

// slot is the slot of an indexed path, -1 for another.
func (ix *pathIndex) slot(path string) int {
	if s, ok := get(&ix.bySlot, path); ok {
		return s
	}
	return -1
}

// indexable: a path whose segments that read as array indexes are written the one way
// (0, 12), so that one node stands for one element; a small one.
func indexable(p string) bool {
	for seg := range strings.SplitSeq(p, ".") {
		if i, err := strconv.Atoi(seg); err == nil && (strconv.Itoa(i) != seg || i > 16) {
			return false
		}
	}
	return true
}

// span is where a value lies in the record's bytes, and its text once read (a path such as
// eventName is read by many titles, predicates and fields of one record).
type span struct {
	off, end int32
	text     string
}

// indexRecord reads a record (an envelope's detail) into an index; false when it is one to
// decode (see above), or not one JSON object. It reads the record in one pass, the objects on
// the indexed paths as it goes through them. Its values are not checked: records come from
// the decoder (cloudtrail.Decode, Lift), which checked them.
func indexRecord(detail []byte, ix *pathIndex) (*record, bool) {
	if len(detail) > math.MaxInt32 {
		return nil, false
	}
	r := newIndexed(detail, ix)
	r.lazy = make([]member, 0, 24)
	end, ok := r.walkObject(skipSpace(detail, 0), ix.root, true)
	if !ok || skipSpace(detail, end) != len(detail) {
		return nil, false
	}
	return r, true
}

// indexMembers is indexRecord for a record whose top-level members the decoder found
// (cloudtrail.Event's Record and Members), valid JSON. The top level is read from the members'
// spans, and only the values on indexed paths are walked; false when there are no members, or
// when indexRecord would refuse the record: a top-level key that is not UTF-8 (the decoder
// gives none with escapes) or that is given twice.
func indexMembers(detail []byte, top []cloudtrail.Member, ix *pathIndex) (*record, bool) {
	if len(top) == 0 {
		return nil, false
	}
	r := newIndexed(detail, ix)
	r.topSpans = top
	var seen uint64 // keyBit of each key so far
	for j, m := range top {
		key := m.Key(detail)
		if !utf8.Valid(key) {
			return nil, false
		}
		if bit := keyBit(key); seen&bit == 0 {
			seen |= bit
		} else {
			for _, o := range top[:j] {
				if string(o.Key(detail)) == string(key) {
					return nil, false
				}
			}
		}
		if k, _ := get(&ix.root.byKey, key); k != nil {
			if end, ok := r.walkValue(int(m.ValStart), k); !ok || end != int(m.ValEnd) {
				return nil, false
			}
		}
	}
	return r, true
}

// indexedRecord is an indexed record with room for its index: a record some rule matched
// costs one allocation, not one for the record, one for each of its index's slices and one
// for the event part of its findings.
type indexedRecord struct {
	record
	at    [maxSlots]uint8
	spans [32]span // a record with findings has about twenty values on indexed paths
}

// newIndexed makes the record of detail, to index with ix.
func newIndexed(detail []byte, ix *pathIndex) *record {
	b := new(indexedRecord)
	r := &b.record
	r.raw, r.whole, r.ix, r.at, r.spans = detail, true, ix, b.at[:len(ix.slots)], b.spans[:0]
	return r
}

// walkObject reads the object at raw[i] and returns its end: it notes where the values of
// n's paths below it lie, and at the top level every member in lazy. A key that does not
// decode to itself, and a key given twice at the top or on an indexed path, make it fail.
func (r *record) walkObject(i int, n *pathNode, top bool) (int, bool) {
	b := r.raw
	if i >= len(b) || b[i] != '{' {
		return i, false
	}
	if i = skipSpace(b, i+1); i < len(b) && b[i] == '}' {
		return i + 1, true
	}
	var seen uint64 // keyBit of each top-level key so far
	for {
		if i >= len(b) || b[i] != '"' {
			return i, false
		}
		key, end, plain, ok := jsonlex.StringEnd(b, i)
		if !ok || !plain {
			return i, false
		}
		if i = skipSpace(b, end); i >= len(b) || b[i] != ':' {
			return i, false
		}
		start := skipSpace(b, i+1)
		if k, _ := get(&n.byKey, key); k != nil {
			end, ok = r.walkValue(start, k)
		} else {
			end = valueEnd(b, start)
			ok = end >= 0
		}
		if !ok {
			return end, false
		}
		if top {
			if bit := keyBit(key); seen&bit == 0 {
				seen |= bit
			} else if find(r.lazy, string(key)) != nil {
				return end, false
			}
			r.lazy = append(r.lazy, member{key: key, val: b[start:end]})
		}
		var done bool
		if i, done, ok = afterValue(b, end, '}'); done || !ok {
			return i, ok
		}
	}
}

// walkValue reads the value of path node n at raw[i], notes where it lies, goes on below
// it, and returns its end.
func (r *record) walkValue(i int, n *pathNode) (int, bool) {
	if r.at[n.slot] != 0 {
		return i, false // a key given twice
	}
	b := r.raw
	var end int
	ok := true
	switch {
	case i < len(b) && b[i] == '{' && n.kids != nil:
		end, ok = r.walkObject(i, n, false)
	case i < len(b) && b[i] == '[' && n.elems != nil:
		end, ok = r.walkArray(i, n)
	default:
		if end = valueEnd(b, i); end < 0 {
			return end, false
		}
	}
	if !ok {
		return end, false
	}
	r.spans = append(r.spans, span{off: int32(i), end: int32(end)})
	r.at[n.slot] = uint8(len(r.spans))
	return end, true
}

// walkArray reads the array at raw[i], the elements n indexes as values of their paths, and
// returns its end.
func (r *record) walkArray(i int, n *pathNode) (int, bool) {
	b := r.raw
	if i = skipSpace(b, i+1); i < len(b) && b[i] == ']' {
		return i + 1, true
	}
	for k := 0; ; k++ {
		var end int
		ok := true
		if k < len(n.elems) && n.elems[k] != nil {
			end, ok = r.walkValue(i, n.elems[k])
		} else if end = valueEnd(b, i); end < 0 {
			ok = false
		}
		if !ok {
			return end, false
		}
		var done bool
		if i, done, ok = afterValue(b, end, ']'); done || !ok {
			return i, ok
		}
	}
}

// afterValue reads what follows a value ending at b[end] in an object or array: a comma
// (i is then the next member's or element's offset) or the closer (i is after it, done).
// ok is false for anything else.
func afterValue(b []byte, end int, closer byte) (i int, done, ok bool) {
	if i = skipSpace(b, end); i >= len(b) {
		return i, false, false
	}
	switch b[i] {
	case ',':
		return skipSpace(b, i+1), false, true
	case closer:
		return i + 1, true, true
	}
	return i, false, false
}

// slot is the slot of path in the record's index, -1 when it is not indexed.
func (r *record) slot(path string) int {
	if r.ix == nil {
		return -1
	}
	return r.ix.slot(path)
}

// indexed returns the value at an indexed path's slot (nil when the record has none); ok is
// false when the record is not indexed or the path is not.
func (r *record) indexed(slot int) (v []byte, ok bool) {
	if r.at == nil || slot < 0 {
		return nil, false
	}
	if k := r.at[slot]; k != 0 {
		s := &r.spans[k-1]
		return r.raw[s.off:s.end], true
	}
	return nil, true
}

// indexedText is leafText of the value at an indexed path's slot, made once; ok is false when
// the record or the path is not indexed, or the value is not valid JSON.
func (r *record) indexedText(slot int) (string, bool) {
	if r.at == nil || slot < 0 {
		return "", false
	}
	k := r.at[slot]
	if k == 0 {
		return "", true
	}
	s := &r.spans[k-1]
	if s.text != "" {
		return s.text, true
	}
	t, ok := leafText(r.raw[s.off:s.end])
	s.text = t
	return t, ok
}

// strTable is a read-only map from strings, open-addressed and hashed by a string's length and
// last eight bytes (all of a shorter one), which tell the paths and keys of records apart well.
// A lookup costs a fraction of a map's, and a record some rule matched looks up dozens of
// paths and every key of the objects on indexed paths.
type strTable[V any] struct {
	entries []strEntry[V]
	shift   uint
}

type strEntry[V any] struct {
	key  string
	val  V
	used bool
}

// newStrTable holds m's entries, at most half full.
func newStrTable[V any](m map[string]V) strTable[V] {
	if len(m) == 0 {
		return strTable[V]{}
	}
	bits := uint(1)
	for 1<<bits < 2*len(m) {
		bits++
	}
	t := strTable[V]{entries: make([]strEntry[V], 1<<bits), shift: 64 - bits}
	mask := len(t.entries) - 1
	for k, v := range m {
		h := int(strHash(k) >> t.shift)
		for t.entries[h].used {
			h = (h + 1) & mask
		}
		t.entries[h] = strEntry[V]{k, v, true}
	}
	return t
}

// get looks k up in t.
func get[V any, K string | []byte](t *strTable[V], k K) (V, bool) {
	es := t.entries
	if len(es) > 0 {
		mask := len(es) - 1
		for h := int(strHash(k) >> t.shift); es[h&mask].used; h++ {
			if e := &es[h&mask]; e.key == string(k) {
				return e.val, true
			}
		}
	}
	var zero V
	return zero, false
}

func strHash[K string | []byte](k K) uint64 {
	var w uint64
	if n := len(k); n >= 8 {
		t := k[n-8 : n]
		w = uint64(t[0]) | uint64(t[1])<<8 | uint64(t[2])<<16 | uint64(t[3])<<24 |
			uint64(t[4])<<32 | uint64(t[5])<<40 | uint64(t[6])<<48 | uint64(t[7])<<56
	} else {
		for i := range n {
			w = w<<8 | uint64(k[i])
		}
	}
	return (w ^ uint64(len(k))) * 0x9e3779b97f4a7c15
}
