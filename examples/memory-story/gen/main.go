// Command gen builds the memory-story sample archive: an hour of CloudTrail log files of one
// account in two regions, in the S3 layout a trail writes, telling attacks that only rules
// with memory see (a denied sweep by a role session whose person is known only from an
// AssumeRole in another region, an escalation in three steps, a guessed password) among
// everyday noise. Output is deterministic, so the archive in the repository can be rebuilt
// byte for byte:
//
//	go run ./examples/memory-story/gen -out examples/memory-story
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
	"time"
)

const account = "111122223333"

var day = time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)

func user(name, key string) map[string]any {
	return map[string]any{"type": "IAMUser", "principalId": "AIDAEXAMPLE" + fmt.Sprintf("%09d", len(name)*7919),
		"arn": "arn:aws:iam::" + account + ":user/" + name, "accountId": account, "accessKeyId": key, "userName": name}
}

func session(role, name, key string) map[string]any {
	return map[string]any{"type": "AssumedRole", "principalId": "AROAEXAMPLE" + role + ":" + name,
		"arn": "arn:aws:sts::" + account + ":assumed-role/" + role + "/" + name, "accountId": account, "accessKeyId": key,
		"sessionContext": map[string]any{
			"sessionIssuer": map[string]any{"type": "Role", "principalId": "AROAEXAMPLE" + role,
				"arn": "arn:aws:iam::" + account + ":role/" + role, "accountId": account, "userName": role},
			"attributes": map[string]any{"creationDate": day.Format(time.RFC3339), "mfaAuthenticated": "false"}}}
}

var (
	alice   = user("alice", "AKIAEXAMPLEALICE0001")
	opsKey  = "ASIAEXAMPLEOPSALICE1"
	ops     = session("ops", "alice", opsKey)
	mallory = user("mallory", "AKIAEXAMPLEMALLORY01")
	bob     = user("bob", "")
	app     = session("web-app", "i-0a1b2c3d4e5f67890", "ASIAEXAMPLEWEBAPP001")
)

type rec map[string]any

var n int

func record(at time.Time, region string, who map[string]any, source, name string, more rec) rec {
	n++
	r := rec{
		"eventVersion": "1.09", "userIdentity": who, "eventTime": at.Format(time.RFC3339),
		"eventSource": source, "eventName": name, "awsRegion": region,
		"sourceIPAddress": "203.0.113.10", "userAgent": "aws-cli/2.15.0 Python/3.11",
		"requestParameters": nil, "responseElements": nil,
		"requestID": fmt.Sprintf("req-%06d", n),
		"eventID":   fmt.Sprintf("6d3b0000-0000-4000-8000-%012d", n),
		"readOnly":  false, "eventType": "AwsApiCall", "managementEvent": true,
		"recipientAccountId": account,
	}
	for k, v := range more {
		r[k] = v
	}
	return r
}

func at(m, s int) time.Time {
	return day.Add(time.Duration(m)*time.Minute + time.Duration(s)*time.Second)
}

func story() []rec {
	var out []rec
	// 09:00 alice assumes the ops role through the eu-west-1 STS endpoint.
	out = append(out, record(at(0, 10), "eu-west-1", alice, "sts.amazonaws.com", "AssumeRole", rec{
		"readOnly":          true,
		"requestParameters": rec{"roleArn": "arn:aws:iam::" + account + ":role/ops", "roleSessionName": "alice"},
		"responseElements": rec{"credentials": rec{"accessKeyId": opsKey, "sessionToken": "<token>", "expiration": "Nov 20, 2026, 10:00:10 AM"},
			"assumedRoleUser": rec{"assumedRoleId": "AROAEXAMPLEops:alice", "arn": "arn:aws:sts::" + account + ":assumed-role/ops/alice"}},
	}))
	// 09:01-09:04 the ops session is refused by five services, in both regions.
	for i, c := range []struct{ region, source, name string }{
		{"eu-west-1", "s3.amazonaws.com", "ListBuckets"}, {"eu-west-1", "ec2.amazonaws.com", "DescribeInstances"},
		{"us-east-1", "iam.amazonaws.com", "ListUsers"}, {"eu-west-1", "kms.amazonaws.com", "ListKeys"},
		{"eu-west-1", "secretsmanager.amazonaws.com", "ListSecrets"},
	} {
		code := "AccessDenied"
		if c.source == "ec2.amazonaws.com" {
			code = "Client.UnauthorizedOperation"
		}
		out = append(out, record(at(1, 40*i), c.region, ops, c.source, c.name, rec{"readOnly": true, "errorCode": code, "errorMessage": "not authorized"}))
	}
	// 09:06-09:08 mallory builds an administrator back door in three steps.
	out = append(out,
		record(at(6, 0), "us-east-1", mallory, "iam.amazonaws.com", "CreateUser", rec{
			"requestParameters": rec{"userName": "svc-backup"},
			"responseElements":  rec{"user": rec{"userName": "svc-backup", "arn": "arn:aws:iam::" + account + ":user/svc-backup"}}}),
		record(at(7, 0), "us-east-1", mallory, "iam.amazonaws.com", "CreateAccessKey", rec{
			"requestParameters": rec{"userName": "svc-backup"},
			"responseElements":  rec{"accessKey": rec{"userName": "svc-backup", "accessKeyId": "AKIAEXAMPLESVCBACKUP", "status": "Active"}}}),
		record(at(8, 0), "us-east-1", mallory, "iam.amazonaws.com", "AttachUserPolicy", rec{
			"requestParameters": rec{"userName": "svc-backup", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}}))
	// 09:10-09:14 bob's password is guessed: six failures, then a sign-in.
	for i := range 7 {
		result, msg := "Failure", "Failed authentication"
		if i == 6 {
			result, msg = "Success", ""
		}
		r := record(at(10, 35*i), "us-east-1", bob, "signin.amazonaws.com", "ConsoleLogin", rec{
			"eventType": "AwsConsoleSignIn", "sourceIPAddress": "198.51.100.77", "userAgent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0",
			"responseElements": rec{"ConsoleLogin": result}, "readOnly": false,
			"additionalEventData": rec{"LoginTo": "https://console.aws.amazon.com/console/home", "MobileVersion": "No", "MFAUsed": "No"}})
		delete(r["userIdentity"].(map[string]any), "accessKeyId")
		if msg != "" {
			r["errorMessage"] = msg
		}
		out = append(out, r)
	}
	// noise in both regions, 09:00 to 09:59, so the hour's files move event time along
	rnd := rand.New(rand.NewPCG(20261120, 1))
	for t := at(0, 3); t.Before(day.Add(time.Hour)); t = t.Add(time.Duration(20+rnd.IntN(40)) * time.Second) {
		region := []string{"us-east-1", "eu-west-1"}[rnd.IntN(2)]
		out = append(out, record(t, region, app, "s3.amazonaws.com", "GetObject", rec{"readOnly": true,
			"sourceIPAddress": "10.0.3.17", "requestParameters": rec{"bucketName": "web-assets", "key": "index.html"}}))
	}
	return out
}

func main() {
	out := flag.String("out", "examples/memory-story", "archive folder")
	flag.Parse()
	files := map[string][]rec{}
	for _, r := range story() {
		t, _ := time.Parse(time.RFC3339, r["eventTime"].(string))
		region := r["awsRegion"].(string)
		// a file holds five minutes and is named after their end
		end := t.Truncate(5 * time.Minute).Add(5 * time.Minute)
		key := fmt.Sprintf("AWSLogs/%s/CloudTrail/%s/%s/%s_CloudTrail_%s_%s_%s.json.gz", account, region, end.Format("2006/01/02"),
			account, region, end.Format("20060102T1504Z"), fmt.Sprintf("m%07d", len(region)*1000+end.Minute()))
		files[key] = append(files[key], r)
	}
	keys := make([]string, 0, len(files))
	for k := range files {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		var body bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&body, gzip.BestCompression)
		zw.ModTime = day // deterministic bytes
		if err := json.NewEncoder(zw).Encode(map[string]any{"Records": files[k]}); err != nil {
			log.Fatal(err)
		}
		zw.Close()
		p := filepath.Join(*out, filepath.FromSlash(k))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			log.Fatal(err)
		}
		if err := os.WriteFile(p, body.Bytes(), 0o644); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Printf("%d files, %d records\n", len(keys), n)
}
