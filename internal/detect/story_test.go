package detect

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/trailbell/trailbell/internal/cloudtrail"
	"github.com/trailbell/trailbell/internal/finding"
)

// TestPrivescStory scans the bundled sample archive (examples/privesc-story) with the
// built-in pack: the escalation must be told by findings, and the noise must stay quiet.
func TestPrivescStory(t *testing.T) {
	e, err := New(builtin(t))
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join("..", "..", "examples", "privesc-story", "AWSLogs")
	var fs []finding.Finding
	records := 0
	err = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".json.gz") {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		st, err := cloudtrail.Decode(f, p, func(ev cloudtrail.Event) error {
			got, err := e.Detect(ev.Envelope)
			fs = append(fs, got...)
			return err
		})
		if st.Bad > 0 {
			t.Errorf("%s: %d bad records: %v", p, st.Bad, st.Problems)
		}
		records += st.Records
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if records < 100 {
		t.Errorf("%d records, want the whole story with its noise", records)
	}
	var got []string
	for _, f := range fs {
		got = append(got, f.Rule+": "+f.Title)
	}
	want := []string{
		"offensive-tool-user-agent: user/build-bot called GetCallerIdentity with an attack or secret-scanning tool",
		"offensive-tool-user-agent: user/build-bot called ListUsers with an attack or secret-scanning tool",
		"offensive-tool-user-agent: user/build-bot called ListRoles with an attack or secret-scanning tool",
		"offensive-tool-user-agent: user/build-bot called ListAttachedUserPolicies with an attack or secret-scanning tool",
		"offensive-tool-user-agent: user/build-bot called GetPolicyVersion with an attack or secret-scanning tool",
		"offensive-tool-user-agent: user/build-bot called AssumeRole with an attack or secret-scanning tool",
		"iam-privilege-change-denied: DENIED: user/build-bot tried AttachUserPolicy on build-bot (AccessDenied)",
		"offensive-tool-user-agent: user/build-bot called AttachUserPolicy with an attack or secret-scanning tool",
		"policy-version-admin: user/build-bot made policy build-bot-deploy's default version grant Allow * on *",
		"managed-policy-version-created: user/build-bot published a new version of policy build-bot-deploy (default: true)",
		"offensive-tool-user-agent: user/build-bot called CreatePolicyVersion with an attack or secret-scanning tool",
		"iam-policy-changed: user/build-bot changed IAM policies: CreatePolicyVersion build-bot-deploy on build-bot-deploy",
		"iam-write: user/build-bot made an IAM change: CreatePolicyVersion build-bot-deploy",
		"offensive-tool-user-agent: user/build-bot called GetCallerIdentity with an attack or secret-scanning tool",
		"access-key-created-for-other-user: user/build-bot created an access key for another user, alice-admin",
		"offensive-tool-user-agent: user/build-bot called CreateAccessKey with an attack or secret-scanning tool",
		"iam-credentials-created: user/build-bot created or changed credentials: CreateAccessKey for alice-admin",
		"iam-write: user/build-bot made an IAM change: CreateAccessKey alice-admin",
		"offensive-tool-user-agent: user/build-bot called CreateUser with an attack or secret-scanning tool",
		"iam-user-created: user/build-bot created IAM user support-temp",
		"iam-write: user/build-bot made an IAM change: CreateUser support-temp",
		"admin-policy-attached: user/build-bot attached AdministratorAccess to support-temp (AttachUserPolicy)",
		"offensive-tool-user-agent: user/build-bot called AttachUserPolicy with an attack or secret-scanning tool",
		"iam-policy-changed: user/build-bot changed IAM policies: AttachUserPolicy AdministratorAccess on support-temp",
		"iam-write: user/build-bot made an IAM change: AttachUserPolicy support-temp",
		"login-profile-for-other-user: user/build-bot set a console password for another user, support-temp, without forcing a reset (CreateLoginProfile)",
		"login-profile-set: user/build-bot set a console password for IAM user support-temp (CreateLoginProfile)",
		"offensive-tool-user-agent: user/build-bot called CreateLoginProfile with an attack or secret-scanning tool",
		"iam-credentials-created: user/build-bot created or changed credentials: CreateLoginProfile for support-temp",
		"iam-write: user/build-bot made an IAM change: CreateLoginProfile support-temp",
		"offensive-tool-user-agent: user/alice-admin called GetCallerIdentity with an attack or secret-scanning tool",
		"cloudtrail-stopped: user/alice-admin stopped CloudTrail from recording: StopLogging management-events",
		"offensive-tool-user-agent: user/alice-admin called StopLogging with an attack or secret-scanning tool",
	}
	if !slices.Equal(got, want) {
		t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
