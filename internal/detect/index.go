package detect

import (
	"strconv"
	"strings"
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
// on an indexed path that has escapes (it could decode to a name the index knows) or occurs
// twice in its object (decoding keeps all its values, see repeated), or a top-level key given
// twice. Such a record is decoded whole, as before.

// indexedPaths are the paths every finding reads (its event part, who and what, the target,
// the key parameters, policy documents) and the ones the predicates of many rules read.
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
	elems []*pathNode
}

// pathRoot is the tree of indexedPaths; pathSlots gives the slot of each of them and of every
// path leading to one.
var pathRoot, pathSlots = buildPathIndex(indexedPaths())

// maxSlots bounds the paths indexed: a record's index holds one byte a path.
const maxSlots = 255

func buildPathIndex(paths []string) (*pathNode, map[string]int) {
	root := &pathNode{slot: -1}
	slots := map[string]int{}
	for _, p := range paths {
		if _, ok := slots[p]; ok || !indexable(p) {
			continue
		}
		n := root
		for off := 0; ; {
			seg, _, more := strings.Cut(p[off:], ".")
			next := n.kids[seg]
			if next == nil {
				if len(slots) == maxSlots {
					panic("detect: more indexed paths than a record's index holds")
				}
				next = &pathNode{slot: len(slots)}
				slots[p[:off+len(seg)]] = next.slot
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
				break
			}
			off += len(seg) + 1
		}
	}
	return root, slots
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

// span is where a value lies in the record's bytes.
type span struct{ off, end int32 }

// indexRecord reads a record (an envelope's detail) into an index; false when it is one to
// decode (see above), or not one JSON object. Its values are not checked: records come from
// the decoder (cloudtrail.Decode, Lift), which checked them.
func indexRecord(detail []byte) (*record, bool) {
	if len(detail) > 1<<31-1 {
		return nil, false
	}
	r := &record{raw: detail, whole: true, lazy: make([]member, 0, 24),
		at: make([]uint8, len(pathSlots)), spans: make([]span, 0, 32)}
	i, ok := firstMember(detail)
	if !ok {
		return nil, false
	}
	var seen uint64 // keyBit of each top-level key so far
	for i < len(detail) {
		key, val, next, ok := nextMember(detail, i, true)
		if !ok {
			return nil, false
		}
		if bit := keyBit(key); seen&bit == 0 {
			seen |= bit
		} else if find(r.lazy, string(key)) != nil {
			return nil, false
		}
		r.lazy = append(r.lazy, member{key: key, val: val})
		if n := pathRoot.kids[string(key)]; n != nil && !r.visit(val, n) {
			return nil, false
		}
		i = next
	}
	return r, true
}

// visit notes where the value v of path node n lies, and goes on below it.
func (r *record) visit(v []byte, n *pathNode) bool {
	if r.at[n.slot] != 0 {
		return false // a key given twice
	}
	off := cap(r.raw) - cap(v) // v is a slice of raw
	r.spans = append(r.spans, span{int32(off), int32(off + len(v))})
	r.at[n.slot] = uint8(len(r.spans))
	switch {
	case len(v) == 0:
		return false
	case v[0] == '{' && n.kids != nil:
		return r.visitObject(v, n)
	case v[0] == '[' && n.elems != nil:
		return r.visitArray(v, n)
	}
	return true
}

func (r *record) visitObject(v []byte, n *pathNode) bool {
	i, ok := firstMember(v)
	if !ok {
		return false
	}
	for i < len(v) {
		key, val, next, ok := nextMember(v, i, true)
		if !ok {
			return false
		}
		if k := n.kids[string(key)]; k != nil && !r.visit(val, k) {
			return false
		}
		i = next
	}
	return true
}

func (r *record) visitArray(v []byte, n *pathNode) bool {
	i := skipSpace(v, 1)
	if i < len(v) && v[i] == ']' {
		return true
	}
	for k := 0; k < len(n.elems); k++ {
		end := valueEnd(v, i)
		if end < 0 {
			return false
		}
		if e := n.elems[k]; e != nil && !r.visit(v[i:end], e) {
			return false
		}
		switch i = skipSpace(v, end); {
		case i < len(v) && v[i] == ',':
			i = skipSpace(v, i+1)
		case i < len(v) && v[i] == ']':
			return true
		default:
			return false
		}
	}
	return true
}

// indexed returns the value at an indexed path's slot (nil when the record has none); ok is
// false when the record is not indexed or the path is not.
func (r *record) indexed(slot int) (v []byte, ok bool) {
	if r.at == nil || slot < 0 {
		return nil, false
	}
	if k := r.at[slot]; k != 0 {
		s := r.spans[k-1]
		return r.raw[s.off:s.end], true
	}
	return nil, true
}

// slotOf is the slot of an indexed path, -1 for another.
func slotOf(path string) int {
	if s, ok := pathSlots[path]; ok {
		return s
	}
	return -1
}
