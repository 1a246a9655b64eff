package correlate

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/trailbell/trailbell/internal/detect"
	"github.com/trailbell/trailbell/internal/finding"
)

const actorRules = `
rules:
  - id: call
    title: "{who} called"
    severity: low
    pattern: {detail: {eventName: ["Call"]}}
`

// assume is an STS call by caller that issued key for a session of role.
func assume(id string, at time.Time, caller []any, name, key, role, session string, more ...any) map[string]any {
	kv := with(caller, "eventSource", "sts.amazonaws.com", "eventName", name,
		"responseElements.credentials.accessKeyId", key,
		"responseElements.credentials.expiration", at.Add(time.Hour).Format("Jan 2, 2006, 3:04:05 PM"),
		"responseElements.assumedRoleUser.arn", "arn:aws:sts::111122223333:assumed-role/"+role+"/"+session)
	return rec(id, at, append(kv, more...)...)
}

func call(id string, at time.Time, who []any) map[string]any {
	return rec(id, at, with(who, "eventName", "Call", "eventSource", "ec2.amazonaws.com")...)
}

func TestActor(t *testing.T) {
	m := time.Minute
	sso := session("AWSReservedSSO_Admin_0123456789abcdef", "jane@example.com", "ASIASSO")
	cases := []struct {
		name string
		recs []map[string]any
		want *finding.Actor
	}{
		{"IAM user", []map[string]any{call("c", t0, user("alice"))},
			&finding.Actor{ID: "arn:aws:iam::111122223333:user/alice", Type: "IAMUser", Name: "alice"}},
		{"root", []map[string]any{call("c", t0, []any{"userIdentity.type", "Root", "userIdentity.arn", "arn:aws:iam::111122223333:root", "userIdentity.accountId", "111122223333"})},
			&finding.Actor{ID: "arn:aws:iam::111122223333:root", Type: "Root", Name: "root"}},
		{"Identity Center session", []map[string]any{call("c", t0, sso)},
			&finding.Actor{ID: "identitycenter:jane@example.com", Type: "IdentityCenterUser", Name: "jane@example.com",
				Via: []string{"arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Admin_0123456789abcdef/jane@example.com"}}},
		{"Identity Center user", []map[string]any{call("c", t0, []any{"userIdentity.type", "IdentityCenterUser", "userIdentity.onBehalfOf.userId", "9067-ab",
			"userIdentity.onBehalfOf.identityStoreArn", "arn:aws:identitystore::111122223333:identitystore/d-1"})},
			&finding.Actor{ID: "identitycenter:9067-ab", Type: "IdentityCenterUser", Name: "9067-ab"}},
		{"source identity", []map[string]any{call("c", t0, with(session("app", "s1", "ASIAX"), "userIdentity.sessionContext.sourceIdentity", "jdoe"))},
			&finding.Actor{ID: "sourceidentity:jdoe", Type: "SourceIdentity", Name: "jdoe", Via: []string{"arn:aws:sts::111122223333:assumed-role/app/s1"}}},
		{"role chain", []map[string]any{
			assume("a1", t0, user("alice"), "AssumeRole", "ASIA1", "ops", "alice"),
			assume("a2", t0.Add(m), session("ops", "alice", "ASIA1"), "AssumeRole", "ASIA2", "deploy", "x"),
			call("c", t0.Add(2*m), session("deploy", "x", "ASIA2")),
		}, &finding.Actor{ID: "arn:aws:iam::111122223333:user/alice", Type: "IAMUser", Name: "alice",
			Via: []string{"arn:aws:sts::111122223333:assumed-role/ops/alice", "arn:aws:sts::111122223333:assumed-role/deploy/x"}}},
		{"chain from an Identity Center session", []map[string]any{
			assume("a1", t0, sso, "AssumeRole", "ASIA9", "deploy", "jane"),
			call("c", t0.Add(m), session("deploy", "jane", "ASIA9")),
		}, &finding.Actor{ID: "identitycenter:jane@example.com", Type: "IdentityCenterUser", Name: "jane@example.com",
			Via: []string{"arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Admin_0123456789abcdef/jane@example.com", "arn:aws:sts::111122223333:assumed-role/deploy/jane"}}},
		{"SAML", []map[string]any{
			assume("a1", t0, []any{"userIdentity.type", "SAMLUser", "userIdentity.userName", "jdoe@corp.example", "userIdentity.identityProvider", "okta-ish"},
				"AssumeRoleWithSAML", "ASIA3", "saml-admin", "jdoe", "responseElements.subject", "jdoe@corp.example", "responseElements.issuer", "https://idp.corp.example/"),
			call("c", t0.Add(m), session("saml-admin", "jdoe", "ASIA3")),
		}, &finding.Actor{ID: "saml:https://idp.corp.example/:jdoe@corp.example", Type: "SAMLUser", Name: "jdoe@corp.example",
			Via: []string{"arn:aws:sts::111122223333:assumed-role/saml-admin/jdoe"}}},
		{"web identity", []map[string]any{
			assume("a1", t0, []any{"userIdentity.type", "WebIdentityUser", "userIdentity.userName", "repo:org/app:ref:refs/heads/main", "userIdentity.identityProvider", "token.actions.githubusercontent.com"},
				"AssumeRoleWithWebIdentity", "ASIA4", "ci", "gha", "responseElements.subjectFromWebIdentityToken", "repo:org/app:ref:refs/heads/main",
				"responseElements.provider", "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"),
			call("c", t0.Add(m), session("ci", "gha", "ASIA4")),
		}, &finding.Actor{ID: "webidentity:arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com:repo:org/app:ref:refs/heads/main",
			Type: "WebIdentityUser", Name: "repo:org/app:ref:refs/heads/main", Via: []string{"arn:aws:sts::111122223333:assumed-role/ci/gha"}}},
		{"federated user", []map[string]any{call("c", t0, []any{"userIdentity.type", "FederatedUser", "userIdentity.arn", "arn:aws:sts::111122223333:federated-user/bob",
			"userIdentity.sessionContext.sessionIssuer.type", "IAMUser", "userIdentity.sessionContext.sessionIssuer.arn", "arn:aws:iam::111122223333:user/bob"})},
			&finding.Actor{ID: "arn:aws:iam::111122223333:user/bob", Type: "IAMUser", Name: "bob", Via: []string{"arn:aws:sts::111122223333:federated-user/bob"}}},
		{"a workload a service started", []map[string]any{
			assume("a1", t0, []any{"userIdentity.type", "AWSService", "userIdentity.invokedBy", "lambda.amazonaws.com"}, "AssumeRole", "ASIA5", "fn-role", "fn"),
			call("c", t0.Add(m), session("fn-role", "fn", "ASIA5")),
		}, &finding.Actor{ID: "service:lambda.amazonaws.com", Type: "AWSService", Name: "lambda.amazonaws.com", Via: []string{"arn:aws:sts::111122223333:assumed-role/fn-role/fn"}}},
		{"a session the stream does not explain", []map[string]any{call("c", t0, session("app", "s1", "ASIAX"))}, nil},
		{"credentials used after they expired", []map[string]any{
			assume("a1", t0, user("alice"), "AssumeRole", "ASIA1", "ops", "alice"),
			call("c", t0.Add(2*time.Hour), session("ops", "alice", "ASIA1")),
		}, nil},
		{"credentials issued after the call", []map[string]any{
			call("c", t0, session("ops", "alice", "ASIA1")),
			assume("a1", t0.Add(m), user("alice"), "AssumeRole", "ASIA1", "ops", "alice"),
		}, nil},
		{"a key that issued itself (AWS's documentation example)", []map[string]any{
			assume("a1", t0, session("ops", "x", "ASIA7"), "AssumeRole", "ASIA7", "ops", "x"),
			call("c", t0.Add(m), session("ops", "x", "ASIA7")),
		}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, actorRules, Options{})
			var got []*finding.Actor
			for _, r := range c.recs {
				for _, f := range h.input(r["eventID"].(string), r) {
					got = append(got, f.Actor)
				}
			}
			if len(got) != 1 {
				t.Fatalf("%d findings", len(got))
			}
			if a, w := got[0], c.want; (a == nil) != (w == nil) || a != nil && (a.ID != w.ID || a.Type != w.Type || a.Name != w.Name || !slices.Equal(a.Via, w.Via)) {
				t.Errorf("actor %+v, want %+v", a, w)
			}
		})
	}
}

// TestGroupByActor: one person's calls through two different roles are one group.
func TestGroupByActor(t *testing.T) {
	m := time.Minute
	h := newHarness(t, thresholdRule, Options{})
	fs := h.stream(
		assume("a1", t0, user("alice"), "AssumeRole", "ASIA1", "ops", "alice"),
		assume("a2", t0, user("alice"), "AssumeRole", "ASIA2", "audit", "alice"),
		denied("d1", t0.Add(m), session("ops", "alice", "ASIA1"), "s3.amazonaws.com"),
		denied("d2", t0.Add(m), session("audit", "alice", "ASIA2"), "ec2.amazonaws.com"),
		denied("d3", t0.Add(2*m), session("ops", "alice", "ASIA1"), "iam.amazonaws.com"),
		denied("d4", t0.Add(3*m), session("audit", "alice", "ASIA2"), "kms.amazonaws.com"),
		// an unexplained session is its own group, by its ARN
		denied("u1", t0.Add(m), session("ops", "ghost", "ASIAG"), "s3.amazonaws.com"),
	)
	if got := keys(fs); !slices.Equal(got, []string{"denied-sweep/d4"}) {
		t.Fatalf("findings %v", got)
	}
	if a := fs[0].Actor; a == nil || a.Name != "alice" || len(a.Via) != 1 {
		t.Errorf("actor %+v", a)
	}
}

// TestIdentityFrom: reading userIdentity member by member gives what reading its paths does,
// on every record of the pack's samples.
func TestIdentityFrom(t *testing.T) {
	rs, err := detect.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range rs {
		for _, s := range append(r.Samples.Match, r.Samples.NoMatch...) {
			var recs []json.RawMessage
			if json.Unmarshal(s, &recs) != nil {
				recs = []json.RawMessage{s}
			}
			for _, raw := range recs {
				env, err := detect.Envelope(raw)
				if err != nil {
					continue
				}
				lazy, err := detect.DecodeEnvelope(env)
				if err != nil || lazy.Member("userIdentity") == nil {
					continue
				}
				got, ok := identityFrom(lazy.Member("userIdentity"))
				if !ok {
					continue
				}
				whole, _ := detect.DecodeEnvelope(env)
				whole.Str("userIdentity.type") // decodes the member: identityOf reads paths now
				if want := identityOf(&fields{rec: whole}); got != want {
					t.Errorf("%s: member by member %+v, by paths %+v", r.ID, got, want)
				}
				n++
			}
		}
	}
	if n < 100 {
		t.Errorf("only %d identities compared", n)
	}
}
