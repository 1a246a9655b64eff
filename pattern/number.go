package pattern

import (
	"math"
	"slices"
	"strconv"
)

// Numbers compare as float64 (see doc.go), but strconv.ParseFloat on every event number
// is most of the cost of a pattern that names a large array of numbers (citylots'
// coordinates). approxNumber reads the digits once into a uint64 mantissa and a decimal
// exponent: that gives the correctly rounded float64 directly when Clinger's fast path
// applies, and otherwise a value within a few ulps of it. An approximate value is used
// only when it is far from every number the field's patterns compare with (numKeys), so it
// lies on the same side of each of them as the exact value and equals none of them: every
// comparison then gives the answer the exact value would. Near ties are parsed exactly.

// pow10 holds the powers of ten that float64 represents exactly.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// nearGap is the relative distance under which an approximate value is parsed exactly.
// The approximation is off by at most ~3e-16 relative (mantissa truncated after 19
// digits, one rounding when converting it, one when scaling it), so this leaves a wide
// margin.
const nearGap = 1e-12

// approxNumber returns the value of the JSON number raw (already checked by readNumber):
// exact reports that v is the correctly rounded float64 (what strconv.ParseFloat returns);
// ok false means the number is outside the range handled here and must be parsed.
func approxNumber(raw []byte) (v float64, exact, ok bool) {
	i := 0
	neg := false
	if i < len(raw) && raw[i] == '-' {
		neg = true
		i++
	}
	var mant uint64
	digits := 0  // significant digits in mant
	dropped := 0 // integer digits dropped once mant was full
	truncated := false
	exp := 0
	for ; i < len(raw) && '0' <= raw[i] && raw[i] <= '9'; i++ {
		c := raw[i]
		switch {
		case digits < 19:
			mant = mant*10 + uint64(c-'0')
			if mant != 0 {
				digits++
			}
		default:
			dropped++
			if c != '0' {
				truncated = true
			}
		}
	}
	exp += dropped
	if i < len(raw) && raw[i] == '.' {
		i++
		for ; i < len(raw) && '0' <= raw[i] && raw[i] <= '9'; i++ {
			c := raw[i]
			if digits < 19 {
				mant = mant*10 + uint64(c-'0')
				if mant != 0 {
					digits++
				}
				exp--
			} else if c != '0' {
				truncated = true
			}
		}
	}
	if i < len(raw) && (raw[i] == 'e' || raw[i] == 'E') {
		i++
		eneg := false
		if i < len(raw) && (raw[i] == '+' || raw[i] == '-') {
			eneg = raw[i] == '-'
			i++
		}
		e := 0
		for ; i < len(raw) && '0' <= raw[i] && raw[i] <= '9'; i++ {
			if e > 10000 {
				return 0, false, false // far outside float64; let ParseFloat decide
			}
			e = e*10 + int(raw[i]-'0')
		}
		if eneg {
			e = -e
		}
		exp += e
	}
	if mant == 0 {
		// Only zero digits (a truncated tail cannot be nonzero before a nonzero digit).
		if neg {
			return math.Copysign(0, -1), true, true
		}
		return 0, true, true
	}
	if exp < -22 || exp > 22 {
		return 0, false, false
	}
	v = float64(mant)
	if exp >= 0 {
		v *= pow10[exp]
	} else {
		v /= pow10[-exp]
	}
	if neg {
		v = -v
	}
	return v, !truncated && mant <= 1<<53, true
}

// numberValue returns the float64 of raw, exactly as strconv.ParseFloat would, or a value
// that compares with every element of keys (sorted, finite) as the exact one does.
func numberValue(raw []byte, keys []float64) float64 {
	v, exact, ok := approxNumber(raw)
	if exact || (ok && !nearAny(v, keys)) {
		return v
	}
	// Out-of-range values parse to ±Inf, which compare correctly against finite bounds.
	v, _ = strconv.ParseFloat(unsafeString(raw), 64)
	return v
}

// nearAny reports whether v is within nearGap (relative) of an element of sorted keys.
func nearAny(v float64, keys []float64) bool {
	i, _ := slices.BinarySearch(keys, v)
	return (i < len(keys) && near(v, keys[i])) || (i > 0 && near(v, keys[i-1]))
}

func near(a, b float64) bool {
	return math.Abs(a-b) <= nearGap*max(math.Abs(a), math.Abs(b))
}

// addNumKey records a number the field's patterns compare with; infinite bounds are
// skipped (a finite approximation is never near them and compares with them correctly).
func (f *field) addNumKey(x float64) {
	if !math.IsInf(x, 0) && !math.IsNaN(x) {
		f.numKeys = append(f.numKeys, x)
	}
}

// finishNumbers sorts numKeys for nearAny.
func (f *field) finishNumbers() {
	slices.Sort(f.numKeys)
	f.numKeys = slices.Compact(f.numKeys)
}
