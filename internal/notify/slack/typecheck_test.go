package slack_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestGoldenTypeCheck type-checks every golden message against Slack's own TypeScript
// types (@slack/types), which catches unknown keys and wrong types (not length limits).
// scripts/test.sh sets TRAILBELL_TEST_SLACK_TYPES to a directory where the versions that
// testdata/slack-types pins were installed with npm ci.
func TestGoldenTypeCheck(t *testing.T) {
	dir := os.Getenv("TRAILBELL_TEST_SLACK_TYPES")
	if dir == "" {
		t.Skip("TRAILBELL_TEST_SLACK_TYPES is not set (a directory with typescript and @slack/types installed)")
	}
	files, err := filepath.Glob(filepath.Join("testdata", "golden", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files (%v)", err)
	}
	interactive, err := filepath.Glob(filepath.Join("testdata", "golden", "interactive", "*.json"))
	if err != nil || len(interactive) == 0 {
		t.Fatalf("no golden interactive messages (%v)", err)
	}
	var b strings.Builder
	b.WriteString("import type { KnownBlock, MessageAttachment, ModalView } from '@slack/types';\n")
	b.WriteString("type Att = Omit<MessageAttachment, 'blocks'> & { blocks: KnownBlock[] };\n")
	b.WriteString("type Meta = { event_type: string; event_payload: { delivery: string; findings: number } };\n")
	b.WriteString("type Msg = { text: string; attachments: Att[]; unfurl_links?: boolean; unfurl_media?: boolean; channel?: string; thread_ts?: string; ts?: string; metadata?: Meta };\n")
	b.WriteString("type Direct = { text: string; blocks: KnownBlock[]; unfurl_links?: boolean; unfurl_media?: boolean; channel?: string; ts?: string };\n")
	for i, f := range append(files, interactive...) {
		j, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		typ := "Msg"
		switch {
		case strings.HasSuffix(f, "-modal.json"):
			typ = "ModalView"
		case strings.Contains(filepath.Base(f), "question"):
			typ = "Direct"
		}
		fmt.Fprintf(&b, "// %s\nexport const m%d: %s = %s;\n", f, i, typ, j)
	}
	// A file of its own in dir (where node_modules is), as several suites may share dir at once.
	f, err := os.CreateTemp(dir, "trailbell-golden-*.ts")
	if err != nil {
		t.Fatal(err)
	}
	check := f.Name()
	defer os.Remove(check)
	if _, err := f.WriteString(b.String()); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), filepath.Join(dir, "node_modules", ".bin", "tsc"), "--noEmit", "--strict", check)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("golden messages do not type-check against @slack/types: %v\n%s", err, out)
	}
}
