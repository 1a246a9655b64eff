// Package sns publishes findings to an SNS topic in AWS Chatbot's custom-notification
// format, so the usual SNS → Chatbot → Slack setup shows trailbell's alerts (Chatbot
// silently drops free-form text).
package sns

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/smithy-go"

	"github.com/trailbell/trailbell/internal/finding"
	"github.com/trailbell/trailbell/internal/notify"
	"github.com/trailbell/trailbell/internal/notify/chat"
)

// Publisher is the part of the SNS client the Notifier uses.
type Publisher interface {
	Publish(ctx context.Context, in *awssns.PublishInput, opts ...func(*awssns.Options)) (*awssns.PublishOutput, error)
}

// Options configure a Notifier.
type Options struct {
	TopicARN string
	// MessageStructureJSON publishes per-protocol messages: the Chatbot payload for
	// https (Chatbot) and sqs/lambda subscribers, plain text for email and default.
	MessageStructureJSON bool
	Style                chat.Style
}

// Notifier publishes findings.
type Notifier struct {
	o   Options
	pub Publisher
}

var _ notify.Notifier = (*Notifier)(nil)

// New returns a Notifier publishing through pub.
func New(pub Publisher, o Options) (*Notifier, error) {
	if !strings.HasPrefix(o.TopicARN, "arn:") {
		return nil, errors.New("sns: a topic ARN is required")
	}
	return &Notifier{o: o, pub: pub}, nil
}

// Chatbot is AWS Chatbot's custom notification.
type Chatbot struct {
	Version  string   `json:"version"`
	Source   string   `json:"source"`
	Content  Content  `json:"content"`
	Metadata Metadata `json:"metadata"`
}

type Content struct {
	TextType    string   `json:"textType"`
	Title       string   `json:"title"`
	Description string   `json:"description"`
	NextSteps   []string `json:"nextSteps,omitempty"`
	Keywords    []string `json:"keywords,omitempty"`
}

type Metadata struct {
	ThreadID          string            `json:"threadId,omitempty"`
	Summary           string            `json:"summary,omitempty"`
	EventType         string            `json:"eventType,omitempty"`
	RelatedResources  []string          `json:"relatedResources,omitempty"`
	AdditionalContext map[string]string `json:"additionalContext,omitempty"`
}

// Limits we keep (Chatbot truncates or refuses beyond them; SNS refuses a message over
// 256 KiB).
const (
	maxTitle       = 250
	maxDescription = 8000
	maxKeywords    = 10
	maxKeyword     = 75
	maxSubject     = 100
	maxField       = 256 // thread id, summary, related resources, context values
	maxRelated     = 5
	maxLink        = 3000
	maxStep        = 1000 // one next step (a runbook line)
	maxText        = 3000 // the plain text for e-mail and the default protocol
	// MaxMessageBytes is SNS's limit on a message with its subject.
	MaxMessageBytes = 256 << 10
)

// Build renders findings as a Chatbot notification: one alert, a summary of repeats of
// one rule and principal, or a digest of different findings.
func Build(st chat.Style, fs ...*finding.Finding) Chatbot {
	return build(st, maxDescription, fs)
}

func build(st chat.Style, descLimit int, fs []*finding.Finding) Chatbot {
	if len(fs) > 1 && !finding.SameGroup(fs) {
		return digestOf(st, descLimit, fs)
	}
	f := fs[0]
	prefix := ""
	if len(fs) > 1 {
		prefix = fmt.Sprintf("%d× ", len(fs))
	}
	var d strings.Builder
	fmt.Fprintf(&d, "*%s* · rule %s\n", strings.ToUpper(f.Severity.String()), chat.Code(f.Rule))
	if f.Description != "" {
		d.WriteString(chat.Escape(f.Description) + "\n") // the rule's own words
	}
	if also := chat.Also(f); len(also) > 0 {
		fmt.Fprintf(&d, "*This event also matched %d other rule(s):*\n• %s\n", len(also), strings.Join(also, "\n• "))
	}
	if f.Actor != nil {
		fmt.Fprintf(&d, "*Actor:* %s\n", oneLine(chat.Actor(f.Actor)))
	}
	if len(fs) == 1 {
		fmt.Fprintf(&d, "*Who:* %s\n", oneLine(chat.Who(f)))
		fmt.Fprintf(&d, "*Did what:* %s on %s\n", chat.Code(f.EventName), chat.Text(f.EventSource))
		if f.Target != "" {
			fmt.Fprintf(&d, "*To whom:* %s\n", chat.Code(f.Target))
		}
		fmt.Fprintf(&d, "*Where:* %s · %s · from %s\n", account(st, f), chat.Text(f.Region), chat.Code(f.SourceIPAddress))
		fmt.Fprintf(&d, "*When:* %s\n", chat.Text(f.EventTime))
		fmt.Fprintf(&d, "*Result:* %s\n", oneLine(chat.Result(f)))
		fmt.Fprintf(&d, "*Credentials:* %s\n", oneLine(chat.Credentials(f)))
		fmt.Fprintf(&d, "*User agent:* %s\n", oneLine(chat.UserAgent(f)))
		for _, p := range f.Params {
			fmt.Fprintf(&d, "• %s: %s\n", chat.Text(p.Name), chat.Code(p.Value))
		}
		for _, g := range f.Grants {
			fmt.Fprintf(&d, "• grants: %s\n", chat.Text(g))
		}
		if len(f.Events) > 0 {
			d.WriteString("*Events*, oldest first:\n")
			for _, e := range chat.Events(f, 20) {
				d.WriteString("• " + e + "\n")
			}
		}
		fmt.Fprintf(&d, "eventID %s", chat.Code(f.EventID))
	} else {
		fmt.Fprintf(&d, "*Who:* %s\n", chat.Code(f.Principal))
		fmt.Fprintf(&d, "*Where:* %s\n", account(st, f))
		for i, x := range fs {
			if i == 20 {
				fmt.Fprintf(&d, "…and %d more\n", len(fs)-i)
				break
			}
			line := fmt.Sprintf("• %s %s eventID %s", chat.Text(x.EventTime), chat.Code(x.EventName), chat.Code(x.EventID))
			d.WriteString(chat.WithAlso(line, x, maxDescription/20) + "\n")
		}
	}
	// What to do first: the runbook with this event's values, then the console links.
	var next []string
	for _, l := range chat.Runbook(f) {
		next = append(next, chat.Trim(l, maxStep))
	}
	if u := chat.CloudTrailURL(f); u != "" && len(u) <= maxLink {
		next = append(next, "Open the event in CloudTrail: "+u)
	}
	if label, u := chat.IAMURL(f); u != "" && len(u) <= maxLink {
		next = append(next, "Review "+chat.Text(chat.TrimPlain(label, maxField))+" in IAM: "+u)
	}
	if label, u := chat.CallerIAMURL(f); u != "" && len(u) <= maxLink {
		next = append(next, "The caller in IAM, "+chat.Text(chat.TrimPlain(label, maxField))+": "+u)
	}
	var kw []string
	for _, k := range append([]string{f.Severity.String(), f.Rule}, f.Tags...) {
		if k != "" && len(kw) < maxKeywords {
			kw = append(kw, chat.TrimPlain(chat.Plain(k), maxKeyword))
		}
	}
	field := func(s string) string { return chat.TrimPlain(chat.Plain(s), maxField) }
	ctx := map[string]string{"eventID": field(f.EventID), "account": field(f.Account), "region": field(f.Region), "rule": field(f.Rule)}
	if f.AttackTool != "" {
		ctx["attackTool"] = field(f.AttackTool)
	}
	var related []string
	if f.Target != "" {
		related = append(related, field(f.Target))
	}
	return Chatbot{
		Version: "1.0",
		Source:  "custom",
		Content: Content{
			TextType:    "client-markdown",
			Title:       chat.Header(chat.Emoji(f.Severity)+" "+prefix, f, maxTitle),
			Description: chat.Trim(d.String(), descLimit),
			NextSteps:   next,
			Keywords:    kw,
		},
		Metadata: Metadata{
			ThreadID:          field(f.Rule + ":" + f.Principal),
			Summary:           chat.Header(prefix, f, maxTitle),
			EventType:         field(f.Rule),
			RelatedResources:  related,
			AdditionalContext: ctx,
		},
	}
}

// oneLine joins the lines of a multi-line field for one line of the description.
func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " · ") }

func account(st chat.Style, f *finding.Finding) string {
	s := chat.Code(f.Account)
	if a := st.Accounts[f.Account]; a != "" {
		s += " (" + chat.Text(a) + ")"
	}
	return s
}

// subject makes SNS's e-mail subject of the plain text: printable ASCII, at most 100
// characters.
func subject(text string) string {
	s := strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return ' '
		}
		return r
	}, text)
	if len(s) > maxSubject {
		s = s[:maxSubject-3] + "..."
	}
	return s
}

// Notify publishes one message. Throttling, internal errors and network errors are
// retried; authorization, not-found and parameter errors are permanent.
func (n *Notifier) Notify(ctx context.Context, fs ...*finding.Finding) (bool, error) {
	if len(fs) == 0 {
		return false, nil
	}
	in, err := n.input(fs)
	if err != nil {
		return false, err
	}
	if _, err := n.pub.Publish(ctx, in); err != nil {
		retry, err := classify(err)
		return retry, fmt.Errorf("sns publish: %w", err)
	}
	return false, nil
}

// input is the Publish call for fs, within SNS's size limit: the description (the only
// part that grows with the findings) is halved until the message fits.
func (n *Notifier) input(fs []*finding.Finding) (*awssns.PublishInput, error) {
	text := chat.Line(maxText, fs...)
	subj := subject(text)
	for limit := maxDescription; ; limit /= 2 {
		payload, err := json.Marshal(build(n.o.Style, limit, fs))
		if err != nil {
			return nil, fmt.Errorf("sns: encode: %w", err)
		}
		in := &awssns.PublishInput{TopicArn: aws.String(n.o.TopicARN), Message: aws.String(string(payload)), Subject: aws.String(subj)}
		if n.o.MessageStructureJSON {
			per := map[string]string{"default": text, "email": text, "https": string(payload), "sqs": string(payload), "lambda": string(payload)}
			b, err := json.Marshal(per)
			if err != nil {
				return nil, fmt.Errorf("sns: encode: %w", err)
			}
			in.Message = aws.String(string(b))
			in.MessageStructure = aws.String("json")
		}
		if len(*in.Message)+len(subj) <= MaxMessageBytes || limit < 100 {
			return in, nil
		}
	}
}

func classify(err error) (bool, error) {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return notify.NetworkError(notify.Redact(err))
	}
	code := ae.ErrorCode()
	switch code {
	case "Throttling", "ThrottlingException", "ThrottledException", "InternalError", "InternalFailure",
		"ServiceUnavailable", "KMSThrottling", "RequestTimeout":
		return true, &notify.Error{Reason: "sns_" + code, Err: err}
	}
	return false, &notify.Error{Reason: "sns_" + code, Err: err}
}

// digestOf lists different findings that waited in a backlog.
func digestOf(st chat.Style, descLimit int, fs []*finding.Finding) Chatbot {
	var d strings.Builder
	for i, f := range fs {
		if i == 50 {
			fmt.Fprintf(&d, "…and %d more\n", len(fs)-i)
			break
		}
		// Each line alone keeps its spans paired, however long its values.
		line := fmt.Sprintf("• *%s* %s by %s in %s · eventID %s", strings.ToUpper(f.Severity.String()),
			chat.Text(chat.Title(f)), chat.Code(f.Principal), account(st, f), chat.Code(f.EventID))
		d.WriteString(chat.WithAlso(line, f, maxDescription/50) + "\n")
	}
	title := fmt.Sprintf("%d alerts (digest)", len(fs))
	return Chatbot{
		Version: "1.0",
		Source:  "custom",
		Content: Content{TextType: "client-markdown", Title: title, Description: chat.Trim(d.String(), descLimit),
			Keywords: []string{finding.Worst(fs).String(), "digest"}},
		Metadata: Metadata{Summary: title, EventType: "digest"},
	}
}
