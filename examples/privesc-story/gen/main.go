// Command gen builds the privesc-story sample archive: CloudTrail log files in the S3 layout
// a trail writes, telling a privilege escalation among everyday noise. Every record starts
// from a template (real corpus records in templates.go, see ../README.md) and gets the story's identities,
// times, addresses and fresh IDs. Output is deterministic, so the archive in the repository
// can be rebuilt byte for byte:
//
//	go run ./examples/privesc-story/gen -out examples/privesc-story
package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

const (
	account  = "123456789012"
	region   = "us-east-1"
	attacker = "203.0.113.66" // documentation range: the "odd IP" the leaked key shows up from
	ciIP     = "192.0.2.10"
	day      = "2026-11-20"
)

// Identities of the story.
var (
	jane = map[string]any{"type": "IAMUser", "principalId": "AIDAEXAMPLEJANE00001", "arn": "arn:aws:iam::" + account + ":user/jane",
		"accountId": account, "userName": "jane"}
	buildBot = map[string]any{"type": "IAMUser", "principalId": "AIDAEXAMPLEBUILDBOT1", "arn": "arn:aws:iam::" + account + ":user/build-bot",
		"accountId": account, "accessKeyId": "AKIAEXAMPLEBUILDBOT1", "userName": "build-bot"}
	aliceStolen = map[string]any{"type": "IAMUser", "principalId": "AIDAEXAMPLEALICEADM1", "arn": "arn:aws:iam::" + account + ":user/alice-admin",
		"accountId": account, "accessKeyId": "AKIAEXAMPLENEWKEY001", "userName": "alice-admin"}
	ciRole = role("github-actions", "deploy-7781", "AROAEXAMPLEGHACTION1")
	webApp = role("web-app", "i-0a1b2c3d4e5f67890", "AROAEXAMPLEWEBAPP001")
	ec2Svc = map[string]any{"type": "AWSService", "invokedBy": "ec2.amazonaws.com"}
)

func role(name, session, id string) map[string]any {
	return map[string]any{"type": "AssumedRole", "principalId": id + ":" + session,
		"arn": "arn:aws:sts::" + account + ":assumed-role/" + name + "/" + session, "accountId": account,
		"accessKeyId": "ASIA" + id[4:],
		"sessionContext": map[string]any{
			"sessionIssuer": map[string]any{"type": "Role", "principalId": id, "arn": "arn:aws:iam::" + account + ":role/" + name,
				"accountId": account, "userName": name},
			"attributes": map[string]any{"creationDate": day + "T08:55:00Z", "mfaAuthenticated": "false"}}}
}

// step is one record: a template and what the story changes in it.
type step struct {
	at       string // HH:MM:SS on the story's day
	tmpl     string
	who      map[string]any
	ip, ua   string
	source   string // eventSource override
	name     string // eventName override
	rp, re   any    // requestParameters / responseElements; keep the template's when nil
	err, msg string
	readOnly bool
	set      map[string]any // other top-level fields to replace
}

const (
	uaCLI      = "aws-cli/2.15.30 Python/3.11.8 Linux/6.6.15-amd64 exe/x86_64.kali.2024 prompt/off command/iam"
	uaSDK      = "aws-sdk-go-v2/1.30.3 os/linux lang/go#1.22.5 md/GOOS#linux md/GOARCH#amd64 api/ec2#1.173.0"
	uaConsole  = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15"
	uaBuildBot = "aws-cli/2.17.0 Python/3.11.9 Linux/5.15.0-1064-azure exe/x86_64.ubuntu.22 command/sts.get-caller-identity"
)

var null = json.RawMessage("null")

func denied(action, resource string) string {
	return fmt.Sprintf("User: arn:aws:iam::%s:user/build-bot is not authorized to perform: %s on resource: %s because no identity-based policy allows the %s action",
		account, action, resource, action)
}

func policyDoc(stmt string) string {
	return `{"Version":"2012-10-17","Statement":[` + stmt + `]}`
}

// story: benign traffic all along; from 09:07 the leaked build-bot key is used from an odd IP.
var story = []step{
	// 09:00-09:05: a normal morning.
	{at: "09:00:41", tmpl: "console-login", who: jane, ip: "198.51.100.20", ua: uaConsole, set: map[string]any{
		"additionalEventData": map[string]any{"LoginTo": "https://console.aws.amazon.com/console/home", "MFAUsed": "Yes", "MobileVersion": "No"}}},
	{at: "09:01:10", tmpl: "describe-instances", who: ciRole, ip: ciIP, ua: uaSDK, readOnly: true},
	{at: "09:01:12", tmpl: "assume-role-service", who: ec2Svc, ip: "ec2.amazonaws.com", ua: "ec2.amazonaws.com"},
	{at: "09:02:30", tmpl: "kms-decrypt", who: webApp, ip: "10.0.12.7", ua: uaSDK, readOnly: true},
	{at: "09:03:05", tmpl: "get-caller-identity", who: buildBot, ip: ciIP, ua: uaBuildBot, readOnly: true},
	{at: "09:04:20", tmpl: "list-buckets", who: webApp, ip: "10.0.12.7", ua: uaSDK, readOnly: true},

	// 09:05-09:10: the leaked key appears from an odd address and probes what it may do.
	{at: "09:05:44", tmpl: "describe-instances", who: ciRole, ip: ciIP, ua: uaSDK, readOnly: true},
	{at: "09:07:02", tmpl: "get-caller-identity", who: buildBot, ip: attacker, ua: uaCLI, readOnly: true},
	{at: "09:07:15", tmpl: "describe-instances", who: buildBot, ip: attacker, ua: uaCLI, source: "iam.amazonaws.com", name: "ListUsers",
		rp: null, re: null, err: "AccessDenied", msg: denied("iam:ListUsers", "arn:aws:iam::"+account+":user/"), readOnly: true},
	{at: "09:07:19", tmpl: "describe-instances", who: buildBot, ip: attacker, ua: uaCLI, source: "iam.amazonaws.com", name: "ListRoles",
		rp: null, re: null, err: "AccessDenied", msg: denied("iam:ListRoles", "arn:aws:iam::"+account+":role/"), readOnly: true},
	{at: "09:07:31", tmpl: "describe-instances", who: buildBot, ip: attacker, ua: uaCLI, source: "iam.amazonaws.com", name: "ListAttachedUserPolicies",
		rp: map[string]any{"userName": "build-bot"}, re: null, readOnly: true},
	{at: "09:07:40", tmpl: "describe-instances", who: buildBot, ip: attacker, ua: uaCLI, source: "iam.amazonaws.com", name: "GetPolicyVersion",
		rp: map[string]any{"policyArn": "arn:aws:iam::" + account + ":policy/build-bot-deploy", "versionId": "v1"}, re: null, readOnly: true},
	{at: "09:08:03", tmpl: "assume-role-denied", who: buildBot, ip: attacker, ua: uaCLI,
		rp:  map[string]any{"roleArn": "arn:aws:iam::" + account + ":role/OrganizationAccountAccessRole", "roleSessionName": "x"},
		err: "AccessDenied", msg: denied("sts:AssumeRole", "arn:aws:iam::"+account+":role/OrganizationAccountAccessRole")},
	{at: "09:08:27", tmpl: "attach-user-policy", who: buildBot, ip: attacker, ua: uaCLI,
		rp:  map[string]any{"userName": "build-bot", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"},
		err: "AccessDenied", msg: denied("iam:AttachUserPolicy", "arn:aws:iam::"+account+":user/build-bot")},
	{at: "09:09:12", tmpl: "kms-decrypt", who: webApp, ip: "10.0.12.7", ua: uaSDK, readOnly: true},

	// 09:10-09:15: the key may edit its own managed policy: a new default version allows everything.
	{at: "09:10:58", tmpl: "describe-instances", who: ciRole, ip: ciIP, ua: uaSDK, readOnly: true},
	{at: "09:11:36", tmpl: "create-policy-version", who: buildBot, ip: attacker, ua: uaCLI,
		rp: map[string]any{"policyArn": "arn:aws:iam::" + account + ":policy/build-bot-deploy",
			"policyDocument": policyDoc(`{"Effect":"Allow","Action":"*","Resource":"*"}`), "setAsDefault": true}},
	{at: "09:12:02", tmpl: "get-caller-identity", who: buildBot, ip: attacker, ua: uaCLI, readOnly: true},
	{at: "09:13:40", tmpl: "list-buckets", who: webApp, ip: "10.0.12.7", ua: uaSDK, readOnly: true},

	// 09:15-09:20: persistence: a key for an admin, a new admin user with a password.
	{at: "09:15:09", tmpl: "create-access-key", who: buildBot, ip: attacker, ua: uaCLI,
		rp: map[string]any{"userName": "alice-admin"},
		re: map[string]any{"accessKey": map[string]any{"accessKeyId": "AKIAEXAMPLENEWKEY001", "createDate": "Nov 20, 2026 9:15:09 AM", "status": "Active", "userName": "alice-admin"}}},
	{at: "09:16:21", tmpl: "create-user", who: buildBot, ip: attacker, ua: uaCLI,
		rp: map[string]any{"userName": "support-temp"},
		re: map[string]any{"user": map[string]any{"arn": "arn:aws:iam::" + account + ":user/support-temp", "createDate": "Nov 20, 2026 9:16:21 AM",
			"path": "/", "userId": "AIDAEXAMPLESUPPORTT1", "userName": "support-temp"}}},
	{at: "09:16:40", tmpl: "attach-user-policy", who: buildBot, ip: attacker, ua: uaCLI,
		rp: map[string]any{"userName": "support-temp", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}},
	{at: "09:17:02", tmpl: "create-login-profile", who: buildBot, ip: attacker, ua: uaCLI,
		rp: map[string]any{"userName": "support-temp", "passwordResetRequired": false},
		re: map[string]any{"loginProfile": map[string]any{"createDate": "Nov 20, 2026 9:17:02 AM", "passwordResetRequired": false, "userName": "support-temp"}}},
	{at: "09:18:30", tmpl: "describe-instances", who: ciRole, ip: ciIP, ua: uaSDK, readOnly: true},

	// 09:20-09:25: with alice-admin's new key, logging is switched off.
	{at: "09:20:14", tmpl: "get-caller-identity", who: aliceStolen, ip: attacker, ua: uaCLI, readOnly: true},
	{at: "09:21:48", tmpl: "stop-logging", who: aliceStolen, ip: attacker, ua: uaCLI,
		rp: map[string]any{"name": "arn:aws:cloudtrail:us-east-1:" + account + ":trail/management-events"}},
	{at: "09:22:05", tmpl: "kms-decrypt", who: webApp, ip: "10.0.12.7", ua: uaSDK, readOnly: true},
}

func main() {
	out := flag.String("out", "examples/privesc-story", "directory to write AWSLogs/ into")
	flag.Parse()
	if err := build(*out); err != nil {
		log.Fatal(err)
	}
}

func build(out string) error {
	rng := rand.New(rand.NewPCG(20261120, 1))
	files := map[string][]map[string]any{} // delivery window → records
	steps := append(noise(rng), story...)
	sort.SliceStable(steps, func(i, j int) bool { return steps[i].at < steps[j].at })
	for i, s := range steps {
		rec, err := render(s, rng)
		if err != nil {
			return fmt.Errorf("story step %d (%s %s): %w", i, s.at, s.tmpl, err)
		}
		t, _ := time.Parse(time.RFC3339, rec["eventTime"].(string))
		window := t.Truncate(5 * time.Minute).Add(5 * time.Minute)
		key := window.Format("20060102T1504Z")
		files[key] = append(files[key], rec)
	}
	keys := make([]string, 0, len(files))
	for k := range files {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	dir := filepath.Join(out, "AWSLogs", account, "CloudTrail", region, strings.ReplaceAll(day, "-", "/"))
	if err := os.RemoveAll(filepath.Join(out, "AWSLogs")); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, k := range keys {
		name := fmt.Sprintf("%s_CloudTrail_%s_%s_%s.json.gz", account, region, k, randomSuffix(rng))
		body, err := json.Marshal(map[string]any{"Records": files[k]})
		if err != nil {
			return err
		}
		var b bytes.Buffer
		zw := gzip.NewWriter(&b) // zero ModTime and no name: same bytes on every run
		zw.Write(body)
		if err := zw.Close(); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, name), b.Bytes(), 0o644); err != nil {
			return err
		}
		fmt.Printf("%s: %d records\n", filepath.Join(dir, name), len(files[k]))
	}
	return nil
}

// noise is the everyday traffic around the story: an application reading with its instance
// role, CI describing instances, EC2 assuming roles for instances. Nothing here should alert.
func noise(rng *rand.Rand) []step {
	kinds := []step{
		{tmpl: "kms-decrypt", who: webApp, ip: "10.0.12.7", ua: uaSDK, readOnly: true},
		{tmpl: "list-buckets", who: webApp, ip: "10.0.12.7", ua: uaSDK, readOnly: true},
		{tmpl: "describe-instances", who: ciRole, ip: ciIP, ua: uaSDK, readOnly: true},
		{tmpl: "assume-role-service", who: ec2Svc, ip: "ec2.amazonaws.com", ua: "ec2.amazonaws.com"},
	}
	var out []step
	for minute := 0; minute < 25; minute++ {
		for range 4 {
			s := kinds[rng.IntN(len(kinds))]
			s.at = fmt.Sprintf("09:%02d:%02d", minute, rng.IntN(60))
			out = append(out, s)
		}
	}
	return out
}

func render(s step, rng *rand.Rand) (map[string]any, error) {
	data, ok := templates[s.tmpl]
	if !ok {
		return nil, fmt.Errorf("no template %q", s.tmpl)
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(data), &rec); err != nil {
		return nil, fmt.Errorf("template %s: %w", s.tmpl, err)
	}
	rec["userIdentity"] = s.who
	rec["eventTime"] = day + "T" + s.at + "Z"
	rec["awsRegion"] = region
	rec["recipientAccountId"] = account
	rec["sourceIPAddress"] = s.ip
	rec["userAgent"] = s.ua
	rec["eventID"] = uuid(rng)
	rec["requestID"] = uuid(rng)
	rec["readOnly"] = s.readOnly
	if s.source != "" {
		rec["eventSource"] = s.source
		if tls, ok := rec["tlsDetails"].(map[string]any); ok {
			tls["clientProvidedHostHeader"] = s.source
		}
	}
	if s.name != "" {
		rec["eventName"] = s.name
	}
	if s.rp != nil {
		rec["requestParameters"] = s.rp
	}
	if s.re != nil {
		rec["responseElements"] = s.re
	}
	delete(rec, "errorCode")
	delete(rec, "errorMessage")
	if s.err != "" {
		rec["errorCode"] = s.err
		rec["errorMessage"] = s.msg
		rec["responseElements"] = nil
	}
	for k, v := range s.set {
		rec[k] = v
	}
	delete(rec, "sharedEventID")
	delete(rec, "resources") // template resources name the template's account
	return rec, nil
}

func uuid(rng *rand.Rand) string {
	var b [16]byte
	for i := range b {
		b[i] = byte(rng.UintN(256))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func randomSuffix(rng *rand.Rand) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 16)
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(b)
}
