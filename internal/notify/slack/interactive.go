package slack

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/trailbell/trailbell/internal/finding"
	"github.com/trailbell/trailbell/internal/notify"
	"github.com/trailbell/trailbell/internal/notify/chat"
	"github.com/trailbell/trailbell/internal/triage"
)

// Interactive alerts: the Web API receiver's messages carry triage's state and buttons
// (acknowledge, ask the actor, mute), the actor gets a direct question with Yes and No, and
// mutes and reasons are asked for in modals. Everything that came from an event stays text
// (package chat); a mention is made only of a Slack user id.

// Modal limits (Block Kit), in characters.
const (
	maxModalTitle  = 24
	maxOptionText  = 75
	maxModalBlocks = 100
	maxMetadata    = 3000
)

// fallbackOf is the notification text of a thread note.
func fallbackOf(text string) string { return chat.Trim(text, maxFallback) }

func mention(id string) string {
	if !triage.IsUserID(id) {
		return "someone"
	}
	return "<@" + id + ">"
}

func channelLink(id string) string {
	if !channelIDRE.MatchString(id) {
		return "the alert's channel"
	}
	return "<#" + id + ">"
}

func clock(t time.Time) string { return t.UTC().Format("15:04 UTC, 2 Jan") }

// actorName is the actor of the alert's lead finding, as plain words.
func actorName(a *triage.Alert) string {
	act := a.Lead().Actor
	if act == nil {
		return ""
	}
	if act.Name != "" {
		return act.Name
	}
	return act.ID
}

// status says what people did about an alert, one line each (mrkdwn).
func status(a *triage.Alert) []string {
	var lines []string
	if a.Ack != nil {
		lines = append(lines, fmt.Sprintf(":white_check_mark: Acknowledged by %s at %s", mention(a.Ack.By.ID), clock(a.Ack.At)))
	}
	if q := a.Ask; q != nil {
		who := chat.Code(actorName(a))
		if q.User != "" {
			who = mention(q.User)
		}
		switch q.State {
		case triage.AskSending:
			lines = append(lines, fmt.Sprintf(":speech_balloon: %s asked the actor %s whether they did this (%s)", mention(q.By.ID), chat.Code(actorName(a)), clock(q.At)))
		case triage.AskAsked:
			lines = append(lines, fmt.Sprintf(":speech_balloon: Asked %s whether they did this; no answer by %s escalates it", who, clock(q.Deadline)))
		case triage.AskYes:
			lines = append(lines, fmt.Sprintf(":ok_hand: %s did this: “%s”", who, chat.Text(q.Reason)))
		case triage.AskNo:
			lines = append(lines, fmt.Sprintf(":rotating_light: %s says they did *not* do this: escalated at %s", who, clock(q.Answered)))
		case triage.AskNoAnswer:
			lines = append(lines, fmt.Sprintf(":rotating_light: No answer from %s by %s: escalated", who, clock(q.Deadline)))
		case triage.AskFailed:
			lines = append(lines, ":warning: Could not ask the actor: "+chat.Text(q.Error))
		}
	}
	if a.Mute != "" {
		lines = append(lines, fmt.Sprintf(":no_bell: Muted for this principal until %s (mute %s; see the thread)", clock(a.MuteUntil), chat.Code(a.Mute)))
	}
	if !a.Reraised.IsZero() {
		lines = append(lines, fmt.Sprintf(":arrow_double_up: Not acknowledged in time: re-raised at %s", clock(a.Reraised)))
	}
	return lines
}

// triageButtons are the alert's buttons for what may still be done.
func triageButtons(a *triage.Alert, svc *triage.Service) []slack.BlockElement {
	var els []slack.BlockElement
	if a.Ack == nil {
		b := slack.NewButtonBlockElement(triage.ActAck, a.ID, plain("Acknowledge"))
		b.Style = slack.StylePrimary
		els = append(els, b)
	}
	if svc.Askable(a) && (a.Ask == nil || a.Ask.State == triage.AskFailed) {
		label := chat.TrimPlain(chat.Plain("Ask "+actorName(a)), maxButtonText)
		els = append(els, slack.NewButtonBlockElement(triage.ActAsk, a.ID, plain(label)))
	}
	switch {
	case a.Mute != "":
		els = append(els, slack.NewButtonBlockElement(triage.ActUnmute, a.Mute, plain("Unmute")))
	case a.Kind() != triage.Digest && a.Lead().Principal != "":
		els = append(els, slack.NewButtonBlockElement(triage.ActMute, a.ID, plain("Mute…")))
	}
	return els
}

// blockID is unique to a state of a message: Slack asks for a new block_id when a message
// is updated.
func blockID(prefix string, lines []string, els []slack.BlockElement) string {
	h := sha256.New()
	for _, l := range lines {
		h.Write([]byte(l + "\n"))
	}
	for _, e := range els {
		if b, ok := e.(*slack.ButtonBlockElement); ok {
			h.Write([]byte(b.ActionID + "\n"))
		}
	}
	return prefix + "." + hex.EncodeToString(h.Sum(nil)[:4])
}

// withTriage adds an alert's state and buttons to its message, before its last block (the
// context line), keeping Slack's 50 blocks.
func withTriage(msg *Message, a *triage.Alert, svc *triage.Service) {
	if len(msg.Attachments) == 0 {
		return
	}
	set := msg.Attachments[0].Blocks.BlockSet
	var add []slack.Block
	if lines := status(a); len(lines) > 0 {
		s := slack.NewSectionBlock(mrkdwn(chat.Trim(strings.Join(lines, "\n"), maxSectionText)), nil, nil)
		s.BlockID = blockID("trailbell_status", lines, nil)
		add = append(add, s)
	}
	if els := triageButtons(a, svc); len(els) > 0 {
		add = append(add, slack.NewActionBlock(blockID("trailbell_triage", status(a), els), els...))
	}
	if len(set) == 0 {
		msg.Attachments[0].Blocks.BlockSet = add
		return
	}
	last := set[len(set)-1]
	body := set[:len(set)-1]
	if n := len(body) + len(add) + 1; n > maxBlocks {
		body = body[:len(body)-(n-maxBlocks)]
	}
	out := make([]slack.Block, 0, len(body)+len(add)+1)
	out = append(append(append(out, body...), add...), last)
	msg.Attachments[0].Blocks.BlockSet = out
}

// alertMessage is an interactive alert's message in its current state.
func (n *API) alertMessage(a *triage.Alert) Message {
	fs := make([]*finding.Finding, len(a.Findings))
	for i := range a.Findings {
		fs[i] = &a.Findings[i]
	}
	msg := Build(n.o.Style, fs...)
	withTriage(&msg, a, n.o.Triage)
	return msg
}

// question is the direct message that asks the actor whether they did it: the event in
// words, and Yes and No while the question is open.
func question(a *triage.Alert, st Style) Message {
	f := a.Lead()
	q := a.Ask
	intro := fmt.Sprintf(":wave: Hi, this is trailbell. %s is looking at a security alert in %s and asks: *did you do this?*",
		mention(q.By.ID), channelLink(a.Channel))
	what := chat.Code(f.EventName)
	if f.EventSource != "" {
		what += " on " + chat.Text(f.EventSource)
	}
	if f.Target != "" {
		what += " to " + chat.Code(f.Target)
	}
	from := chat.Code(orUnknown(f.SourceIPAddress))
	if f.UserAgent != "" {
		from += " with " + chat.Code(chat.Fit(f.UserAgent, 120))
	}
	fields := []string{
		"*What*\n" + what,
		"*When*\n" + chat.Text(orUnknown(f.EventTime)),
		"*Where*\n" + account(f, st) + " · " + chat.Text(orUnknown(f.Region)),
		"*From*\n" + from,
		"*As*\n" + chat.Code(orUnknown(f.Principal)),
	}
	var fo []*slack.TextBlockObject
	for _, fl := range fields {
		fo = append(fo, mrkdwn(chat.Trim(fl, maxFieldText)))
	}
	blocks := []slack.Block{
		section(intro),
		section("*" + chat.Text(chat.Title(f)) + "*"),
		slack.NewSectionBlock(nil, fo, nil),
	}
	switch q.State {
	case triage.AskAsked:
		yes := slack.NewButtonBlockElement(triage.ActYes, a.ID, plain("Yes, it was me"))
		yes.Style = slack.StylePrimary
		no := slack.NewButtonBlockElement(triage.ActNo, a.ID, plain("No, it wasn't me"))
		no.Style = slack.StyleDanger
		no.Confirm = slack.NewConfirmationBlockObject(plain("Not you?"),
			plain("Security will be told at once that someone else may be using your access."), plain("It wasn't me"), plain("Cancel"))
		blocks = append(blocks, slack.NewActionBlock("trailbell_answer", yes, no),
			slack.NewContextBlock("", mrkdwn(fmt.Sprintf("No answer by %s is taken as “not me”: security is told.", clock(q.Deadline)))))
	case triage.AskYes:
		blocks = append(blocks, section(fmt.Sprintf(":white_check_mark: You answered *Yes* at %s: “%s”. Thank you: it is recorded in the alert's thread.",
			clock(q.Answered), chat.Text(q.Reason))))
	case triage.AskNo:
		blocks = append(blocks, section(fmt.Sprintf(":rotating_light: You answered *No* at %s. Security has been told and will follow up.", clock(q.Answered))))
	case triage.AskNoAnswer:
		blocks = append(blocks, section(fmt.Sprintf(":hourglass: This question closed at %s without an answer; security has been told.", clock(q.Deadline))))
	}
	return Message{
		Text:        chat.Trim("Did you do this? "+chat.Text(chat.Title(f)), maxFallback),
		Blocks:      blocks,
		UnfurlLinks: false, UnfurlMedia: false,
	}
}

// metadata is what a modal carries back: the alert and the user it was opened for.
type metadata struct {
	Alert string `json:"alert"`
	User  string `json:"user"`
}

// durationWords is a mute's length in words.
func durationWords(d time.Duration) string {
	unit := func(n int64, one string) string {
		if n == 1 {
			return "1 " + one
		}
		return strconv.FormatInt(n, 10) + " " + one + "s"
	}
	switch {
	case d >= 24*time.Hour && d%(24*time.Hour) == 0:
		return unit(int64(d/(24*time.Hour)), "day")
	case d >= time.Hour && d%time.Hour == 0:
		return unit(int64(d/time.Hour), "hour")
	case d >= time.Minute && d%time.Minute == 0:
		return unit(int64(d/time.Minute), "minute")
	}
	return d.String()
}

func option(text, value, description string) *slack.OptionBlockObject {
	var desc *slack.TextBlockObject
	if description != "" {
		desc = plain(chat.TrimPlain(chat.Plain(description), maxOptionText))
	}
	return slack.NewOptionBlockObject(value, plain(chat.TrimPlain(text, maxOptionText)), desc)
}

// reasonInput is the modal's reason field.
func reasonInput(label, hint string) *slack.InputBlock {
	in := slack.NewPlainTextInputBlockElement(plain("a few words"), "reason")
	in.Multiline = true
	in.MaxLength = triage.MaxReason
	return slack.NewInputBlock("reason", plain(label), plain(hint), in)
}

// muteModal asks for how long and why to mute the alert's rule for its principal.
func muteModal(a *triage.Alert, user string, durations []time.Duration) slack.ModalViewRequest {
	f := a.Lead()
	meta, _ := json.Marshal(metadata{Alert: a.ID, User: user})
	rules := chat.Code(f.Rule)
	if also := len(f.Also); also > 0 {
		rules += fmt.Sprintf(" and the %d other rule(s) this event matched", also)
	}
	blocks := []slack.Block{
		section(fmt.Sprintf("*%s*\nNo alert of %s for %s until the mute ends. The channel is told, and the mute is listed by `trailbell mutes`.",
			chat.Text(chat.Title(f)), rules, chat.Code(orUnknown(f.Principal)))),
	}
	if role := triage.RolePrincipal(f.Principal); role != "" {
		session := f.Principal[strings.LastIndexByte(f.Principal, '/')+1:]
		roleName := strings.TrimSuffix(role[strings.Index(role, ":assumed-role/")+len(":assumed-role/"):], "/*")
		only := option("This session only", triage.ScopePrincipal, "session "+session)
		every := option("Every session of the role", triage.ScopeRole, "role "+roleName)
		radio := slack.NewRadioButtonsBlockElement("scope", only, every)
		radio.InitialOption = only
		blocks = append(blocks, slack.NewInputBlock("scope", plain("Principal"), nil, radio))
	}
	opts := make([]*slack.OptionBlockObject, len(durations))
	for i, d := range durations {
		opts[i] = option(durationWords(d), strconv.FormatInt(int64(d/time.Second), 10), "")
	}
	sel := slack.NewOptionsSelectBlockElement(slack.OptTypeStatic, plain("how long"), "duration", opts...)
	sel.InitialOption = opts[0]
	blocks = append(blocks,
		slack.NewInputBlock("duration", plain("For"), nil, sel),
		reasonInput("Why", "Shown in the channel and kept in the audit log."))
	return slack.ModalViewRequest{
		Type:            slack.VTModal,
		CallbackID:      triage.ModalMute,
		PrivateMetadata: string(meta),
		Title:           plain("Mute this rule"),
		Submit:          plain("Mute"),
		Close:           plain("Cancel"),
		Blocks:          slack.Blocks{BlockSet: blocks},
	}
}

// reasonModal asks the actor who answered Yes for a short reason.
func reasonModal(a *triage.Alert, user string) slack.ModalViewRequest {
	meta, _ := json.Marshal(metadata{Alert: a.ID, User: user})
	return slack.ModalViewRequest{
		Type:            slack.VTModal,
		CallbackID:      triage.ModalReason,
		PrivateMetadata: string(meta),
		Title:           plain("It was me"),
		Submit:          plain("Send"),
		Close:           plain("Cancel"),
		Blocks: slack.Blocks{BlockSet: []slack.Block{
			section(fmt.Sprintf("Thanks. *%s*\nIn a few words, what was it for? Your answer goes into the alert's thread in %s.",
				chat.Text(chat.Title(a.Lead())), channelLink(a.Channel))),
			reasonInput("What it was for", "For example: rotating the deploy key, as in ticket OPS-123."),
		}},
	}
}

// Triage is what triage does in Slack (triage.Slack), with each interactive receiver's bot
// token, and the modals its interactions open.
type Triage struct {
	apis map[string]*API // by receiver
}

var _ triage.Slack = (*Triage)(nil)

// NewTriage returns the Slack side of triage for the interactive receivers' notifiers.
func NewTriage(apis map[string]*API) *Triage { return &Triage{apis: apis} }

func (t *Triage) api(receiver string) (*API, error) {
	n := t.apis[receiver]
	if n == nil {
		return nil, fmt.Errorf("%w: %w %q", triage.ErrPermanent, errNoReceiver, receiver)
	}
	return n, nil
}

func (t *Triage) UpdateAlert(ctx context.Context, a *triage.Alert) error {
	n, err := t.api(a.Receiver)
	if err != nil {
		return err
	}
	msg := n.alertMessage(a)
	ids := make([]*finding.Finding, len(a.Findings))
	for i := range a.Findings {
		ids[i] = &a.Findings[i]
	}
	msg.Metadata = &Metadata{EventType: metadataType, EventPayload: MetadataPayload{Delivery: notify.DeliveryID(ids...), Findings: len(ids)}}
	return n.update(ctx, a.Channel, a.TS, msg)
}

func (t *Triage) Note(ctx context.Context, a *triage.Alert, text string, broadcast bool) error {
	n, err := t.api(a.Receiver)
	if err != nil {
		return err
	}
	thread := a.Thread
	if thread == "" {
		thread = a.TS
	}
	return n.postThread(ctx, a.Channel, thread, text, broadcast)
}

func (t *Triage) Ask(ctx context.Context, a *triage.Alert) (string, string, error) {
	n, err := t.api(a.Receiver)
	if err != nil {
		return "", "", err
	}
	dm, err := n.openDM(ctx, a.Ask.User)
	if err != nil {
		return "", "", err
	}
	msg := question(a, n.o.Style)
	msg.Channel = dm
	ch, ts, err := n.post(ctx, msg)
	if err != nil {
		return "", "", err
	}
	if ch == "" {
		ch = dm
	}
	return ch, ts, nil
}

func (t *Triage) UpdateQuestion(ctx context.Context, a *triage.Alert) error {
	n, err := t.api(a.Receiver)
	if err != nil {
		return err
	}
	return n.update(ctx, a.Ask.DM, a.Ask.DMTS, question(a, n.o.Style))
}

func (t *Triage) LookupEmail(ctx context.Context, receiver, email string) (string, error) {
	n, err := t.api(receiver)
	if err != nil {
		return "", err
	}
	return n.lookupByEmail(ctx, email)
}

func (t *Triage) Ephemeral(ctx context.Context, responseURL, text string) error {
	for _, n := range t.apis { // any client will do: a response_url needs no token
		return n.respond(ctx, responseURL, text)
	}
	return fmt.Errorf("%w: %w", triage.ErrPermanent, errNoReceiver)
}

// openModal opens the modal a click asked for, with the alert's receiver's token.
func (t *Triage) openModal(ctx context.Context, trigger string, r triage.Reply, user string, svc *triage.Service) error {
	n, err := t.api(r.Alert.Receiver)
	if err != nil {
		return err
	}
	var v slack.ModalViewRequest
	switch r.Modal {
	case triage.ModalMute:
		v = muteModal(r.Alert, user, svc.MuteDurations())
	case triage.ModalReason:
		v = reasonModal(r.Alert, user)
	default:
		return fmt.Errorf("unknown modal %q", r.Modal)
	}
	return n.openView(ctx, trigger, v)
}
