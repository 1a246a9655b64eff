package pattern

import (
	"unicode"
	"unicode/utf8"
)

// pathNode is one step of the tree of field paths that some pattern names. The scanner
// walks the event and this tree together and skips every key that has no node.
type pathNode struct {
	id       int32
	children map[string]*pathNode
	field    int32 // index into snapshot.fields, -1 when no pattern tests a value here
}

// target is what a value hit satisfies: one positive condition of one sub-pattern.
type target = int32

type strTarget struct {
	s string
	t target
}

type wcTarget struct {
	wc *wildcard
	t  target
}

type numTarget struct {
	r numRange
	t target
}

type abTarget struct {
	ab *anythingBut
	t  target
}

// field indexes every value test that patterns make at one path.
type field struct {
	exactStr   map[string][]target
	exactNum   map[float64][]target
	nulls      []target
	trues      []target
	falses     []target
	exists     []target // exists:true: any leaf value
	fold       map[string][]target
	prefix     []strTarget
	prefixFold []strTarget
	suffix     []strTarget
	suffixFold []strTarget
	wildcards  []wcTarget
	numeric    []numTarget
	cidrs      []cidrRange
	anyBut     []abTarget
	anyButAll  []target // the targets of anyBut, for values no anything-but can exclude
	// presence: some sub-pattern needs this field absent, so every occurrence is recorded.
	presence bool
	// needFold/needNum: whether string values must be folded / numbers parsed at all.
	needFold bool
	needNum  bool
}

// sub is one AND-only alternative of a pattern. Its positive conditions are the targets
// [first, first+npos); absent lists the fields that must have no (compatible) leaf value.
type sub struct {
	pattern int32
	first   int32
	npos    int32
	absent  []int32
}

// snapshot is an immutable compiled form of every pattern of a Matcher.
type snapshot struct {
	root     *pathNode
	nodes    int
	fields   []*field
	subs     []sub
	tsub     []int32 // target -> sub
	negOnly  []int32 // subs without positive conditions, checked on every event
	ids      []string
	idIndex  []int32 // pattern -> index into ids (a re-added id ORs its patterns)
	hasArray bool
}

func newPathNode(id int32) *pathNode {
	return &pathNode{id: id, field: -1}
}

// build compiles the patterns (in add order) into one snapshot.
func build(entries []entry) *snapshot {
	s := &snapshot{root: newPathNode(0), nodes: 1}
	idPos := map[string]int32{}
	for pi, e := range entries {
		ix, ok := idPos[e.id]
		if !ok {
			ix = int32(len(s.ids))
			idPos[e.id] = ix
			s.ids = append(s.ids, e.id)
		}
		s.idIndex = append(s.idIndex, ix)
		for _, alt := range e.c.alts {
			si := int32(len(s.subs))
			sb := sub{pattern: int32(pi), first: int32(len(s.tsub))}
			for _, c := range alt {
				f := s.fieldAt(c.path)
				if c.absent {
					f.presence = true
					sb.absent = append(sb.absent, s.root.lookupField(c.path))
					continue
				}
				t := target(len(s.tsub))
				s.tsub = append(s.tsub, si)
				sb.npos++
				for _, m := range c.ms {
					f.add(m, t)
				}
			}
			s.subs = append(s.subs, sb)
			if sb.npos == 0 {
				s.negOnly = append(s.negOnly, si)
			}
		}
	}
	return s
}

func (n *pathNode) lookupField(path []string) int32 {
	for _, k := range path {
		n = n.children[k]
	}
	return n.field
}

// fieldAt returns the field at path, creating path nodes and the field as needed.
func (s *snapshot) fieldAt(path []string) *field {
	n := s.root
	for _, k := range path {
		c := n.children[k]
		if c == nil {
			if n.children == nil {
				n.children = map[string]*pathNode{}
			}
			c = newPathNode(int32(s.nodes))
			s.nodes++
			n.children[k] = c
		}
		n = c
	}
	if n.field < 0 {
		n.field = int32(len(s.fields))
		s.fields = append(s.fields, &field{})
	}
	return s.fields[n.field]
}

func (f *field) add(m valueMatcher, t target) {
	switch m.kind {
	case opExactString:
		if f.exactStr == nil {
			f.exactStr = map[string][]target{}
		}
		f.exactStr[m.s] = append(f.exactStr[m.s], t)
	case opExactNumber:
		if f.exactNum == nil {
			f.exactNum = map[float64][]target{}
		}
		v := m.num
		if v == 0 {
			v = 0 // -0 and 0 are one key
		}
		f.exactNum[v] = append(f.exactNum[v], t)
		f.needNum = true
	case opExactNull:
		f.nulls = append(f.nulls, t)
	case opExactTrue:
		f.trues = append(f.trues, t)
	case opExactFalse:
		f.falses = append(f.falses, t)
	case opExists:
		f.exists = append(f.exists, t)
	case opEqualsFold:
		if f.fold == nil {
			f.fold = map[string][]target{}
		}
		f.fold[m.s] = append(f.fold[m.s], t)
		f.needFold = true
	case opPrefix:
		f.prefix = append(f.prefix, strTarget{m.s, t})
	case opPrefixFold:
		f.prefixFold = append(f.prefixFold, strTarget{m.s, t})
		f.needFold = true
	case opSuffix:
		f.suffix = append(f.suffix, strTarget{m.s, t})
	case opSuffixFold:
		f.suffixFold = append(f.suffixFold, strTarget{m.s, t})
		f.needFold = true
	case opWildcard:
		f.wildcards = append(f.wildcards, wcTarget{m.wc, t})
	case opNumeric:
		f.numeric = append(f.numeric, numTarget{m.rng, t})
		f.needNum = true
	case opCIDR:
		f.cidrs = append(f.cidrs, cidrRange{m.cidr, t})
	case opAnythingBut:
		f.anyBut = append(f.anyBut, abTarget{m.ab, t})
		f.anyButAll = append(f.anyButAll, t)
		if m.ab.kind == abNumbers {
			f.needNum = true
		}
		if m.ab.kind == abFold {
			f.needFold = true
		}
	}
}

// foldString case-folds s the same way event values are folded.
func foldString(s string) string {
	return string(appendFold(nil, []byte(s)))
}

// appendFold appends the case-folded form of b: ASCII letters lowered directly, other
// runes through unicode.ToLower(unicode.ToUpper(r)) so that both spellings of letters like
// the Kelvin sign meet. Invalid UTF-8 bytes are kept as they are.
func appendFold(dst, b []byte) []byte {
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			dst = append(dst, c)
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, c)
			i++
			continue
		}
		dst = utf8.AppendRune(dst, unicode.ToLower(unicode.ToUpper(r)))
		i += size
	}
	return dst
}
