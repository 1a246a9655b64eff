// Package notifytest holds what the notifiers' tests share: golden files of the messages
// they send (Slack blocks, SNS, webhook), rewritten with `go test -update`, and the
// hostile text every chat message is checked with.
package notifytest

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
)

// Update is the -update flag of every test binary that imports this package.
var Update = flag.Bool("update", false, "rewrite golden files")

// Golden compares got with the file at path; with -update it writes got there instead.
func Golden(t testing.TB, path string, got []byte) {
	t.Helper()
	if *Update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update creates it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it); got:\n%s", path, got)
	}
}

// Attack is event text that tries every way out of being text in Slack's mrkdwn: a
// mention, a link, a bare URL and name, formatting, a quote on a new line, a code span
// with a line break in it, and hidden characters (bidi override, zero-width, control).
const Attack = "<!channel> <https://evil.example|click> https://bare.example #general @here " +
	"*BOLD* _ITALIC_ ~STRIKE~ `CODE`\n> QUOTE\n```BLOCK```\u202Eevil\u200Bhidden\x1b[31m\x07"

// AttackMarks are what must never reach a chat message outside a code span if Attack was
// kept as text (the markers with their words, a raw control character).
var AttackMarks = []string{"*BOLD*", "_ITALIC_", "~STRIKE~", "<!channel>", "<https://evil", "\u202E", "\u200B", "\x1b", "\x07"}

// OutsideCode returns mrkdwn s with the contents of its code spans cut out, and an error
// when a line has an unpaired backtick (a span Slack would not close where we meant it).
func OutsideCode(s string) (string, error) {
	var b strings.Builder
	for i, line := range strings.Split(s, "\n") {
		parts := strings.Split(line, "`")
		if len(parts)%2 == 0 {
			return "", fmt.Errorf("line %d has an unpaired backtick: %q", i+1, line)
		}
		if i > 0 {
			b.WriteByte('\n')
		}
		for j, p := range parts {
			if j%2 == 0 {
				b.WriteString(p)
			} else {
				b.WriteString("``")
			}
		}
	}
	return b.String(), nil
}

// CheckMrkdwn reports how mrkdwn s lets Attack out of being text: a mark of AttackMarks
// outside code spans, a line starting a quote, an unpaired backtick, a hidden character.
func CheckMrkdwn(s string) error {
	out, err := OutsideCode(s)
	if err != nil {
		return err
	}
	for _, m := range AttackMarks {
		if strings.Contains(out, m) {
			return fmt.Errorf("%q outside a code span", m)
		}
	}
	for _, line := range strings.Split(out, "\n") {
		l := strings.TrimLeft(line, " ")
		if strings.HasPrefix(l, ">") || strings.HasPrefix(l, "&gt;") {
			return fmt.Errorf("line %q starts a quote", line)
		}
	}
	for _, r := range s {
		if (r != '\n' && unicode.Is(unicode.Cc, r)) || unicode.Is(unicode.Cf, r) {
			return fmt.Errorf("hidden character %U", r)
		}
	}
	return nil
}

// CheckSlackMessage walks every text of an encoded Slack message: mrkdwn must be sent
// verbatim (no links or names made from bare text) and keep Attack as text (CheckMrkdwn),
// the notification text too; plain text must have emoji codes off and no hidden
// character.
func CheckSlackMessage(body []byte) error {
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		return err
	}
	var errs []error
	if text, _ := m["text"].(string); text != "" {
		if err := CheckMrkdwn(text); err != nil {
			errs = append(errs, fmt.Errorf("message text: %w", err))
		}
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			text, _ := v["text"].(string)
			switch v["type"] {
			case "mrkdwn":
				if v["verbatim"] != true {
					errs = append(errs, fmt.Errorf("mrkdwn without verbatim: %.80q", text))
				}
				if err := CheckMrkdwn(text); err != nil {
					errs = append(errs, fmt.Errorf("%w in %q", err, text))
				}
			case "plain_text":
				if v["emoji"] != false {
					errs = append(errs, fmt.Errorf("plain text with emoji codes on: %.80q", text))
				}
				if strings.ContainsFunc(text, func(r rune) bool { return unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Cf, r) }) {
					errs = append(errs, fmt.Errorf("hidden character in plain text %q", text))
				}
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(m)
	return errors.Join(errs...)
}
