package detect

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"

	"github.com/trailbell/trailbell/internal/cloudtrail"
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
}

// docs returns the policy documents of the record, parsing them once.
func (r *record) policyDocs() []policyDoc {
	if r.parsed {
		return r.docs
	}
	r.parsed = true
	for _, p := range docPaths {
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
		kind := p.kind
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

// parsePolicy reads a document given as a JSON string (sometimes URL-encoded) or as an object.
func parsePolicy(v any, kind docKind) policyDoc {
	doc := policyDoc{kind: kind}
	var m map[string]any
	switch v := v.(type) {
	case map[string]any:
		m = v
	case string:
		text := strings.TrimSpace(v)
		if strings.HasPrefix(text, "%") {
			if u, err := url.QueryUnescape(text); err == nil {
				text = u
			}
		}
		d := json.NewDecoder(bytes.NewReader([]byte(text)))
		d.UseNumber()
		if err := d.Decode(&m); err != nil || m == nil {
			doc.err = fmt.Errorf("policy document is not a JSON object")
			return doc
		}
	default:
		doc.err = fmt.Errorf("policy document is a %T, not a JSON object", v)
		return doc
	}
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
	for _, s := range sts {
		sm, ok := s.(map[string]any)
		if !ok {
			continue
		}
		st := statement{
			allow:       strings.EqualFold(scalarText(sm["Effect"]), "Allow"),
			actions:     stringList(sm["Action"]),
			notActions:  stringList(sm["NotAction"]),
			resources:   stringList(sm["Resource"]),
			notResource: stringList(sm["NotResource"]),
		}
		if c, ok := sm["Condition"].(map[string]any); ok && len(c) > 0 {
			st.conditional = true
		}
		if p, ok := sm["Principal"]; ok {
			st.principals = principals(p)
		} else if p, ok := sm["NotPrincipal"]; ok {
			st.principals = principals(p)
			st.notPrincipal = true
		}
		doc.statements = append(doc.statements, st)
	}
	return doc
}

func stringList(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, e := range v {
			if s := scalarText(e); s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func principals(v any) []principal {
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
	for _, k := range slices.Sorted(maps.Keys(m)) {
		for _, s := range stringList(m[k]) {
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
	parts := strings.SplitN(p, ":", 6)
	if len(parts) == 6 && strings.HasPrefix(p, "arn:") {
		return parts[4]
	}
	return ""
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
		if s.conditional {
			cond = " (with conditions)"
		}
		switch {
		case d.kind == trustDoc && s.allow:
			for _, p := range s.principals {
				out = append(out, "trust: "+describePrincipal(p)+cond)
			}
		default:
			on := describeList(s.resources, s.notResource)
			if on == "" {
				on = "(no resource)"
				if d.kind == resourceDoc {
					on = "this resource" // resource policies of ECR, Lambda ... may omit Resource
				}
			}
			line := effect + " " + describeActions(s) + " on " + on
			if len(s.principals) > 0 {
				var ps []string
				for _, p := range s.principals {
					ps = append(ps, describePrincipal(p))
				}
				to := " to "
				if s.notPrincipal {
					to = " to all but "
				}
				line += to + listText(ps)
			}
			out = append(out, line+cond)
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
	const max = 5
	if len(xs) <= max {
		return strings.Join(xs, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(xs[:max], ", "), len(xs)-max)
}

func describePrincipal(p principal) string {
	switch p.kind {
	case "*":
		return "any principal (*)"
	case "AWS":
		if a := accountOf(p.value); a != "" && (p.value == a || strings.HasSuffix(p.value, ":root")) {
			return "account " + a
		}
		return p.value
	case "Service":
		return "service " + p.value
	case "Federated":
		return "federated " + p.value
	}
	return p.kind + " " + p.value
}

// grants describes every policy document in the record.
func (r *record) grants() []string {
	var out []string
	for _, d := range r.policyDocs() {
		out = append(out, d.describe()...)
	}
	return out
}
