package chat_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/trailbell/trailbell/internal/notify/chat"
)

func TestText(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain", "aws-cli/2.15.0 Python/3.11", "aws-cli/2.15.0 Python/3.11"},
		{"entities", "a <!channel> & <https://x|y>", "a &lt;!channel&gt; &amp; &lt;https://x|y&gt;"},
		{"bold, strike, code", "*B* ~S~ `C`", "∗B∗ ∼S∼ ˋCˋ"},
		{"italic at a boundary", "_I_ (_x_)", "ˍIˍ (ˍxˍ)"},
		{"snake_case keeps its underscores", "AWSReservedSSO_Admin_0123 my_bucket", "AWSReservedSSO_Admin_0123 my_bucket"},
		{"leading quote", "> quoted", "› quoted"},
		{"leading quote after spaces", "   >q", "   ›q"},
		{"inner quote is escaped", "a > b", "a &gt; b"},
		{"line break cannot start a quote", "x\n> y\r\n* z", "x &gt; y ∗ z"},
		{"bidi, zero-width, controls", "ad\u202Emin\u200B\u2066x\u2069\u200d\ufeff\x07\x1b[31m\u0085y", "adminx[31m y"},
		{"invalid UTF-8", "a\xffb", "a\uFFFDb"},
		{"tab", "a\tb", "a b"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := chat.Text(tc.in); got != tc.want {
				t.Errorf("Text(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestCode(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain", "arn:aws:iam::1:user/a_b*c", "`arn:aws:iam::1:user/a_b*c`"},
		{"backtick cannot end the span", "x`*bold*`y", "`xˋ*bold*ˋy`"},
		{"one span per line", "line1\n> line2\r\n\nline3", "`line1`\n`&gt; line2`\n`line3`"},
		{"mention", "<!here>", "`&lt;!here&gt;`"},
		{"hidden characters", "a\u202Eb\u200Bc", "`abc`"},
		{"empty", "", "–"},
		{"only invisible", "\u200B\n\u202E", "–"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := chat.Code(tc.in); got != tc.want {
				t.Errorf("Code(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestLenCountsUTF16(t *testing.T) {
	for s, want := range map[string]int{"": 0, "abc": 3, "é": 1, "€": 1, "😀": 2, "a😀b": 4, "🔴 x": 4} {
		if got := chat.Len(s); got != want {
			t.Errorf("Len(%q) = %d, want %d", s, got, want)
		}
	}
}

func TestTrim(t *testing.T) {
	for n := 12; n < 40; n++ {
		s := chat.Trim(chat.Escape(strings.Repeat("<&>", 20)), n)
		if i := strings.LastIndexByte(s, '&'); i >= 0 && !strings.Contains(s[i:], ";") {
			t.Errorf("Trim(.., %d) = %q splits an entity", n, s)
		}
		if c := chat.Len(s); c > n {
			t.Errorf("Trim(.., %d) has %d units", n, c)
		}
	}
	emoji := strings.Repeat("😀", 3000)
	got := chat.Trim(emoji, 3000)
	if chat.Len(got) > 3000 || !strings.HasSuffix(got, chat.TrimMarker) || !utf8.ValidString(got) {
		t.Errorf("3000 emoji trimmed to 3000 units: %d units, marked %v", chat.Len(got), strings.HasSuffix(got, chat.TrimMarker))
	}
	// A cut inside a code span closes it, so a later span in the same text keeps its pair.
	got = chat.Trim("a "+chat.Code(strings.Repeat("x", 100)), 40)
	if strings.Count(got, "`")%2 != 0 || chat.Len(got) > 40 || !strings.HasSuffix(got, "`"+chat.TrimMarker) {
		t.Errorf("cut code span: %q", got)
	}
	if got := chat.TrimPlain(strings.Repeat("😀", 100), 151); chat.Len(got) > 151 || !strings.HasSuffix(got, "…") {
		t.Errorf("TrimPlain: %d units, %q", chat.Len(got), got[len(got)-8:])
	}
}

// FuzzText: whatever the input, Text leaves no markup character and nothing hidden, and
// Code leaves spans that pair up on every line.
func FuzzText(f *testing.F) {
	for _, s := range []string{"*a* _b_ ~c~ `d`", "> q\n> r", "\u202Eab\u200B", "<!channel>&", "a\xff\x00", "x_y", "``\n`"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		txt := chat.Text(s)
		if strings.ContainsAny(txt, "*~`<\n\r") || strings.HasPrefix(strings.TrimLeft(txt, " "), ">") || strings.HasPrefix(strings.TrimLeft(txt, " "), "&gt;") {
			t.Fatalf("Text(%q) = %q keeps markup", s, txt)
		}
		for i, r := range []rune(txt) {
			if r == '_' && (i == 0 || i == len([]rune(txt))-1) {
				t.Fatalf("Text(%q) = %q keeps a _ at a boundary", s, txt)
			}
		}
		code := chat.Code(s)
		for _, line := range strings.Split(code, "\n") {
			if line != "–" && (strings.Count(line, "`") != 2 || !strings.HasPrefix(line, "`") || !strings.HasSuffix(line, "`")) {
				t.Fatalf("Code(%q) = %q: line %q is not one span", s, code, line)
			}
		}
		for _, out := range []string{txt, code, chat.Clean(s)} {
			if !utf8.ValidString(out) {
				t.Fatalf("invalid UTF-8 out of %q", s)
			}
			for _, r := range out {
				if r != '\n' && (r < 0x20 || (r >= 0x7f && r < 0xa0) || (r >= 0x200b && r <= 0x200f) || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) || r == 0xfeff) {
					t.Fatalf("%q keeps hidden %U (from %q)", out, r, s)
				}
			}
		}
	})
}
