package detect

import (
	"encoding/json"
	"strings"
)

// attackTools are the marks a user agent carries when the call came from a tool made for
// attacking AWS accounts or for testing stolen keys. They are the one list behind both the
// offensive-tool-user-agent rule (predicate user-agent-is-attack-tool) and the call-out on
// every finding's user agent (Finding.AttackTool). Marks are lower case and matched in any
// case, as Sigma's contains is (TRUFFLEHOG, Kali). EventBridge's wildcards are case-sensitive,
// so the deployed pre-filter looks for every case variant of core, a short part of the mark
// (attackToolPrefilter); TestPredicatePrefilterIsNecessary keeps the two in step.
var attackTools = []struct {
	mark   string
	core   string // part of mark whose case variants the EventBridge pre-filter lists
	prefix bool   // the user agent starts with mark; else it contains it
	name   string
}{
	{mark: "kali", core: "kal", name: "Kali Linux"}, // the AWS CLI's and SDKs' distribution field, GuardDuty PenTest:IAMUser/KaliLinux
	{mark: "parrot", core: "rro", name: "Parrot OS"},
	{mark: "pentoo", core: "ntoo", name: "Pentoo Linux"},
	{mark: "pacu", core: "acu", name: "Pacu"},
	{mark: "trufflehog", core: "hog", name: "TruffleHog"},
	{mark: "stratus-red-team", prefix: true, name: "Stratus Red Team"},
	// An ordinary client on S3; outside S3 it is what the Permiso-reported campaigns used to
	// create users and keys. Sigma's rules look for it anywhere in the user agent.
	{mark: s3Browser, core: "3 b", name: "S3 Browser"},
}

// s3Browser names S3 Browser in a user agent (lower case).
const s3Browser = "s3 browser"

// AttackTool names the attack, red-team or secret-scanning tool that a call's user agent
// gives away (Kali Linux, Pacu, TruffleHog, Stratus Red Team ...), or "" for none, the marks
// matched in any case. S3 Browser counts outside S3 only (eventSource s3.amazonaws.com is its
// job).
func AttackTool(userAgent, eventSource string) string {
	if !attackToolMarks.inString(userAgent) {
		// the usual user agent: no mark in any case, found in one pass without lowering a
		// copy (a letter that ToLower folds into a mark's, such as the Kelvin sign, is a maybe)
		return ""
	}
	ua := strings.ToLower(userAgent)
	for _, t := range attackTools {
		hit := strings.Contains(ua, t.mark)
		if t.prefix {
			hit = strings.HasPrefix(ua, t.mark)
		}
		if !hit {
			continue
		}
		if t.mark == s3Browser && eventSource == "s3.amazonaws.com" {
			continue
		}
		return t.name
	}
	return ""
}

// attackToolMarks finds any attack tool's mark in one pass over a user agent (wherever it
// stands: a necessary condition for AttackTool).
var attackToolMarks = func() *foldSet {
	var words []string
	for _, t := range attackTools {
		words = append(words, t.mark)
	}
	return newFoldSet(words)
}()

// attackToolPrefilter is an EventBridge pattern that matches every user agent AttackTool names
// a tool in, for the tools whose mark keep accepts: a prefix in any case for a mark that must
// start the user agent, and wildcards on every case variant of the core of the others.
func attackToolPrefilter(keep func(mark string) bool) string {
	var ms []string
	add := func(m map[string]any) {
		b, _ := json.Marshal(m) // maps of strings always encode
		ms = append(ms, string(b))
	}
	for _, t := range attackTools {
		switch {
		case !keep(t.mark):
		case t.prefix:
			add(map[string]any{"prefix": map[string]string{"equals-ignore-case": t.mark}})
		default:
			if !strings.Contains(t.mark, t.core) {
				panic("detect: attack tool core " + t.core + " is not part of " + t.mark) // the table above is wrong
			}
			for _, v := range caseVariants(t.core) {
				add(map[string]any{"wildcard": "*" + v + "*"})
			}
		}
	}
	return `{"detail":{"userAgent":[` + strings.Join(ms, ",") + `]}}`
}
