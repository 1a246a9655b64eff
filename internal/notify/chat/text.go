package chat

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Text from an event is attacker-chosen (a user agent, a session name, an error message, a
// policy's resource). In mrkdwn it must stay text: no mention, no link, no formatting, no
// quote, no hidden characters. Every event string goes through Text (prose) or Code (an
// identifier shown in a code span), never straight into a message. The text objects they
// go into are sent with verbatim set, so Slack does not link bare URLs and names either.

// Clean drops what has no business in an alert: control characters (tabs become spaces),
// bidi overrides and isolates, zero-width and other invisible format characters, and bytes
// that are not UTF-8 (they become U+FFFD). Line breaks are kept as '\n'. Plain-text fields
// (headers, buttons) use it alone: Slack does not parse them.
func Clean(s string) string {
	if len(s) > maxValue {
		i := maxValue
		for i > 0 && !utf8.RuneStart(s[i]) {
			i--
		}
		return clean(s[:i]) + "…"
	}
	return clean(s)
}

// maxValue bounds how much of one event string is looked at: no message shows more than a
// few thousand characters of one, and hostile input can be megabytes. Clean marks the cut.
const maxValue = 8 << 10

func clean(s string) string {
	var b strings.Builder
	last := 0 // s[last:i] is still to copy
	for i := 0; i < len(s); {
		if c := s[i]; c >= 0x20 && c < 0x7f {
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		var repl string
		switch {
		case r == '\n' || (r != utf8.RuneError && !hidden(r) && r != '\u2028' && r != '\u2029'):
			i += n // kept as it is
			continue
		case r == '\r' && i+1 < len(s) && s[i+1] == '\n': // \r\n is one break: drop the \r
		case r == '\r' || r == '\u2028' || r == '\u2029' || r == '\u0085':
			repl = "\n"
		case r == '\t':
			repl = " "
		case r == utf8.RuneError && n == 1:
			repl = "\uFFFD" // a byte that is not UTF-8
		case r == utf8.RuneError:
			i += n // a literal U+FFFD
			continue
		}
		if b.Cap() == 0 {
			b.Grow(len(s))
		}
		b.WriteString(s[last:i])
		b.WriteString(repl)
		i += n
		last = i
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// hidden reports a control character (Cc: C0, DEL, C1) or an invisible format character
// (Cf: bidi controls U+202A-202E, U+2066-2069, U+200E/F, U+061C; zero-width space, joiners
// and word joiner; BOM; soft hyphen; tag characters).
func hidden(r rune) bool {
	switch {
	case r < 0x20 || r == 0x7f:
		return true
	case r < 0xa0:
		return r >= 0x80
	}
	return unicode.Is(unicode.Cf, r)
}

// Plain is Clean on one line (breaks become spaces), for plain-text fields: headers,
// buttons, Chatbot's titles and keywords.
func Plain(s string) string { return strings.ReplaceAll(Clean(s), "\n", " ") }

// Escape escapes mrkdwn's three control characters: Slack parses &, < and >, which is how
// a value could ping @channel or plant a link. It is for text we wrote (rule descriptions,
// configuration); event strings go through Text or Code, which also call it.
func Escape(s string) string {
	if !strings.ContainsAny(s, "&<>") {
		return s
	}
	return escaper.Replace(s)
}

var escaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// Look-alikes for characters that would format attacker text. Slack's mrkdwn has no
// backslash escape, so a marker is replaced by a character that looks the same and means
// nothing to Slack.
const (
	starLike     = "∗" // U+2217 ASTERISK OPERATOR, for * (bold)
	tildeLike    = "∼" // U+223C TILDE OPERATOR, for ~ (strike)
	backtickLike = "ˋ" // U+02CB MODIFIER LETTER GRAVE ACCENT, for ` (code)
	lowLineLike  = "ˍ" // U+02CD MODIFIER LETTER LOW MACRON, for _ (italic)
	quoteLike    = "›" // U+203A, for a > that would start a quote
)

// Text makes an event string safe as mrkdwn prose on one line: cleaned, line breaks
// turned into spaces (a break could start a quote or a list), &, < and > escaped, and
// the formatting markers neutralised: every *, ~ and backtick, a leading >, and a _ that
// is not inside a word (snake_case names keep theirs: Slack does not italicise there).
func Text(s string) string {
	s = Clean(s)
	if !strings.ContainsAny(s, "*_~`>\n&<") {
		return s
	}
	lead := len(s) - len(strings.TrimLeft(s, " \n")) // a > here would start a quote
	var b strings.Builder
	b.Grow(len(s) + 16)
	last := 0
	for i := 0; i < len(s); i++ {
		var repl string
		switch s[i] {
		case '*':
			repl = starLike
		case '~':
			repl = tildeLike
		case '`':
			repl = backtickLike
		case '\n':
			repl = " "
		case '<':
			repl = "&lt;"
		case '&':
			repl = "&amp;"
		case '>':
			repl = "&gt;"
			if i == lead {
				repl = quoteLike
			}
		case '_':
			prev, _ := utf8.DecodeLastRuneInString(s[:i])
			next, _ := utf8.DecodeRuneInString(s[i+1:])
			if i > 0 && i+1 < len(s) && wordRune(prev) && wordRune(next) {
				continue // inside a word: Slack does not italicise there
			}
			repl = lowLineLike
		default:
			continue
		}
		b.WriteString(s[last:i])
		b.WriteString(repl)
		last = i + 1
	}
	b.WriteString(s[last:])
	return b.String()
}

func wordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// Code shows an event string in code spans, where Slack formats nothing: cleaned, &, <
// and > escaped, backticks (which would end the span) replaced by a look-alike, and one
// span per line, since a span cannot cross a line break. An empty value shows as "–".
func Code(s string) string {
	s = Clean(s)
	var b strings.Builder
	b.Grow(len(s) + 2)
	for line := range strings.SplitSeq(s, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteByte('`')
		b.WriteString(strings.ReplaceAll(line, "`", backtickLike))
		b.WriteByte('`')
	}
	if b.Len() == 0 {
		return "–"
	}
	return Escape(b.String())
}

// Len is the length of s as Slack measures its limits: in UTF-16 code units, so a
// character outside the Basic Multilingual Plane (most emoji) counts two.
func Len(s string) int {
	n := len(s)
	if n > 0 && !isASCII(s) {
		n = 0
		for _, r := range s {
			if r >= 0x10000 {
				n += 2
			} else {
				n++
			}
		}
	}
	return n
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// TrimMarker ends a value Trim cut.
const TrimMarker = "… [trimmed]"

// Trim cuts mrkdwn s to at most n UTF-16 units (Len), marking the cut. An escaped entity
// counts as its full length, so trimming comes after escaping, and never splits an
// entity; a code span the cut leaves open is closed, so the spans after it in the same
// text keep their pairs.
func Trim(s string, n int) string {
	if Len(s) <= n {
		return s
	}
	keep := n - Len(TrimMarker) - 1 // room for a closing backtick
	marker := TrimMarker
	if keep < 1 { // no room for the marker
		keep, marker = n-1, ""
	}
	cut := prefix16(s, keep)
	// Do not leave half an entity like "&am".
	if i := strings.LastIndexByte(cut, '&'); i >= 0 && !strings.Contains(cut[i:], ";") {
		cut = cut[:i]
	}
	if strings.Count(cut, "`")%2 == 1 {
		cut += "`"
	}
	return cut + marker
}

// TrimPlain cuts plain text (no entities, no spans) to at most n UTF-16 units, marking
// the cut with "…".
func TrimPlain(s string, n int) string {
	if Len(s) <= n {
		return s
	}
	if n < 2 {
		return prefix16(s, n)
	}
	return prefix16(s, n-1) + "…"
}

// prefix16 is the longest prefix of s of at most n UTF-16 units that ends between
// characters.
func prefix16(s string, n int) string {
	for i, r := range s {
		w := 1
		if r >= 0x10000 {
			w = 2
		}
		if n < w {
			return s[:i]
		}
		n -= w
	}
	return s
}
