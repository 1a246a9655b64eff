// Command state measures what detections with memory keep for many distinct principals: each
// principal assumes a role (its session key is followed to it), is refused once (a threshold
// group of access-denied-sweep), and lists IAM users with its long-term key from its own
// address (groups of iam-discovery-sweep, values and scopes of access-key-new-address). The
// records run through the built-in pack in 1,000-record inputs, in event-time order, with the
// state in memory (as scan keeps it) or in a bbolt file (as run does). It prints the time, the
// heap after a collection, the peak RSS, the state file's size and what the bounds dropped:
//
//	go run ./bench/state -principals 1000000 -store bolt -dir /tmp/state
//	go run ./bench/state -principals 1000000 -max-groups 1000000
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/trailbell/trailbell/internal/cloudtrail"
	"github.com/trailbell/trailbell/internal/correlate"
	"github.com/trailbell/trailbell/internal/detect"
	"github.com/trailbell/trailbell/internal/finding"
)

func main() {
	n := flag.Int("principals", 1_000_000, "distinct principals")
	store := flag.String("store", "memory", "memory or bolt")
	dir := flag.String("dir", os.TempDir(), "directory of the bolt file")
	maxGroups := flag.Int("max-groups", 0, "per-rule bound (0: the default, 100,000)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile to this file")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			log.Fatal(err)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}

	rs, err := detect.Builtin()
	if err != nil {
		log.Fatal(err)
	}
	det, err := detect.New(rs)
	if err != nil {
		log.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	o := correlate.Options{MaxGroups: *maxGroups, Metrics: correlate.NewMetrics(reg)}
	var bs *correlate.BoltStore
	if *store == "bolt" {
		path := filepath.Join(*dir, "bench-state.db")
		os.Remove(path)
		if bs, err = correlate.OpenBolt(path); err != nil {
			log.Fatal(err)
		}
		defer bs.Close()
		o.Store = bs
	}
	e, err := correlate.New(det, o)
	if err != nil {
		log.Fatal(err)
	}

	ctx := context.Background()
	start := time.Now()
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	step := 2 * time.Hour / time.Duration(*n) // a million principals within two hours
	in := e.Begin("input-0")
	records, findings := 0, 0
	commit := func() {
		fs, err := in.Commit(ctx)
		if err != nil {
			log.Fatal(err)
		}
		findings += len(fs)
	}
	for i := range *n {
		at := t0.Add(time.Duration(i) * step)
		for _, rec := range principal(i, at) {
			env, err := cloudtrail.Lift(rec)
			if err != nil {
				log.Fatal(err)
			}
			m, err := det.Match(env)
			if err != nil {
				log.Fatal(err)
			}
			if err := in.Add(cloudtrail.Event{Envelope: env, Origin: "bench", Time: at}, m); err != nil {
				log.Fatal(err)
			}
			records++
		}
		if records%1000 < 3 {
			commit()
			in = e.Begin(fmt.Sprintf("input-%d", i))
		}
	}
	commit()
	if err := e.Flush(ctx, func(_ context.Context, fs []finding.Finding) error { findings += len(fs); return nil }); err != nil {
		log.Fatal(err)
	}
	elapsed := time.Since(start)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Printf("%d principals, %d records, %d findings, store %s, max_groups %d: %s (%.0f records/s)\n",
		*n, records, findings, *store, *maxGroups, elapsed.Round(time.Millisecond), float64(records)/elapsed.Seconds())
	fmt.Printf("heap after GC %.1f MB, peak RSS %s\n", float64(ms.HeapAlloc)/(1<<20), peakRSS())
	runtime.KeepAlive(e) // the state is what is measured
	if bs != nil {
		size, _ := bs.Size()
		fmt.Printf("state file %.1f MB\n", float64(size)/(1<<20))
	}
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != "trailbell_state_dropped_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			fmt.Printf("dropped %s: %.0f\n", m.GetLabel()[0].GetValue(), m.GetCounter().GetValue())
		}
	}
}

// principal is one principal's three records at time at.
func principal(i int, at time.Time) [][]byte {
	name := fmt.Sprintf("user%07d", i)
	key := fmt.Sprintf("AKIA%016d", i)
	session := fmt.Sprintf("ASIA%016d", i)
	ip := fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
	user := map[string]any{"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/" + name, "accountId": "111122223333",
		"userName": name, "accessKeyId": key, "principalId": "AIDA" + name}
	role := map[string]any{"type": "AssumedRole", "arn": "arn:aws:sts::111122223333:assumed-role/app/" + name,
		"accountId": "111122223333", "accessKeyId": session}
	base := func(id string, who map[string]any, source, event string) map[string]any {
		return map[string]any{"eventVersion": "1.09", "eventID": fmt.Sprintf("%s-%d", id, i), "eventTime": at.Format(time.RFC3339),
			"eventSource": source, "eventName": event, "awsRegion": "us-east-1", "sourceIPAddress": ip,
			"userAgent": "aws-cli/2.15.0", "userIdentity": who, "recipientAccountId": "111122223333", "eventType": "AwsApiCall"}
	}
	assume := base("a", user, "sts.amazonaws.com", "AssumeRole")
	assume["responseElements"] = map[string]any{"credentials": map[string]any{"accessKeyId": session},
		"assumedRoleUser": map[string]any{"arn": role["arn"]}}
	denied := base("d", role, "s3.amazonaws.com", "ListBuckets")
	denied["errorCode"] = "AccessDenied"
	list := base("l", user, "iam.amazonaws.com", "ListUsers")
	var out [][]byte
	for _, r := range []map[string]any{assume, denied, list} {
		b, _ := json.Marshal(r)
		out = append(out, b)
	}
	return out
}

func peakRSS() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "?"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			return strings.TrimSpace(strings.TrimPrefix(l, "VmHWM:"))
		}
	}
	return "?"
}
