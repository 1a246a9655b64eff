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
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/smithy-go"

	"github.com/trailbell/trailbell/internal/finding"
	"github.com/trailbell/trailbell/internal/notify"
	"github.com/trailbell/trailbell/internal/notify/slack"
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
	Style                slack.Style
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

// Limits we keep (Chatbot truncates or refuses beyond them).
const (
	maxTitle       = 250
	maxDescription = 8000
	maxKeywords    = 10
	maxKeyword     = 75
	maxSubject     = 100
)

// Build renders findings of one group as a Chatbot notification.
func Build(st slack.Style, fs ...*finding.Finding) Chatbot {
	if len(fs) > 1 && !notify.SameGroup(fs) {
		return digestOf(st, fs)
	}
	f := fs[0]
	title := slack.Title(f)
	if len(fs) > 1 {
		title = fmt.Sprintf("%d× %s", len(fs), title)
	}
	var d strings.Builder
	acct := "`" + slack.Escape(f.Account) + "`"
	if a := st.Accounts[f.Account]; a != "" {
		acct += " (" + slack.Escape(a) + ")"
	}
	fmt.Fprintf(&d, "*%s* · rule `%s`\n", strings.ToUpper(f.Severity.String()), slack.Escape(f.Rule))
	if f.Description != "" {
		d.WriteString(slack.Escape(f.Description) + "\n")
	}
	fmt.Fprintf(&d, "*Who:* `%s`\n", slack.Escape(f.Principal))
	if len(fs) == 1 {
		fmt.Fprintf(&d, "*Did what:* `%s` on %s\n", slack.Escape(f.EventName), slack.Escape(f.EventSource))
		if f.Target != "" {
			fmt.Fprintf(&d, "*To whom:* `%s`\n", slack.Escape(f.Target))
		}
		fmt.Fprintf(&d, "*Where:* %s · %s · from `%s`\n", acct, slack.Escape(f.Region), slack.Escape(f.SourceIPAddress))
		fmt.Fprintf(&d, "*When:* %s\n", slack.Escape(f.EventTime))
		if f.Failed() {
			fmt.Fprintf(&d, "*Result:* failed: `%s` %s\n", slack.Escape(f.ErrorCode), slack.Escape(f.ErrorMessage))
		} else {
			d.WriteString("*Result:* succeeded\n")
		}
		for _, p := range f.Params {
			fmt.Fprintf(&d, "• %s: `%s`\n", slack.Escape(p.Name), slack.Escape(p.Value))
		}
		for _, g := range f.Grants {
			fmt.Fprintf(&d, "• grants: %s\n", slack.Escape(g))
		}
		fmt.Fprintf(&d, "eventID `%s`", slack.Escape(f.EventID))
	} else {
		fmt.Fprintf(&d, "*Where:* %s\n", acct)
		for i, x := range fs {
			if i == 20 {
				fmt.Fprintf(&d, "…and %d more\n", len(fs)-i)
				break
			}
			fmt.Fprintf(&d, "• %s `%s` eventID `%s`\n", slack.Escape(x.EventTime), slack.Escape(x.EventName), slack.Escape(x.EventID))
		}
	}
	var next []string
	if u := slack.CloudTrailURL(f); u != "" {
		next = append(next, "Open the event in CloudTrail: "+u)
	}
	if label, u := slack.IAMURL(f); u != "" {
		next = append(next, "Review "+slack.Escape(label)+" in IAM: "+u)
	}
	var kw []string
	for _, k := range append([]string{f.Severity.String(), f.Rule}, f.Tags...) {
		if k != "" && len(kw) < maxKeywords {
			kw = append(kw, trim(k, maxKeyword))
		}
	}
	ctx := map[string]string{"eventID": f.EventID, "account": f.Account, "region": f.Region, "rule": f.Rule}
	var related []string
	if f.Target != "" {
		related = append(related, f.Target)
	}
	return Chatbot{
		Version: "1.0",
		Source:  "custom",
		Content: Content{
			TextType:    "client-markdown",
			Title:       trim(slack.Emoji(f.Severity)+" "+title, maxTitle),
			Description: slack.Trim(d.String(), maxDescription),
			NextSteps:   next,
			Keywords:    kw,
		},
		Metadata: Metadata{
			ThreadID:          f.Rule + ":" + f.Principal,
			Summary:           trim(title, maxTitle),
			EventType:         f.Rule,
			RelatedResources:  related,
			AdditionalContext: ctx,
		},
	}
}

func trim(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
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
	payload, err := json.Marshal(Build(n.o.Style, fs...))
	if err != nil {
		return false, fmt.Errorf("sns: encode: %w", err)
	}
	text := slack.Fallback(fs...)
	in := &awssns.PublishInput{TopicArn: aws.String(n.o.TopicARN), Message: aws.String(string(payload)), Subject: aws.String(subject(text))}
	if n.o.MessageStructureJSON {
		per := map[string]string{"default": text, "email": text, "https": string(payload), "sqs": string(payload), "lambda": string(payload)}
		b, err := json.Marshal(per)
		if err != nil {
			return false, fmt.Errorf("sns: encode: %w", err)
		}
		in.Message = aws.String(string(b))
		in.MessageStructure = aws.String("json")
	}
	if _, err := n.pub.Publish(ctx, in); err != nil {
		retry, err := classify(err)
		return retry, fmt.Errorf("sns publish: %w", err)
	}
	return false, nil
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
func digestOf(st slack.Style, fs []*finding.Finding) Chatbot {
	var d strings.Builder
	for i, f := range fs {
		if i == 50 {
			fmt.Fprintf(&d, "…and %d more\n", len(fs)-i)
			break
		}
		acct := slack.Escape(f.Account)
		if a := st.Accounts[f.Account]; a != "" {
			acct += " (" + slack.Escape(a) + ")"
		}
		fmt.Fprintf(&d, "• *%s* %s by `%s` in %s · eventID `%s`\n", strings.ToUpper(f.Severity.String()),
			slack.Escape(f.Title), slack.Escape(f.Principal), acct, slack.Escape(f.EventID))
	}
	title := fmt.Sprintf("%d alerts (digest)", len(fs))
	return Chatbot{
		Version: "1.0",
		Source:  "custom",
		Content: Content{TextType: "client-markdown", Title: title, Description: slack.Trim(d.String(), maxDescription),
			Keywords: []string{notify.Worst(fs).String(), "digest"}},
		Metadata: Metadata{Summary: title, EventType: "digest"},
	}
}
