package pattern_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trailbell/trailbell/pattern"
)

// Throughput on the 23 workloads of aws/event-ruler's and timbray/quamina's benchmarks
// (testdata/expected/benchmark-workloads.json) over the 213,068-line synthetic citylots
// files, and the cost of 1 vs 100 vs 10,000 patterns on CloudTrail envelopes.
//
//	go test ./pattern -run '^$' -bench 'Workload|CloudTrailScaling' -benchtime 1x
//	go test ./pattern -run 'TestWorkloadTable|TestCloudTrailScalingTable' -workloads -v -timeout 60m
//	go test ./pattern -run TestWorkloadTable -workloads -workload '^(NUMERIC|COMBO)$' -v
//
// The citylots files are large (172 MB uncompressed each) and not in the repository: they
// are read from $TRAILBELL_CITYLOTS_DIR, testdata/citylots or the shared corpus, and the
// benchmarks skip when none has them (testdata/SOURCES.md says how to generate them).

var (
	workloadsFlag  = flag.Bool("workloads", false, "run TestWorkloadTable and TestCloudTrailScalingTable (slow: minutes)")
	workloadFilter = flag.String("workload", "", "TestWorkloadTable: only the workloads whose name matches this regexp")
)

// jsonValidImplied is the json.Valid throughput (events/s) on citylots2 that the issue's
// targets imply for the machine the peer figures were measured on: NUMERIC's target 2.0 is
// 5 × event-ruler's 172k events/s ÷ 430k, and the other given targets agree (see BENCHMARKS.md).
const jsonValidImplied = 430_000

// issueTargets are the ratio targets the issue states; the others are derived in target.
var issueTargets = map[string]float64{
	"EXACT": 5.0, "WILDCARD": 4.35, "PREFIX": 4.0, "EQUALS_IGNORE_CASE": 3.4, "ANYTHING_BUT": 1.4,
	"NUMERIC": 2.0, "SUFFIX": 3.1, "COMPLEX_ARRAYS": 0.36, "COMBO": 0.22,
}

type workload struct {
	Name     string `json:"name"`
	Dataset  string `json:"dataset"`
	Patterns []struct {
		ID      string `json:"id"`
		Pattern string `json:"pattern"`
	} `json:"patterns"`
	Expected []int `json:"expected_counts_synthetic"`
	Events   int   `json:"events"`
	Measured struct {
		EventRuler map[string]any `json:"event-ruler"`
		Quamina    map[string]any `json:"quamina"`
	} `json:"measured_here"`
}

// eventRulerEPS and quaminaEPS return the peer figures measured in this workplace, or 0
// where that engine does not support the workload. For quamina, the better of its two runs.
func (w *workload) eventRulerEPS() float64 {
	v, _ := w.Measured.EventRuler["eps_mean"].(float64)
	return v
}

func (w *workload) quaminaEPS() float64 {
	var best float64
	for k, v := range w.Measured.Quamina {
		if f, ok := v.(float64); ok && strings.HasPrefix(k, "eps_mean") {
			best = max(best, f)
		}
	}
	return best
}

// target is the ratio (events/s ÷ json.Valid events/s) the workload should reach. The issue
// asks for both "at least quamina's where quamina supports the workload" and "at least five
// times event-ruler's everywhere", so it is the larger of the two (and of the issue's own
// figure where it gives one), peer events/s taken against jsonValidImplied.
func (w *workload) target() float64 {
	t := issueTargets[w.Name]
	t = max(t, w.quaminaEPS()/jsonValidImplied)
	return max(t, 5*w.eventRulerEPS()/jsonValidImplied)
}

func loadWorkloads(t testing.TB) []workload {
	t.Helper()
	var f struct {
		Workloads []workload `json:"workloads"`
	}
	if err := json.Unmarshal(readTestdata(t, "expected/benchmark-workloads.json"), &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Workloads) != 23 {
		t.Fatalf("benchmark-workloads.json: %d workloads, want 23", len(f.Workloads))
	}
	for _, w := range f.Workloads {
		if len(w.Patterns) != len(w.Expected) {
			t.Fatalf("%s: %d patterns, %d expected counts", w.Name, len(w.Patterns), len(w.Expected))
		}
	}
	return f.Workloads
}

var datasetFiles = map[string]string{
	"citylots2": "citylots2-synth.json.gz",
	"citylots":  "citylots-synth.jlines.gz",
}

// datasets holds each citylots file's lines, read once per process on first use and
// shared by every benchmark and test that needs them.
var datasets = struct {
	sync.Mutex
	lines map[string][][]byte
	err   map[string]error
}{lines: map[string][][]byte{}, err: map[string]error{}}

func citylotsPath(name string) (string, error) {
	file, ok := datasetFiles[name]
	if !ok {
		return "", fmt.Errorf("unknown dataset %q", name)
	}
	var dirs []string
	if d := os.Getenv("TRAILBELL_CITYLOTS_DIR"); d != "" {
		dirs = append(dirs, d)
	}
	dirs = append(dirs, filepath.Join("testdata", "citylots"), "/work/shared/corpus/matcher/citylots")
	for _, d := range dirs {
		p := filepath.Join(d, file)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found in %s (set TRAILBELL_CITYLOTS_DIR; see testdata/SOURCES.md)", file, strings.Join(dirs, ", "))
}

func readLines(path string) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	var lines [][]byte
	for sc.Scan() {
		if len(sc.Bytes()) > 0 {
			lines = append(lines, append([]byte(nil), sc.Bytes()...))
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s line %d: %w", path, len(lines)+1, err)
	}
	return lines, nil
}

// dataset returns the lines of a citylots file, skipping the caller when it is not available.
func dataset(tb testing.TB, name string) [][]byte {
	tb.Helper()
	datasets.Lock()
	defer datasets.Unlock()
	if l, ok := datasets.lines[name]; ok {
		return l
	}
	if err, ok := datasets.err[name]; ok {
		tb.Skip(err)
	}
	path, err := citylotsPath(name)
	if err != nil {
		datasets.err[name] = err
		tb.Skip(err)
	}
	start := time.Now()
	lines, err := readLines(path)
	if err != nil {
		datasets.err[name] = err
		tb.Fatal(err)
	}
	tb.Logf("loaded %d lines of %s in %v", len(lines), path, time.Since(start).Round(time.Millisecond))
	datasets.lines[name] = lines
	return lines
}

// errUnsupported marks a workload using an operator the engine does not offer (quamina's
// shellstyle and regexp are not EventBridge operators).
var errUnsupported = errors.New("unsupported")

// compileWorkload builds a fresh matcher with every pattern of w and the index of each id.
func compileWorkload(w *workload) (*pattern.Matcher, map[string]int, error) {
	m := pattern.New()
	index := make(map[string]int, len(w.Patterns))
	for i, p := range w.Patterns {
		if err := m.Add(p.ID, p.Pattern); err != nil {
			return nil, nil, fmt.Errorf("%w: %s: %v", errUnsupported, p.ID, err)
		}
		index[p.ID] = i
	}
	return m, index, nil
}

// pass matches every line once, adding 1 per matched id to counts (as both upstream
// harnesses do).
func pass(m *pattern.Matcher, index map[string]int, lines [][]byte, counts []int) error {
	for i, line := range lines {
		ids, err := m.Match(line)
		if err != nil {
			return fmt.Errorf("line %d: %w", i+1, err)
		}
		for _, id := range ids {
			counts[index[id]]++
		}
	}
	return nil
}

func validPass(lines [][]byte) int {
	n := 0
	for _, line := range lines {
		if json.Valid(line) {
			n++
		}
	}
	return n
}

// checkCounts runs one full pass and compares the per-id counts with the expected ones.
func checkCounts(w *workload, m *pattern.Matcher, index map[string]int, lines [][]byte) error {
	if len(lines) != w.Events {
		return fmt.Errorf("%s: dataset has %d lines, workload expects %d", w.Name, len(lines), w.Events)
	}
	counts := make([]int, len(w.Patterns))
	if err := pass(m, index, lines, counts); err != nil {
		return fmt.Errorf("%s: %w", w.Name, err)
	}
	if !slices.Equal(counts, w.Expected) {
		var diff []string
		for i := range counts {
			if counts[i] != w.Expected[i] {
				diff = append(diff, fmt.Sprintf("%s: got %d want %d", w.Patterns[i].ID, counts[i], w.Expected[i]))
			}
		}
		return fmt.Errorf("%s: counts differ from expected_counts_synthetic: %s", w.Name, strings.Join(diff, "; "))
	}
	return nil
}

func BenchmarkWorkload(b *testing.B) {
	for _, w := range loadWorkloads(b) {
		b.Run(w.Name, func(b *testing.B) {
			m, index, err := compileWorkload(&w)
			if err != nil {
				b.Skip(err)
			}
			lines := dataset(b, w.Dataset)
			// The verifying pass doubles as warm-up.
			if err := checkCounts(&w, m, index, lines); err != nil {
				b.Fatal(err)
			}
			counts := make([]int, len(w.Patterns))
			b.ReportAllocs()
			iters := 0
			for b.Loop() {
				if err := pass(m, index, lines, counts); err != nil {
					b.Fatal(err)
				}
				iters++
			}
			eps := float64(iters*len(lines)) / b.Elapsed().Seconds()

			// json.Valid over the same lines in the same run, as the yardstick.
			start := time.Now()
			for range iters {
				if n := validPass(lines); n != len(lines) {
					b.Fatalf("json.Valid rejected %d lines", len(lines)-n)
				}
			}
			veps := float64(iters*len(lines)) / time.Since(start).Seconds()
			b.ReportMetric(eps, "events/s")
			b.ReportMetric(veps, "json.Valid-events/s")
			b.ReportMetric(eps/veps, "ratio")
			b.ReportMetric(w.target(), "target-ratio")
		})
	}
}

// interleaved times n passes of f and of g over lines, after warm-up passes, alternating
// f and g so both see the same load on a shared machine. It returns the events/s of each,
// as the mean over the passes and as the fastest pass: noise only ever adds time, so the
// fastest passes of two matchers compare their costs better than means do when the
// difference sought is small.
func interleaved(lines [][]byte, warmup, n int, f, g func() error) (mean, best [2]float64, err error) {
	for range warmup {
		if err := f(); err != nil {
			return mean, best, err
		}
		if err := g(); err != nil {
			return mean, best, err
		}
	}
	for range n {
		for i, run := range []func() error{f, g} {
			start := time.Now()
			if err := run(); err != nil {
				return mean, best, err
			}
			eps := float64(len(lines)) / time.Since(start).Seconds()
			mean[i] += eps / float64(n)
			best[i] = max(best[i], eps)
		}
	}
	return mean, best, nil
}

func fmtEPS(v float64) string {
	switch {
	case v <= 0:
		return "–"
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	default:
		return fmt.Sprintf("%.0fk", v/1e3)
	}
}

// TestWorkloadTable prints the markdown table of BENCHMARKS.md: per workload, counts checked,
// then 2 warm-up passes and the mean of 5 timed passes, for the matcher and for json.Valid,
// interleaved.
func TestWorkloadTable(t *testing.T) {
	if !*workloadsFlag {
		t.Skip("prints the benchmark table; run with -workloads")
	}
	const warmup, passes = 2, 5
	only, err := regexp.Compile(*workloadFilter)
	if err != nil {
		t.Fatalf("-workload: %v", err)
	}
	var rows []string
	met, total := 0, 0
	for _, w := range loadWorkloads(t) {
		if !only.MatchString(w.Name) {
			continue
		}
		m, index, err := compileWorkload(&w)
		if err != nil {
			// quamina's shellstyle and regexp are not EventBridge operators: reported, not counted.
			t.Logf("%s: %v", w.Name, err)
			rows = append(rows, fmt.Sprintf("| %s | %d | unsupported | | | %.2f | n/a (not an EventBridge operator) | | %s | %s |",
				w.Name, len(w.Patterns), w.target(), fmtEPS(w.eventRulerEPS()), fmtEPS(w.quaminaEPS())))
			continue
		}
		lines := dataset(t, w.Dataset)
		if err := checkCounts(&w, m, index, lines); err != nil {
			t.Error(err)
			rows = append(rows, fmt.Sprintf("| %s | %d | wrong counts | | | %.2f | no | | %s | %s |",
				w.Name, len(w.Patterns), w.target(), fmtEPS(w.eventRulerEPS()), fmtEPS(w.quaminaEPS())))
			total++
			continue
		}
		counts := make([]int, len(w.Patterns))
		mean, _, err := interleaved(lines, warmup, passes,
			func() error { return pass(m, index, lines, counts) },
			func() error { validPass(lines); return nil })
		if err != nil {
			t.Fatal(err)
		}
		eps, veps := mean[0], mean[1]
		allocs := testing.AllocsPerRun(1, func() { _ = pass(m, index, lines, counts) }) / float64(len(lines))
		ratio, target := eps/veps, w.target()
		ok := "no"
		if ratio >= target {
			ok = "yes"
			met++
		}
		total++
		row := fmt.Sprintf("| %s | %d | %s | %s | %.2f | %.2f | %s | %.3f | %s | %s |",
			w.Name, len(w.Patterns), fmtEPS(eps), fmtEPS(veps), ratio, target, ok, allocs, fmtEPS(w.eventRulerEPS()), fmtEPS(w.quaminaEPS()))
		t.Log(row)
		rows = append(rows, row)
	}
	fmt.Printf("\n| workload | patterns | events/s | json.Valid events/s | ratio | target ratio | met? | allocs/event | event-ruler events/s | quamina events/s |\n")
	fmt.Printf("|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Println(r)
	}
	fmt.Printf("\ntargets met: %d of %d supported workloads\n", met, total)
}

// CloudTrail scaling: the built-in style of pattern set, 1, 100 or 10,000 patterns, over the
// corpus CloudTrail records lifted into EventBridge envelopes.

// scalingOperators names the generated pattern kinds, by i % 8, for the per-operator rows
// of TestCloudTrailScalingTable. The last kind, seedShaped, is never part of the mixed set:
// patterns shaped like the IAM seed pattern (source, detail-type, eventSource and a list of
// eventNames), the shape of trailbell's own rules, which name the same fields as the seed.
var scalingOperators = []string{"exact", "prefix", "suffix", "equals-ignore-case", "wildcard", "anything-but", "prefix+exists", "cidr", "seed-shaped"}

const seedShaped = 8

// scalingPatternsOf returns n patterns: the IAM seed pattern first, then generated ones over
// eventName, eventSource and userIdentity.arn with the operators rules use, all of one kind
// (an index into scalingOperators) or, when kind is -1, of every kind in turn. 1 in 50
// generated patterns names a real event so the set is realistic, the rest never match.
func scalingPatternsOf(n, kind int) []string {
	realNames := []string{"ConsoleLogin", "CreateAccessKey", "PutBucketPolicy", "StopLogging", "AssumeRole", "DeleteTrail"}
	services := []string{"iam", "sts", "s3", "ec2", "kms", "lambda", "cloudtrail", "organizations", "guardduty", "config"}
	r := rand.New(rand.NewPCG(1, 2))
	out := []string{iamSeedPattern}
	for i := 1; i < n; i++ {
		svc := services[r.IntN(len(services))]
		acct := fmt.Sprintf("%012d", r.Int64N(1e12))
		var p string
		k := i % 8
		if kind >= 0 {
			k = kind
		}
		switch {
		case i%50 == 0:
			p = fmt.Sprintf(`{"detail":{"eventName":[%q]}}`, realNames[(i/50)%len(realNames)])
		default:
			switch k {
			case 0:
				p = fmt.Sprintf(`{"source":["aws.%s"],"detail":{"eventName":["Gen%dAction","Gen%dOther"]}}`, svc, i, i)
			case 1:
				p = fmt.Sprintf(`{"detail":{"userIdentity":{"arn":[{"prefix":"arn:aws:iam::%s:role/"}]}}}`, acct)
			case 2:
				p = fmt.Sprintf(`{"detail":{"eventSource":[{"suffix":".gen%d.amazonaws.com"}]}}`, i)
			case 3:
				p = fmt.Sprintf(`{"detail":{"eventName":[{"equals-ignore-case":"gen%dcall"}],"eventSource":["%s.amazonaws.com"]}}`, i, svc)
			case 4:
				p = fmt.Sprintf(`{"detail":{"userIdentity":{"arn":[{"wildcard":"arn:aws:iam::%s:user/ci-%d-*"}]}}}`, acct, i)
			case 5:
				p = fmt.Sprintf(`{"detail":{"eventName":["Gen%dDelete"],"awsRegion":[{"anything-but":["us-east-1","eu-west-1"]}]}}`, i)
			case 6:
				p = fmt.Sprintf(`{"detail":{"eventName":[{"prefix":"Gen%d"}],"errorCode":[{"exists":true}]}}`, i)
			case 7:
				p = fmt.Sprintf(`{"detail":{"sourceIPAddress":[{"cidr":"10.%d.%d.0/24"}],"eventSource":["gen%d.amazonaws.com"]}}`, r.IntN(256), r.IntN(256), i)
			case seedShaped:
				p = fmt.Sprintf(`{"source":["aws.%s"],"detail-type":["AWS API Call via CloudTrail"],"detail":{"eventSource":["%s.amazonaws.com"],"eventName":["Gen%dCreate","Gen%dAttach","Gen%dDelete"]}}`, svc, svc, i, i, i)
			}
		}
		out = append(out, p)
	}
	return out
}

func scalingMatcher(tb testing.TB, n int) *pattern.Matcher { return scalingMatcherOf(tb, n, -1) }

func scalingMatcherOf(tb testing.TB, n, kind int) *pattern.Matcher {
	tb.Helper()
	m := pattern.New()
	for i, p := range scalingPatternsOf(n, kind) {
		if err := m.Add(fmt.Sprintf("p%d", i), p); err != nil {
			tb.Fatalf("pattern %d %s: %v", i, p, err)
		}
	}
	return m
}

// checkScaling verifies that adding patterns changes nothing for the seed pattern and that
// the generated real-name patterns do match something.
func checkScaling(tb testing.TB, m, seedOnly *pattern.Matcher, events [][]byte, n int) {
	tb.Helper()
	extra := 0
	for i, ev := range events {
		got, err := m.Match(ev)
		if err != nil {
			tb.Fatalf("envelope %d: %v", i+1, err)
		}
		want, err := seedOnly.Match(ev)
		if err != nil {
			tb.Fatal(err)
		}
		if slices.Contains(got, "p0") != slices.Contains(want, "p0") {
			tb.Fatalf("envelope %d: seed pattern verdict changes with %d patterns", i+1, n)
		}
		extra += len(got) - len(want)
	}
	if n >= 100 && extra == 0 {
		tb.Fatalf("%d patterns: none of the generated patterns matched; expected a few", n)
	}
}

var scalingEPS sync.Map // event set -> events/s of the seed pattern, to report the n/1 ratio in one run

// loadEnvelopeOrders returns the envelopes as stored and the same envelopes with their
// detail keys in CloudTrail's order, checking that reordering changed no value.
func loadEnvelopeOrders(tb testing.TB) (stored, ordered [][]byte) {
	tb.Helper()
	stored = loadEnvelopes(tb)
	ordered = make([][]byte, len(stored))
	for i, ev := range stored {
		var err error
		if ordered[i], err = cloudTrailOrder(ev); err != nil {
			tb.Fatalf("envelope %d: %v", i+1, err)
		}
		var a, b any
		if json.Unmarshal(ev, &a) != nil || json.Unmarshal(ordered[i], &b) != nil || !reflect.DeepEqual(a, b) {
			tb.Fatalf("envelope %d: reordering changed its content", i+1)
		}
	}
	return stored, ordered
}

// BenchmarkCloudTrailScaling matches the envelopes as stored and with their detail keys in
// CloudTrail's order (see TestCloudTrailScalingTable) against 1, 100 and 10,000 patterns.
func BenchmarkCloudTrailScaling(b *testing.B) {
	stored, ordered := loadEnvelopeOrders(b)
	seedOnly := scalingMatcher(b, 1)
	for _, set := range []struct {
		name   string
		events [][]byte
	}{{"stored", stored}, {"cloudtrail-order", ordered}} {
		events := set.events
		for _, n := range []int{1, 100, 10_000} {
			b.Run(fmt.Sprintf("%s/patterns=%d", set.name, n), func(b *testing.B) {
				m := scalingMatcher(b, n)
				checkScaling(b, m, seedOnly, events, n)
				b.ReportAllocs()
				iters := 0
				for b.Loop() {
					for _, ev := range events {
						if _, err := m.Match(ev); err != nil {
							b.Fatal(err)
						}
					}
					iters++
				}
				eps := float64(iters*len(events)) / b.Elapsed().Seconds()
				b.ReportMetric(eps, "events/s")
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(iters*len(events)), "ns/event")
				if n == 1 {
					scalingEPS.Store(set.name, eps)
				} else if one, ok := scalingEPS.Load(set.name); ok {
					b.ReportMetric(one.(float64)/eps, "cost-vs-1-pattern")
				}
			})
		}
	}
}

// arnPattern is one pattern on the field of the mixed set that comes last in alphabetized
// records, userIdentity.arn: a single pattern that reads as far into them as the 10,000.
const arnPattern = `{"detail":{"userIdentity":{"arn":[{"prefix":"arn:aws:iam::123456789012:role/"}]}}}`

// TestCloudTrailScalingTable prints the scaling table: the cost of each pattern set relative
// to a baseline, the IAM seed pattern alone (target for 10,000 patterns: <= 1.5) or, to
// separate "more patterns" from "more fields to read", the 9 patterns that name the same
// fields as the 10,000, or one pattern on userIdentity.arn. Each row's passes alternate
// with passes of its baseline, so both see the same machine load. "Bytes read" is the
// share of the event bytes a matcher reads before it stops (see bytesRead).
func TestCloudTrailScalingTable(t *testing.T) {
	if !*workloadsFlag {
		t.Skip("prints the scaling table; run with -workloads")
	}
	stored, ordered := loadEnvelopeOrders(t)
	seedOnly := scalingMatcher(t, 1)
	sameFields := scalingMatcher(t, 9)
	lastField := pattern.New()
	if err := lastField.Add("arn", arnPattern); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("\n| events | patterns | kinds | bytes read | events/s | baseline | baseline events/s, same run | ns/event | cost vs baseline | Add (all) | first Match |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	type row struct {
		n, kind int
		set     string
		base    string
	}
	const seed, nine, arn = "seed pattern", "9 patterns, same fields", "1 pattern on userIdentity.arn"
	// 9 = the seed pattern and one of each generated kind: the fields of the 10,000-pattern
	// set without its number, which separates "more fields to read" from "more patterns".
	// Each set of rows runs on the envelopes as stored (detail keys often sorted
	// alphabetically by the exporters the corpus comes from) and on the same records with
	// detail keys in the order CloudTrail writes them (see cloudTrailOrder).
	var rows []row
	for _, set := range []string{"as stored", "CloudTrail order"} {
		rows = append(rows, row{1, -1, set, seed}, row{9, -1, set, seed}, row{100, -1, set, seed}, row{10_000, -1, set, seed},
			row{10_000, -1, set, nine}, row{10_000, -1, set, arn}, row{10_000, seedShaped, set, seed})
	}
	for k := range scalingOperators[:seedShaped] {
		rows = append(rows, row{10_000, k, "as stored", seed})
	}
	var events [][]byte
	passOf := func(m *pattern.Matcher, rounds int) func() error {
		return func() error {
			for range rounds {
				for _, ev := range events {
					if _, err := m.Match(ev); err != nil {
						return err
					}
				}
			}
			return nil
		}
	}
	for _, r := range rows {
		events = stored
		if r.set != "as stored" {
			events = ordered
		}
		kinds := "mixed"
		switch {
		case r.n == 1:
			kinds = "IAM seed pattern"
		case r.kind >= 0:
			kinds = scalingOperators[r.kind]
		case r.n == 9:
			kinds = "seed + one of each kind"
		}
		start := time.Now()
		m := scalingMatcherOf(t, r.n, r.kind)
		addTime := time.Since(start)
		start = time.Now()
		if _, err := m.Match(events[0]); err != nil { // the first Match publishes the compiled set
			t.Fatal(err)
		}
		firstMatch := time.Since(start)
		checkScaling(t, m, seedOnly, events, r.n)
		base := seedOnly
		switch r.base {
		case nine:
			base = sameFields
		case arn:
			base = lastField
		}
		// Enough rounds over the 859 envelopes that one timed pass lasts ~0.1 s; the fastest
		// of 11 passes of each counts.
		t0 := time.Now()
		if err := passOf(m, 1)(); err != nil {
			t.Fatal(err)
		}
		rounds := max(1, int(100*time.Millisecond/max(time.Since(t0), time.Microsecond)))
		_, best, err := interleaved(events, 2, 11, passOf(m, rounds), passOf(base, rounds))
		if err != nil {
			t.Fatal(err)
		}
		eps, eps1 := best[0]*float64(rounds), best[1]*float64(rounds)
		fmt.Printf("| %s | %d | %s | %.0f%% | %s | %s | %s | %.0f | %.2f | %v | %v |\n",
			r.set, r.n, kinds, 100*bytesRead(m, events), fmtEPS(eps), r.base, fmtEPS(eps1), 1e9/eps, eps1/eps,
			addTime.Round(time.Millisecond), firstMatch.Round(time.Millisecond))
	}
}

// bytesRead returns the share of the bytes of events that m reads: for each event, the
// shortest prefix on which Match succeeds, since the matcher stops reading once it has seen
// the fields that can change its answer and the rest holds no key on their paths (about:
// a number cut short can end a read early; the rest is searched for those keys, not read).
func bytesRead(m *pattern.Matcher, events [][]byte) float64 {
	read, total := 0, 0
	for _, ev := range events {
		lo, hi := 0, len(ev) // Match fails on ev[:lo] and succeeds on ev[:hi]
		for lo+1 < hi {
			mid := (lo + hi) / 2
			if _, err := m.Match(ev[:mid]); err == nil {
				hi = mid
			} else {
				lo = mid
			}
		}
		read += hi
		total += len(ev)
	}
	return float64(read) / float64(total)
}

// cloudTrailDetailOrder is the order in which CloudTrail writes the top-level fields of a
// record (its "record contents" documentation and its log files), which EventBridge keeps
// in detail.
var cloudTrailDetailOrder = []string{"eventVersion", "userIdentity", "eventTime", "eventSource",
	"eventName", "awsRegion", "sourceIPAddress", "userAgent", "errorCode", "errorMessage",
	"requestParameters", "responseElements", "additionalEventData", "requestID", "eventID",
	"readOnly", "resources", "eventType", "apiVersion", "managementEvent", "recipientAccountId",
	"sharedEventID", "vpcEndpointId", "vpcEndpointAccountId", "eventCategory", "tlsDetails",
	"sessionCredentialFromConsole", "edgeDeviceDetails", "eventContext"}

// cloudTrailOrder re-serializes an envelope with the keys of detail in CloudTrail's order;
// keys not in the list follow in their original relative order. Values are kept byte for
// byte, so only the order of the top-level detail keys changes.
func cloudTrailOrder(envelope []byte) ([]byte, error) {
	env, err := objectMembers(envelope)
	if err != nil {
		return nil, err
	}
	rank := func(k string) int {
		if i := slices.Index(cloudTrailDetailOrder, k); i >= 0 {
			return i
		}
		return len(cloudTrailDetailOrder)
	}
	for i, m := range env {
		if m.name != "detail" || len(m.value) == 0 || m.value[0] != '{' {
			continue
		}
		detail, err := objectMembers(m.value)
		if err != nil {
			return nil, fmt.Errorf("detail: %w", err)
		}
		slices.SortStableFunc(detail, func(a, b member) int { return rank(a.name) - rank(b.name) })
		env[i].value = appendObject(nil, detail)
	}
	out := appendObject(nil, env)
	if !json.Valid(out) {
		return nil, errors.New("re-serialized envelope is not valid JSON")
	}
	return out, nil
}

type member struct {
	name       string
	key, value []byte // raw JSON
}

// appendObject appends the JSON object of members ms.
func appendObject(out []byte, ms []member) []byte {
	out = append(out, '{')
	for i, m := range ms {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, m.key...)
		out = append(out, ':')
		out = append(out, m.value...)
	}
	return append(out, '}')
}

// objectMembers lists the members of a JSON object in their order, values raw.
func objectMembers(obj []byte) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(obj))
	if _, err := dec.Token(); err != nil { // '{'
		return nil, err
	}
	var out []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		name, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, err
		}
		key, err := json.Marshal(name)
		if err != nil {
			return nil, err
		}
		out = append(out, member{name: name, key: key, value: raw})
	}
	return out, nil
}
