package detect

import (
	"fmt"
	"strings"
)

// A title template is text with {placeholders}: a name from fieldNames or a dotted path into
// the CloudTrail record whose first segment is a record field (e.g. {requestParameters.roleName}).
// "{{" and "}}" stand for literal braces. Unknown names are load errors, so a typo is caught by
// `trailbell rules validate`, not by a half-rendered alert.
type template []tmplPart

type tmplPart struct {
	text  string
	field string // set for a placeholder
	// id and path are what the placeholder reads (fieldOf), and the path it names, without
	// "detail.": worked out once, not for every finding
	id   fieldID
	path string
	// command: the template's text on the placeholder's line starts an AWS CLI command
	// before it (finding.RunbookCommand), so in a runbook its value is a shell word.
	command bool
}

// fieldNames are the derived values a title may use; each is documented in rules/README.md.
var fieldNames = map[string]bool{
	"principal": true, "principalType": true, "target": true, "policy": true, "grants": true,
	"eventName": true, "eventSource": true, "eventTime": true, "account": true, "region": true,
	"sourceIPAddress": true, "userAgent": true, "errorCode": true, "errorMessage": true,
	"result": true, "who": true, "targetName": true, "policyName": true,
}

// recordFields are the top-level CloudTrail record fields a dotted path may start with.
var recordFields = map[string]bool{
	"eventVersion": true, "userIdentity": true, "eventTime": true, "eventSource": true,
	"eventName": true, "awsRegion": true, "sourceIPAddress": true, "userAgent": true,
	"requestParameters": true, "responseElements": true, "additionalEventData": true,
	"requestID": true, "eventID": true, "eventType": true, "recipientAccountId": true,
	"errorCode": true, "errorMessage": true, "resources": true, "serviceEventDetails": true,
	"readOnly": true, "managementEvent": true, "eventCategory": true, "tlsDetails": true,
	"sessionCredentialFromConsole": true, "vpcEndpointId": true, "apiVersion": true,
	"sharedEventID": true, "insightDetails": true,
}

func parseTemplate(s string) (template, error) {
	var t template
	var text strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '{' && i+1 < len(s) && s[i+1] == '{':
			text.WriteByte('{')
			i++
		case c == '}' && i+1 < len(s) && s[i+1] == '}':
			text.WriteByte('}')
			i++
		case c == '}':
			return nil, fmt.Errorf("unmatched '}' at column %d (write '}}' for a literal brace)", i+1)
		case c == '{':
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return nil, fmt.Errorf("unclosed '{' at column %d", i+1)
			}
			name := strings.TrimSpace(s[i+1 : i+end])
			if err := checkField(name); err != nil {
				return nil, fmt.Errorf("placeholder {%s} at column %d: %w", name, i+1, err)
			}
			if text.Len() > 0 {
				t = append(t, tmplPart{text: text.String()})
				text.Reset()
			}
			t = append(t, tmplPart{field: name, id: fieldOf(name), path: strings.TrimPrefix(name, "detail.")})
			i += end
		default:
			// the run of text up to the next brace, whole
			n := strings.IndexAny(s[i:], "{}")
			if n < 0 {
				n = len(s) - i
			}
			text.WriteString(s[i : i+n])
			i += n - 1
		}
	}
	if text.Len() > 0 {
		t = append(t, tmplPart{text: text.String()})
	}
	line := "" // the template's text on the current line, placeholders left out
	for i, p := range t {
		if p.field != "" {
			t[i].command = startsCommand(line)
		} else if j := strings.LastIndexByte(p.text, '\n'); j >= 0 {
			line = p.text[j+1:]
		} else {
			line += p.text
		}
	}
	return t, nil
}

// startsCommand reports whether finding.RunbookCommand matches line, without the expression,
// which was a sixth of the instructions of loading the rules: "aws", a space, a word of
// [a-z0-9-], a space and another, at the start of line or after a space or "(".
func startsCommand(line string) bool {
	for i := 0; ; i++ {
		j := strings.Index(line[i:], "aws ")
		if j < 0 {
			return false
		}
		i += j
		if i > 0 && line[i-1] != ' ' && line[i-1] != '(' {
			continue
		}
		rest := line[i+len("aws "):]
		n := cliWord(rest)
		if n > 0 && n < len(rest) && rest[n] == ' ' && cliWord(rest[n+1:]) > 0 {
			return true
		}
	}
}

// cliWord is the length of the run of [a-z0-9-] s starts with.
func cliWord(s string) int {
	n := 0
	for n < len(s) && ('a' <= s[n] && s[n] <= 'z' || '0' <= s[n] && s[n] <= '9' || s[n] == '-') {
		n++
	}
	return n
}

func checkField(name string) error {
	if fieldNames[name] {
		return nil
	}
	if _, ok := statefulPlaceholders[name]; ok {
		return nil // kind-checked by checkStatefulText
	}
	if name == "sourceNetwork" {
		return nil
	}
	first, _, dotted := strings.Cut(name, ".")
	if first == "detail" && dotted {
		first, _, _ = strings.Cut(strings.TrimPrefix(name, "detail."), ".")
	}
	if recordFields[first] {
		return nil
	}
	return fmt.Errorf("unknown field (use one of the names in rules/README.md or a record path such as requestParameters.userName)")
}

// render fills a title; missing values show as "?" so a messy record still gives a title.
// extra, when set, fills the placeholders of stateful rules first.
func (t template) render(r *record, extra func(string) (string, bool)) string {
	var vb [maxValues]string
	vals, size := t.values(vb[:0], r, extra)
	var b strings.Builder
	b.Grow(size)
	t.write(&b, vals, false)
	return b.String()
}

// renderBoth fills a rule's title and runbook into one string, of which they are the two
// parts: a finding costs one allocation for both, sized to fit.
func renderBoth(title, runbook template, r *record, extra func(string) (string, bool)) (string, string) {
	var vb [maxValues]string
	vals, size := title.values(vb[:0], r, extra)
	n := len(vals)
	vals, more := runbook.values(vals, r, extra)
	var b strings.Builder
	b.Grow(size + more)
	title.write(&b, vals[:n], false)
	cut := b.Len()
	runbook.write(&b, vals[n:], true)
	s := b.String()
	return s[:cut], s[cut:]
}

// maxValues is room for the placeholders of a title and a runbook on the stack.
const maxValues = 32

// values appends the value of each placeholder of t to vals ("" when missing; extra, when
// set, fills the placeholders of stateful rules first), and returns about the size of t
// rendered with them: a value written as a shell or prose word may take a few bytes more.
func (t template) values(vals []string, r *record, extra func(string) (string, bool)) ([]string, int) {
	size := 0
	for k := range t {
		p := &t[k]
		if p.field == "" {
			size += len(p.text)
			continue
		}
		v, ok := "", false
		if extra != nil {
			v, ok = extra(p.field)
		}
		if !ok {
			v = r.fieldAt(p.id, p.field, p.path)
		}
		vals = append(vals, v)
		size += max(len(v), len(p.field)) + 8
	}
	return vals, size
}

// write renders t with the values of its placeholders, in order: as a title (see render) or
// as a runbook. In a runbook a missing value shows as <name> (the last part of its path), so
// a command reads as one to complete, e.g. `--user-name <userName>`, and event values are
// delimited, on one line: in an AWS CLI command (after finding.RunbookCommand on the line of
// the template) a value with anything but letters, digits and _@%+=:,./- is a single-quoted
// shell word that pastes as one argument; in the words around commands a value with a space
// is in “ ”. So event text (a user agent, an error message) can neither start a line nor
// pass for a command (see chat.Runbook).
func (t template) write(b *strings.Builder, vals []string, runbook bool) {
	k := 0
	for _, p := range t {
		if p.field == "" {
			b.WriteString(p.text)
			continue
		}
		v := vals[k]
		k++
		switch {
		case v == "" && runbook:
			b.WriteByte('<')
			b.WriteString(p.field[strings.LastIndexByte(p.field, '.')+1:])
			b.WriteByte('>')
		case v == "":
			b.WriteByte('?')
		case runbook && p.command:
			writeShellWord(b, v)
		case runbook:
			writeProseWord(b, v)
		default:
			b.WriteString(v)
		}
	}
}

// oneLine turns control characters (line breaks) into spaces.
func oneLine(v string) string {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c >= 0x7f {
			// strings.Map also turns bytes that are not UTF-8 into U+FFFD
			return strings.Map(func(r rune) rune {
				if r < 0x20 || r == 0x7f || r == '\u2028' || r == '\u2029' || r == '\u0085' {
					return ' '
				}
				return r
			}, v)
		}
	}
	return v // plain ASCII text, the usual value: nothing to change
}

// writeShellWord writes v quoted for a POSIX shell unless it is made of characters that need
// none, on one line, with a single quote in it turned into ’ (no name AWS accepts holds one:
// it comes from free text, which a command does not need verbatim).
func writeShellWord(b *strings.Builder, v string) {
	safe := true
	for i := 0; i < len(v) && safe; i++ {
		safe = shellSafe[v[i]]
	}
	if safe {
		b.WriteString(v)
		return
	}
	b.WriteByte('\'')
	b.WriteString(strings.ReplaceAll(oneLine(v), "'", "’"))
	b.WriteByte('\'')
}

// shellSafe marks the bytes a shell word needs no quotes for.
var shellSafe = func() (t [256]bool) {
	for c := range 256 {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("_@%+=:,./-", byte(c)) >= 0
	}
	return t
}()

// writeProseWord writes v in “ ” when it holds a space (or a line break), with any “ or ” in
// it turned into ": a value in the words of a runbook reads as one.
func writeProseWord(b *strings.Builder, v string) {
	// printable ASCII, the usual value, is looked at once: oneLine keeps it as it is, and it
	// holds no curly quote
	plain, space := true, false
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c >= 0x7f {
			plain = false
			break
		} else if c == ' ' {
			space = true
		}
	}
	if !plain {
		v = oneLine(v)
		space = strings.Contains(v, " ")
		if space && (strings.Contains(v, "“") || strings.Contains(v, "”")) {
			v = curlyQuotes.Replace(v)
		}
	}
	if !space {
		b.WriteString(v)
		return
	}
	b.WriteString("“")
	b.WriteString(v)
	b.WriteString("”")
}

var curlyQuotes = strings.NewReplacer("“", `"`, "”", `"`)
