package main

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/klauspost/compress/gzip"

	"github.com/trailbell/trailbell/internal/testenv"
)

// stopLogging is scanStopLogging with its own event id.
func stopLogging(id string) string {
	return strings.Replace(scanStopLogging, "00000000-0000-4000-8000-000000000001", id, 1)
}

// timing drops the summary's timing line, which differs from run to run.
func timing(summary string) string {
	return regexp.MustCompile(`(?m)^scanned .*$`).ReplaceAllStringFunc(summary, func(l string) string {
		return l[:strings.Index(l, " records in ")]
	})
}

// A link to a folder is followed like the folder: LINK and LINK/ scan the same; a link back
// up is a loop, reported and not followed; a file reached twice is read once.
func TestScanFollowsLinks(t *testing.T) {
	root := t.TempDir()
	data := filepath.Join(root, "data")
	writeFile(t, filepath.Join(data, "a.json.gz"), scanLogFile(stopLogging("link-a")))
	writeFile(t, filepath.Join(root, "elsewhere", "b.json"), []byte(stopLogging("link-b")))
	for _, l := range [][2]string{ // target, link
		{filepath.Join(root, "elsewhere"), filepath.Join(data, "more")},      // a folder outside: followed
		{data, filepath.Join(data, "more-again", "up")},                      // back up: a loop
		{filepath.Join(data, "a.json.gz"), filepath.Join(data, "z.json.gz")}, // a file read already
		{data, filepath.Join(root, "LINK")},
	} {
		os.MkdirAll(filepath.Dir(l[1]), 0o755)
		if err := os.Symlink(l[0], l[1]); err != nil {
			t.Fatal(err)
		}
	}

	link := filepath.Join(root, "LINK")
	code, out, errOut := runCmd(t, "scan", "--format", "json", link)
	var ids []string
	for _, f := range scanFindings(t, out) {
		ids = append(ids, f["eventID"].(string))
	}
	if code != exitFindings || strings.Join(ids, " ") != "link-a link-b" {
		t.Errorf("scan LINK: exit %d, findings %v\n%s", code, ids, errOut)
	}
	for _, want := range []string{"scanned 2 files", "1 files or folders reached again through links (read once)", "1 links to a folder above them (loops, not followed)"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("summary lacks %q:\n%s", want, errOut)
		}
	}
	code2, out2, errOut2 := runCmd(t, "scan", "--format", "json", link+string(filepath.Separator))
	if code2 != code || out2 != out || timing(errOut2) != timing(errOut) {
		t.Errorf("scan LINK/ differs from scan LINK: exit %d, out\n%s\nerr\n%s", code2, out2, errOut2)
	}
}

// Every path is checked before anything is read: a missing one gives no partial output.
func TestScanChecksEveryPathFirst(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	writeFile(t, good, []byte(stopLogging("first")))
	missing1, missing2 := filepath.Join(dir, "missing-1"), filepath.Join(dir, "missing-2")
	code, out, errOut := runCmd(t, "scan", "--format", "json", good, missing1, good, missing2)
	if code != exitError || out != "" {
		t.Errorf("exit %d, output %q: want 2 and nothing scanned", code, out)
	}
	if !strings.Contains(errOut, missing1) || !strings.Contains(errOut, missing2) || strings.Contains(errOut, "scanned") {
		t.Errorf("stderr should name both missing paths and scan nothing:\n%s", errOut)
	}
}

// An input that cannot be read whole still gives every record before the fault, and after
// it where the structure allows; the scan exits 2 naming the input and the position.
func TestScanInputsNotReadWhole(t *testing.T) {
	dir := t.TempDir()
	var benign []string
	for i := range 60 {
		benign = append(benign, strings.NewReplacer("000000000002", fmt.Sprintf("%012d", 1000+i), `"r2"`, fmt.Sprintf(`"r%d"`, i)).Replace(scanDescribe))
	}
	cut := scanLogFile(append(append([]string{stopLogging("cut-a")}, benign...), stopLogging("cut-b"))...)
	cut = cut[:len(cut)*2/3]
	files := map[string][]byte{
		"1-cut.json.gz":    cut,
		"2-syntax.json.gz": scanLogFile(stopLogging("syn-a"), `{"eventName":"StopLogging","x":tru}`, stopLogging("syn-c")),
		"3-big.json.gz":    scanLogFile(stopLogging("big-a"), `{"eventName":"StopLogging","x":"`+strings.Repeat("x", 100<<10)+`"}`, stopLogging("big-c")),
		"4-deep.json.gz":   scanLogFile(stopLogging("deep-a"), `{"x":`+strings.Repeat(`{"a":`, 700)+`1`+strings.Repeat("}", 700)+`}`, stopLogging("deep-c")),
	}
	for name, b := range files {
		writeFile(t, filepath.Join(dir, name), b)
	}
	code, out, errOut := runCmd(t, "scan", "--format", "json", "--max-record", "64KiB", dir)
	var ids []string
	for _, f := range scanFindings(t, out) {
		ids = append(ids, f["eventID"].(string))
	}
	if code != exitError || strings.Join(ids, " ") != "cut-a syn-a syn-c big-a big-c deep-a deep-c" {
		t.Errorf("exit %d, findings %v; want 2 and the records around each fault\n%s", code, ids, errOut)
	}
	for _, want := range []string{
		"1-cut.json.gz record ", ": unexpected EOF: cut off at line 1, byte ",
		`2-syntax.json.gz record 2: invalid literal, want "true" at line 1, byte `,
		"3-big.json.gz record 2: value larger than 64 KiB at line 1, byte ",
		"4-deep.json.gz record 2: nesting deeper than 512 at line 1, byte ",
		"inputs not read whole (records up to each fault were scanned; the problems above say where): 4",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("summary lacks %q:\n%s", want, errOut)
		}
	}
	// the bytes counted are the bytes read: all of each file here
	total := 0
	for _, b := range files {
		total += len(b)
	}
	if want := fmt.Sprintf("scanned 4 files (%.1f KB read, ", float64(total)/1024); !strings.Contains(errOut, want) {
		t.Errorf("summary lacks %q:\n%s", want, errOut)
	}
}

// --format json writes valid UTF-8 whatever bytes the record held: invalid ones become U+FFFD.
func TestScanJSONIsValidUTF8(t *testing.T) {
	file := filepath.Join(t.TempDir(), "bad-utf8.json")
	writeFile(t, file, []byte(strings.Replace(stopLogging("utf8"), `"aws-cli/2.15.0"`, "\"aws-cli/\xff\xfe\xc3(\"", 1)))
	code, out, errOut := runCmd(t, "scan", "--format", "json", file)
	if code != exitFindings || !utf8.ValidString(out) {
		t.Fatalf("exit %d, output valid UTF-8: %v\n%s", code, utf8.ValidString(out), errOut)
	}
	if !strings.Contains(out, "aws-cli/\uFFFD\uFFFD\uFFFD(") {
		t.Errorf("output %s: want each invalid byte as U+FFFD", out)
	}
}

// membersOf is n copies of one gzip member holding chunk: a valid multi-member gzip stream of
// n*len(chunk) bytes, built without compressing them all.
func membersOf(t *testing.T, chunk []byte, n int) []byte {
	t.Helper()
	var m bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&m, gzip.BestCompression)
	zw.Write(chunk)
	zw.Close()
	return bytes.Repeat(m.Bytes(), n)
}

func gzipMember(s string) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(s))
	zw.Close()
	return b.Bytes()
}

// The budgets, through the binary: a gzip bomb (10 GiB of white space in about 10 MB) is cut off
// at the inflated-size limit and a record of 31 million elements at the record-size limit,
// each with a clear report, the records around them scanned, in bounded memory.
func TestScanBudgets(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	bomb := filepath.Join(dir, "1-bomb.json.gz")
	var b bytes.Buffer
	b.Write(gzipMember(`{"Records":[` + stopLogging("bomb-a") + `,`))
	b.Write(membersOf(t, bytes.Repeat([]byte(" "), 1<<20), 10<<10))
	b.Write(gzipMember(stopLogging("bomb-b") + `]}`))
	writeFile(t, bomb, b.Bytes())
	bombSize := b.Len()

	wide := filepath.Join(dir, "2-wide.json.gz")
	b.Reset()
	b.Write(gzipMember(`{"Records":[` + stopLogging("wide-a") + `,{"eventName":"StopLogging","x":[`))
	b.Write(membersOf(t, bytes.Repeat([]byte("0,"), 1<<19), 60)) // 31,457,280 elements
	b.Write(gzipMember(`0]},` + stopLogging("wide-c") + `]}`))
	writeFile(t, wide, b.Bytes())

	cmd := exec.Command(bin, "scan", "--format", "json", "--no-progress", dir)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// VmHWM, the process's own peak (rusage's maxrss would count the test process's pages,
	// shared with the child until it execs): read until the process ends
	var hwm int64
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for {
			if v, err := vmHWM(cmd.Process.Pid); err == nil {
				hwm = max(hwm, v)
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	err := cmd.Wait()
	close(stop)
	<-watched
	took := time.Since(start)
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitError {
		t.Fatalf("exit: %v, want 2\n%s", err, errOut.String())
	}
	var ids []string
	for _, f := range scanFindings(t, out.String()) {
		ids = append(ids, f["eventID"].(string))
	}
	if strings.Join(ids, " ") != "bomb-a wide-a wide-c" {
		t.Errorf("findings %v, want bomb-a wide-a wide-c", ids)
	}
	for _, want := range []string{
		"1-bomb.json.gz record 2: larger than 1 GiB after decompression: cut off at line 1, byte 1073741824 (rest of input skipped)",
		"2-wide.json.gz record 2: value larger than 16 MiB at line 1, byte ",
	} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, errOut.String())
		}
	}
	// the bomb was read only as far as the budget: the summary counts the bytes read, a small
	// part of its 10 MB, and the 1 GiB (and 60 MiB of the wide record) decompressed
	m := regexp.MustCompile(`scanned 2 files \(([\d.]+) MB read, ([\d.]+) GB decompressed\)`).FindStringSubmatch(errOut.String())
	if m == nil {
		t.Errorf("summary lacks the bytes read and decompressed:\n%s", errOut.String())
	} else if read, _ := strconv.ParseFloat(m[1], 64); read*(1<<20) >= float64(bombSize)/2 || m[2] != "1.06" {
		t.Errorf("read %s MB of a %d-byte bomb, decompressed %s GB; want a small part read and 1.06 GB decompressed", m[1], bombSize, m[2])
	}
	t.Logf("scan of the bomb and the 31M-element record: %v, peak RSS %d MiB", took.Round(time.Millisecond), hwm>>20)
	if hwm == 0 {
		t.Log("no /proc/PID/status here: peak memory not checked")
	} else if hwm > 256<<20 {
		t.Errorf("peak RSS %d MiB, want the budgets to bound memory (under 256 MiB)", hwm>>20)
	}
}

// vmHWM reads a process's peak resident memory from /proc/PID/status.
func vmHWM(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	m := regexp.MustCompile(`VmHWM:\s+(\d+) kB`).FindSubmatch(b)
	if m == nil {
		return 0, fmt.Errorf("no VmHWM")
	}
	kb, err := strconv.ParseInt(string(m[1]), 10, 64)
	return kb << 10, err
}

// `scan s3://` leaves out the AWS SDK's note about objects stored without a checksum (as
// CloudTrail stores them): standard error carries the summary, not one SDK line per file.
func TestScanS3NoChecksumNoise(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	testenv.AWSEnv(t)
	bin := buildBinary(t)
	endpoint := testenv.S3Server(t)
	testenv.Bucket(t, testenv.S3Client(endpoint), "plain-puts")
	// a plain PUT, without the checksum headers the SDK would add
	req, _ := http.NewRequest(http.MethodPut, endpoint+"/plain-puts/AWSLogs/f.json.gz", bytes.NewReader(scanLogFile(stopLogging("plain"))))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("put: %v %v", resp, err)
	}
	resp.Body.Close()
	cmd := exec.Command(bin, "scan", "--format", "json", "--endpoint-url", endpoint, "s3://plain-puts/AWSLogs/")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	cmd.Run()
	if !strings.Contains(out.String(), "plain") {
		t.Fatalf("no finding; stderr:\n%s", errOut.String())
	}
	if strings.Contains(strings.ToLower(errOut.String()), "checksum") {
		t.Errorf("stderr carries the SDK's checksum note:\n%s", errOut.String())
	}
}
