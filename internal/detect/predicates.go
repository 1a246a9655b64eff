package detect

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"slices"
	"strings"

	"github.com/trailbell/trailbell/internal/cloudtrail"
	"github.com/trailbell/trailbell/internal/jsonlex"
)

// Predicate is a named condition an EventBridge pattern cannot express. Rules reference
// predicates by name; all of a rule's predicates must hold for it to report.
type Predicate struct {
	Doc   string
	holds func(*record) bool
	// maybe, when set, is a necessary condition on the raw envelope bytes: false means holds
	// is false, so the record need not be decoded. It must never be false when holds could be
	// true (escapes included); most records a pattern selects but a predicate rejects are
	// turned away here for the cost of a byte search.
	maybe func(env []byte) bool
	// userAgentSays, when set, is the test maybe applies to the record's user agent
	// (userAgentMayContain): a record whose top-level members are known is checked on its
	// userAgent member alone
	userAgentSays func(ua []byte) bool
	// prefilter, when set, is an EventBridge pattern that every envelope for which holds is
	// true matches: the deployed pre-filter adds it to the rules that use the predicate, so
	// that a condition cheaper for trailbell to test than to pattern-match (a case-insensitive
	// search, say) still narrows what EventBridge delivers.
	prefilter string
}

// predicates is fixed at compile time: rules are data and must not carry code.
var predicates = map[string]Predicate{
	"caller-is-not-target": {
		Doc: "the target IAM user (requestParameters.userName, or responseElements.accessKey.userName) " +
			"is not the caller: not the calling IAM user's name, nor the session name of a calling role " +
			"(the last part of its ARN, as people's SSO sessions are named after them); root and " +
			"services acting on a named user count as another identity",
		holds: callerIsNotTarget,
	},
	"policy-allows-admin": {
		Doc: "a permission policy in the record has an Allow statement granting `*`, `*:*` or `iam:*` " +
			"(or NotAction) on Resource `*`, or the request names the AdministratorAccess managed policy " +
			"as a session policy (requestParameters.policyArns of GetFederationToken and AssumeRole) or " +
			"for an IAM Identity Center permission set (requestParameters.managedPolicyArn)",
		holds: policyAllowsAdmin,
	},
	"trust-is-open": {
		Doc: "a role trust policy in the record lets anyone (`*`) or an AWS account other than the " +
			"record's account assume the role",
		holds: func(r *record) bool {
			own := r.account()
			for _, d := range r.policyDocs() {
				if d.kind != trustDoc {
					continue
				}
				for _, s := range d.statements {
					if !s.allow || s.notPrincipal {
						continue
					}
					for _, p := range s.principals {
						if p.kind == "*" {
							return true
						}
						if p.kind == "AWS" {
							if a := accountOf(p.value); a != "" && a != own {
								return true
							}
						}
					}
				}
			}
			return false
		},
	},
	"resource-policy-public": {
		Doc: "a resource policy in the record has an Allow statement for any principal (`*`, or " +
			"NotPrincipal) that no condition limits: conditions only on what the caller chooses " +
			"(aws:UserAgent, aws:Referer, aws:SecureTransport), negated or IfExists tests, and " +
			"aws:SourceIp 0.0.0.0/0 or ::/0 leave it open; aws:PrincipalOrgID, aws:SourceAccount, " +
			"aws:SourceVpce or a specific aws:SourceIp range limit it",
		holds: resourcePolicyPublic,
		maybe: mayBePublic,
	},
	"resource-policy-conditional-public": {
		Doc: "a resource policy in the record has an Allow statement for any principal (`*`, or " +
			"NotPrincipal) that only its conditions limit (resource-policy-public holds when they do not)",
		holds: resourcePolicyConditionalPublic,
		maybe: mayBePublic,
	},
	"resource-policy-other-account": {
		Doc: "a resource policy in the record lets in an AWS account other than the record's (or the " +
			"one its Resource ARNs name): a " +
			"principal in it, or `*` with a condition naming it (aws:PrincipalAccount, " +
			"aws:SourceAccount, aws:SourceArn, kms:CallerAccount ...); CloudFront identities and " +
			"service principals are not accounts",
		holds: resourcePolicyOtherAccount,
		maybe: mayHavePrincipal,
	},
	"lifecycle-expires-soon": {
		Doc: "an S3 lifecycle configuration in the record has an enabled rule that expires current " +
			"objects (Expiration Days) or old versions (NoncurrentVersionExpiration NoncurrentDays) " +
			"within " + shortExpiryText,
		holds: lifecycleExpiresSoon,
		maybe: func(env []byte) bool { return bytes.Contains(env, []byte("Days")) || bytes.Contains(env, []byte(`\u`)) },
	},
	"management-events-dropped": {
		Doc: "a PutEventSelectors call leaves the trail recording less than every management event: a basic " +
			"selector with includeManagementEvents false, readWriteType ReadOnly or excludeManagementEventSources, " +
			"or advanced selectors of which none records every management event (no eventCategory Management " +
			"selector, or only ones narrowed to reads or away from some event sources)",
		holds: managementEventsDropped,
	},
	"request-is-privileged": {
		Doc: "an IAM write whose request would grant administrator-class access or someone else's credentials: " +
			"for Put{User,Group,Role}Policy, CreatePolicy and CreatePolicyVersion, a document granting `*` on " +
			"`*` (policy-allows-admin); for CreateAccessKey, CreateLoginProfile and UpdateLoginProfile, another " +
			"user (caller-is-not-target); every other call holds",
		holds: func(r *record) bool {
			switch r.str("eventName") {
			case "PutUserPolicy", "PutGroupPolicy", "PutRolePolicy", "CreatePolicy", "CreatePolicyVersion":
				return policyAllowsAdmin(r)
			case "CreateAccessKey", "CreateLoginProfile", "UpdateLoginProfile":
				return callerIsNotTarget(r)
			}
			return true
		},
	},
	"caller-is-person": {
		Doc: "the caller is an IAM user, a federated user, root, or an IAM Identity Center " +
			"(AWSReservedSSO_) session, rather than a service or automation role",
		holds: func(r *record) bool {
			switch r.str("userIdentity.type") {
			case "IAMUser", "FederatedUser", "Root", "IdentityCenterUser":
				return true
			case "AssumedRole":
				return strings.Contains(r.str("userIdentity.arn"), ":assumed-role/AWSReservedSSO_")
			}
			return false
		},
		maybe: func(env []byte) bool {
			// every accepted type and the SSO role prefix appear verbatim unless escaped
			return bytes.Contains(env, []byte(`\u`)) ||
				bytes.Contains(env, []byte("IAMUser")) || bytes.Contains(env, []byte("FederatedUser")) ||
				bytes.Contains(env, []byte("Root")) || bytes.Contains(env, []byte("IdentityCenterUser")) ||
				bytes.Contains(env, []byte("AWSReservedSSO_"))
		},
	},
	"password-reset-not-required": {
		Doc: "requestParameters.passwordResetRequired is not true (the caller keeps knowing the password)",
		holds: func(r *record) bool {
			return r.str("requestParameters.passwordResetRequired") != "true"
		},
	},
	"not-infrastructure-as-code": {
		Doc: "the call was not made by infrastructure as code or by AWS itself: the caller is not an AWS " +
			"service, neither the user agent nor the caller's ARN mentions Terraform, Pulumi or Ansible " +
			"(in any case), and sourceIPAddress is not cloudformation.amazonaws.com or " +
			"servicecatalog.amazonaws.com. A user agent is the caller's to choose: rules use this only where " +
			"Sigma's or Elastic's authors filter the same automation out",
		holds: func(r *record) bool {
			if r.str("userIdentity.type") == "AWSService" {
				return false
			}
			switch strings.ToLower(r.str("sourceIPAddress")) {
			case "cloudformation.amazonaws.com", "servicecatalog.amazonaws.com":
				return false
			}
			return !mentionsIaC(r.str("userAgent")) && !mentionsIaC(r.str("userIdentity.arn"))
		},
	},
	"user-agent-is-not-iac": {
		Doc: "the user agent does not mention Terraform, Pulumi or Ansible (in any case); narrower than " +
			"not-infrastructure-as-code, for rules whose sources filter on the user agent alone",
		holds: func(r *record) bool { return !mentionsIaC(r.str("userAgent")) },
	},
	"user-agent-is-cloudshell": {
		Doc: "the user agent is AWS CloudShell's (it contains `CloudShell`, in any case): a console " +
			"session's shell",
		holds: func(r *record) bool { return strings.Contains(strings.ToLower(r.str("userAgent")), "cloudshell") },
		maybe: func(env []byte) bool {
			return bytes.Contains(env, []byte("CloudShell")) || bytes.Contains(env, []byte(`\u`)) || containsFold(env, "cloudshell")
		},
	},
	"user-agent-is-attack-tool": {
		Doc: "the user agent gives away a tool made for attacking AWS accounts or testing stolen keys " +
			"(AttackTool), in any case: the AWS CLI or an SDK on Kali, Parrot or Pentoo Linux (`kali`, `parrot`, " +
			"`pentoo`), Pacu, TruffleHog, Stratus Red Team (at the start), or S3 Browser outside S3. The same " +
			"list marks every finding's user agent (attackTool)",
		holds:         func(r *record) bool { return AttackTool(r.str("userAgent"), r.str("eventSource")) != "" },
		maybe:         func(env []byte) bool { return userAgentMayContain(env, attackToolMarks.in) },
		userAgentSays: attackToolMarks.in,
		prefilter:     attackToolPrefilter(func(string) bool { return true }),
	},
	"user-agent-is-s3-browser": {
		Doc:           "the user agent is S3 Browser's (it contains `S3 Browser`, in any case), a Windows S3 client with an IAM tab",
		holds:         func(r *record) bool { return strings.Contains(strings.ToLower(r.str("userAgent")), s3Browser) },
		maybe:         func(env []byte) bool { return userAgentMayContain(env, isS3Browser) },
		userAgentSays: isS3Browser,
		prefilter:     attackToolPrefilter(func(mark string) bool { return mark == s3Browser }),
	},
	"caller-is-workload": {
		Doc: "the caller is a workload's role, not a person: a session of an EC2 instance role (an " +
			"assumed role whose session name is the instance id, i-..., the EC2 identity role " +
			"aws:ec2-instance included) or a Lambda function's execution role (a user agent with " +
			"exec-env/AWS_Lambda, or invokedBy lambda.amazonaws.com)",
		holds: func(r *record) bool {
			if strings.Contains(r.str("userAgent"), "exec-env/AWS_Lambda") || r.str("userIdentity.invokedBy") == "lambda.amazonaws.com" {
				return true
			}
			if r.str("userIdentity.type") != "AssumedRole" {
				return false
			}
			arn := r.str("userIdentity.arn")
			return strings.Contains(arn, ":assumed-role/") && strings.HasPrefix(arn[strings.LastIndexByte(arn, '/')+1:], "i-")
		},
		maybe: func(env []byte) bool {
			return bytes.Contains(env, []byte(`\u`)) || bytes.Contains(env, []byte("/i-")) ||
				bytes.Contains(env, []byte(`\/i-`)) || bytes.Contains(env, []byte("AWS_Lambda")) || // exec-env/ or exec-env\/
				bytes.Contains(env, []byte("lambda.amazonaws.com"))
		},
	},
	"source-ip-is-public": {
		Doc: "sourceIPAddress is a global unicast IP address that is not private (RFC 1918, fc00::/7), " +
			"loopback or link-local; AWS service names such as ec2.amazonaws.com are not IPs. AWS's own " +
			"public ranges cannot be told apart offline",
		holds: func(r *record) bool {
			a, err := netip.ParseAddr(r.str("sourceIPAddress"))
			if err != nil {
				return false
			}
			return a.IsGlobalUnicast() && !a.IsPrivate() && !a.IsLoopback() && !a.IsLinkLocalUnicast()
		},
	},
}

// callerIsNotTarget: see caller-is-not-target.
func callerIsNotTarget(r *record) bool {
	target := r.targetUser()
	if target == "" {
		return false // no target named: the caller acts on itself
	}
	return r.callerName() != target
}

// policyAllowsAdmin: see policy-allows-admin.
func policyAllowsAdmin(r *record) bool {
	if namesAdminPolicy(r) {
		return true
	}
	for _, d := range r.policyDocs() {
		if d.kind == trustDoc {
			continue
		}
		if slices.ContainsFunc(d.statements, statement.grantsAdmin) {
			return true
		}
	}
	return false
}

// namesAdminPolicy reports whether the request names the AdministratorAccess managed policy as
// a session policy (requestParameters.policyArns of GetFederationToken and AssumeRole*) or for
// an IAM Identity Center permission set (requestParameters.managedPolicyArn).
func namesAdminPolicy(r *record) bool {
	if strings.HasSuffix(r.str("requestParameters.managedPolicyArn"), ":policy/AdministratorAccess") {
		return true
	}
	arns, _ := r.lookup("requestParameters.policyArns").([]any)
	for _, a := range arns {
		m, _ := a.(map[string]any)
		if s, _ := m["arn"].(string); strings.HasSuffix(s, ":policy/AdministratorAccess") {
			return true
		}
	}
	return false
}

// iacTools are the infrastructure-as-code tools whose names in a user agent or a role's name
// mark a call as automation (lower case).
var iacTools = []string{"terraform", "pulumi", "ansible"}

func mentionsIaC(s string) bool {
	s = strings.ToLower(s)
	return slices.ContainsFunc(iacTools, func(t string) bool { return strings.Contains(s, t) })
}

// foldSet looks for several lower-case ASCII words in text, in one pass, as a necessary
// condition for strings.ToLower(text) containing one: letters are compared in either case,
// and a letter outside ASCII that ToLower turns into one of the words' letters (the Kelvin
// sign into k, İ into i: foldsToASCII) counts as a maybe wherever it stands. Only positions
// whose first two bytes can start a word are compared.
type foldSet struct {
	// byFirst lists, for each byte, the words it can start (letters in either case); the
	// first byte of a letter that lowers into the words' letters lists "", a maybe
	byFirst [256][]string
	words   []string
}

// foldsToASCII are the letters outside ASCII that strings.ToLower (Unicode's simple lower-case
// mapping) turns into ASCII letters, by the letter they become. TestFoldsToASCII reads every
// rune's mapping to keep the table whole.
var foldsToASCII = map[byte]string{'i': "\u0130", 'k': "\u212a"}

func newFoldSet(words []string) *foldSet {
	f := &foldSet{words: words}
	for _, w := range words {
		f.byFirst[w[0]] = append(f.byFirst[w[0]], w)
		if up := w[0] &^ 0x20; up != w[0] && 'A' <= up && up <= 'Z' {
			f.byFirst[up] = append(f.byFirst[up], w)
		}
		for i := range len(w) {
			if r, ok := foldsToASCII[w[i]]; ok && !slices.Contains(f.byFirst[r[0]], "") {
				f.byFirst[r[0]] = append(f.byFirst[r[0]], "")
			}
		}
	}
	return f
}

// in reports whether b may contain one of the words once lowered.
func (f *foldSet) in(b []byte) bool {
	for i, c := range b {
		for _, w := range f.byFirst[c] {
			if w == "" || len(b)-i >= len(w) && b[i+1]|0x20 == w[1]|0x20 && bytes.EqualFold(b[i:i+len(w)], []byte(w)) {
				return true
			}
		}
	}
	return false
}

// inString is in for a string.
func (f *foldSet) inString(s string) bool {
	for i := 0; i < len(s); i++ {
		for _, w := range f.byFirst[s[i]] {
			if w == "" || len(s)-i >= len(w) && s[i+1]|0x20 == w[1]|0x20 && strings.EqualFold(s[i:i+len(w)], w) {
				return true
			}
		}
	}
	return false
}

// userAgentMayContain is a byte-level necessary condition for a user agent that says something:
// it finds every "userAgent" key in the envelope and asks says about its string value, unescaped
// when it holds escapes (\/ in user agents some pipelines write). A key that might itself be
// escaped, or a value it cannot read, count as maybe. It runs on every record (the attack-tool
// rule selects them all), so it looks for the key by its tail, gent", which is far rarer in
// CloudTrail JSON than the key's opening quote and makes the search several times faster.
func userAgentMayContain(env []byte, says func(ua []byte) bool) bool {
	if escapesLetterOf(env, "userAgent") {
		return userAgentMemberSays(env, says) // the key itself could be spelled with escapes
	}
	const key, tail = `"userAgent"`, `gent"`
	for from := 0; ; {
		i := bytes.Index(env[from:], []byte(tail))
		if i < 0 {
			return false
		}
		end := from + i + len(tail) // just past the key's closing quote
		from = end
		if end < len(key) || string(env[end-len(key):end]) != key {
			continue
		}
		rest := bytes.TrimLeft(env[end:], " \t\r\n")
		if len(rest) == 0 || rest[0] != ':' {
			continue
		}
		rest = bytes.TrimLeft(rest[1:], " \t\r\n")
		if len(rest) == 0 || rest[0] != '"' {
			continue // null, or not a string: holds reads no text there
		}
		if userAgentTextSays(rest, says) {
			return true
		}
	}
}

func isS3Browser(ua []byte) bool { return containsFold(ua, s3Browser) }

// userAgentMembersSay is userAgentMayContain for a record whose top-level members are known
// (none with escapes in its key): it reads the userAgent member alone. A key given twice
// counts as maybe.
func userAgentMembersSay(rec []byte, top []cloudtrail.Member, says func(ua []byte) bool) bool {
	var val []byte
	for _, m := range top {
		if string(m.Key(rec)) != "userAgent" {
			continue
		}
		if val != nil {
			return true
		}
		val = m.Value(rec)
	}
	if len(val) == 0 || val[0] != '"' {
		return false // absent, null, or not a string: holds reads no text there
	}
	return userAgentTextSays(val, says)
}

// userAgentTextSays applies says to the text of a user agent given as a JSON string; one it
// cannot read counts as maybe.
func userAgentTextSays(v []byte, says func(ua []byte) bool) bool {
	n, escaped := stringEnd(v, 0)
	if n < 0 {
		return true
	}
	ua := v[1 : n-1]
	if escaped {
		var s string
		if json.Unmarshal(v[:n], &s) != nil {
			return true
		}
		ua = []byte(s)
	}
	return says(ua)
}

// escapesLetterOf reports whether b holds a \u escape of one of word's letters: only such an
// escape can spell word with escapes (\" \\ \/ \b \f \n \r \t stand for no letter). Records
// often hold other \u escapes (\u003c, \u0026, accents), which need no structural reading. An
// escaped backslash before a u is taken for an escape, which is safe.
func escapesLetterOf(b []byte, word string) bool {
	for i := 0; ; {
		j := bytes.Index(b[i:], []byte(`\u`))
		if j < 0 {
			return false
		}
		i += j + 2
		if i+4 > len(b) {
			return true // cut off: cannot tell
		}
		if r := jsonlex.Hex4(b[i : i+4]); r < 0 || strings.ContainsRune(word, r) {
			return true
		}
	}
}

// userAgentMemberSays reads the record's userAgent member by the record's structure, for an
// envelope where a key could be spelled with escapes: a key with escapes or given twice, or an
// envelope it cannot split, count as maybe (the record is then decoded and tested whole).
func userAgentMemberSays(env []byte, says func(ua []byte) bool) bool {
	val := env
	for _, key := range []string{"detail", "userAgent"} {
		var m []byte
		if !eachMember(val, func(k, v []byte) {
			if string(k) == key {
				m = v
			}
		}) {
			return true
		}
		if m == nil {
			return key != "userAgent" // no user agent: holds reads none
		}
		val = m
	}
	v, ok := scalar(val)
	if !ok {
		var s any // a string with escapes, or not a scalar
		if json.Unmarshal(val, &s) != nil {
			return true
		}
		v = s
	}
	ua, _ := v.(string) // what holds reads: text of a string only
	return says([]byte(ua))
}

// caseVariants returns every spelling of s with its ASCII letters in either case, or as the
// letter outside ASCII that strings.ToLower lowers into them (foldsToASCII).
func caseVariants(s string) []string {
	out := []string{""}
	for i := 0; i < len(s); i++ {
		lo, up := s[i]|0x20, s[i]&^0x20
		spellings := []string{string(s[i])}
		if lo >= 'a' && lo <= 'z' {
			spellings = []string{string(lo), string(up)}
			if r, ok := foldsToASCII[lo]; ok {
				spellings = append(spellings, r) // lowered into lo as well
			}
		}
		next := make([]string, 0, len(spellings)*len(out))
		for _, p := range out {
			for _, sp := range spellings {
				next = append(next, p+sp)
			}
		}
		out = next
	}
	return out
}

// PredicatePrefilter returns the EventBridge pattern every envelope for which the named
// predicate holds matches, or "" when the predicate gives none.
func PredicatePrefilter(name string) string { return predicates[name].prefilter }

// containsFold reports whether b contains s, ASCII letters compared in any case (s lower case).
func containsFold(b []byte, s string) bool {
	for i := 0; i+len(s) <= len(b); i++ {
		if b[i]|0x20 == s[0] && bytes.EqualFold(b[i:i+len(s)], []byte(s)) {
			return true
		}
	}
	return false
}

// mayHaveStar reports whether the bytes could hold a `*` principal: the byte itself, or it
// escaped in JSON (\u002a) or URL-encoded (%2A), as policies inside strings sometimes are.
func mayHaveStar(env []byte) bool {
	if bytes.IndexByte(env, '*') >= 0 {
		return true
	}
	for _, esc := range [][]byte{[]byte("u002a"), []byte("u002A"), []byte("%2a"), []byte("%2A")} {
		if bytes.Contains(env, esc) {
			return true
		}
	}
	return false
}

// PredicateNames lists the known predicates, sorted.
func PredicateNames() []string {
	names := make([]string, 0, len(predicates))
	for n := range predicates {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Predicates returns the documentation of every predicate, by name.
func Predicates() map[string]string {
	out := make(map[string]string, len(predicates))
	for n, p := range predicates {
		out[n] = p.Doc
	}
	return out
}
