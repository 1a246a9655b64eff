package detect

import "strings"

// attackTools are the marks a user agent carries when the call came from a tool made for
// attacking AWS accounts or for testing stolen keys. They are the one list behind both the
// offensive-tool-user-agent rule (predicate user-agent-is-attack-tool; the rule's pattern
// is its EventBridge pre-filter, kept to the same marks by TestAttackToolPreFilter) and the
// call-out on every finding's user agent (Finding.AttackTool). Marks are case-sensitive,
// as the pattern's wildcards are.
var attackTools = []struct {
	mark   string
	prefix bool // the user agent starts with mark; else it contains it
	name   string
}{
	{mark: "kali", name: "Kali Linux"}, // the AWS CLI's and SDKs' distribution field, GuardDuty PenTest:IAMUser/KaliLinux
	{mark: "parrot", name: "Parrot OS"},
	{mark: "pentoo", name: "Pentoo Linux"},
	{mark: "Pacu", name: "Pacu"},
	{mark: "pacu", name: "Pacu"},
	{mark: "TruffleHog", name: "TruffleHog"},
	{mark: "stratus-red-team", prefix: true, name: "Stratus Red Team"},
	// An ordinary client on S3; outside S3 it is what the Permiso-reported campaigns used to
	// create users and keys.
	{mark: "S3 Browser", prefix: true, name: "S3 Browser"},
}

// AttackTool names the attack, red-team or secret-scanning tool that a call's user agent
// gives away (Kali Linux, Pacu, TruffleHog, Stratus Red Team ...), or "" for none. S3
// Browser counts outside S3 only (eventSource s3.amazonaws.com is its job).
func AttackTool(userAgent, eventSource string) string {
	for _, t := range attackTools {
		hit := strings.Contains(userAgent, t.mark)
		if t.prefix {
			hit = strings.HasPrefix(userAgent, t.mark)
		}
		if !hit {
			continue
		}
		if t.name == "S3 Browser" && eventSource == "s3.amazonaws.com" {
			continue
		}
		return t.name
	}
	return ""
}
