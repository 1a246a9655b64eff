// Package slack delivers findings to Slack, through an incoming webhook or the Web API
// (chat.postMessage with a bot token), as Block Kit messages that keep Slack's limits and
// keep everything that came from the event as text (see package chat). slack-go provides
// the Block Kit types only: posting is our own small HTTP call so Slack's error reasons
// can be read.
package slack

import (
	"fmt"
	"strings"

	"github.com/slack-go/slack"

	"github.com/trailbell/trailbell/internal/finding"
	"github.com/trailbell/trailbell/internal/notify/chat"
)

// Block Kit limits (https://api.slack.com/reference/block-kit), in UTF-16 units.
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
	Blocks      []slack.Block      `json:"blocks,omitempty"` // a direct question (no colour)
	Attachments []slack.Attachment `json:"attachments,omitempty"`
	UnfurlLinks bool               `json:"unfurl_links"`
	UnfurlMedia bool               `json:"unfurl_media"`
	// Metadata names the delivery (Web API only), so that after a crash or a lost answer
	// the channel's history can tell whether the message was posted.
	Metadata *Metadata `json:"metadata,omitempty"`
}

// Style says how messages look; zero values are fine.
type Style = chat.Style

// mrkdwn is a text object Slack does not pre-process: with verbatim set, bare URLs and
// channel or user names in it stay text.
func mrkdwn(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, s, false, true)
}

// plain is plain text with emoji codes off, so ":aws:" in an ARN stays text.
func plain(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, s, false, false)
}

func account(f *finding.Finding, st Style) string {
	if f.Account == "" {
		return "unknown"
	}
	s := chat.Code(f.Account)
	if alias := st.Accounts[f.Account]; alias != "" {
		s += " (" + chat.Text(alias) + ")"
	}
	return s
}

// header says why in words: the title, its names shortened rather than its reason cut.
func header(f *finding.Finding, prefix string) slack.Block {
	return slack.NewHeaderBlock(plain(chat.Header(chat.Symbol(f.Severity)+" "+prefix, f, maxHeaderText)))
}

// Fallback is the notification text of a message.
func Fallback(fs ...*finding.Finding) string { return chat.Line(maxFallback, fs...) }

// Build renders one finding as a full alert, or several findings of one rule and
// principal as a summary of repeats, or different findings as a digest.
func Build(st Style, fs ...*finding.Finding) Message {
	if len(fs) == 0 {
		return Message{}
	}
	var blocks []slack.Block
	switch {
	case len(fs) == 1:
		blocks = alertBlocks(fs[0], st)
	case finding.SameGroup(fs):
		blocks = summaryBlocks(fs, st)
	default:
		blocks = digestBlocks(fs, st)
	}
	if len(blocks) > maxBlocks {
		blocks = blocks[:maxBlocks]
	}
	text := Fallback(fs...)
	return Message{
		Text:        text,
		Attachments: []slack.Attachment{{Color: chat.Color(finding.Worst(fs)), Fallback: text, Blocks: slack.Blocks{BlockSet: blocks}}},
	}
}

func section(text string) slack.Block {
	return slack.NewSectionBlock(mrkdwn(chat.Trim(text, maxSectionText)), nil, nil)
}

func alertBlocks(f *finding.Finding, st Style) []slack.Block {
	blocks := []slack.Block{header(f, "")}

	intro := "*" + strings.ToUpper(f.Severity.String()) + "* · rule " + chat.Code(f.Rule)
	if f.Description != "" {
		intro += "\n" + chat.Escape(f.Description) // the rule's own words
	}
	blocks = append(blocks, section(intro))
	if also := chat.Also(f); len(also) > 0 {
		// the other rules this event matched, under the one that leads
		blocks = append(blocks, section(fmt.Sprintf("*This event also matched %d other rule(s)*\n• %s", len(also), strings.Join(also, "\n• "))))
	}

	what := chat.Code(f.EventName)
	if f.EventSource != "" {
		what += " on " + chat.Text(f.EventSource)
	}
	where := account(f, st) + " · " + chat.Text(orUnknown(f.Region))
	var fields []struct{ name, value string }
	if f.Actor != nil {
		// the person or workload behind the call comes first: who on-call has to talk to
		fields = append(fields, struct{ name, value string }{"Actor", chat.Actor(f.Actor)})
	}
	fields = append(fields, []struct{ name, value string }{
		{"Who", chat.Who(f)},
		{"Did what", what},
		{"To whom", codeOrDash(f.Target)},
		{"Where", where},
		{"When", chat.Text(orUnknown(f.EventTime))},
		{"Result", chat.Result(f)},
		{"Source IP", codeOrDash(f.SourceIPAddress)},
		{"Credentials", chat.Credentials(f)},
		{"User agent", chat.UserAgent(f)},
	}...)
	var fo []*slack.TextBlockObject
	for _, fl := range fields[:min(len(fields), maxFields)] {
		fo = append(fo, mrkdwn(chat.Trim("*"+fl.name+"*\n"+fl.value, maxFieldText)))
	}
	blocks = append(blocks, slack.NewSectionBlock(nil, fo, nil))

	if len(f.Params) > 0 || len(f.Grants) > 0 {
		var b strings.Builder
		if len(f.Params) > 0 {
			b.WriteString("*Request*")
			for _, p := range f.Params {
				b.WriteString("\n• " + chat.Text(p.Name) + ": " + chat.Code(p.Value))
			}
		}
		if len(f.Grants) > 0 {
			if b.Len() > 0 {
				b.WriteString("\n")
			}
			b.WriteString("*What it grants*")
			for _, g := range f.Grants {
				b.WriteString("\n• " + chat.Text(g))
			}
		}
		blocks = append(blocks, section(b.String()))
	}

	if len(f.Events) > 0 {
		// a threshold's or sequence's events: the steps in order, this event last
		blocks = append(blocks, section("*Events*, oldest first\n• "+strings.Join(chat.Events(f, maxSummaryLines), "\n• ")))
	}
	if rb := runbook(f); rb != nil {
		blocks = append(blocks, rb)
	}
	if a := actions(f); a != nil {
		blocks = append(blocks, a)
	}
	blocks = append(blocks, contextBlock(f))
	return blocks
}

// runbook is the rule's runbook with this event's values: what to check, how to undo it.
func runbook(f *finding.Finding) slack.Block {
	lines := chat.Runbook(f)
	if len(lines) == 0 {
		return nil
	}
	return section("*What to do*\n• " + strings.Join(lines, "\n• "))
}

func summaryBlocks(fs []*finding.Finding, st Style) []slack.Block {
	f := fs[0]
	blocks := []slack.Block{header(f, fmt.Sprintf("%d× ", len(fs)))}
	first, last := fs[0].EventTime, fs[len(fs)-1].EventTime
	intro := fmt.Sprintf("*%s* · rule %s · %d events by %s in %s\nbetween %s and %s",
		strings.ToUpper(f.Severity.String()), chat.Code(f.Rule), len(fs), chat.Code(orUnknown(f.Principal)),
		account(f, st), chat.Text(orUnknown(first)), chat.Text(orUnknown(last)))
	blocks = append(blocks, section(intro))

	var b strings.Builder
	for i, x := range fs {
		if i == maxSummaryLines {
			fmt.Fprintf(&b, "\n…and %d more", len(fs)-i)
			break
		}
		if i > 0 {
			b.WriteString("\n")
		}
		line := "• " + chat.Text(orUnknown(x.EventTime)) + " " + chat.Code(x.EventName)
		if x.Target != "" {
			line += " → " + chat.Code(x.Target)
		}
		if x.Failed() {
			line += " (failed: " + chat.Code(x.ErrorCode) + ")"
		}
		line += " · eventID " + chat.Code(x.EventID)
		// Each line alone keeps its spans paired, however long its values.
		b.WriteString(chat.WithAlso(line, x, maxSectionText/maxSummaryLines-1))
	}
	blocks = append(blocks, section(b.String()))
	if lines := chat.Runbook(f); len(lines) > 0 {
		blocks = append(blocks, section("*What to do*, with the first event's values\n• "+strings.Join(lines, "\n• ")))
	}
	if a := actions(f); a != nil {
		blocks = append(blocks, a)
	}
	blocks = append(blocks, contextBlock(f))
	return blocks
}

// digestBlocks lists different findings that waited in a backlog, five to a section.
func digestBlocks(fs []*finding.Finding, st Style) []slack.Block {
	worst := finding.Worst(fs)
	blocks := []slack.Block{slack.NewHeaderBlock(plain(fmt.Sprintf("%s %d alerts (digest)", chat.Symbol(worst), len(fs))))}
	intro := fmt.Sprintf("%d alerts were waiting to be sent; Slack's rate limit would have spread them over minutes, so here they are together.", len(fs))
	blocks = append(blocks, section(intro))
	var b strings.Builder
	for i, f := range fs {
		line := fmt.Sprintf("%s *%s* by %s in %s · %s · eventID %s", chat.Emoji(f.Severity), chat.Text(chat.Title(f)),
			chat.Code(orUnknown(f.Principal)), account(f, st), chat.Text(orUnknown(f.EventTime)), chat.Code(orUnknown(f.EventID)))
		// Our own link goes after the trim, so a cut never breaks its markup.
		link := ""
		if u := chat.CloudTrailURL(f); u != "" {
			link = " · <" + u + "|CloudTrail>"
		}
		if b.Len() > 0 {
			b.WriteString("\n")
		}
		const perSection = 5
		b.WriteString(chat.WithAlso(line, f, max(40, maxSectionText/perSection-1-chat.Len(link))) + link)
		if (i+1)%perSection == 0 || i == len(fs)-1 {
			blocks = append(blocks, section(b.String()))
			b.Reset()
		}
	}
	return blocks
}

func actions(f *finding.Finding) slack.Block {
	var els []slack.BlockElement
	if u := chat.CloudTrailURL(f); u != "" && len(u) <= maxButtonURL {
		els = append(els, button("cloudtrail", "CloudTrail event", u))
	}
	label, target := chat.IAMURL(f)
	if target != "" && len(target) <= maxButtonURL {
		els = append(els, button("iam", chat.TrimPlain(chat.Plain("IAM: "+label), maxButtonText), target))
	}
	// who made the call, unless that is the page the target button opens already
	if label, u := chat.CallerIAMURL(f); u != "" && u != target && len(u) <= maxButtonURL {
		els = append(els, button("caller", chat.TrimPlain(chat.Plain("Caller in IAM: "+label), maxButtonText), u))
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
	els := []slack.MixedElement{mrkdwn(chat.Trim("eventID "+chat.Code(orUnknown(f.EventID)), maxFieldText))}
	if f.Origin != "" {
		els = append(els, mrkdwn(chat.Trim("from "+chat.Text(f.Origin), maxFieldText)))
	}
	return slack.NewContextBlock("", els[:min(len(els), maxContextEls)]...)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func codeOrDash(s string) string {
	if s == "" {
		return "–"
	}
	return chat.Code(s)
}
