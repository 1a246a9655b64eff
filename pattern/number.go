package pattern

import (
	"bytes"
	"math"
	"math/bits"
	"slices"
	"strconv"
)

// Numbers follow event-ruler's ComparableNumber (ComparableNumber.java at 337e8d99): a
// JSON number is comparable when its decimal value is exactly the value of the shortest
// decimal of the float64 nearest to it (BigDecimal.valueOf(d).compareTo(text) == 0 there):
// 0.1 and 1.50 are, 0.10000000000000001, 9007199254740993, 37.807807921694092 (17 digits
// where 16 name the same float64) and 1e400 are not. Comparable numbers compare as that
// float64, -0 equal to 0; numeric ranges and anything-but see only comparable numbers; an
// exact pattern number that is not comparable matches only a number written with the same
// text (event-ruler adds both its ComparableNumber and its text, JsonRuleCompiler.writeRules).
//
// strconv.ParseFloat on every event number
// is most of the cost of a pattern that names a large array of numbers (citylots'
// coordinates). readNumber reads the digits once into a uint64 mantissa and a decimal
// exponent: that gives the correctly rounded float64 directly when Clinger's fast path
// applies, and otherwise a value within a few ulps of it. An approximate value is used
// only when it is far from every number the field's patterns compare with (numKeys, for
// triggers and deferred conditions alike), so it lies on the same side of each of them as
// the exact value and equals none of them: every comparison then gives the answer the
// exact value would. Near ties are parsed exactly (numberValue).

// pow10 holds the powers of ten that float64 represents exactly.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// nearGap is the relative distance under which an approximate value is parsed exactly.
// The approximation is off by at most ~3e-16 relative (mantissa truncated after 19
// digits, one rounding when converting it, one when scaling it), so this leaves a wide
// margin.
const nearGap = 1e-12

// readNumber reads and checks the JSON number at p.pos and returns its text. In the same
// pass over its bytes it computes the number's approximate value into p.num: p.numExact
// reports that p.num is the correctly rounded float64 (what strconv.ParseFloat returns);
// p.numOK false means the number is outside the range handled here and must be parsed.
func (p *scanner) readNumber() ([]byte, error) {
	d := p.data
	i := p.pos
	start := i
	neg := false
	if i < len(d) && d[i] == '-' {
		neg = true
		i++
	}
	if i >= len(d) {
		return nil, p.fail("invalid value")
	}
	var mant uint64
	digits := 0 // significant digits in mant
	exp := 0
	truncated := false
	switch c := d[i]; {
	case c == '0':
		i++
	case '1' <= c && c <= '9':
		for ; i < len(d) && '0' <= d[i] && d[i] <= '9'; i++ {
			if digits < 19 {
				mant = mant*10 + uint64(d[i]-'0')
				digits++
			} else {
				exp++ // a dropped integer digit
				truncated = truncated || d[i] != '0'
			}
		}
	default:
		return nil, p.fail("invalid value")
	}
	if i < len(d) && d[i] == '.' {
		i++
		j := i
		if mant == 0 {
			// Leading zeros of 0.00x are not significant digits.
			for ; i < len(d) && d[i] == '0'; i++ {
				exp--
			}
		}
		for ; i < len(d); i++ {
			c := d[i] - '0'
			if c > 9 {
				break
			}
			if digits < 19 {
				mant = mant*10 + uint64(c)
				digits++
				exp--
			} else if c != 0 {
				truncated = true
			}
		}
		if i == j {
			p.pos = i
			return nil, p.fail("invalid number")
		}
	}
	ok := true
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		eneg := false
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			eneg = d[i] == '-'
			i++
		}
		j := i
		e := 0
		for ; i < len(d) && '0' <= d[i] && d[i] <= '9'; i++ {
			if e < 100000 {
				e = e*10 + int(d[i]-'0')
			} else {
				ok = false // far outside float64; strconv decides
			}
		}
		if i == j {
			p.pos = i
			return nil, p.fail("invalid number")
		}
		if eneg {
			e = -e
		}
		exp += e
	}
	p.pos = i
	p.num, p.numExact, p.numOK = 0, false, false
	p.mant, p.nexp, p.ntrunc = mant, exp, truncated || !ok
	switch {
	case mant == 0:
		// Only zero digits: a truncated tail cannot follow no significant digit.
		// -0 is 0, as in BigDecimal; an exponent past int32 is no BigDecimal at all
		p.num, p.numExact, p.numOK = 0, ok, ok
	case ok && -22 <= exp && exp <= 22:
		v := float64(mant)
		if exp >= 0 {
			v *= pow10[exp]
		} else {
			v /= pow10[-exp]
		}
		if neg {
			v = -v
		}
		// Clinger: one correctly rounded operation on exact operands.
		p.num, p.numExact, p.numOK = v, !truncated && mant <= 1<<53, true
	}
	return d[start:i], nil
}

// numberValue returns the value of raw, the number readNumber has just read: the float64
// strconv.ParseFloat returns, or, when near is false, an approximation of it that is far
// from every element of keys (sorted, finite) and so compares with each of them as the
// exact value does, equal to none.
func (p *scanner) numberValue(raw []byte, keys []float64) (v float64, near bool) {
	if p.numOK && !nearAny(p.num, keys) {
		return p.num, false
	}
	if p.numExact {
		return p.num, true
	}
	// Out-of-range values parse to ±Inf, which compare correctly against finite bounds.
	v, _ = strconv.ParseFloat(unsafeString(raw), 64)
	return v, true
}

// nearAny reports whether v is within nearGap (relative) of an element of sorted keys.
func nearAny(v float64, keys []float64) bool {
	if len(keys) <= 8 {
		for _, k := range keys {
			if near(v, k) {
				return true
			}
		}
		return false
	}
	i, _ := slices.BinarySearch(keys, v)
	return (i < len(keys) && near(v, keys[i])) || (i > 0 && near(v, keys[i-1]))
}

func near(a, b float64) bool {
	return math.Abs(a-b) <= nearGap*math.Max(math.Abs(a), math.Abs(b))
}

// addNumKeys records the numbers m compares event numbers with; infinite bounds are
// skipped (a finite approximation is never near them and compares with them correctly).
func (f *field) addNumKeys(m *valueMatcher) {
	var xs []float64
	switch m.kind {
	case opExactNumber:
		xs = []float64{m.num}
	case opNumeric:
		xs = []float64{m.rng.lo, m.rng.hi}
	case opAnythingBut:
		xs = m.ab.nums
	}
	for _, x := range xs {
		if !math.IsInf(x, 0) && !math.IsNaN(x) {
			f.numKeys = append(f.numKeys, x)
		}
	}
}

// finishNumbers sorts numKeys for nearAny.
func (f *field) finishNumbers() {
	slices.Sort(f.numKeys)
	f.numKeys = slices.Compact(f.numKeys)
}

// comparable reports whether the number raw, just read by readNumber, is comparable, and
// returns its float64. At most 15 significant digits are always comparable (no two
// decimals of 15 digits round to the same float64); 18 or more never are (no shortest
// decimal has more than 17); 16 and 17 are compared with the shortest decimal.
func (p *scanner) comparable(raw []byte) (float64, bool) {
	if p.numExact && p.mant < 1e15 {
		return p.num, true
	}
	if p.ntrunc {
		return numberBytesTo(raw, &p.nbuf)
	}
	m, e := p.mant, p.nexp
	for m != 0 && m%10 == 0 {
		m /= 10
		e++
	}
	if m >= 1e17 {
		return 0, false
	}
	if p.numOK && e < 0 {
		if f, cmp, ok := shortestDecimal(m, -e, p.num); ok {
			return f, cmp
		}
	}
	if p.numOK && m >= 1e15 && math.Abs(p.num) >= 0x1p-1022 {
		// When the approximation's shortest decimal is the number, the approximation is
		// the float64 (a decimal rounds to one float64 only): no exact parse needed.
		p.nbuf = strconv.AppendFloat(p.nbuf[:0], p.num, 'e', -1, 64)
		if m2, e2 := shortestParts(p.nbuf); m == m2 && e == e2 {
			return p.num, true
		}
	}
	f, err := strconv.ParseFloat(unsafeString(raw), 64)
	if err != nil || math.IsInf(f, 0) {
		return f, false
	}
	if f == 0 {
		return 0, m == 0 && exponentFits(raw)
	}
	if m < 1e15 && math.Abs(f) >= 0x1p-1022 {
		return f, true
	}
	p.nbuf = strconv.AppendFloat(p.nbuf[:0], f, 'e', -1, 64)
	m2, e2 := shortestParts(p.nbuf)
	return f, m == m2 && e == e2
}

// shortestDecimal decides with integer arithmetic whether the decimal m×10^-k (m of 16
// or 17 digits, the last not 0) is the shortest decimal of its nearest float64 f, as
// strconv's shortest formatting finds it: the one nearest f among those of fewest digits
// in the interval of values rounding to f. approx is within an ulp of the decimal's value
// and has its sign. ok is false for decimals out of the range handled here (k above 19,
// f not between 2^-16 and 2^53, or a tie), which strconv then decides.
//
// Scaled by 10^k × 2^(2-E), where f = M×2^E: the decimal is m×2^(2-E), a unit of its
// last digit is U = 2^(2-E), f is 4M×10^k and the interval around it reaches 2×10^k
// either side (10^k below a power of two), bounds included when M is even. The decimal
// rounds to f when it lies in the interval; it is the nearest of its length when within
// U/2 of f; no shorter decimal is in the interval when neither multiple of 10U around
// it is.
func shortestDecimal(m uint64, k int, approx float64) (f float64, shortest, ok bool) {
	if k < 1 || k >= len(pow10u) || m < 1e15 || m >= 1e17 {
		return 0, false, false
	}
	p := pow10u[k]
	f = math.Abs(approx)
	for range 3 { // approx is f or next to it
		b := math.Float64bits(f)
		be := int(b >> 52)
		mant := b&(1<<52-1) | 1<<52
		s := 2 - (be - 1075)
		if be <= 1 || s <= 2 || s > 70 {
			return 0, false, false
		}
		d := shl128(m, s)
		c := mul128(mant<<2, p)
		hi, lo := c.add(u128{p >> 63, p << 1}), c.sub(u128{p >> 63, p << 1})
		if mant == 1<<52 {
			lo = c.sub(u128{0, p})
		}
		even := mant&1 == 0
		inside := func(x u128) bool {
			a, z := x.cmp(lo), x.cmp(hi)
			return (a > 0 || a == 0 && even) && (z < 0 || z == 0 && even)
		}
		switch {
		case d.cmp(hi) > 0 || d.cmp(hi) == 0 && !even:
			f = math.Nextafter(f, math.Inf(1))
			continue
		case d.cmp(lo) < 0 || d.cmp(lo) == 0 && !even:
			f = math.Nextafter(f, 0)
			continue
		}
		if approx < 0 {
			f = -f
		}
		dist := d.sub(c)
		if c.cmp(d) > 0 {
			dist = c.sub(d)
		}
		switch dist.cmp(shl128(1, s-1)) {
		case 1:
			return f, false, true // a decimal of its length is nearer f
		case 0:
			return 0, false, false
		}
		below := shl128(m-m%10, s)
		return f, !inside(below) && !inside(below.add(shl128(10, s))), true
	}
	return 0, false, false
}

// pow10u holds the powers of ten that fit a uint64.
var pow10u = [...]uint64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19}

// u128 is an unsigned 128-bit integer.
type u128 struct{ hi, lo uint64 }

func mul128(a, b uint64) u128 {
	hi, lo := bits.Mul64(a, b)
	return u128{hi, lo}
}

// shl128 returns x << s for s below 128.
func shl128(x uint64, s int) u128 {
	if s >= 64 {
		return u128{x << (s - 64), 0}
	}
	return u128{x >> (64 - s), x << s}
}

func (a u128) add(b u128) u128 {
	lo, carry := bits.Add64(a.lo, b.lo, 0)
	return u128{a.hi + b.hi + carry, lo}
}

func (a u128) sub(b u128) u128 {
	lo, borrow := bits.Sub64(a.lo, b.lo, 0)
	return u128{a.hi - b.hi - borrow, lo}
}

func (a u128) cmp(b u128) int {
	switch {
	case a.hi != b.hi:
		return cmpUint(a.hi, b.hi)
	default:
		return cmpUint(a.lo, b.lo)
	}
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func numberBytesTo(raw []byte, buf *[]byte) (float64, bool) {
	f, cmp, b := numberBytes(raw, *buf)
	*buf = b
	return f, cmp
}

// shortestParts reads strconv's 'e' format ("-d.ddde+XX") as m × 10^e, m without trailing
// zeros.
func shortestParts(b []byte) (m uint64, e int) {
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	frac := 0
	seenPoint := false
	for ; i < len(b) && b[i] != 'e'; i++ {
		if b[i] == '.' {
			seenPoint = true
			continue
		}
		m = m*10 + uint64(b[i]-'0')
		if seenPoint {
			frac++
		}
	}
	x, neg := 0, false
	for i++; i < len(b); i++ {
		switch c := b[i]; c {
		case '-':
			neg = true
		case '+':
		default:
			x = x*10 + int(c-'0')
		}
	}
	if neg {
		x = -x
	}
	e = x - frac
	for m != 0 && m%10 == 0 {
		m /= 10
		e++
	}
	return m, e
}

// numberText returns the float64 of a JSON number's text and whether the number is
// comparable (see the top of this file).
func numberText(s string) (float64, bool) {
	f, cmp, _ := numberBytes([]byte(s), nil)
	return f, cmp
}

// numberBytes is numberText on bytes; buf is scratch space, returned for reuse.
func numberBytes(raw, buf []byte) (float64, bool, []byte) {
	f, err := strconv.ParseFloat(unsafeString(raw), 64)
	if err != nil || math.IsInf(f, 0) {
		return f, false, buf
	}
	if f == 0 {
		return 0, isZero(raw) && exponentFits(raw), buf
	}
	buf = strconv.AppendFloat(buf[:0], f, 'e', -1, 64)
	return f, sameDecimal(raw, buf), buf
}

// exponentFits reports whether a number's exponent has at most nine digits: Java's
// BigDecimal, which event-ruler parses numbers with, keeps its scale in an int.
func exponentFits(raw []byte) bool {
	i := bytes.IndexAny(raw, "eE")
	if i < 0 {
		return true
	}
	e := bytes.TrimLeft(bytes.TrimLeft(raw[i+1:], "+-"), "0")
	return len(e) <= 9
}

// isZero reports whether a JSON number's digits are all zero.
func isZero(raw []byte) bool {
	for _, c := range raw {
		switch {
		case c == 'e' || c == 'E':
			return true
		case '1' <= c && c <= '9':
			return false
		}
	}
	return true
}

// sameDecimal reports whether two numbers written in JSON or strconv 'e' syntax have the
// same decimal value, however they are spelled (1.50, 15e-1 and 1.5e+00 are one value).
func sameDecimal(a, b []byte) bool {
	na, ma, ea, za := decimalParts(a)
	nb, mb, eb, zb := decimalParts(b)
	if za || zb {
		return za && zb
	}
	if na != nb || ea != eb {
		return false
	}
	i, j := 0, 0
	for {
		for i < len(ma) && ma[i] == '.' {
			i++
		}
		for j < len(mb) && mb[j] == '.' {
			j++
		}
		switch {
		case i == len(ma):
			return allZero(mb[j:])
		case j == len(mb):
			return allZero(ma[i:])
		case ma[i] != mb[j]:
			return false
		}
		i++
		j++
	}
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != '0' && c != '.' {
			return false
		}
	}
	return true
}

// decimalParts splits a number into its sign, its digits from the first significant one
// on (a '.' may remain among them), and the exponent of that first digit, the value being
// ±0.d1d2... × 10^exp; zero reports that no digit is significant.
func decimalParts(s []byte) (neg bool, digits []byte, exp int, zero bool) {
	if len(s) > 0 && s[0] == '-' {
		neg, s = true, s[1:]
	}
	mant := s
	x := 0
	if i := bytes.IndexAny(s, "eE"); i >= 0 {
		mant = s[:i]
		x, _ = strconv.Atoi(string(bytes.TrimPrefix(s[i+1:], []byte("+"))))
	}
	point := bytes.IndexByte(mant, '.')
	if point < 0 {
		point = len(mant)
	}
	first := bytes.IndexFunc(mant, func(r rune) bool { return '1' <= r && r <= '9' })
	if first < 0 {
		return false, nil, 0, true
	}
	if first < point {
		exp = point - first
	} else {
		exp = -(first - point - 1)
	}
	return neg, mant[first:], exp + x, false
}
