package pattern

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/trailbell/trailbell/internal/jsonlex"
)

// maxArrayDepth bounds nested arrays on a path patterns name; deeper events are rejected
// rather than risking unbounded recursion.
const maxArrayDepth = 1000

// EventError reports an event that is not valid JSON in the part the matcher read.
type EventError struct {
	Offset int // byte offset in the event
	Reason string
}

func (e *EventError) Error() string {
	return fmt.Sprintf("invalid event JSON at byte %d: %s", e.Offset, e.Reason)
}

// scanner walks one event and the path tree together. It lives inside scratch so that
// matching allocates nothing.
type scanner struct {
	data    []byte
	pos     int
	depth   int
	stopped bool // reading ended early: every named key was seen and none can repeat
	kbuf    []byte
	vbuf    []byte
	// Span of the last string content read, for occurrences checked later.
	lastStart, lastEnd int
	lastEscaped        bool
	// Value of the last number read by readNumber (see there); mant its significant
	// digits as an integer.
	num             float64
	mant            uint64
	nexp            int  // the value is mant × 10^nexp
	ntrunc          bool // digits beyond mant were dropped, or the exponent is out of range
	numExact, numOK bool
	nbuf            []byte
}

func (p *scanner) fail(format string, args ...any) error {
	return &EventError{Offset: p.pos, Reason: fmt.Sprintf(format, args...)}
}

func (p *scanner) ws() { p.pos = jsonlex.SkipSpace(p.data, p.pos) }

// scanEvent reads the top-level object.
func (sc *scratch) scanEvent(event []byte) error {
	p := &sc.p
	p.data, p.pos, p.depth, p.stopped = event, 0, 0, false
	sc.searched = 0
	sc.stack = sc.stack[:0]
	p.ws()
	if p.pos >= len(p.data) || p.data[p.pos] != '{' {
		if p.pos >= len(p.data) {
			return p.fail("empty event")
		}
		return p.fail("an event must be a JSON object")
	}
	if err := sc.object(sc.snap.root, 0, true); err != nil {
		return err
	}
	if p.stopped {
		return nil
	}
	p.ws()
	if p.pos != len(p.data) {
		return p.fail("unexpected data after the event object")
	}
	return nil
}

// object reads an object whose keys are looked up under n. event-ruler reads every
// occurrence of a repeated key (Event.traverseObject adds each value under the key's field
// name, all with the array membership of the object they are in), so a repeated key's
// values all take part in matching. Once the fast children of n have been seen (all of
// them, when a fired trigger needs a lazy one), reading may stop: when canStop says that
// every enclosing object is that far too (and no array encloses it), and noRepeat shows
// that the rest of the event holds nothing that changes the answer, reading stops
// altogether. Otherwise the rest of n is read key by key: skipping it could skip a value
// that a trigger firing later, in an enclosing object, needs.
func (sc *scratch) object(n *pathNode, trail int32, canStop bool) error {
	p := &sc.p
	p.pos++ // '{'
	fastOnly := n.fast
	seen, seenFast := 0, 0 // children read in this visit, and the fast ones among them
	retry := 0             // noRepeat found a named key or a backslash before this offset
	visit := sc.nextVisit()
	sc.stack = append(sc.stack, n)
	defer func() { sc.stack = sc.stack[:len(sc.stack)-1] }()
	p.ws()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		return nil
	}
	for {
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return p.fail("expected a string key")
		}
		key, err := p.readString(&p.kbuf)
		if err != nil {
			return err
		}
		p.ws()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return p.fail("expected ':' after a key")
		}
		p.pos++
		p.ws()
		if child := n.child(key); child != nil {
			if sc.nodeSeen[child.id] != visit {
				sc.nodeSeen[child.id] = visit
				seen++
				if child.fast {
					seenFast++
				}
			}
			done := seen == len(n.children) || fastOnly && seenFast == n.nfast
			if err := sc.value(child, trail, canStop && done); err != nil {
				return err
			}
			if p.stopped {
				return nil
			}
		} else if p.pos < len(p.data) && p.data[p.pos] == '"' {
			// the usual value of a key no pattern names, skipped without two calls
			end, _, err := p.stringEnd(p.pos + 1)
			if err != nil {
				return err
			}
			p.pos = end + 1
		} else if err := p.skipValue(); err != nil {
			return err
		}
		p.ws()
		if p.pos >= len(p.data) {
			return p.fail("unexpected end inside an object")
		}
		c := p.data[p.pos]
		p.pos++
		if c == '}' {
			return nil
		}
		if c != ',' {
			p.pos--
			return p.fail("expected ',' or '}' in an object")
		}
		p.ws()
		if (seen == len(n.children) || fastOnly && seenFast == n.nfast) && p.pos >= retry {
			if fastOnly && len(sc.cands) > 0 && sc.lazyNeeded(n) {
				// A triggered pattern needs a lazy child, which may well come next.
				fastOnly = false
				if seen < len(n.children) {
					continue
				}
			}
			if !canStop || sc.snap.readAll {
				// Only the rest of this object can repeat a key of n, and reading it key
				// by key costs little more than skipping it: searching for the keys would
				// go through the rest of the event.
				retry = len(p.data)
				continue
			}
			stop, hazard := sc.noRepeat()
			if !stop {
				retry = hazard + 1
				continue
			}
			p.stopped = true
			return nil
		}
	}
}

// lazyNeeded reports whether a triggered pattern checks a field under a lazy child of n.
func (sc *scratch) lazyNeeded(n *pathNode) bool {
	for _, c := range n.lazy {
		if sc.nodeNeeded[c.id] == sc.epoch {
			return true
		}
	}
	return false
}

// noRepeat reports whether the rest of the event, from p.pos, holds no value that
// changes the answer, so that reading may stop. Such a value belongs to a fast field (it
// could fire a trigger) or to a field a triggered pattern checks (needed), and its path
// needs keys that are written in the rest: for each such field, the cheapest of those keys
// is looked for (pathNode.cover). A key written without escapes appears in the rest as
// its text between quotes, found by its rarest byte with bytes.IndexByte (findKey); a key
// written with escapes cannot be found so, and any escape in the rest that could spell a
// byte of one (\u, or \" when a key has a quote, ...) counts as a hit. A hit in a value,
// or on another path, only makes the scan read on, which is exact, only slower. When stop
// is false, hazard is the offset of a hit, before which asking again is useless.
func (sc *scratch) noRepeat() (stop bool, hazard int) {
	p := &sc.p
	d := p.data
	keys, ok := sc.keysToFind()
	if !ok {
		return false, len(d)
	}
	// The rest starts with a key (p.pos is at its quote): looked at here, it leaves a rest
	// that often has no string at all (arrays of numbers), hence no key and no escape.
	if p.pos >= len(d) || d[p.pos] != '"' {
		return false, p.pos // not a key: reading on reports it
	}
	end, escaped, err := p.stringEnd(p.pos + 1)
	if err != nil || escaped {
		return false, p.pos
	}
	for _, k := range keys {
		if k.text == string(d[p.pos+1:end]) {
			return false, p.pos
		}
	}
	from := bytes.IndexByte(d[end+1:], '"')
	if from < 0 {
		return true, 0
	}
	from += end + 1
	escapes := escapeU
	for _, k := range keys {
		escapes |= k.escapes
	}
	if at := escapeFrom(d, from, escapes); at < len(d) {
		return false, at
	}
	// Asking again after each hit could search the rest once per key: past a budget of
	// a few times the event, the object is read to its end instead.
	if sc.searched += len(keys) * (len(d) - p.pos); sc.searched > 4*len(d)+1024 {
		return false, len(d)
	}
	for _, k := range keys {
		if at := findKey(d, from, k); at >= 0 {
			return false, at - 1
		}
	}
	return true, 0
}

// keysToFind lists the keys noRepeat looks for: the stopKeys of the innermost object
// being read, and the key of each child of an object being read that is on the way to a
// field a triggered pattern checks (or the object's own key, when the object is such a
// field). ok is false when some key cannot be looked for, or there are too many.
func (sc *scratch) keysToFind() (keys []needle, ok bool) {
	here := sc.stack[len(sc.stack)-1]
	if !here.stopOK {
		return nil, false
	}
	if len(sc.neededNodes) == 0 {
		return here.stopKeys, true
	}
	keys = append(sc.keys[:0], here.stopKeys...)
	last := len(sc.stack) - 1
	for _, x := range sc.neededNodes {
		// the first node on the way to a needed field that is not being read
		if x.depth-1 > last || sc.stack[x.depth-1] != x.parent || x.depth <= last && sc.stack[x.depth] == x {
			continue
		}
		if keys, ok = addNeedle(keys, x.self); !ok {
			return nil, false
		}
	}
	for _, n := range sc.stack[1:] {
		if n.field >= 0 && sc.fieldNeeded[n.field] == sc.epoch {
			if keys, ok = addNeedle(keys, n.self); !ok {
				return nil, false
			}
		}
	}
	sc.keys = keys
	return keys, true
}

// addNeedle adds k to keys, once; ok is false when k cannot be looked for or keys grows
// past maxNeedles.
func addNeedle(keys []needle, k needle) (_ []needle, ok bool) {
	for i := range keys {
		if keys[i].text == k.text {
			return keys, true
		}
	}
	return append(keys, k), k.ok() && len(keys) < maxNeedles
}

// findKey returns the offset in d, at or after from, of the first string that is the key
// k.text, or -1. It looks for k.text's rarest byte with bytes.IndexByte and checks each
// place found.
func findKey(d []byte, from int, k needle) int {
	for i := from + k.rare; i < len(d); {
		j := bytes.IndexByte(d[i:], k.text[k.rare])
		if j < 0 {
			return -1
		}
		i += j
		s := i - k.rare // where the key would start
		if s > from && s+len(k.text) < len(d) && d[s-1] == '"' && d[s+len(k.text)] == '"' && string(d[s:s+len(k.text)]) == k.text {
			return s
		}
		i++
	}
	return -1
}

// needle is a key as noRepeat looks for it: rare is the offset of its byte least
// frequent in JSON text (byteFreq), escapes the escapes that can spell one of its bytes
// (escapeBit), cost an estimate of the time a search takes.
type needle struct {
	text    string
	rare    int
	escapes uint16
	cost    int
}

func newNeedle(k string) needle {
	n := needle{text: k}
	for i := range len(k) {
		n.escapes |= escapeBit(k[i])
		if byteFreq(k[i]) < byteFreq(k[n.rare]) {
			n.rare = i
		}
	}
	if k != "" {
		// a pass of bytes.IndexByte, and a call of it for each occurrence of the byte
		n.cost = 20 + byteFreq(k[n.rare])
	}
	return n
}

// ok reports whether the key can be looked for: an empty one has no byte to look for.
func (n needle) ok() bool { return n.text != "" }

// byteFreq estimates how often a byte occurs in JSON events (per mille, roughly):
// structure and digits are everywhere, lower-case letters as often as in English text,
// capitals a quarter of that, other punctuation seldom.
func byteFreq(c byte) int {
	const english = "etaoinshrdlcumwfgypbvkjxqz" // most frequent first
	switch {
	case strings.IndexByte("\",:{}[] .-0123456789", c) >= 0:
		return 1000
	case 'a' <= c && c <= 'z':
		return 130 - 5*strings.IndexByte(english, c)
	case 'A' <= c && c <= 'Z':
		return (130 - 5*strings.IndexByte(english, c+'a'-'A')) / 4
	}
	return 2
}

// maxNeedles is the most keys noRepeat looks for: with more, an object is read to its end.
const maxNeedles = 16

// Escape bits: which JSON escapes (\" \\ \/ \b \f \n \r \t) can spell a byte of a key;
// \u can spell any.
const escapeU uint16 = 1 << 8

// escapeBit returns the bit of the escape that spells the byte c, or 0.
func escapeBit(c byte) uint16 {
	if i := strings.IndexByte("\"\\/\b\f\n\r\t", c); i >= 0 {
		return 1 << i
	}
	return 0
}

// escapeLetter returns the bit of the escape written \c, or 0 for no valid escape.
func escapeLetter(c byte) uint16 {
	if i := strings.IndexByte("\"\\/bfnrtu", c); i >= 0 {
		return 1 << i
	}
	return 0
}

// escapeFrom returns the offset of the first backslash at or after from (outside a
// string) whose escape is one of escapes, or len(d).
func escapeFrom(d []byte, from int, escapes uint16) int {
	at := from
	for n := 0; ; n++ {
		if n == 8 && escapes == escapeU {
			// Escaped quotes in policy documents come by the hundred.
			return escapeUFrom(d, at)
		}
		i := bytes.IndexByte(d[at:], '\\')
		if i < 0 {
			return len(d)
		}
		at += i
		if at+1 >= len(d) || escapeLetter(d[at+1])&escapes != 0 {
			return at
		}
		at += 2 // the pair: a backslash after it starts an escape of its own
	}
}

// escapeUFrom returns the offset of the first backslash followed by a u at or after at,
// or len(d), looking eight bytes at a time. It does not tell an escaped backslash from
// one that starts an escape: an escaped one before a u is taken for \u, which is safe.
func escapeUFrom(d []byte, at int) int {
	for ; at+9 <= len(d); at += 8 {
		b := zeroBytes(binary.LittleEndian.Uint64(d[at:]) ^ swarBack)
		u := zeroBytes(binary.LittleEndian.Uint64(d[at+1:]) ^ swarU)
		if m := b & u; m != 0 {
			return at + bits.TrailingZeros64(m)>>3
		}
	}
	for ; at < len(d); at++ {
		if d[at] == '\\' && (at+1 == len(d) || d[at+1] == 'u') {
			return at
		}
	}
	return len(d)
}

func (sc *scratch) value(n *pathNode, trail int32, canStop bool) error {
	p := &sc.p
	if p.pos >= len(p.data) {
		return p.fail("unexpected end, expected a value")
	}
	switch c := p.data[p.pos]; c {
	case '{':
		if n.children != nil {
			return sc.object(n, trail, canStop)
		}
		return p.skipRest(0)
	case '[':
		return sc.array(n, trail)
	case '"':
		if n.field < 0 {
			return p.skipString()
		}
		s, err := p.readString(&p.vbuf)
		if err != nil {
			return err
		}
		sc.evalString(sc.snap.fields[n.field], n.field, s, trail)
		return nil
	case 't', 'f', 'n':
		if err := p.literal(); err != nil {
			return err
		}
		if n.field >= 0 {
			sc.evalLiteral(sc.snap.fields[n.field], n.field, c, trail)
		}
		return nil
	default:
		raw, err := p.readNumber()
		if err != nil || n.field < 0 {
			return err
		}
		sc.evalNumber(sc.snap.fields[n.field], n.field, raw, trail)
		return nil
	}
}

// array reads an array under n; arrays are transparent for paths, and each element gets
// its own trail so that matches can be checked for coming from the same element.
func (sc *scratch) array(n *pathNode, trail int32) error {
	p := &sc.p
	p.depth++
	if p.depth > maxArrayDepth {
		return p.fail("arrays nested deeper than %d", maxArrayDepth)
	}
	p.pos++ // '['
	p.ws()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		p.depth--
		return nil
	}
	arr := sc.newArray()
	for idx := int32(0); ; idx++ {
		if err := sc.value(n, sc.newTrail(trail, arr), false); err != nil {
			return err
		}
		p.ws()
		if p.pos >= len(p.data) {
			return p.fail("unexpected end inside an array")
		}
		c := p.data[p.pos]
		p.pos++
		if c == ']' {
			break
		}
		if c != ',' {
			p.pos--
			return p.fail("expected ',' or ']' in an array")
		}
		p.ws()
	}
	p.depth--
	return nil
}

// readString reads the string at p.pos and returns its content, unescaped into *buf when
// it contains escapes (otherwise a subslice of the event).
func (p *scanner) readString(buf *[]byte) ([]byte, error) {
	start := p.pos + 1
	end, escaped, err := p.stringEnd(start)
	if err != nil {
		return nil, err
	}
	raw := p.data[start:end]
	p.pos = end + 1
	p.lastStart, p.lastEnd, p.lastEscaped = start, end, escaped
	if !escaped {
		return raw, nil
	}
	out, ok := unescape((*buf)[:0], raw)
	*buf = out
	if !ok {
		p.pos = start
		return nil, p.fail("invalid escape in string")
	}
	return out, nil
}

const (
	swarLo    = 0x0101010101010101
	swarHi    = 0x8080808080808080
	swarQuote = 0x2222222222222222 // '"' in every byte
	swarBack  = 0x5c5c5c5c5c5c5c5c // '\\' in every byte
	swarU     = 0x7575757575757575 // 'u' in every byte
)

// zeroIn sets the high bit of the bytes that are zero in a or in b. The lowest one set is
// exact; above it a borrow can set bits of bytes that are not zero, so callers use only the
// lowest.
func zeroIn(a, b uint64) uint64 { return ((a-swarLo)&^a | (b-swarLo)&^b) & swarHi }

// stringEnd returns the index of the closing quote of a string whose content starts at i,
// and whether the string has escapes. It looks at 8 bytes at a time for a quote or a
// backslash (the lowest flagged byte of the zero-byte test is exact), and hands long
// strings to bytes.IndexByte.
func (p *scanner) stringEnd(i int) (int, bool, error) {
	d := p.data
	escaped := false
	for {
		j := i
		lim := min(len(d), i+64)
		for j+8 <= lim {
			v := binary.LittleEndian.Uint64(d[j:])
			if m := zeroIn(v^swarQuote, v^swarBack); m != 0 {
				j += bits.TrailingZeros64(m) >> 3
				goto found
			}
			j += 8
		}
		for j < lim && d[j] != '"' && d[j] != '\\' {
			j++
		}
		if j == lim && lim < len(d) {
			k := bytes.IndexByte(d[j:], '"')
			if k < 0 {
				return 0, false, p.fail("unterminated string")
			}
			q := j + k
			bs := bytes.IndexByte(d[j:q], '\\')
			if bs < 0 {
				return q, escaped, nil
			}
			j += bs
		}
	found:
		if j >= len(d) {
			return 0, false, p.fail("unterminated string")
		}
		if d[j] == '"' {
			return j, escaped, nil
		}
		escaped = true
		i = j + 2 // the backslash and the escaped byte
		if i > len(d) {
			return 0, false, p.fail("unterminated string")
		}
	}
}

func (p *scanner) skipString() error {
	end, _, err := p.stringEnd(p.pos + 1)
	if err != nil {
		return err
	}
	p.pos = end + 1
	return nil
}

func (p *scanner) skipValue() error {
	if p.pos >= len(p.data) {
		return p.fail("unexpected end, expected a value")
	}
	switch p.data[p.pos] {
	case '"':
		return p.skipString()
	case '{', '[':
		return p.skipRest(0)
	case 't', 'f', 'n':
		return p.literal()
	}
	return p.skipNumber()
}

// numberByte marks the bytes a JSON number is written with.
var numberByte = [256]bool{'0': true, '1': true, '2': true, '3': true, '4': true, '5': true,
	'6': true, '7': true, '8': true, '9': true, '-': true, '+': true, '.': true, 'e': true, 'E': true}

// skipNumber skips a number no pattern names; like other skipped content it is not
// validated beyond its bytes.
func (p *scanner) skipNumber() error {
	d, i := p.data, p.pos
	for i < len(d) && numberByte[d[i]] {
		i++
	}
	if i == p.pos {
		return p.fail("invalid value")
	}
	p.pos = i
	return nil
}

// literal reads true, false or null, as the byte at p.pos announces.
func (p *scanner) literal() error {
	lit := "null"
	switch p.data[p.pos] {
	case 't':
		lit = "true"
	case 'f':
		lit = "false"
	}
	if !bytes.HasPrefix(p.data[p.pos:], []byte(lit)) {
		return p.fail("invalid literal")
	}
	p.pos += len(lit)
	return nil
}

const (
	swar7f    = 0x7f7f7f7f7f7f7f7f
	swarSpace = 0x2020202020202020
	swarOpen  = 0x7b7b7b7b7b7b7b7b // '{', and '[' | 0x20
	swarClose = 0x7d7d7d7d7d7d7d7d // '}', and ']' | 0x20
)

// zeroBytes sets the high bit of exactly the bytes of x that are zero.
func zeroBytes(x uint64) uint64 { return ^((x&swar7f + swar7f) | x | swar7f) }

// skipRest skips containers by counting brackets, starting depth levels deep (0 when
// p.pos is at the opening bracket). Skipped content is checked only for string and
// bracket structure, not fully validated: that is what keeps skipping fast. It goes
// eight bytes at a time: a prefix XOR of the quotes marks the bytes inside strings, the
// brackets outside them are counted, and only a word in which the depth may reach zero,
// or that holds a backslash, is looked at byte by byte.
func (p *scanner) skipRest(depth int) error {
	d := p.data
	i := p.pos
	in := false // inside a string
	bs := -1    // the next backslash at or after i, once looked for
	for i+8 <= len(d) {
		if i+16 <= len(d) && bs >= i+16 {
			// Two words at once while no backslash is near: their masks are independent,
			// only the string state carries from the first to the second.
			v1 := binary.LittleEndian.Uint64(d[i:])
			v2 := binary.LittleEndian.Uint64(d[i+8:])
			l1, l2 := v1|swarSpace, v2|swarSpace
			o1, o2 := zeroBytes(l1^swarOpen), zeroBytes(l2^swarOpen)
			c1, c2 := zeroBytes(l1^swarClose), zeroBytes(l2^swarClose)
			p1, p2 := quoteParity(zeroBytes(v1^swarQuote)), quoteParity(zeroBytes(v2^swarQuote))
			if in {
				p1 ^= swarLo
			}
			if p1>>56 != 0 {
				p2 ^= swarLo
			}
			out1, out2 := ^(p1<<7)&swarHi, ^(p2<<7)&swarHi
			o1, c1, o2, c2 = o1&out1, c1&out1, o2&out2, c2&out2
			if nc := bits.OnesCount64(c1) + bits.OnesCount64(c2); nc < depth || c1|c2 == 0 {
				depth += bits.OnesCount64(o1) + bits.OnesCount64(o2) - nc
				in = p2>>56 != 0
				i += 16
				continue
			}
		}
		v := binary.LittleEndian.Uint64(d[i:])
		q := zeroBytes(v ^ swarQuote)
		lower := v | swarSpace
		open := zeroBytes(lower ^ swarOpen)
		closing := zeroBytes(lower ^ swarClose)
		if bs < i {
			// The next backslash, or a bound short of the end of a long event, so that
			// skipping a small value does not search the whole rest.
			lim := min(len(d), i+256)
			bs = lim
			if k := bytes.IndexByte(d[i:lim], '\\'); k >= 0 {
				bs = i + k
			}
		}
		if q != 0 || in {
			// backslashes matter inside strings only
			if bs < i+8 {
				var closed bool
				if i, closed = skipBytes(d, i, i+8, &in, &depth); closed {
					p.pos = i
					return nil
				}
				continue
			}
			par := quoteParity(q)
			if in {
				par ^= swarLo
			}
			outside := ^(par << 7) & swarHi
			open &= outside
			closing &= outside
			in = par>>56 != 0
		}
		if nc := bits.OnesCount64(closing); nc < depth || closing == 0 {
			depth += bits.OnesCount64(open) - nc
			i += 8
			continue
		}
		for k := range 8 {
			bit := uint64(0x80) << (8 * k)
			if open&bit != 0 {
				depth++
			} else if closing&bit != 0 {
				if depth--; depth <= 0 {
					p.pos = i + k + 1
					return nil
				}
			}
		}
		i += 8
	}
	i, closed := skipBytes(d, i, len(d), &in, &depth)
	if closed {
		p.pos = i
		return nil
	}
	p.pos = min(i, len(d))
	if in {
		return p.fail("unterminated string")
	}
	return p.fail("unexpected end inside a container")
}

// quoteParity turns a zeroBytes mask of the quotes of a word into 1 in each byte that
// follows an odd number of quotes in the word, itself included.
func quoteParity(q uint64) uint64 {
	par := q >> 7
	par ^= par << 8
	par ^= par << 16
	return par ^ par<<32
}

// skipBytes goes through d[i:end] byte by byte (past end by an escape), following
// strings and the depth; closed reports that the depth reached zero just before next.
func skipBytes(d []byte, i, end int, in *bool, depth *int) (next int, closed bool) {
	for i < end {
		c := d[i]
		i++
		if *in {
			switch c {
			case '\\':
				i++
			case '"':
				*in = false
			}
			continue
		}
		switch c {
		case '"':
			*in = true
		case '{', '[':
			*depth++
		case '}', ']':
			if *depth--; *depth <= 0 {
				return i, true
			}
		}
	}
	return i, false
}

// unescape appends the decoded form of a JSON string body with escapes.
func unescape(dst, s []byte) ([]byte, bool) {
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			dst = append(dst, c)
			i++
			continue
		}
		if i+1 >= len(s) {
			return dst, false
		}
		switch s[i+1] {
		case '"', '\\', '/':
			dst = append(dst, s[i+1])
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := jsonlex.Hex4(s[i+2:])
			if r < 0 {
				return dst, false
			}
			i += 6
			if utf16.IsSurrogate(r) {
				if i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
					r2 := jsonlex.Hex4(s[i+2:])
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						i += 6
						dst = utf8.AppendRune(dst, dec)
						continue
					}
				}
				r = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default:
			return dst, false
		}
		i += 2
	}
	return dst, true
}
