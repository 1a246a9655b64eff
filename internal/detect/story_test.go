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
		"iam-privilege-change-denied: DENIED: arn:aws:iam::123456789012:user/build-bot tried AttachUserPolicy on build-bot (AccessDenied)",
		"policy-version-admin: arn:aws:iam::123456789012:user/build-bot made a new default version of arn:aws:iam::123456789012:policy/build-bot-deploy granting Allow * on *",
		"iam-policy-changed: arn:aws:iam::123456789012:user/build-bot changed IAM policy: CreatePolicyVersion arn:aws:iam::123456789012:policy/build-bot-deploy on arn:aws:iam::123456789012:policy/build-bot-deploy",
		"iam-write: arn:aws:iam::123456789012:user/build-bot made an IAM change: CreatePolicyVersion arn:aws:iam::123456789012:policy/build-bot-deploy",
		"access-key-created-for-other-user: arn:aws:iam::123456789012:user/build-bot created an access key for another user, alice-admin",
		"iam-credentials-created: arn:aws:iam::123456789012:user/build-bot created or changed credentials: CreateAccessKey for alice-admin",
		"iam-write: arn:aws:iam::123456789012:user/build-bot made an IAM change: CreateAccessKey alice-admin",
		"iam-user-created: arn:aws:iam::123456789012:user/build-bot created IAM user support-temp",
		"iam-write: arn:aws:iam::123456789012:user/build-bot made an IAM change: CreateUser support-temp",
		"admin-policy-attached: arn:aws:iam::123456789012:user/build-bot attached arn:aws:iam::aws:policy/AdministratorAccess to support-temp",
		"iam-policy-changed: arn:aws:iam::123456789012:user/build-bot changed IAM policy: AttachUserPolicy arn:aws:iam::aws:policy/AdministratorAccess on support-temp",
		"iam-write: arn:aws:iam::123456789012:user/build-bot made an IAM change: AttachUserPolicy support-temp",
		"login-profile-for-other-user: user/build-bot set a console password for another user, support-temp, without forcing a reset (CreateLoginProfile)",
		"iam-credentials-created: arn:aws:iam::123456789012:user/build-bot created or changed credentials: CreateLoginProfile for support-temp",
		"iam-write: arn:aws:iam::123456789012:user/build-bot made an IAM change: CreateLoginProfile support-temp",
		"cloudtrail-stopped: user/alice-admin stopped CloudTrail from recording: StopLogging management-events",
	}
	if !slices.Equal(got, want) {
		t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
