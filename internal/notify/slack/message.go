// Package slack delivers findings to Slack, through an incoming webhook or the Web API
// (chat.postMessage with a bot token), as Block Kit messages that keep Slack's limits and
// escape everything that came from the event. slack-go provides the Block Kit types only:
// posting is our own small HTTP call so Slack's error reasons can be read.
package slack

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/trailbell/trailbell/internal/finding"
	"github.com/trailbell/trailbell/internal/notify"
)

// Block Kit limits (https://api.slack.com/reference/block-kit).
const (
	maxBlocks      = 50
	maxSectionText = 3000
	maxFields      = 10
	maxFieldText   = 2000
	maxHeaderText  = 150
	maxContextEls  = 10
	maxButtonText  = 75
	maxButtonURL   = 3000
	maxFallback    = 3000
	// maxSummaryLines bounds the list of repeats in a summary message.
	maxSummaryLines = 20
)

// Message is what is posted: top-level text is the notification fallback, the coloured
// attachment holds the blocks (Slack only colours attachments).
type Message struct {
	Channel     string             `json:"channel,omitempty"`
	ThreadTS    string             `json:"thread_ts,omitempty"`
	Text        string             `json:"text"`
	Attachments []slack.Attachment `json:"attachments"`
	UnfurlLinks bool               `json:"unfurl_links"`
	UnfurlMedia bool               `json:"unfurl_media"`
}

// Style says how messages look; zero values are fine.
type Style struct {
	// Accounts maps account ids to aliases, shown next to the id.
	Accounts map[string]string
}

var severityLook = map[finding.Severity]struct{ emoji, color string }{
	finding.Info:     {":information_source:", "#9e9e9e"},
	finding.Low:      {":large_blue_circle:", "#2b7bb9"},
	finding.Medium:   {":large_yellow_circle:", "#e8a800"},
	finding.High:     {":large_orange_circle:", "#e8590c"},
	finding.Critical: {":red_circle:", "#c62828"},
}

func look(s finding.Severity) (emoji, color string) {
	l, ok := severityLook[s]
	if !ok {
		l = severityLook[finding.Info]
	}
	return l.emoji, l.color
}

// Title is the finding's title, or its rule id when it has none.
func Title(f *finding.Finding) string {
	if f.Title == "" {
		return f.Rule
	}
	return f.Title
}

// Emoji is the emoji code that marks severity s in Slack (and in Chatbot's messages).
func Emoji(s finding.Severity) string {
	e, _ := look(s)
	return e
}

// Escape makes text from an event safe in mrkdwn: Slack parses only &, < and >, which is
// how a user agent or session name could ping @channel or plant a link.
func Escape(s string) string {
	if !strings.ContainsAny(s, "&<>") {
		return s
	}
	return escaper.Replace(s)
}

var escaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// Trim cuts s to at most n characters, marking the cut. Slack counts characters, and an
// escaped entity counts as its full length, so trimming happens after escaping and never
// splits an entity.
func Trim(s string, n int) string {
	if len(s) <= n || utf8.RuneCountInString(s) <= n {
		return s
	}
	const marker = "… [trimmed]"
	keep := n - utf8.RuneCountInString(marker)
	if keep < 1 {
		return prefixRunes(s, n)
	}
	cut := prefixRunes(s, keep)
	// Do not leave half an entity like "&am".
	if i := strings.LastIndexByte(cut, '&'); i >= 0 && !strings.Contains(cut[i:], ";") {
		cut = cut[:i]
	}
	return cut + marker
}

// prefixRunes is the first n characters of s.
func prefixRunes(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}

// code shows a value in a code span; backticks inside would end the span early.
func code(s string) string {
	return "`" + strings.ReplaceAll(Escape(s), "`", "'") + "`"
}

func mrkdwn(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, s, false, false)
}

func plain(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, s, true, false)
}

// identity is the part of the record's userIdentity worth showing.
type identity struct {
	Type           string `json:"type"`
	ARN            string `json:"arn"`
	PrincipalID    string `json:"principalId"`
	InvokedBy      string `json:"invokedBy"`
	SessionContext struct {
		SessionIssuer struct {
			Type     string `json:"type"`
			ARN      string `json:"arn"`
			UserName string `json:"userName"`
		} `json:"sessionIssuer"`
		SourceIdentity string `json:"sourceIdentity"`
	} `json:"sessionContext"`
}

func recordIdentity(rec json.RawMessage) identity {
	var r struct {
		UserIdentity identity `json:"userIdentity"`
	}
	_ = json.Unmarshal(rec, &r) // a record we cannot read just shows less
	return r.UserIdentity
}

// who describes the caller: ARN and type, the role behind a session, and the human
// (session name, often an SSO user's e-mail) when visible.
func who(f *finding.Finding) string {
	id := recordIdentity(f.Record)
	p := f.Principal
	if p == "" {
		p = id.ARN
	}
	if p == "" {
		p = "unknown"
	}
	s := code(p)
	if t := f.PrincipalType; t != "" {
		s += " (" + Escape(t) + ")"
	} else if id.Type != "" {
		s += " (" + Escape(id.Type) + ")"
	}
	if is := id.SessionContext.SessionIssuer; is.ARN != "" && is.ARN != p {
		s += "\nvia role " + code(is.ARN)
	}
	if strings.Contains(p, ":assumed-role/") {
		if i := strings.LastIndexByte(p, '/'); i >= 0 && i+1 < len(p) {
			kind := "session"
			if strings.Contains(p, "AWSReservedSSO_") {
				kind = "SSO user"
			}
			s += "\n" + kind + " " + code(p[i+1:])
		}
	}
	if sid := id.SessionContext.SourceIdentity; sid != "" {
		s += "\nsource identity " + code(sid)
	}
	if id.InvokedBy != "" {
		s += "\ninvoked by " + Escape(id.InvokedBy)
	}
	return s
}

func account(f *finding.Finding, st Style) string {
	if f.Account == "" {
		return "unknown"
	}
	s := code(f.Account)
	if alias := st.Accounts[f.Account]; alias != "" {
		s += " (" + Escape(alias) + ")"
	}
	return s
}

func result(f *finding.Finding) string {
	if !f.Failed() {
		return ":white_check_mark: succeeded"
	}
	s := ":no_entry: failed"
	if f.ErrorCode != "" {
		s += ": " + code(f.ErrorCode)
	}
	if f.ErrorMessage != "" {
		s += "\n" + Escape(f.ErrorMessage)
	}
	return s
}

var regionRE = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d$`)

// consoleRegion is the region for console links; made-up regions fall back to us-east-1.
func consoleRegion(r string) string {
	if regionRE.MatchString(r) {
		return r
	}
	return "us-east-1"
}

// CloudTrailURL links the event in the CloudTrail console.
func CloudTrailURL(f *finding.Finding) string {
	if f.EventID == "" {
		return ""
	}
	r := consoleRegion(f.Region)
	return "https://" + r + ".console.aws.amazon.com/cloudtrailv2/home?region=" + r + "#/events/" + url.PathEscape(f.EventID)
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
				return "user " + name, base + "users/details/" + url.PathEscape(name)
			case "role":
				return "role " + name, base + "roles/details/" + url.PathEscape(name)
			case "group":
				return "group " + name, base + "groups/details/" + url.PathEscape(name)
			case "policy":
				return "policy " + name, base + "policies/details/" + url.PathEscape(t)
			}
		}
	}
	if n := param("userName", "user"); n != "" {
		return "user " + n, base + "users/details/" + url.PathEscape(n)
	}
	if n := param("roleName", "role"); n != "" {
		return "role " + n, base + "roles/details/" + url.PathEscape(n)
	}
	if n := param("groupName", "group"); n != "" {
		return "group " + n, base + "groups/details/" + url.PathEscape(n)
	}
	if n := param("policyArn", "policy"); strings.HasPrefix(n, "arn:") {
		return "policy " + n[strings.LastIndexByte(n, '/')+1:], base + "policies/details/" + url.PathEscape(n)
	}
	return "", ""
}

func header(f *finding.Finding, prefix string) slack.Block {
	emoji, _ := look(f.Severity)
	return slack.NewHeaderBlock(plain(Trim(emoji+" "+prefix+Title(f), maxHeaderText)))
}

// Fallback is the plain notification text of a message.
func Fallback(fs ...*finding.Finding) string {
	f := fs[0]
	if len(fs) > 1 && !notify.SameGroup(fs) {
		return Trim(Escape(fmt.Sprintf("[%s] %d alerts (digest of a backlog), first: %s", strings.ToUpper(notify.Worst(fs).String()), len(fs), f.Title)), maxFallback)
	}
	title := Title(f)
	s := fmt.Sprintf("[%s] %s: %s by %s in %s", strings.ToUpper(f.Severity.String()), title, f.EventName, f.Principal, f.Account)
	if len(fs) > 1 {
		s = fmt.Sprintf("[%s] %d× %s by %s", strings.ToUpper(f.Severity.String()), len(fs), title, f.Principal)
	}
	return Trim(Escape(s), maxFallback)
}

// Build renders one finding as a full alert, or several findings of one rule and
// principal as a summary of repeats.
func Build(st Style, fs ...*finding.Finding) Message {
	if len(fs) == 0 {
		return Message{}
	}
	var blocks []slack.Block
	switch {
	case len(fs) == 1:
		blocks = alertBlocks(fs[0], st)
	case notify.SameGroup(fs):
		blocks = summaryBlocks(fs, st)
	default:
		blocks = digestBlocks(fs, st)
	}
	if len(blocks) > maxBlocks {
		blocks = blocks[:maxBlocks]
	}
	_, color := look(notify.Worst(fs))
	text := Fallback(fs...)
	return Message{
		Text:        text,
		Attachments: []slack.Attachment{{Color: color, Fallback: text, Blocks: slack.Blocks{BlockSet: blocks}}},
	}
}

func alertBlocks(f *finding.Finding, st Style) []slack.Block {
	blocks := []slack.Block{header(f, "")}

	intro := "*" + strings.ToUpper(f.Severity.String()) + "* · rule " + code(f.Rule)
	if f.Description != "" {
		intro += "\n" + Escape(f.Description)
	}
	blocks = append(blocks, slack.NewSectionBlock(mrkdwn(Trim(intro, maxSectionText)), nil, nil))

	what := code(f.EventName)
	if f.EventSource != "" {
		what += " on " + Escape(f.EventSource)
	}
	where := account(f, st) + " · " + Escape(orUnknown(f.Region))
	fields := []struct{ name, value string }{
		{"Who", who(f)},
		{"Did what", what},
		{"To whom", codeOrDash(f.Target)},
		{"Where", where},
		{"When", Escape(orUnknown(f.EventTime))},
		{"Result", result(f)},
		{"Source IP", codeOrDash(f.SourceIPAddress)},
		{"User agent", Escape(orDash(f.UserAgent))},
	}
	var fo []*slack.TextBlockObject
	for _, fl := range fields[:min(len(fields), maxFields)] {
		fo = append(fo, mrkdwn(Trim("*"+fl.name+"*\n"+fl.value, maxFieldText)))
	}
	blocks = append(blocks, slack.NewSectionBlock(nil, fo, nil))

	if len(f.Params) > 0 || len(f.Grants) > 0 {
		var b strings.Builder
		if len(f.Params) > 0 {
			b.WriteString("*Request*")
			for _, p := range f.Params {
				b.WriteString("\n• " + Escape(p.Name) + ": " + code(p.Value))
			}
		}
		if len(f.Grants) > 0 {
			if b.Len() > 0 {
				b.WriteString("\n")
			}
			b.WriteString("*What it grants*")
			for _, g := range f.Grants {
				b.WriteString("\n• " + Escape(g))
			}
		}
		blocks = append(blocks, slack.NewSectionBlock(mrkdwn(Trim(b.String(), maxSectionText)), nil, nil))
	}

	if a := actions(f); a != nil {
		blocks = append(blocks, a)
	}
	blocks = append(blocks, contextBlock(f))
	return blocks
}

func summaryBlocks(fs []*finding.Finding, st Style) []slack.Block {
	f := fs[0]
	blocks := []slack.Block{header(f, fmt.Sprintf("%d× ", len(fs)))}
	first, last := fs[0].EventTime, fs[len(fs)-1].EventTime
	intro := fmt.Sprintf("*%s* · rule %s · %d events by %s in %s\nbetween %s and %s",
		strings.ToUpper(f.Severity.String()), code(f.Rule), len(fs), code(orUnknown(f.Principal)),
		account(f, st), Escape(orUnknown(first)), Escape(orUnknown(last)))
	blocks = append(blocks, slack.NewSectionBlock(mrkdwn(Trim(intro, maxSectionText)), nil, nil))

	var b strings.Builder
	for i, x := range fs {
		if i == maxSummaryLines {
			fmt.Fprintf(&b, "\n…and %d more", len(fs)-i)
			break
		}
		if i > 0 {
			b.WriteString("\n")
		}
		line := "• " + Escape(orUnknown(x.EventTime)) + " " + code(x.EventName)
		if x.Target != "" {
			line += " → " + code(x.Target)
		}
		if x.Failed() {
			line += " (failed: " + Escape(x.ErrorCode) + ")"
		}
		line += " · eventID " + code(x.EventID)
		b.WriteString(line)
	}
	blocks = append(blocks, slack.NewSectionBlock(mrkdwn(Trim(b.String(), maxSectionText)), nil, nil))
	if a := actions(f); a != nil {
		blocks = append(blocks, a)
	}
	blocks = append(blocks, contextBlock(f))
	return blocks
}

// digestBlocks lists different findings that waited in a backlog, five to a section.
func digestBlocks(fs []*finding.Finding, st Style) []slack.Block {
	blocks := []slack.Block{slack.NewHeaderBlock(plain(Trim(fmt.Sprintf("%s %d alerts (digest)", Emoji(notify.Worst(fs)), len(fs)), maxHeaderText)))}
	intro := fmt.Sprintf("%d alerts were waiting to be sent; Slack's rate limit would have spread them over minutes, so here they are together.", len(fs))
	blocks = append(blocks, slack.NewSectionBlock(mrkdwn(intro), nil, nil))
	var b strings.Builder
	for i, f := range fs {
		e, _ := look(f.Severity)
		line := fmt.Sprintf("%s *%s* by %s in %s · %s · eventID %s", e, Escape(Title(f)), code(orUnknown(f.Principal)),
			account(f, st), Escape(orUnknown(f.EventTime)), code(orUnknown(f.EventID)))
		// Our own link goes after the trim, so a cut never breaks its markup. The URL is
		// built from a checked region and a path-escaped eventID: no '|' or '>' in it.
		link := ""
		if u := CloudTrailURL(f); u != "" {
			link = " · <" + u + "|CloudTrail>"
		}
		if b.Len() > 0 {
			b.WriteString("\n")
		}
		const perSection = 5
		b.WriteString(Trim(line, max(40, maxSectionText/perSection-1-utf8.RuneCountInString(link))) + link)
		if (i+1)%perSection == 0 || i == len(fs)-1 {
			blocks = append(blocks, slack.NewSectionBlock(mrkdwn(Trim(b.String(), maxSectionText)), nil, nil))
			b.Reset()
		}
	}
	return blocks
}

func actions(f *finding.Finding) slack.Block {
	var els []slack.BlockElement
	if u := CloudTrailURL(f); u != "" && len(u) <= maxButtonURL {
		els = append(els, button("cloudtrail", "CloudTrail event", u))
	}
	if label, u := IAMURL(f); u != "" && len(u) <= maxButtonURL {
		els = append(els, button("iam", Trim("IAM: "+label, maxButtonText), u))
	}
	if len(els) == 0 {
		return nil
	}
	return slack.NewActionBlock("links", els...)
}

func button(id, text, link string) *slack.ButtonBlockElement {
	b := slack.NewButtonBlockElement(id, "", plain(text))
	b.URL = link
	return b
}

func contextBlock(f *finding.Finding) slack.Block {
	els := []slack.MixedElement{mrkdwn(Trim("eventID "+code(orUnknown(f.EventID)), maxFieldText))}
	if f.Origin != "" {
		els = append(els, mrkdwn(Trim("from "+Escape(f.Origin), maxFieldText)))
	}
	return slack.NewContextBlock("", els[:min(len(els), maxContextEls)]...)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

func codeOrDash(s string) string {
	if s == "" {
		return "–"
	}
	return code(s)
}
