// Command gen writes benchmark inputs for `trailbell scan`:
//
//	go run ./bench/gen -out DIR [-records 200000] [-seed 1]   a CloudTrail archive in S3 layout
//	go run ./bench/gen -rules 10000 -out FILE.yaml             rules that match none of it
//	go run ./bench/gen -one-file -records N -out FILE.json.gz  one large log file
//
// The archive holds gzip log files of a few hundred records each, named and laid out as
// CloudTrail writes them (AWSLogs/ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/ACCOUNT_CloudTrail_
// REGION_YYYYMMDDTHHMMZ_RANDOM.json.gz), plus digest files. Records are sampled from the real
// and documented events in internal/cloudtrail/testdata/corpus and given fresh ids and times;
// by default 1% come from the samples the built-in pack alerts on, the rest from routine ones.
package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/trailbell/trailbell/internal/cloudtrail"
	"github.com/trailbell/trailbell/internal/detect"
)

func main() {
	out := flag.String("out", "", "output directory (archive) or file (rules)")
	records := flag.Int("records", 200_000, "records in the archive")
	seed := flag.Uint64("seed", 1, "random seed: the same seed gives the same archive")
	corpus := flag.String("corpus", "internal/cloudtrail/testdata/corpus", "directory of sample events")
	rules := flag.Int("rules", 0, "write this many non-matching rules to -out instead of an archive")
	one := flag.Bool("one-file", false, "write all records into one gzip log file at -out (a large-file test)")
	hot := flag.Float64("hot", 0.01, "fraction of records that the built-in pack alerts on (real trails are mostly routine reads)")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "gen: -out is required")
		os.Exit(2)
	}
	var err error
	if *rules > 0 {
		err = writeRules(*out, *rules)
	} else if *one {
		err = writeOneFile(*out, *corpus, *records, *seed, *hot)
	} else {
		err = writeArchive(*out, *corpus, *records, *seed, *hot)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

// samples decodes every corpus file and keeps the records of real services.
func samples(dir string) ([]map[string]json.RawMessage, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil {
		return nil, err
	}
	var out []map[string]json.RawMessage
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return nil, err
		}
		_, err = cloudtrail.Decode(fh, f, func(e cloudtrail.Event) error {
			var env struct{ Detail map[string]json.RawMessage }
			if json.Unmarshal(e.Envelope, &env) != nil || env.Detail == nil {
				return nil
			}
			var src, name string
			json.Unmarshal(env.Detail["eventSource"], &src)
			json.Unmarshal(env.Detail["eventName"], &name)
			if name != "" && strings.HasSuffix(src, ".amazonaws.com") {
				out = append(out, env.Detail)
			}
			return nil
		})
		fh.Close()
		if err != nil {
			return nil, err
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no sample records in %s", dir)
	}
	return out, nil
}

func uuid(r *mrand.Rand) string {
	var b [16]byte
	for i := range b {
		b[i] = byte(r.UintN(256))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

func randomName(r *mrand.Rand) string {
	b := make([]byte, 16)
	for i := range b {
		b[i] = letters[r.IntN(len(letters))]
	}
	return string(b)
}

// split sorts sample records into those the built-in pack alerts on and the rest.
func split(recs []map[string]json.RawMessage) (hot, quiet []map[string]json.RawMessage, err error) {
	rs, err := detect.Builtin()
	if err != nil {
		return nil, nil, err
	}
	eng, err := detect.New(rs)
	if err != nil {
		return nil, nil, err
	}
	for _, rec := range recs {
		b, err := json.Marshal(rec)
		if err != nil {
			return nil, nil, err
		}
		env, err := cloudtrail.Lift(b)
		if err != nil {
			return nil, nil, err
		}
		fs, err := eng.Detect(env)
		if err != nil {
			return nil, nil, err
		}
		if len(fs) > 0 {
			hot = append(hot, rec)
		} else {
			quiet = append(quiet, rec)
		}
	}
	if len(hot) == 0 || len(quiet) == 0 {
		return nil, nil, fmt.Errorf("samples: %d alerting, %d routine records; need both", len(hot), len(quiet))
	}
	return hot, quiet, nil
}

// picker draws sample records: alerting ones with probability hotFraction, else routine ones.
type picker struct {
	r           *mrand.Rand
	hot, quiet  []map[string]json.RawMessage
	hotFraction float64
}

// archiveAccount is the account whose trail the archive holds.
const archiveAccount = "111122223333"

func newPicker(corpus string, seed uint64, hotFraction float64) (*picker, error) {
	all, err := samples(corpus)
	if err != nil {
		return nil, err
	}
	for _, rec := range all {
		if err := intoAccount(rec, archiveAccount); err != nil {
			return nil, err
		}
	}
	hot, quiet, err := split(all)
	if err != nil {
		return nil, err
	}
	r := mrand.New(mrand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	return &picker{r: r, hot: hot, quiet: quiet, hotFraction: hotFraction}, nil
}

// record returns a copy of a random sample record, for the caller to give fresh ids and times.
func (p *picker) record() map[string]json.RawMessage {
	pool := p.quiet
	if p.r.Float64() < p.hotFraction {
		pool = p.hot
	}
	rec := make(map[string]json.RawMessage, 20)
	for k, v := range pool[p.r.IntN(len(pool))] {
		rec[k] = v
	}
	return rec
}

func writeArchive(dir, corpus string, n int, seed uint64, hotFraction float64) error {
	pick, err := newPicker(corpus, seed, hotFraction)
	if err != nil {
		return err
	}
	r := pick.r
	regions := []string{"us-east-1", "eu-west-1", "us-west-2"}
	start := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	q := func(s string) json.RawMessage { b, _ := json.Marshal(s); return b }

	written, files, digests := 0, 0, 0
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	// Files are written every 5 minutes per region, round robin, until n records exist.
	for slot := 0; written < n; slot++ {
		region := regions[slot%len(regions)]
		at := start.Add(time.Duration(slot/len(regions)) * 5 * time.Minute)
		count := min(100+r.IntN(400), n-written)
		buf.Reset()
		zw.Reset(&buf)
		zw.Write([]byte(`{"Records":[`))
		for i := range count {
			rec := pick.record()
			t := at.Add(-time.Duration(r.IntN(300)) * time.Second)
			rec["eventID"] = q(uuid(r))
			rec["requestID"] = q(uuid(r))
			rec["eventTime"] = q(t.Format(time.RFC3339))
			rec["awsRegion"] = q(region)
			b, err := json.Marshal(rec)
			if err != nil {
				return err
			}
			if i > 0 {
				zw.Write([]byte{','})
			}
			zw.Write(b)
		}
		zw.Write([]byte(`]}`))
		if err := zw.Close(); err != nil {
			return err
		}
		p := filepath.Join(dir, "AWSLogs", archiveAccount, "CloudTrail", region, at.Format("2006/01/02"),
			fmt.Sprintf("%s_CloudTrail_%s_%s_%s.json.gz", archiveAccount, region, at.Format("20060102T1504Z"), randomName(r)))
		if err := write(p, buf.Bytes()); err != nil {
			return err
		}
		written += count
		files++
		// an hourly digest per region, as CloudTrail writes when validation is on
		if at.Minute() == 0 {
			p := filepath.Join(dir, "AWSLogs", archiveAccount, "CloudTrail-Digest", region, at.Format("2006/01/02"),
				fmt.Sprintf("%s_CloudTrail-Digest_%s_main_%s_%s.json.gz", archiveAccount, region, region, at.Format("20060102T150405Z")))
			var d bytes.Buffer
			dz := gzip.NewWriter(&d)
			fmt.Fprintf(dz, `{"awsAccountId":%q,"digestStartTime":%q,"digestEndTime":%q,"digestS3Bucket":"bench","logFiles":[]}`,
				archiveAccount, at.Add(-time.Hour).Format(time.RFC3339), at.Format(time.RFC3339))
			dz.Close()
			if err := write(p, d.Bytes()); err != nil {
				return err
			}
			digests++
		}
	}
	fmt.Fprintf(os.Stderr, "gen: %d records in %d log files and %d digest files under %s (samples: %d alerting, %d routine; %.1f%% alerting)\n",
		written, files, digests, dir, len(pick.hot), len(pick.quiet), 100*hotFraction)
	return nil
}

// writeOneFile streams n records into one gzip log file, never holding it in memory.
func writeOneFile(path, corpus string, n int, seed uint64, hotFraction float64) error {
	pick, err := newPicker(corpus, seed, hotFraction)
	if err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	zw := gzip.NewWriter(f)
	zw.Write([]byte(`{"Records":[`))
	at := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	var raw int64
	for i := range n {
		rec := pick.record()
		id, _ := json.Marshal(uuid(pick.r))
		t, _ := json.Marshal(at.Add(time.Duration(i) * time.Millisecond).Format(time.RFC3339))
		rec["eventID"], rec["eventTime"] = id, t
		b, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		if i > 0 {
			zw.Write([]byte{','})
		}
		zw.Write(b)
		raw += int64(len(b)) + 1
	}
	zw.Write([]byte(`]}`))
	if err := zw.Close(); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "gen: %d records, %d MB of JSON, in %s\n", n, raw>>20, path)
	return f.Close()
}

// intoAccount makes a sample record one of account's trail: its recipientAccountId, and its
// own account wherever the record names it (moveAccount). Samples are sorted into alerting
// and routine ones after this, as they are written.
func intoAccount(rec map[string]json.RawMessage, account string) error {
	var own string
	json.Unmarshal(rec["recipientAccountId"], &own)
	rec["recipientAccountId"], _ = json.Marshal(account)
	for k, v := range rec {
		moved := moveAccount(v, own, account)
		if !json.Valid(moved) {
			return fmt.Errorf("sample %s: moving account %s to %s broke its JSON", rec["eventID"], own, account)
		}
		rec[k] = moved
	}
	return nil
}

// moveAccount writes the sample's own account (its recipientAccountId) as the archive's
// account wherever the record names it, in ARNs, policies and conditions, so that a sample
// moved into the archive's account still acts on its own resources: renaming the recipient
// alone made a key policy naming its own account look like a grant to another account.
// Other accounts the record names stay as they are.
func moveAccount(rec []byte, from, to string) []byte {
	if len(from) != 12 || strings.Trim(from, "0123456789") != "" || from == to {
		return rec
	}
	digit := func(j int) bool { return j >= 0 && j < len(rec) && rec[j] >= '0' && rec[j] <= '9' }
	var out []byte
	done := 0
	for at := 0; ; {
		i := bytes.Index(rec[at:], []byte(from))
		if i < 0 {
			return append(out, rec[done:]...)
		}
		i += at
		at = i + len(from)
		if digit(i-1) || digit(at) {
			continue // part of a longer number
		}
		out = append(append(out, rec[done:i]...), to...)
		done = at
	}
}

func write(p string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, data, 0o644)
}

// writeRules writes n rules that match no generated record, in four shapes a real rule set
// has: exact event names, name prefixes per service, principals of other accounts, and
// request parameters of named resources.
func writeRules(path string, n int) error {
	var b strings.Builder
	b.WriteString("# Generated by bench/gen: rules that match nothing in the benchmark archive.\nrules:\n")
	for i := range n {
		var p string
		switch i % 4 {
		case 0:
			p = fmt.Sprintf(`{"source":["aws.iam"],"detail":{"eventName":["BenchAction%05d"]}}`, i)
		case 1:
			p = fmt.Sprintf(`{"detail":{"eventSource":["bench%05d.amazonaws.com"],"eventName":[{"prefix":"Delete"}]}}`, i)
		case 2:
			p = fmt.Sprintf(`{"detail":{"userIdentity":{"arn":[{"prefix":"arn:aws:iam::9%011d:"}]},"eventName":["CreateUser","AttachUserPolicy"]}}`, i)
		case 3:
			p = fmt.Sprintf(`{"detail":{"eventName":["PutBucketPolicy"],"requestParameters":{"bucketName":["bench-bucket-%05d"]}}}`, i)
		}
		fmt.Fprintf(&b, "  - id: bench-%05d\n    title: \"bench rule %d\"\n    severity: low\n    pattern: %s\n", i, i, p)
	}
	return write(path, []byte(b.String()))
}
