package duration

import (
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"90s", 90 * time.Second},
		{"10m", 10 * time.Minute},
		{"36h", 36 * time.Hour},
		{"14d", 14 * 24 * time.Hour},
		{"1.5d", 36 * time.Hour},
		{"0d", 0},
		{"1h30m", 90 * time.Minute},
	} {
		got, err := Parse(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("Parse(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "d", "7x", "soon", "-1d", "-5m", "1e9d", "NaNd", "Infd", "d7"} {
		if got, err := Parse(in); err == nil {
			t.Errorf("Parse(%q) = %v, want an error", in, got)
		} else if !strings.Contains(err.Error(), `invalid duration "`+in+`"`) {
			t.Errorf("Parse(%q): error %q does not quote the input", in, err)
		}
	}
}

func TestFormatRoundTrips(t *testing.T) {
	for _, d := range []time.Duration{14 * 24 * time.Hour, 36 * time.Hour, 10 * time.Minute, 90 * time.Second, 1500 * time.Millisecond} {
		s := Format(d)
		back, err := Parse(s)
		if err != nil || back != d {
			t.Errorf("Format(%v) = %q, which parses to %v, %v", d, s, back, err)
		}
	}
	if got := Format(48 * time.Hour); got != "2d" {
		t.Errorf("Format(48h) = %q, want 2d", got)
	}
	if got := Format(90 * time.Minute); got != "90m" {
		t.Errorf("Format(90m) = %q, want 90m", got)
	}
}
