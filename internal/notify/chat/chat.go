// Package chat holds what the chat destinations share: Slack (webhooks and the Web API)
// and AWS Chatbot, which renders SNS messages in Slack. It turns event strings into
// mrkdwn that can only ever be text, trims in the units Slack counts, and names the
// pieces every alert shows (title, severity emoji, account alias, console links).
// It imports neither destination, so both can use it.
package chat

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/trailbell/trailbell/internal/finding"
)

// Style says how messages look; zero values are fine.
type Style struct {
	// Accounts maps account ids to aliases, shown next to the id.
	Accounts map[string]string
}

type severityLook struct{ emoji, symbol, color string }

var looks = map[finding.Severity]severityLook{
	finding.Info:     {":information_source:", "ℹ️", "#9e9e9e"},
	finding.Low:      {":large_blue_circle:", "🔵", "#2b7bb9"},
	finding.Medium:   {":large_yellow_circle:", "🟡", "#e8a800"},
	finding.High:     {":large_orange_circle:", "🟠", "#e8590c"},
	finding.Critical: {":red_circle:", "🔴", "#c62828"},
}

func look(s finding.Severity) severityLook {
	l, ok := looks[s]
	if !ok {
		l = looks[finding.Info]
	}
	return l
}

// Emoji is the emoji code that marks severity s in mrkdwn (Slack, Chatbot).
func Emoji(s finding.Severity) string { return look(s).emoji }

// Symbol is the same mark as a Unicode character, for plain text sent with emoji codes
// off: then a title holding ":aws:" (every ARN does) cannot turn into a custom emoji.
func Symbol(s finding.Severity) string { return look(s).symbol }

// Color is the attachment colour of severity s.
func Color(s finding.Severity) string { return look(s).color }

// Title is the finding's title, or its rule id when it has none.
func Title(f *finding.Finding) string {
	if f.Title == "" {
		return f.Rule
	}
	return f.Title
}

// Line is one line saying what fs are (one alert, repeats of one, or a digest), for
// notifications and e-mail subjects: mrkdwn, at most n UTF-16 units.
func Line(n int, fs ...*finding.Finding) string {
	f := fs[0]
	sev := strings.ToUpper(f.Severity.String())
	var s string
	switch {
	case len(fs) > 1 && !finding.SameGroup(fs):
		s = fmt.Sprintf("[%s] %d alerts (digest of a backlog), first: %s", strings.ToUpper(finding.Worst(fs).String()), len(fs), Text(Title(f)))
	case len(fs) > 1:
		s = fmt.Sprintf("[%s] %d× %s by %s", sev, len(fs), Text(Title(f)), Text(f.Principal))
	default:
		s = fmt.Sprintf("[%s] %s: %s by %s in %s", sev, Text(Title(f)), Text(f.EventName), Text(f.Principal), Text(f.Account))
	}
	return Trim(s, n)
}

var regionRE = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d$`)

// consoleRegion is the region for console links; made-up regions fall back to us-east-1.
func consoleRegion(r string) string {
	if regionRE.MatchString(r) {
		return r
	}
	return "us-east-1"
}

// CloudTrailURL links the event in the CloudTrail console. The URL is built from a checked
// region and an escaped eventID, so it holds nothing that means something in mrkdwn.
func CloudTrailURL(f *finding.Finding) string {
	if f.EventID == "" {
		return ""
	}
	r := consoleRegion(f.Region)
	return "https://" + r + ".console.aws.amazon.com/cloudtrailv2/home?region=" + r + "#/events/" + escape(f.EventID)
}

// escape percent-encodes all but letters, digits, '-' and '.' (a UUID is unchanged), so
// an event value in a link can neither end its markup ('|', '>') nor format (_, ~, *)
// where a destination shows the link as text.
func escape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// IAMURL links the IAM console page of the target (user, role, group or policy).
func IAMURL(f *finding.Finding) (label, link string) {
	const base = "https://us-east-1.console.aws.amazon.com/iam/home#/"
	param := func(names ...string) string {
		for _, p := range f.Params {
			for _, n := range names {
				if strings.EqualFold(p.Name, n) && p.Value != "" {
					return p.Value
				}
			}
		}
		return ""
	}
	t := f.Target
	if strings.HasPrefix(t, "arn:aws") && strings.Contains(t, ":iam::") {
		res := t[strings.Index(t, ":iam::")+len(":iam::"):]
		if _, res, ok := strings.Cut(res, ":"); ok {
			kind, rest, _ := strings.Cut(res, "/")
			name := rest[strings.LastIndexByte(rest, '/')+1:]
			switch kind {
			case "user":
				return "user " + name, base + "users/details/" + escape(name)
			case "role":
				return "role " + name, base + "roles/details/" + escape(name)
			case "group":
				return "group " + name, base + "groups/details/" + escape(name)
			case "policy":
				return "policy " + name, base + "policies/details/" + escape(t)
			}
		}
	}
	if n := param("userName", "user"); n != "" {
		return "user " + n, base + "users/details/" + escape(n)
	}
	if n := param("roleName", "role"); n != "" {
		return "role " + n, base + "roles/details/" + escape(n)
	}
	if n := param("groupName", "group"); n != "" {
		return "group " + n, base + "groups/details/" + escape(n)
	}
	if n := param("policyArn", "policy"); strings.HasPrefix(n, "arn:") {
		return "policy " + n[strings.LastIndexByte(n, '/')+1:], base + "policies/details/" + escape(n)
	}
	return "", ""
}
