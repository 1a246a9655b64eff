package chat

import (
	"encoding/json"
	"strings"

	"github.com/trailbell/trailbell/internal/finding"
)

// The parts of an alert that Slack and Chatbot show alike, each as mrkdwn (or plain text
// where the name says so) made of event strings that went through Text or Code.

// caller is the part of a record that says who called and with what credentials.
type caller struct {
	UserIdentity struct {
		Type           string `json:"type"`
		ARN            string `json:"arn"`
		AccountID      string `json:"accountId"`
		AccessKeyID    string `json:"accessKeyId"`
		UserName       string `json:"userName"`
		InvokedBy      string `json:"invokedBy"`
		SessionContext struct {
			SessionIssuer struct {
				Type      string `json:"type"`
				ARN       string `json:"arn"`
				AccountID string `json:"accountId"`
				UserName  string `json:"userName"`
			} `json:"sessionIssuer"`
			Attributes struct {
				MFAAuthenticated string `json:"mfaAuthenticated"`
			} `json:"attributes"`
			SourceIdentity      string          `json:"sourceIdentity"`
			WebIDFederationData json.RawMessage `json:"webIdFederationData"`
		} `json:"sessionContext"`
	} `json:"userIdentity"`
	EventType           string `json:"eventType"`
	ReadOnly            any    `json:"readOnly"` // a bool, or "true" in some sources
	RecipientAccountID  string `json:"recipientAccountId"`
	AdditionalEventData struct {
		MFAUsed         string `json:"MFAUsed"`
		SamlProviderArn string `json:"SamlProviderArn"`
		CredentialType  string `json:"CredentialType"`
		MobileVersion   string `json:"MobileVersion"`
		LoginTo         string `json:"LoginTo"`
	} `json:"additionalEventData"`
}

func callerOf(f *finding.Finding) *caller {
	var c caller
	_ = json.Unmarshal(f.Record, &c) // a record we cannot read just shows less
	return &c
}

// signIn reports whether the record is a console sign-in (or a sign-in step).
func (c *caller) signIn() bool { return c.EventType == "AwsConsoleSignIn" }

func (c *caller) readOnly() bool {
	b, ok := c.ReadOnly.(bool)
	return ok && b || c.ReadOnly == "true"
}

// federated reports whether the session comes from an identity provider, which does the
// MFA (IAM Identity Center, SAML, web identity): CloudTrail's MFA flag says nothing then.
func (c *caller) federated() bool {
	id := &c.UserIdentity
	return strings.Contains(id.ARN, ":assumed-role/AWSReservedSSO_") || id.Type == "SAMLUser" ||
		id.Type == "WebIdentityUser" || id.Type == "IdentityCenterUser" || c.AdditionalEventData.SamlProviderArn != "" ||
		len(id.SessionContext.WebIDFederationData) > 0 && string(id.SessionContext.WebIDFederationData) != "{}" &&
			string(id.SessionContext.WebIDFederationData) != "null"
}

// Who describes the caller: ARN and type, the role behind a session, and the human
// (session name, often an SSO user's e-mail) when visible.
func Who(f *finding.Finding) string {
	id := &callerOf(f).UserIdentity
	p := f.Principal
	if p == "" {
		p = id.ARN
	}
	if p == "" {
		p = "unknown"
	}
	s := Code(p)
	if t := f.PrincipalType; t != "" {
		s += " (" + Text(t) + ")"
	} else if id.Type != "" {
		s += " (" + Text(id.Type) + ")"
	}
	if is := id.SessionContext.SessionIssuer; is.ARN != "" && is.ARN != p {
		s += "\nvia " + issuerKinds(is.Type) + " " + Code(is.ARN)
	}
	if strings.Contains(p, ":assumed-role/") {
		if i := strings.LastIndexByte(p, '/'); i >= 0 && i+1 < len(p) {
			kind := "session"
			if strings.Contains(p, "AWSReservedSSO_") {
				kind = "SSO user"
			}
			s += "\n" + kind + " " + Code(p[i+1:])
		}
	}
	if sid := id.SessionContext.SourceIdentity; sid != "" {
		s += "\nsource identity " + Code(sid)
	}
	if id.InvokedBy != "" {
		s += "\ninvoked by " + Code(id.InvokedBy)
	}
	return s
}

// issuerKinds names a session issuer's type in words.
func issuerKinds(t string) string {
	switch t {
	case "", "Role":
		return "role"
	case "IAMUser":
		return "IAM user"
	case "Root":
		return "root"
	}
	return Text(t)
}

func orWord(s, w string) string {
	if s == "" {
		return w
	}
	return s
}

// Credentials says with what the call was made: the access key id and whether it is an
// IAM user's long-term key (AKIA) or temporary session credentials (ASIA), and whether MFA
// was used, as far as the record tells.
func Credentials(f *finding.Finding) string {
	c := callerOf(f)
	id := &c.UserIdentity
	key := id.AccessKeyID
	var s string
	switch {
	case strings.HasPrefix(key, "AKIA"):
		s = Code(key) + " long-term access key"
	case strings.HasPrefix(key, "ASIA"):
		s = Code(key) + " temporary (session) credentials"
	case key != "":
		s = Code(key)
	case c.signIn():
		s = "console password"
		if t := c.AdditionalEventData.CredentialType; t != "" {
			s = "console sign-in (" + Text(t) + ")"
		}
	case id.Type == "AWSService" || id.InvokedBy != "":
		s = "an AWS service's own"
	default:
		s = "no access key in the record"
	}
	return s + "\nMFA: " + mfa(c)
}

// mfa is the MFA state of the call in words; "no" is bold: it is what on-call looks for.
func mfa(c *caller) string {
	id := &c.UserIdentity
	if c.signIn() {
		switch strings.ToLower(c.AdditionalEventData.MFAUsed) {
		case "yes":
			return "yes"
		case "no":
			switch {
			case c.federated() || id.Type == "AssumedRole":
				return "at the identity provider (not in this record)"
			case id.Type == "FederatedUser":
				// the GetFederationToken caller's own MFA is not in a federated sign-in
				return "not in this record (see the federation token's caller)"
			}
			return "*no*"
		}
	}
	switch id.SessionContext.Attributes.MFAAuthenticated {
	case "true":
		return "yes"
	case "false":
		if c.federated() {
			return "at the identity provider (not in this record)"
		}
		return "*no*"
	}
	if strings.HasPrefix(id.AccessKeyID, "AKIA") {
		return "*no* (a long-term key carries none)"
	}
	if id.Type == "AWSService" || id.InvokedBy != "" {
		return "not applicable"
	}
	return "not in this record"
}

// Result says how the call ended. A call that went through is never good news here: it is
// marked as an alarm from medium severity on, and says what went through; a failed one
// names the error.
func Result(f *finding.Finding) string {
	if f.Failed() {
		s := ":no_entry_sign: *Failed*"
		if f.ErrorCode != "" {
			s += ": " + Code(f.ErrorCode)
		}
		s += ", an attempt"
		if f.ErrorMessage != "" {
			s += "\n" + Code(f.ErrorMessage)
		}
		return s
	}
	c := callerOf(f)
	what := "the change is in effect"
	switch {
	case c.signIn():
		what = "signed in"
	case c.readOnly():
		what = "AWS answered"
	}
	if f.Severity >= finding.Medium {
		return ":rotating_light: *Succeeded*: " + what
	}
	return "Succeeded: " + what
}

// UserAgent shows the user agent, and calls out an attack or secret-scanning tool it gives
// away (finding.Finding.AttackTool).
func UserAgent(f *finding.Finding) string {
	s := "–"
	if f.UserAgent != "" {
		s = Code(f.UserAgent)
	}
	if f.AttackTool != "" {
		s += "\n:warning: *" + Text(f.AttackTool) + "*: a tool for attacking AWS accounts or testing stolen keys"
	}
	return s
}

// CallerIAMURL links the caller's page in the IAM console: the IAM user, the role behind a
// session (or the user behind a federation token), or root's security credentials. The
// console opens the account one is signed in to: label names the account when the caller's
// is not the record's.
func CallerIAMURL(f *finding.Finding) (label, link string) {
	const base = "https://us-east-1.console.aws.amazon.com/iam/home#/"
	c := callerOf(f)
	id := &c.UserIdentity
	is := &id.SessionContext.SessionIssuer
	acct := id.AccountID
	switch id.Type {
	case "IAMUser":
		name := id.UserName
		if name == "" {
			name = lastPart(id.ARN)
		}
		if name == "" {
			return "", ""
		}
		label, link = "user "+name, base+"users/details/"+escape(name)
	case "AssumedRole":
		name := is.UserName
		if name == "" && is.Type == "Role" {
			name = lastPart(is.ARN)
		}
		if name == "" || strings.HasPrefix(name, "aws:") {
			return "", "" // none, or an identity of AWS's own (aws:ec2-instance) with no page
		}
		acct = orWord(is.AccountID, acct)
		label, link = "role "+name, base+"roles/details/"+escape(name)
	case "FederatedUser":
		if is.Type != "IAMUser" || is.UserName == "" {
			return "", ""
		}
		acct = orWord(is.AccountID, acct)
		label, link = "user "+is.UserName, base+"users/details/"+escape(is.UserName)
	case "Root":
		label, link = "root's security credentials", base+"security_credentials"
	default:
		return "", ""
	}
	if acct != "" && c.RecipientAccountID != "" && acct != c.RecipientAccountID {
		label += " (account " + acct + ")"
	}
	return label, link
}

func lastPart(arn string) string {
	if i := strings.LastIndexByte(arn, '/'); i >= 0 {
		return arn[i+1:]
	}
	return ""
}

// Also lists the other rules an alert's event matched (finding.Merge), one line each:
// severity, title, rule id.
func Also(f *finding.Finding) []string {
	out := make([]string, len(f.Also))
	for i, a := range f.Also {
		t := a.Title
		if t == "" {
			t = a.Rule
		}
		out[i] = Emoji(a.Severity) + " " + strings.ToUpper(a.Severity.String()) + " " + Text(t) + " · " + Code(a.Rule)
	}
	return out
}

// WithAlso ends line, a summary's or digest's line of mrkdwn about f, with the other rules
// f's event matched (" · also `a, b`") when they fit within n UTF-16 units: they are the
// first to give way, before anything of line (which Trim cuts to n).
func WithAlso(line string, f *finding.Finding, n int) string {
	line = Trim(line, n)
	if len(f.Also) == 0 {
		return line
	}
	ids := make([]string, len(f.Also))
	for i, a := range f.Also {
		ids[i] = a.Rule
	}
	if note := " · also " + Code(strings.Join(ids, ", ")); Len(line)+Len(note) <= n {
		return line + note
	}
	return line
}

// Runbook renders the finding's runbook (finding.Finding.Runbook), one mrkdwn line per
// line: the words as text, each AWS CLI command (finding.RunbookCommand) in a code span to
// copy. A command is only looked for outside quotes: detection puts every event value with
// a space in a runbook in quotes ('a shell word' in a command, “this” in the words around),
// so event text cannot pass for a command.
// A sentence a runbook wraps onto the next line (after a comma, or inside parentheses) is
// one line again, unless the next line is a command of its own.
func Runbook(f *finding.Finding) []string {
	var lines []string
	for line := range strings.SplitSeq(f.Runbook, "\n") {
		line = strings.TrimSpace(line)
		switch n := len(lines); {
		case line == "":
		case n > 0 && wraps(lines[n-1]) && !finding.RunbookCommand.MatchString(firstWords(line)):
			lines[n-1] += " " + line
		default:
			lines = append(lines, line)
		}
	}
	for i, l := range lines {
		lines[i] = runbookLine(l)
	}
	return lines
}

// wraps reports whether a runbook line stops inside a sentence: after a comma, or with a
// parenthesis open.
func wraps(line string) bool {
	return strings.HasSuffix(line, ",") || strings.Count(line, "(") > strings.Count(line, ")")
}

// firstWords is the start of line, where a command of its own would be.
func firstWords(line string) string {
	if len(line) > 40 {
		return line[:40]
	}
	return line
}

func runbookLine(line string) string {
	var b strings.Builder
	prose := 0 // start of the words not yet written
	for at := 0; at < len(line); {
		m := finding.RunbookCommand.FindStringSubmatchIndex(line[at:])
		if m == nil {
			break
		}
		start := at + m[2]
		if quoted(line, start) {
			at = start + 1
			continue
		}
		end := commandEnd(line, at+m[3])
		b.WriteString(Text(line[prose:start]))
		b.WriteString(Code(line[start:end]))
		prose, at = end, end
	}
	b.WriteString(Text(line[prose:]))
	return b.String()
}

// commandEnd finds where the command whose "aws SERVICE VERB" ends at i ends: after its
// options (--name and a value, which may be a quoted word or hold <a placeholder>) and
// URL-like arguments; at the first word that is none of these (the sentence going on), or
// at punctuation that ends a value (";", ",", ")" or "." before a space or the end).
func commandEnd(line string, i int) int {
	end := i
	value := false // the word before was an option that takes a value
	for {
		j := i
		for j < len(line) && line[j] == ' ' {
			j++
		}
		if j == len(line) {
			return end
		}
		k := wordEnd(line, j)
		w := line[j:k]
		switch {
		case strings.HasPrefix(w, "--"):
			value = true
		case strings.HasPrefix(w, "("): // words in parentheses after a command are about it
			return end
		case value || strings.Contains(w, "://") || strings.HasPrefix(w, "<"):
			value = false
		default:
			return end
		}
		if t := strings.TrimRight(w, ";,)."); len(t) < len(w) && !strings.HasSuffix(w, "'") {
			return j + len(t)
		}
		end, i = k, k
	}
}

// wordEnd is the end of the word that starts at j: the next space outside quotes and
// <placeholders>.
func wordEnd(line string, j int) int {
	for k := j; k < len(line); {
		if e := quoteEnd(line, k); e > k {
			k = e
			continue
		}
		if line[k] == ' ' {
			return k
		}
		k++
	}
	return len(line)
}

// quoted reports whether byte i of s is inside quotes (see quoteEnd).
func quoted(s string, i int) bool {
	for j := 0; j < i; {
		if e := quoteEnd(s, j); e > j {
			if e > i {
				return true
			}
			j = e
			continue
		}
		j++
	}
	return false
}

// quoteEnd is where the quotes that open at byte j of s end (after the closing one, or at
// the end of s), or j when none opens there: a single-quoted shell word, which opens at
// the start of a word (after a space, =, (, :, comma or [; an apostrophe inside a word, as
// in user's, opens nothing), “ ”, or a <placeholder>.
func quoteEnd(s string, j int) int {
	var open, closing string
	switch {
	case strings.HasPrefix(s[j:], "“"):
		open, closing = "“", "”"
	case s[j] == '<':
		open, closing = "<", ">"
	case s[j] == '\'' && (j == 0 || strings.IndexByte(" =(:,[", s[j-1]) >= 0):
		open, closing = "'", "'"
	default:
		return j
	}
	if k := strings.Index(s[j+len(open):], closing); k >= 0 {
		return j + len(open) + k + len(closing)
	}
	return len(s)
}

// Header is the alert's headline as plain text of at most n UTF-16 units: prefix, then the
// title cut to fit by Fit, so the reason it gives stays whole.
func Header(prefix string, f *finding.Finding, n int) string {
	return Fit(prefix+Plain(Title(f)), n)
}

// minWord and minName are as short as Fit makes a word: first to tell names apart, then,
// when the reason still does not fit, to recognise them.
const (
	minWord = 16
	minName = 8
)

// Fit shortens plain text s to at most n UTF-16 units without cutting its reason: the text,
// or the part before a first ": " (outside parentheses) that adds details (a policy's
// grants, say). When the
// reason fits, only the details give way: their longest words (names: ARNs, buckets, roles;
// marked with …) lose their middles, each down to minWord, then their end is cut. When it
// does not, the longest words of all lose their middles, down to minWord, then to minName;
// only then is the end cut.
func Fit(s string, n int) string {
	if Len(s) <= n {
		return s
	}
	if reason := Reason(s); len(reason) < len(s) && Len(reason)+3 < n {
		words := strings.Split(s[len(reason)+2:], " ")
		shorten(words, Len(s)-n, minWord)
		return TrimPlain(reason+": "+strings.Join(words, " "), n)
	}
	words := strings.Split(s, " ")
	for _, floor := range []int{minWord, minName} {
		if excess := Len(strings.Join(words, " ")) - n; excess > 0 {
			shorten(words, excess, floor)
		}
	}
	return TrimPlain(strings.Join(words, " "), n)
}

// Reason is the part of a title that says why: all of it, or what comes before a first
// ": " (outside parentheses: "(result: AccessDenied)" is part of it) that adds details.
func Reason(title string) string {
	depth := 0
	for i := 0; i+1 < len(title); i++ {
		switch title[i] {
		case '(':
			depth++
		case ')':
			depth = max(0, depth-1)
		case ':':
			if depth == 0 && title[i+1] == ' ' {
				return title[:i]
			}
		}
	}
	return title
}

// shorten takes excess UTF-16 units out of the longest of words, none below floor.
func shorten(words []string, excess, floor int) {
	for excess > 0 {
		// the longest word, and the length of the next longest
		i, second := -1, 0
		for j, w := range words {
			switch l := Len(w); {
			case i < 0 || l > Len(words[i]):
				if i >= 0 {
					second = max(second, Len(words[i]))
				}
				i = j
			default:
				second = max(second, l)
			}
		}
		l := Len(words[i])
		target := max(floor, second, l-excess)
		if target >= l {
			if l <= floor {
				return
			}
			target = l - 1 // equal longest words: take them down one at a time
		}
		words[i] = middleOut(words[i], target)
		excess -= l - Len(words[i])
	}
}

// middleOut shortens w to k UTF-16 units (k >= 3) by replacing its middle with "…".
func middleOut(w string, k int) string {
	if Len(w) <= k {
		return w
	}
	keep := k - 1
	head := prefix16(w, (keep+1)/2)
	tail := suffix16(w, keep/2)
	return head + "…" + tail
}

// suffix16 is the longest suffix of s of at most n UTF-16 units that starts between
// characters.
func suffix16(s string, n int) string {
	rs := []rune(s)
	i := len(rs)
	for i > 0 {
		w := 1
		if rs[i-1] >= 0x10000 {
			w = 2
		}
		if n < w {
			break
		}
		n -= w
		i--
	}
	return string(rs[i:])
}
