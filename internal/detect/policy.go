package detect

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/trailbell/trailbell/internal/cloudtrail"
	"github.com/trailbell/trailbell/internal/jsonlex"
)

// docKind says how a policy document is read: what an identity may do, who may assume a
// role, or who may use a resource.
type docKind int

const (
	identityDoc docKind = iota
	trustDoc
	resourceDoc
)

// policyDoc is one parsed IAM policy document.
type policyDoc struct {
	kind       docKind
	statements []statement
	err        error // the document could not be read; said in Grants, never fatal
}

type statement struct {
	allow                  bool
	actions, notActions    []string
	resources, notResource []string
	principals             []principal // nil when the statement names no principal
	notPrincipal           bool
	conditional            bool
	conditions             []condition
}

// condition is one key of a statement's Condition block under one operator, e.g.
// StringEquals aws:PrincipalOrgID ["o-abc"]. The values of a key OR, the keys AND.
type condition struct {
	op, key string // as written; IAM compares keys case-insensitively
	values  []string
}

type principal struct {
	kind  string // "*", AWS, Service, Federated, CanonicalUser
	value string
}

// docPaths are where records carry policy documents, by the kind of document.
var docPaths = []struct {
	path string
	kind docKind
}{
	{"requestParameters.policyDocument", identityDoc}, // trust for UpdateAssumeRolePolicy, see docs()
	{"requestParameters.assumeRolePolicyDocument", trustDoc},
	{"requestParameters.bucketPolicy", resourceDoc},
	{"requestParameters.policy", resourceDoc},
	{"requestParameters.policy.policy", resourceDoc},
	{"requestParameters.policyText", resourceDoc},
	{"requestParameters.accessPolicies", resourceDoc},
	{"requestParameters.resourcePolicy", resourceDoc},
	{"requestParameters.attributes.Policy", resourceDoc},
	{"requestParameters.inlinePolicy", identityDoc}, // IAM Identity Center permission sets
}

// docs returns the policy documents of the record, parsing them once.
func (r *record) policyDocs() []policyDoc {
	if r.parsed {
		return r.docs
	}
	r.parsed = true
	for i, p := range docPaths {
		if r.absent(docSlots[i]) {
			continue // the usual record, with none of them
		}
		kind := p.kind
		if text, ok := r.indexedDocText(docSlots[i]); ok {
			// a document given as a JSON string, read from the record's bytes
			if len(bytes.TrimSpace(text)) > 0 {
				if p.path == "requestParameters.policyDocument" && r.str("eventName") == "UpdateAssumeRolePolicy" {
					kind = trustDoc
				}
				r.docs = append(r.docs, parsePolicyText(text, kind))
			}
			continue
		}
		v := r.lookup(p.path)
		if v == nil {
			continue
		}
		if m, isObj := v.(map[string]any); isObj && p.path == "requestParameters.policy" && m["Statement"] == nil {
			continue // Glacier nests the document one level down; read there
		}
		if t, isStr := v.(string); !isStr && !isObject(v) || isStr && strings.TrimSpace(t) == "" {
			continue // e.g. S3's PutBucketPolicy also carries "policy": [""], a query parameter
		}
		if p.path == "requestParameters.policyDocument" && r.str("eventName") == "UpdateAssumeRolePolicy" {
			kind = trustDoc
		}
		r.docs = append(r.docs, parsePolicy(v, kind))
	}
	// SNS sets a topic policy as a named attribute.
	if r.str("requestParameters.attributeName") == "Policy" {
		if v := r.lookup("requestParameters.attributeValue"); v != nil {
			r.docs = append(r.docs, parsePolicy(v, resourceDoc))
		}
	}
	return r.docs
}

func isObject(v any) bool {
	_, ok := v.(map[string]any)
	return ok
}

// docSlots are the slots of docPaths in every index.
var docSlots = func() []int {
	out := make([]int, len(docPaths))
	for i, p := range docPaths {
		out[i] = staticIndex.slot(p.path)
	}
	return out
}()

// indexedDocText is the text of the policy document at the path of slot when the record is
// indexed and holds a JSON string there: its content, unquoted (a copy) only when it has
// escapes.
func (r *record) indexedDocText(slot int) ([]byte, bool) {
	v, ok := r.indexed(slot)
	if !ok || len(v) == 0 || v[0] != '"' {
		return nil, false
	}
	raw, end, plain, ok := jsonlex.StringEnd(v, 0)
	if !ok || end != len(v) {
		return nil, false
	}
	if plain {
		return raw, true
	}
	return appendUnquoted(make([]byte, 0, len(raw)), raw), true
}

// parsePolicy reads a document given as a JSON string (sometimes URL-encoded) or as an object.
func parsePolicy(v any, kind docKind) policyDoc {
	switch v := v.(type) {
	case map[string]any:
		return policyOf(v, kind)
	case string:
		return parsePolicyText([]byte(v), kind)
	}
	return policyDoc{kind: kind, err: fmt.Errorf("policy document is a %T, not a JSON object", v)}
}

// parsePolicyText reads a document given as text, sometimes URL-encoded.
func parsePolicyText(text []byte, kind docKind) policyDoc {
	text = bytes.TrimSpace(text)
	s := string(text) // one copy, of which the document's strings are parts
	if len(text) > 0 && text[0] == '%' {
		if u, err := url.QueryUnescape(s); err == nil {
			text, s = []byte(u), u
		}
	}
	var m map[string]any
	if v, _, ok := parseJSONText(text, s, false); ok {
		m, _ = v.(map[string]any)
	} else {
		d := json.NewDecoder(bytes.NewReader(text))
		d.UseNumber()
		_ = d.Decode(&m)
	}
	if m == nil {
		return policyDoc{kind: kind, err: fmt.Errorf("policy document is not a JSON object")}
	}
	return policyOf(m, kind)
}

// policyOf reads a decoded document.
func policyOf(m map[string]any, kind docKind) policyDoc {
	doc := policyDoc{kind: kind}
	var sts []any
	switch s := m["Statement"].(type) {
	case []any:
		sts = s
	case map[string]any:
		sts = []any{s}
	default:
		doc.err = fmt.Errorf("policy document has no Statement")
		return doc
	}
	doc.statements = make([]statement, 0, len(sts))
	lists := strs{buf: make([]string, 0, 4*len(sts))}
	for _, s := range sts {
		sm, ok := s.(map[string]any)
		if !ok {
			continue
		}
		st := statement{
			allow:       strings.EqualFold(scalarText(sm["Effect"]), "Allow"),
			actions:     lists.list(sm["Action"]),
			notActions:  lists.list(sm["NotAction"]),
			resources:   lists.list(sm["Resource"]),
			notResource: lists.list(sm["NotResource"]),
		}
		if c, ok := sm["Condition"].(map[string]any); ok && len(c) > 0 {
			st.conditional = true
			st.conditions = conditions(c, &lists)
		}
		if p, ok := sm["Principal"]; ok {
			st.principals = principals(p, &lists)
		} else if p, ok := sm["NotPrincipal"]; ok {
			st.principals = principals(p, &lists)
			st.notPrincipal = true
		}
		doc.statements = append(doc.statements, st)
	}
	return doc
}

// strs is where a document's lists of strings are made: parts of one slice (each clipped, so
// that an append cannot write into the next), not a slice or more each.
type strs struct{ buf []string }

// list reads a string or a list of scalars (the empty ones left out) as a list; nil for
// anything else, or a list with nothing in it.
func (a *strs) list(v any) []string {
	lo := len(a.buf)
	switch v := v.(type) {
	case string:
		a.buf = append(a.buf, v)
	case []any:
		for _, e := range v {
			if s := scalarText(e); s != "" {
				a.buf = append(a.buf, s)
			}
		}
	}
	if len(a.buf) == lo {
		return nil
	}
	return a.buf[lo:len(a.buf):len(a.buf)]
}

func principals(v any, lists *strs) []principal {
	if s, ok := v.(string); ok {
		if s == "*" {
			return []principal{{kind: "*", value: "*"}}
		}
		return []principal{{kind: "AWS", value: s}}
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	var out []principal
	var kb [8]string
	for _, k := range sortedKeys(kb[:0], m) {
		for _, s := range lists.list(m[k]) {
			if k == "AWS" && s == "*" {
				out = append(out, principal{kind: "*", value: "*"})
				continue
			}
			out = append(out, principal{kind: k, value: s})
		}
	}
	return out
}

// isAdminAction is an action pattern that grants everything, or everything in IAM (which
// lets the holder grant itself everything).
func isAdminAction(a string) bool {
	a = strings.ToLower(a)
	return a == "*" || a == "*:*" || a == "iam:*"
}

// grantsAdmin reports whether an Allow statement gives `*`, `*:*` or `iam:*` on every
// resource, or NotAction on every resource (all but a few actions).
func (s statement) grantsAdmin() bool {
	if !s.allow || !slices.Contains(s.resources, "*") {
		return false
	}
	if len(s.notActions) > 0 {
		return true
	}
	return slices.ContainsFunc(s.actions, isAdminAction)
}

// accountOf extracts the account id from an AWS principal (an ARN or a bare account id).
func accountOf(p string) string {
	if cloudtrail.IsAccountID(p) {
		return p
	}
	parts, _ := arnParts(p)
	return parts[4]
}

// describe says in words what each statement grants, for Finding.Grants.
func (d policyDoc) describe() []string {
	if d.err != nil {
		return []string{"unreadable policy: " + d.err.Error()}
	}
	var out []string
	for _, s := range d.statements {
		effect := "Deny"
		if s.allow {
			effect = "Allow"
		}
		cond := ""
		switch {
		case s.conditional && d.kind == resourceDoc && s.public():
			cond = " (with conditions that do not limit who)"
		case s.conditional:
			cond = " (with conditions)"
		}
		// each line is written in one builder: a record's grants are a handful of lines made
		// of many parts
		var b strings.Builder
		switch {
		case d.kind == trustDoc && s.allow:
			for _, p := range s.principals {
				b.WriteString("trust: ")
				writePrincipal(&b, p)
				b.WriteString(cond)
				out = append(out, b.String())
				b = strings.Builder{}
			}
		default:
			on := describeList(s.resources, s.notResource)
			if on == "" {
				on = "(no resource)"
				if d.kind == resourceDoc {
					on = "this resource" // resource policies of ECR, Lambda ... may omit Resource
				}
			}
			acts := describeActions(s)
			b.Grow(len(effect) + len(acts) + len(on) + len(cond) + 64*min(len(s.principals), 5) + 16)
			b.WriteString(effect)
			b.WriteByte(' ')
			b.WriteString(acts)
			b.WriteString(" on ")
			b.WriteString(on)
			if len(s.principals) > 0 {
				if s.notPrincipal {
					b.WriteString(" to all but ")
				} else {
					b.WriteString(" to ")
				}
				writeList(&b, len(s.principals), func(i int) { writePrincipal(&b, s.principals[i]) })
			}
			b.WriteString(cond)
			out = append(out, b.String())
		}
	}
	return out
}

func describeActions(s statement) string {
	if len(s.notActions) > 0 {
		return "all actions except " + listText(s.notActions)
	}
	if len(s.actions) == 0 {
		return "no action"
	}
	return listText(s.actions)
}

func describeList(in, notIn []string) string {
	if len(notIn) > 0 {
		return "all resources except " + listText(notIn)
	}
	if len(in) == 0 {
		return ""
	}
	return listText(in)
}

func listText(xs []string) string {
	if len(xs) <= listMax {
		return strings.Join(xs, ", ")
	}
	var b strings.Builder
	writeList(&b, len(xs), func(i int) { b.WriteString(xs[i]) })
	return b.String()
}

// writeList writes a list of n items, each written by item: the first listMax, separated by
// commas, then how many more there are ("a, b, c, d, e and 2 more").
func writeList(b *strings.Builder, n int, item func(i int)) {
	for i := range min(n, listMax) {
		if i > 0 {
			b.WriteString(", ")
		}
		item(i)
	}
	if n > listMax {
		b.WriteString(" and ")
		b.WriteString(strconv.Itoa(n - listMax))
		b.WriteString(" more")
	}
}

// listMax is how many items a list names.
const listMax = 5

// writePrincipal describes a principal of a statement: "any principal (*)", "account N",
// "service S", an ARN.
func writePrincipal(b *strings.Builder, p principal) {
	switch p.kind {
	case "*":
		b.WriteString("any principal (*)")
	case "AWS":
		if a := accountOf(p.value); a != "" && (p.value == a || strings.HasSuffix(p.value, ":root")) {
			b.WriteString("account ")
			b.WriteString(a)
			return
		}
		b.WriteString(p.value)
	case "Service":
		b.WriteString("service ")
		b.WriteString(p.value)
	case "Federated":
		b.WriteString("federated ")
		b.WriteString(p.value)
	default:
		b.WriteString(p.kind)
		b.WriteByte(' ')
		b.WriteString(p.value)
	}
}

// grants describes every policy document in the record.
func (r *record) grants() []string {
	var out []string
	for _, d := range r.policyDocs() {
		out = append(out, d.describe()...)
	}
	return out
}

// sortedKeys appends m's keys to keys, sorted (slices.Sorted(maps.Keys(m)) without the
// allocations of the iterator and of growing its slice: keys has room for a statement's few).
func sortedKeys(keys []string, m map[string]any) []string {
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// conditions reads a Condition block: {"StringEquals": {"aws:SourceAccount": "1234..."}}.
func conditions(block map[string]any, lists *strs) []condition {
	var out []condition
	var ob, kb [8]string
	for _, op := range sortedKeys(ob[:0], block) {
		keys, ok := block[op].(map[string]any)
		if !ok {
			continue
		}
		for _, k := range sortedKeys(kb[:0], keys) {
			out = append(out, condition{op: op, key: k, values: lists.list(keys[k])})
		}
	}
	return out
}

// anyPrincipal reports whether an Allow statement lets in every principal: `*` (alone or
// as {"AWS": "*"}), or everyone but a few (NotPrincipal).
func (s statement) anyPrincipal() bool {
	if !s.allow {
		return false
	}
	return s.notPrincipal || slices.ContainsFunc(s.principals, func(p principal) bool { return p.kind == "*" })
}

// public reports whether an Allow statement lets in every principal and no condition limits
// who that can be. A Condition that only tests what the caller chooses (aws:UserAgent,
// aws:Referer, aws:SecureTransport, the time), a negated test, an IfExists test, or
// aws:SourceIp 0.0.0.0/0 leaves the resource open to anyone.
func (s statement) public() bool {
	return s.anyPrincipal() && !slices.ContainsFunc(s.conditions, condition.limitsCaller)
}

// callerKeys are the condition keys whose value the caller cannot choose and that name who
// or where the caller is: organization, account, principal, service source, network. Keys
// in lower case, as IAM compares them case-insensitively.
var callerKeys = map[string]bool{
	"aws:principalorgid": true, "aws:principalorgpaths": true, "aws:principalaccount": true,
	"aws:principalarn": true, "aws:principalservicename": true, "aws:principalservicenameslist": true,
	"aws:sourceaccount": true, "aws:sourcearn": true, "aws:sourceorgid": true,
	"aws:sourceorgpaths": true, "aws:sourceowner": true, "aws:sourcevpc": true,
	"aws:sourcevpce": true, "aws:sourcevpcarn": true, "aws:vpcsourceip": true,
	"aws:sourceip": true, "aws:userid": true, "aws:username": true,
	"kms:calleraccount": true, "s3:dataaccesspointaccount": true, "s3:dataaccesspointarn": true,
}

// limitsCaller reports whether a condition restricts who may use the resource: a positive
// test (StringEquals, StringLike, ArnEquals, ArnLike, IpAddress; ForAnyValue: too) of a key
// from callerKeys, where every value names something specific, or aws:PrincipalIsAWSService
// required true.
func (c condition) limitsCaller() bool {
	op := strings.ToLower(c.op)
	op, anyValue := strings.CutPrefix(op, "foranyvalue:")
	if strings.HasPrefix(op, "forallvalues:") || strings.HasSuffix(op, "ifexists") {
		return false // true when the key is missing, as it is for most callers
	}
	key := strings.ToLower(c.key)
	if len(c.values) == 0 {
		return false
	}
	if key == "aws:principalisawsservice" {
		return op == "bool" && !anyValue && slices.ContainsFunc(c.values, func(v string) bool { return strings.EqualFold(v, "true") }) &&
			!slices.ContainsFunc(c.values, func(v string) bool { return strings.EqualFold(v, "false") })
	}
	if !callerKeys[key] {
		return false
	}
	switch op {
	case "ipaddress":
		return !slices.ContainsFunc(c.values, isWideRange)
	case "stringequals", "stringequalsignorecase", "arnequals", "arnlike", "stringlike":
		return !slices.ContainsFunc(c.values, isWildValue)
	}
	return false
}

// isWideRange reports whether a CIDR value covers more than a /8 of IPv4 or a /16 of IPv6
// (0.0.0.0/0 and ::/0 included), or cannot be read: such a range does not limit who.
func isWideRange(v string) bool {
	if _, err := netip.ParseAddr(v); err == nil {
		return false // a single address
	}
	p, err := netip.ParsePrefix(v)
	if err != nil {
		return true
	}
	if p.Addr().Is4() || p.Addr().Is4In6() {
		return p.Bits() < 8
	}
	return p.Bits() < 16
}

// isWildValue reports whether a condition value with wildcards matches callers in general:
// it is one only when its wildcards leave no account id, organization id or VPC id spelt
// out ("arn:aws:iam::*:role/x" and "o-*" match anyone's; "arn:aws:iam::111122223333:*" does not).
func isWildValue(v string) bool {
	if !strings.ContainsAny(v, "*?") {
		return false
	}
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return strings.ContainsRune(":/*?", r) }) {
		if cloudtrail.IsAccountID(f) || cloudtrail.IsOrgID(f) || isNetworkID(f) {
			return false
		}
	}
	return true
}

func isNetworkID(s string) bool {
	for _, p := range []string{"vpc-", "vpce-"} {
		if id, ok := strings.CutPrefix(s, p); ok && len(id) >= 8 && strings.Trim(id, "0123456789abcdef") == "" {
			return true
		}
	}
	return false
}

// crossAccountKeys are condition keys that name the account a caller or source belongs to.
var crossAccountKeys = map[string]bool{
	"aws:principalaccount": true, "aws:sourceaccount": true, "aws:sourceowner": true,
	"kms:calleraccount": true, "s3:dataaccesspointaccount": true,
	"aws:principalarn": true, "aws:sourcearn": true,
}

// otherAccounts lists the AWS accounts other than own (and the one its resources' ARNs name)
// that an Allow statement lets in: by principal (an account id or an ARN in it), or, for a `*`
// principal, by a condition that names the caller's or source's account. CloudFront origin
// access identities and service principals are not accounts.
func (s statement) otherAccounts(own string) []string {
	if !s.allow || s.notPrincipal {
		return nil
	}
	// the resource's own account shows in its ARN (an SNS topic's, say); it is not another
	// account even when the record says little of where it comes from
	owners := []string{own}
	for _, res := range s.resources {
		owners = append(owners, accountOf(res))
	}
	var out []string
	add := func(a string) {
		if cloudtrail.IsAccountID(a) && !slices.Contains(owners, a) && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	for _, p := range s.principals {
		if p.kind == "AWS" {
			add(accountOf(p.value))
		}
	}
	if s.anyPrincipal() {
		for _, c := range s.conditions {
			op := strings.ToLower(c.op)
			if !crossAccountKeys[strings.ToLower(c.key)] || strings.Contains(op, "not") {
				continue
			}
			for _, v := range c.values {
				add(accountOf(v))
			}
		}
	}
	return out
}

// resourceStatements is every statement of the record's resource policies.
func (r *record) resourceStatements() []statement {
	var out []statement
	for _, d := range r.policyDocs() {
		if d.kind == resourceDoc {
			out = append(out, d.statements...)
		}
	}
	return out
}

// resourcePolicyPublic: a resource policy lets in anyone, with no condition limiting who.
func resourcePolicyPublic(r *record) bool {
	return slices.ContainsFunc(r.resourceStatements(), statement.public)
}

// resourcePolicyConditionalPublic: a resource policy has an Allow for `*` that only its
// conditions keep from being public.
func resourcePolicyConditionalPublic(r *record) bool {
	return slices.ContainsFunc(r.resourceStatements(), func(s statement) bool { return s.anyPrincipal() && !s.public() })
}

// resourcePolicyOtherAccount: a resource policy lets in an AWS account other than the record's.
func resourcePolicyOtherAccount(r *record) bool {
	own := r.account()
	return slices.ContainsFunc(r.resourceStatements(), func(s statement) bool { return len(s.otherAccounts(own)) > 0 })
}

// mayHavePrincipal is the byte-level pre-check of the resource-policy predicates: a policy
// statement names its Principal (or NotPrincipal) in letters that URL-encoding keeps, so only
// a JSON \u escape can hide the word.
func mayHavePrincipal(env []byte) bool {
	return bytes.Contains(env, []byte("Principal")) || bytes.Contains(env, []byte(`\u`))
}

// mayBePublic is the pre-check of resource-policy-public: a `*` principal (see mayHaveStar)
// or a NotPrincipal.
func mayBePublic(env []byte) bool {
	return mayHaveStar(env) || bytes.Contains(env, []byte("NotPrincipal")) || bytes.Contains(env, []byte(`\u`))
}
