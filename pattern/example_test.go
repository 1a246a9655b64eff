package pattern_test

import (
	"errors"
	"fmt"
	"slices"

	"github.com/trailbell/trailbell/pattern"
)

// A matcher holds many patterns; Match tells which of them an event matches.
func Example() {
	m := pattern.New()
	// An EventBridge rule's pattern, pasted as is.
	err := m.Add("iam-user-changes", `{
	  "source": ["aws.iam"],
	  "detail": {"eventName": ["CreateUser", "DeleteUser"]}
	}`)
	if err != nil {
		fmt.Println(err)
		return
	}
	err = m.Add("console-login-without-mfa", `{
	  "detail": {
	    "eventName": ["ConsoleLogin"],
	    "additionalEventData": {"MFAUsed": [{"anything-but": "Yes"}]}
	  }
	}`)
	if err != nil {
		fmt.Println(err)
		return
	}

	ids, err := m.Match([]byte(`{"source":"aws.iam","detail":{"eventName":"CreateUser","userIdentity":{"type":"Root"}}}`))
	fmt.Println(ids, err)
	ids, err = m.Match([]byte(`{"source":"aws.signin","detail":{"eventName":"ConsoleLogin","additionalEventData":{"MFAUsed":"No"}}}`))
	fmt.Println(ids, err)
	ids, err = m.Match([]byte(`{"source":"aws.signin","detail":{"eventName":"ConsoleLogin","additionalEventData":{"MFAUsed":"Yes"}}}`))
	fmt.Println(len(ids), err)
	// Output:
	// [iam-user-changes] <nil>
	// [console-login-without-mfa] <nil>
	// 0 <nil>
}

func ExampleMatcher_Match() {
	m := pattern.New()
	for id, p := range map[string]string{
		"from-iam":      `{"source": ["aws.iam"]}`,
		"policy-change": `{"detail": {"eventName": [{"wildcard": "*Policy*"}]}}`,
		"in-a-range":    `{"detail": {"sourceIPAddress": [{"cidr": "10.0.0.0/8"}]}}`,
	} {
		if err := m.Add(id, p); err != nil {
			fmt.Println(err)
			return
		}
	}
	ids, err := m.Match([]byte(`{"source":"aws.iam","detail":{"eventName":"AttachUserPolicy","sourceIPAddress":"192.0.2.1"}}`))
	slices.Sort(ids) // the order of ids is not specified
	fmt.Println(ids, err)

	_, err = m.Match([]byte(`{"source": `))
	fmt.Println(err != nil)
	// Output:
	// [from-iam policy-change] <nil>
	// true
}

func ExampleValidate() {
	fmt.Println(pattern.Validate(`{"detail": {"eventName": [{"prefix": "Delete"}]}}`))
	// A leaf must be a list of values or operators: the error names where it is wrong.
	err := pattern.Validate(`{"detail": {"eventName": "DeleteUser"}}`)
	var perr *pattern.PatternError
	if errors.As(err, &perr) {
		fmt.Println(perr.Path)
	}
	// Output:
	// <nil>
	// detail.eventName
}

// Adding a second pattern under an id that exists widens it: the id matches when any of
// its patterns does.
func ExampleMatcher_Add() {
	m := pattern.New()
	_ = m.Add("key-changes", `{"detail": {"eventName": ["CreateAccessKey"]}}`)
	_ = m.Add("key-changes", `{"detail": {"eventName": ["UpdateAccessKey"]}}`)
	for _, name := range []string{"CreateAccessKey", "UpdateAccessKey", "DeleteAccessKey"} {
		ids, _ := m.Match([]byte(`{"detail":{"eventName":"` + name + `"}}`))
		fmt.Println(name, ids)
	}
	// Output:
	// CreateAccessKey [key-changes]
	// UpdateAccessKey [key-changes]
	// DeleteAccessKey []
}

func ExampleMatcher_Remove() {
	m := pattern.New()
	_ = m.Add("deletes", `{"detail": {"eventName": [{"prefix": "Delete"}]}}`)
	_ = m.Add("users", `{"detail": {"eventName": [{"suffix": "User"}]}}`)
	event := []byte(`{"detail":{"eventName":"DeleteUser"}}`)

	ids, _ := m.Match(event)
	slices.Sort(ids)
	fmt.Println(ids)

	m.Remove("deletes")
	ids, _ = m.Match(event)
	fmt.Println(ids)
	// Output:
	// [deletes users]
	// [users]
}

// Compile checks a pattern once; the compiled Pattern can then be added to any number of
// matchers without being parsed again.
func ExampleCompile() {
	p, err := pattern.Compile(`{"detail":{"eventName":["StopLogging","DeleteTrail"]}}`)
	if err != nil {
		fmt.Println(err)
		return
	}
	a, b := pattern.New(), pattern.New()
	a.AddPattern("trail-tampering", p)
	b.AddPattern("audit-off", p)
	event := []byte(`{"detail":{"eventName":"StopLogging"}}`)
	ida, _ := a.Match(event)
	idb, _ := b.Match(event)
	fmt.Println(ida, idb)

	_, err = pattern.Compile(`{"detail":{"eventName":[{"prefix":5}]}}`)
	var perr *pattern.PatternError
	fmt.Println(errors.As(err, &perr))
	// Output:
	// [trail-tampering] [audit-off]
	// true
}

// AppendMatch reuses one buffer for the ids of many events.
func ExampleMatcher_AppendMatch() {
	m := pattern.New()
	m.Add("deletes", `{"detail": {"eventName": [{"prefix": "Delete"}]}}`)
	m.Add("users", `{"detail": {"eventName": [{"suffix": "User"}]}}`)
	var ids []string
	for _, ev := range []string{
		`{"detail": {"eventName": "DeleteUser"}}`,
		`{"detail": {"eventName": "GetObject"}}`,
		`{"detail": {"eventName": "CreateUser"}}`,
	} {
		var err error
		if ids, err = m.AppendMatch(ids[:0], []byte(ev)); err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(ids)
	}
	// Output:
	// [deletes users]
	// []
	// [users]
}

func ExamplePattern_Fields() {
	p, _ := pattern.Compile(`{"source":["aws.iam"],"detail":{"eventName":["CreateUser"],"$or":[{"errorCode":[{"exists":true}]},{"userIdentity":{"type":["Root"]}}]}}`)
	fmt.Println(p.Fields())
	// Output: [detail.errorCode detail.eventName detail.userIdentity.type source]
}
