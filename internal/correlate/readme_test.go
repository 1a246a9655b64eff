package correlate

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/trailbell/trailbell/internal/detect"
)

// TestReadmeRuleExamples keeps the README's rules with memory copyable: together they are one
// valid rule file, and an engine takes them.
func TestReadmeRuleExamples(t *testing.T) {
	text, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(text), "## Rules with memory")
	section, _, _ = strings.Cut(section, "\n## ")
	var doc strings.Builder
	for _, m := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(section, -1) {
		if strings.Contains(m[1], "- id: ") {
			doc.WriteString(m[1])
		}
	}
	rs, err := detect.Parse([]byte(doc.String()), "README.md")
	if err != nil {
		t.Fatalf("the README's rule examples: %v\n%s", err, doc.String())
	}
	kinds := map[detect.Kind]bool{}
	for _, r := range rs {
		kinds[r.Kind] = true
	}
	if len(rs) != 3 || !kinds[detect.KindThreshold] || !kinds[detect.KindSequence] || !kinds[detect.KindNewTerms] {
		t.Errorf("want one example of each kind, got %d rules", len(rs))
	}
	det, err := detect.New(rs)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(det, Options{}); err != nil {
		t.Fatal(err)
	}
}
