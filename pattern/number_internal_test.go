package pattern

import (
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// numberCases are event numbers that stress the fast path: near ties, 17+ digits,
// exponents at and past the exact powers of ten, signed zeros, huge and tiny exponents.
var numberCases = []string{
	"0", "-0", "0.0", "-0.0", "0e5", "-0e-400", "1", "-1", "300", "300.0", "3.0e2", "3e2",
	"37.807807921694092", "37.80780792169409", "37.807807921694093", "37.8078079216940920000001",
	"-122.41983177253881", "-122.419831772538810000", "9007199254740992", "9007199254740993",
	"9007199254740993.0", "18446744073709551615", "18446744073709551616", "123456789012345678901234567890",
	"0.1", "0.30000000000000004", "1e22", "1e23", "1e-22", "1e-23", "9.999999999999999e22",
	"1e308", "1.7976931348623157e308", "1.7976931348623159e308", "1e309", "-1e400", "1e-400",
	"4.9e-324", "2.2250738585072014e-308", "0.000000000000000000001", "1E+2", "1e+0",
	"12345678901234567890e-20", "1.00000000000000000000000000001", "0.99999999999999999999",
	"100000000000000000000000", "5e-324", "1e99999999999",
}

func parseExact(t testing.TB, raw string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(raw, 64)
	if err != nil && !math.IsInf(v, 0) && v != 0 {
		t.Fatalf("ParseFloat(%q): %v", raw, err)
	}
	return v
}

// approxNumber reads raw with the scanner and returns the value readNumber computes.
func approxNumber(t testing.TB, raw string) (v float64, exact, ok bool) {
	t.Helper()
	p := scanner{data: []byte(raw)}
	if _, err := p.readNumber(); err != nil {
		t.Fatalf("readNumber(%q): %v", raw, err)
	}
	return p.num, p.numExact, p.numOK
}

func TestApproxNumber(t *testing.T) {
	for _, raw := range numberCases {
		want := parseExact(t, raw)
		v, exact, ok := approxNumber(t, raw)
		if !ok {
			continue
		}
		if exact && v != want { // -0 reads as 0, as BigDecimal has no negative zero

			t.Errorf("approxNumber(%q) = %v claimed exact, ParseFloat = %v", raw, v, want)
		}
		if !exact && !near(v, want) {
			t.Errorf("approxNumber(%q) = %v, ParseFloat = %v: not within %g", raw, v, want, nearGap)
		}
	}
}

// sameComparisons checks that numberValue compares with every key (and with the
// neighbours of each key) as the exact float64 does.
func sameComparisons(t testing.TB, raw string, keys []float64) {
	t.Helper()
	want := parseExact(t, raw)
	if math.IsNaN(want) {
		return
	}
	sorted := slices.Clone(keys)
	slices.Sort(sorted)
	p := scanner{data: []byte(raw)}
	num, err := p.readNumber()
	if err != nil {
		t.Fatalf("readNumber(%q): %v", raw, err)
	}
	got, _ := p.numberValue(num, sorted)
	for _, k := range keys {
		if (got < k) != (want < k) || (got == k) != (want == k) || (got > k) != (want > k) {
			t.Fatalf("%q against %v: fast value %v, exact %v compare differently", raw, k, got, want)
		}
	}
}

func TestNumberValueComparesAsParseFloat(t *testing.T) {
	for _, raw := range numberCases {
		x := parseExact(t, raw)
		var keys []float64
		if !math.IsInf(x, 0) {
			keys = []float64{x, math.Nextafter(x, math.Inf(1)), math.Nextafter(x, math.Inf(-1)), 0, -1, 1e300}
		}
		sameComparisons(t, raw, keys)
		sameComparisons(t, raw, nil)
		sameComparisons(t, raw, []float64{37.807807921694092, -122.41983177253881, 300})
	}
	// Random numbers, written with many digits, near keys that are their own float64 or
	// a neighbour of it: the near-tie cases must fall back to exact parsing.
	r := rand.New(rand.NewPCG(1, 2))
	for range 200_000 {
		x := (r.Float64() - 0.5) * math.Pow(10, float64(r.IntN(50)-25))
		raw := strconv.FormatFloat(x, 'f', r.IntN(30), 64)
		if r.IntN(2) == 0 {
			raw = strconv.FormatFloat(x, 'e', r.IntN(25), 64)
		}
		y := parseExact(t, raw)
		keys := []float64{y, math.Nextafter(y, 1e300), math.Nextafter(y, -1e300), x, -x, r.NormFloat64()}
		sameComparisons(t, raw, keys)
	}
}

// TestNumberNearTiesThroughMatcher checks event-ruler's number semantics end to end, with
// the number as the trigger (indexed) and as a deferred condition: an event number equals
// the pattern's when both are comparable and name the same float64, its float64
// neighbour does not, and a spelling with more digits than the float64 keeps is not
// comparable, so equals nothing comparable and lies in no range. (event-ruler's
// ComparableNumberTest.WHEN_EventHasVaryingPrecision_THEN_MatchRuleWithDecimalAsString is
// the same test with the 17-digit spelling in the pattern.)
func TestNumberNearTiesThroughMatcher(t *testing.T) {
	const p = 37.80780792169409
	up := math.Nextafter(p, 100)
	cases := []struct {
		ev         string
		comparable bool
	}{
		{"37.80780792169409", true},
		{"37.807807921694090000", true},
		{"3780780792169409e-14", true},
		{"37.807807921694092", false}, // 17 digits, same float64: not comparable
		{"37.8078079216940920000000000001", false},
		{strconv.FormatFloat(up, 'g', -1, 64), true},
		{strconv.FormatFloat(up, 'g', 17, 64), false},
		{"37.80780792169", true},
		{"-37.80780792169409", true},
	}
	for _, prefix := range []string{"", `"k":{"k":["k"]},`} {
		m := New()
		if err := m.Add("eq", fmt.Sprintf(`{%s"x":[%s]}`, prefix, "37.80780792169409")); err != nil {
			t.Fatal(err)
		}
		if err := m.Add("gt", `{`+prefix+`"y":[{"numeric":[">",37.80780792169409]}]}`); err != nil {
			t.Fatal(err)
		}
		for _, sb := range m.current().subs {
			if deferred := len(sb.deferred) == 1; deferred != (prefix != "") {
				t.Fatalf("pattern prefix %q: number deferred %v", prefix, deferred)
			}
		}
		evPrefix := strings.ReplaceAll(strings.ReplaceAll(prefix, "[", ""), "]", "")
		for _, c := range cases {
			for _, id := range []string{"eq", "gt"} {
				key := "x"
				want := c.comparable && parseExact(t, c.ev) == p
				if id == "gt" {
					key = "y"
					want = c.comparable && parseExact(t, c.ev) > p
				}
				got, err := m.Match(fmt.Appendf(nil, `{%s"%s":[1,%s,2]}`, evPrefix, key, c.ev))
				if err != nil {
					t.Fatal(err)
				}
				if (len(got) == 1) != want {
					t.Errorf("%s (pattern prefix %q): event %s: matched %v, want %v", id, prefix, c.ev, got, want)
				}
			}
		}
	}
	// -0 is 0 (BigDecimal has no negative zero); numbers beyond float64, or below its
	// smallest step, are not comparable: they equal nothing and lie in no range.
	for _, c := range []struct {
		pat, ev string
		want    bool
	}{{"0", "-0", true}, {"0", "-0.0e10", true}, {"0", "1e-400", false}, {"-0", "0", true}} {
		m := New()
		if err := m.Add("z", `{"x":[`+c.pat+`]}`); err != nil {
			t.Fatal(err)
		}
		if got, err := m.Match([]byte(`{"x":` + c.ev + `}`)); err != nil || (len(got) == 1) != c.want {
			t.Errorf("pattern %s, event %s: %v %v, want match %v", c.pat, c.ev, got, err, c.want)
		}
	}
	m := New()
	if err := m.Add("big", `{"x":[{"numeric":[">",1e308]}]}`); err != nil {
		t.Fatal(err)
	}
	for ev, want := range map[string]bool{"1e309": false, "1e99999999999": false, "-1e309": false, "1.7976931348623157e308": true, "1e307": false} {
		got, err := m.Match([]byte(`{"x":` + ev + `}`))
		if err != nil || (len(got) == 1) != want {
			t.Errorf("numeric > 1e308, event %s: %v %v, want match %v", ev, got, err, want)
		}
	}
}

func FuzzNumberValue(f *testing.F) {
	for _, raw := range numberCases {
		f.Add(raw, 37.807807921694092)
	}
	f.Fuzz(func(t *testing.T, raw string, key float64) {
		if !validNumber(raw) {
			return
		}
		want := parseExact(t, raw)
		sameComparisons(t, raw, []float64{key, want, math.Nextafter(want, 0), math.Nextafter(want, math.Inf(1))})
	})
}

// validNumber reports whether s is one JSON number, as readNumber accepts it.
func validNumber(s string) bool {
	p := scanner{data: []byte(s)}
	_, err := p.readNumber()
	return err == nil && p.pos == len(s) && s != ""
}

// comparableOf runs readNumber and comparable on raw, as evalNumber does.
func comparableOf(t testing.TB, raw string) (float64, bool) {
	p := scanner{data: []byte(raw)}
	if _, err := p.readNumber(); err != nil || p.pos != len(raw) {
		t.Fatalf("readNumber(%s): %v at %d", raw, err, p.pos)
	}
	return p.comparable([]byte(raw))
}

// TestComparableDigits checks comparable, whose 16 and 17 digit numbers mostly go through
// shortestDecimal's integer arithmetic, against the exact-rational reference on decimals
// near float64s: their shortest form, 16 and 17 digit forms, those moved by a few units
// in the last digit, and the midpoints between neighbouring float64s.
func TestComparableDigits(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 8))
	check := func(raw string) {
		t.Helper()
		f, cmp := comparableOf(t, raw)
		wf, wcmp := refComparable(raw)
		if cmp != wcmp || cmp && f != wf {
			t.Fatalf("comparable(%s) = %v, %v; reference %v, %v", raw, f, cmp, wf, wcmp)
		}
	}
	for range 15_000 {
		var f float64
		switch r.IntN(4) {
		case 0:
			f = math.Ldexp(1, r.IntN(70)-17) // powers of two: the narrower interval below
		case 1:
			f = float64(r.Int64N(1<<53)) / math.Pow(10, float64(r.IntN(19)))
		default:
			f = math.Exp(r.Float64()*60 - 15)
		}
		if r.IntN(2) == 0 {
			f = -f
		}
		if f == 0 {
			continue
		}
		for _, prec := range []int{-1, 15, 16} {
			raw := strconv.FormatFloat(f, 'e', prec, 64)
			check(raw)
			m, e, _ := strings.Cut(raw, "e")
			digits := strings.Replace(strings.TrimPrefix(m, "-"), ".", "", 1)
			n, err := strconv.ParseUint(digits, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range []int64{-5, -2, -1, 1, 2, 5} {
				moved := strconv.FormatUint(uint64(int64(n)+d), 10)
				if len(moved) < 2 || int64(n)+d <= 0 {
					continue
				}
				sign := ""
				if f < 0 {
					sign = "-"
				}
				check(fmt.Sprintf("%s%s.%se%s", sign, moved[:1], moved[1:], e))
			}
		}
		// The exact midpoint between f and the next float64, cut to 17 and to 16 digits.
		mid := new(big.Float).SetPrec(200).Add(big.NewFloat(f), big.NewFloat(math.Nextafter(f, math.Inf(1))))
		mid.Quo(mid, big.NewFloat(2))
		for _, prec := range []int{16, 15} {
			check(mid.Text('e', prec))
		}
	}
}

// FuzzComparable compares comparable with the exact-rational reference.
func FuzzComparable(f *testing.F) {
	for _, raw := range numberCases {
		f.Add(raw)
	}
	f.Add("-122.46241147900865")
	f.Add("37.787230573742391")
	f.Fuzz(func(t *testing.T, raw string) {
		if !validNumber(raw) {
			return
		}
		f, cmp := comparableOf(t, raw)
		wf, wcmp := refComparable(raw)
		if cmp != wcmp || cmp && f != wf {
			t.Fatalf("comparable(%s) = %v, %v; reference %v, %v", raw, f, cmp, wf, wcmp)
		}
	})
}
