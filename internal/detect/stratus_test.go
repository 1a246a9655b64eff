package detect

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/trailbell/trailbell/internal/finding"
)

// stratusBehaviour lists the Stratus Red Team techniques whose calls themselves are detected,
// whatever tool makes them: with the recorded user agents (stratus-red-team_...) replaced by an
// ordinary CLI's, each must still alert at medium or above.
var stratusBehaviour = []string{
	"aws.credential-access.ec2-steal-instance-credentials",
	"aws.defense-evasion.cloudtrail-delete",
	"aws.defense-evasion.cloudtrail-event-selectors",
	"aws.defense-evasion.cloudtrail-stop",
	"aws.defense-evasion.dns-delete-logs",
	"aws.defense-evasion.organizations-leave",
	"aws.defense-evasion.vpc-remove-flow-logs",
	"aws.exfiltration.ec2-security-group-open-port-22-ingress",
	"aws.exfiltration.ec2-share-ami",
	"aws.exfiltration.ec2-share-ebs-snapshot",
	"aws.exfiltration.rds-share-snapshot",
	"aws.initial-access.console-login-without-mfa",
	"aws.persistence.iam-backdoor-role",
	"aws.persistence.iam-backdoor-user",
	"aws.persistence.iam-create-admin-user",
	"aws.persistence.iam-create-backdoor-role",
	"aws.persistence.iam-create-user-login-profile",
	"aws.persistence.lambda-backdoor-function",
	"aws.persistence.lambda-layer-extension",
	"aws.persistence.lambda-overwrite-code",
	"aws.persistence.rolesanywhere-create-trust-anchor",
	"aws.persistence.sts-federation-token",
	"aws.privilege-escalation.iam-update-user-login-profile",
}

// TestStratusDetonations scans the real detonation logs of Stratus Red Team (testdata/stratus,
// see SOURCES.md): every technique must alert at medium or above, as recorded (its user agent
// names the tool), and the techniques of stratusBehaviour must also alert when the tool is not
// named.
func TestStratusDetonations(t *testing.T) {
	e, err := New(builtin(t))
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join("testdata", "stratus", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 30 {
		t.Fatalf("%d detonation logs, want the 35 of the corpus", len(files))
	}
	for _, file := range files {
		technique := strings.TrimSuffix(filepath.Base(file), ".json")
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var recs []map[string]any
		if err := json.Unmarshal(data, &recs); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if top, rule := stratusTop(t, e, recs, ""); top < finding.Medium {
			t.Errorf("%s: most severe finding %s (%s), want medium or above", technique, sevName(top), rule)
		}
		if !slices.Contains(stratusBehaviour, technique) {
			continue
		}
		const cli = "aws-cli/2.15.30 Python/3.11.8 Linux/6.5.0-1016-aws exe/x86_64.ubuntu.22 prompt/off"
		if top, rule := stratusTop(t, e, recs, cli); top < finding.Medium {
			t.Errorf("%s without the tool's user agent: most severe finding %s (%s), want medium or above", technique, sevName(top), rule)
		}
	}
}

// stratusTop is the most severe finding over the records, with each record's user agent
// replaced by ua when it is not empty.
func stratusTop(t *testing.T, e *Engine, recs []map[string]any, ua string) (finding.Severity, string) {
	t.Helper()
	top, rule := finding.Severity(-1), "nothing"
	for _, r := range recs {
		if ua != "" {
			r = maps.Clone(r)
			r["userAgent"] = ua
		}
		raw, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		env, err := Envelope(raw)
		if err != nil {
			t.Fatal(err)
		}
		fs, err := e.Detect(env)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fs {
			if f.Severity > top {
				top, rule = f.Severity, f.Rule
			}
		}
	}
	return top, rule
}

func sevName(s finding.Severity) string {
	if s < finding.Info {
		return "none"
	}
	return s.String()
}

// TestStratusFailedTrailTampering turns the StopLogging and DeleteTrail records of real Stratus
// Red Team runs into failed attempts, as CloudTrail records them when the caller lacks the
// permission, names a trail that does not exist or spells it wrong: each must still be
// reported at medium or above (issue 11), with the tool's user agent and without it, whatever
// the error code, and when only an errorMessage tells of the failure.
func TestStratusFailedTrailTampering(t *testing.T) {
	e, err := New(builtin(t))
	if err != nil {
		t.Fatal(err)
	}
	failures := []struct{ code, message string }{
		{"TrailNotFoundException", "Unknown trail: arn:aws:cloudtrail:us-east-1:143434273843:trail/stratus-red-team-ct-stop-trail for the user: 143434273843"},
		{"InvalidTrailNameException", "Trail name or ARN can only contain uppercase letters, lowercase letters, numbers, periods (.), hyphens (-), and underscores (_)."},
		{"AccessDenied", "User: arn:aws:iam::143434273843:user/christophe is not authorized to perform: cloudtrail:StopLogging on resource: arn:aws:cloudtrail:us-east-1:143434273843:trail/x because no identity-based policy allows the cloudtrail:StopLogging action"},
		{"AccessDeniedException", "User is not authorized to perform this action."},
		{"UnauthorizedOperation", "You are not authorized to perform this operation."},
		{"Client.UnauthorizedOperation", "You are not authorized to perform this operation."},
		{"CloudTrailARNInvalidException", "The ARN is not valid."},
		{"", "An unknown error occurred"}, // errorMessage only
	}
	for _, technique := range []string{"aws.defense-evasion.cloudtrail-stop", "aws.defense-evasion.cloudtrail-delete"} {
		data, err := os.ReadFile(filepath.Join("testdata", "stratus", technique+".json"))
		if err != nil {
			t.Fatal(err)
		}
		var recs []map[string]any
		if err := json.Unmarshal(data, &recs); err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			t.Fatalf("%s: no records", technique)
		}
		for _, fail := range failures {
			failed := make([]map[string]any, len(recs))
			for i, r := range recs {
				r = maps.Clone(r)
				if fail.code != "" {
					r["errorCode"] = fail.code
				}
				r["errorMessage"] = fail.message
				failed[i] = r
			}
			for _, ua := range []string{"", "aws-cli/2.15.30 Python/3.11.8 Linux/6.5.0-1016-aws exe/x86_64.ubuntu.22 prompt/off command/cloudtrail.stop-logging"} {
				if top, rule := stratusTop(t, e, failed, ua); top < finding.Medium {
					t.Errorf("%s failed with %q (user agent %q): most severe finding %s (%s), want medium or above",
						technique, fail.code, ua, sevName(top), rule)
				}
			}
		}
	}
}
