package cloudtrail

import (
	"strings"
	"testing"
	"time"
)

func TestParseURL(t *testing.T) {
	for in, want := range map[string]string{
		"s3://b":              "b|",
		"s3://b/":             "b|",
		"s3://b/AWSLogs/":     "b|AWSLogs/",
		"s3://b/AWSLogs/o-x/": "b|AWSLogs/o-x/",
		"s3://b/a/b/c":        "b|a/b/c",
	} {
		b, p, err := ParseURL(in)
		if err != nil || b+"|"+p != want {
			t.Errorf("ParseURL(%q) = %q, %q, %v; want %s", in, b, p, err, want)
		}
		if o := (Object{Bucket: b, Key: p}); o.URL() != in && o.URL() != in+"/" {
			t.Errorf("URL of %+v = %q, want %q", o, o.URL(), in)
		}
	}
	for _, in := range []string{"", "b/x", "b/p", "s3:///x", "https://b/x"} {
		if _, _, err := ParseURL(in); err == nil {
			t.Errorf("ParseURL(%q) succeeded", in)
		}
	}
}

func TestKeyTime(t *testing.T) {
	tests := []struct {
		key  string
		want string // RFC 3339, or "" for none
	}{
		{"AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/01/111122223333_CloudTrail_us-east-1_20261101T1205Z_a1B2c3D4e5F6g7H8.json.gz", "2026-11-01T12:05:00Z"},
		{"p/AWSLogs/o-abc123/111122223333/CloudTrail/eu-west-1/2026/02/03/111122223333_CloudTrail_eu-west-1_20260203T0000Z_x.json.gz", "2026-02-03T00:00:00Z"},
		{"AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/01/renamed.json.gz", "2026-11-01T00:00:00Z"},
		{"111111111111_CloudTrail_eu-central-1_20171211T1505Z_A6kvhMoVeCsc7v8U.json", "2017-12-11T15:05:00Z"},
		{"local/events.jsonl", ""},
		{"x_20261399T9999Z_y.json", ""},
	}
	for _, tc := range tests {
		got, ok := KeyTime(tc.key)
		s := ""
		if ok {
			s = got.Format(time.RFC3339)
		}
		if s != tc.want {
			t.Errorf("KeyTime(%q) = %q, want %q", tc.key, s, tc.want)
		}
	}
}

func TestIsDigestKey(t *testing.T) {
	tests := map[string]bool{
		"AWSLogs/1/CloudTrail-Digest/us-east-1/2026/11/01/1_CloudTrail-Digest_us-east-1_trail_us-east-1_20261101T120500Z.json.gz": true,
		"CloudTrail-Digest/x.json.gz": true,
		"local/1_CloudTrail-Digest_us-east-1_t_us-east-1_20261101T120500Z.json.gz":                  true,
		"AWSLogs/1/CloudTrail/us-east-1/2026/11/01/1_CloudTrail_us-east-1_20261101T1205Z_a.json.gz": false,
		"AWSLogs/1/CloudTrail-Insight/us-east-1/2026/11/01/x.json.gz":                               false,
	}
	for key, want := range tests {
		if got := IsDigestKey(key); got != want {
			t.Errorf("IsDigestKey(%q) = %v, want %v", key, got, want)
		}
	}
}

func TestIsLogKey(t *testing.T) {
	for key, want := range map[string]bool{
		"AWSLogs/111111111111/CloudTrail/us-east-1/2026/11/28/111111111111_CloudTrail_us-east-1_20261128T0100Z_a.json.gz":                         true,
		"AWSLogs/111111111111/CloudTrail/us-east-1/2026/11/28/uncompressed.json":                                                                  true,
		"AWSLogs/111111111111/CloudTrail-Digest/us-east-1/2026/11/28/111111111111_CloudTrail-Digest_us-east-1_x_us-east-1_20261128T0100Z.json.gz": false,
		"AWSLogs/111111111111/elasticloadbalancing/us-east-1/2026/11/28/lb.log.gz":                                                                false,
		"AWSLogs/111111111111/CloudTrail/us-east-1/README.txt":                                                                                    false,
		"AWSLogs/111111111111/CloudTrail/us-east-1/":                                                                                              false,
	} {
		if got := IsLogKey(key); got != want {
			t.Errorf("IsLogKey(%q) = %v, want %v", key, got, want)
		}
	}
}

func TestRegionPrefix(t *testing.T) {
	for _, tc := range []struct {
		prefix, want string // want: account|folder|region, "" for none
	}{
		{"AWSLogs/111111111111/CloudTrail/us-east-1/", "111111111111|CloudTrail|us-east-1"},
		{"x/AWSLogs/o-abc123def4/111111111111/CloudTrail-Insight/eu-west-1/", "111111111111|CloudTrail-Insight|eu-west-1"},
		{"AWSLogs/1/CloudTrail/us-east-1/", "1|CloudTrail|us-east-1"},
		{"AWSLogs/1/CloudTrail-Digest/us-east-1/", ""},
		{"AWSLogs/1/CloudTrail/us-east-1", ""},
		{"AWSLogs/1/CloudTrail/us-east-1/2026/", ""},
		{"AWSLogs/1/CloudTrail/", ""},
		{"AWSLogs/1/CloudTrail/US_EAST/", ""},
		{"CloudTrail/us-east-1/", ""},
		{"/CloudTrail/us-east-1/", ""},
		{"", ""},
	} {
		a, f, r, ok := RegionPrefix(tc.prefix)
		got := ""
		if ok {
			got = a + "|" + f + "|" + r
		}
		if got != tc.want {
			t.Errorf("RegionPrefix(%q) = %q, want %q", tc.prefix, got, tc.want)
		}
	}
}

func TestIsLayoutFolder(t *testing.T) {
	for name, want := range map[string]bool{
		"AWSLogs": true, "o-abc123def4": true, "111111111111": true, "CloudTrail": true, "CloudTrail-Insight": true,
		"CloudTrail-Digest": false, "o-short": false, "11111111111": false, "elasticloadbalancing": false, "us-east-1": false, "": false,
	} {
		if got := IsLayoutFolder(name); got != want {
			t.Errorf("IsLayoutFolder(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestKeyAt(t *testing.T) {
	at := time.Date(2026, 11, 28, 1, 5, 0, 0, time.FixedZone("CET", 3600))
	region := "AWSLogs/111111111111/CloudTrail/us-east-1/"
	want := region + "2026/11/28/111111111111_CloudTrail_us-east-1_20261128T0005Z"
	if got := KeyAt(region, at); got != want {
		t.Errorf("KeyAt = %q, want %q", got, want)
	}
	same := region + "2026/11/28/111111111111_CloudTrail_us-east-1_20261128T0005Z_a.json.gz"
	before := region + "2026/11/28/111111111111_CloudTrail_us-east-1_20261128T0000Z_a.json.gz"
	if !(before < want && want < same) {
		t.Errorf("KeyAt %q does not sort between %q and %q", want, before, same)
	}
	if got := KeyAt("AWSLogs/111111111111/CloudTrail/us-east-1/2026/", at); got != "" {
		t.Errorf("KeyAt below a region folder = %q, want \"\"", got)
	}
	if got := DayPrefix(region, at); got != region+"2026/11/28/" {
		t.Errorf("DayPrefix = %q", got)
	}
}

func TestDayFolder(t *testing.T) {
	for p, want := range map[string]string{
		"/tmp/x/AWSLogs/1/CloudTrail/us-east-1/2026/11/01":    "2026-11-01",
		"AWSLogs/1/CloudTrail-Digest/us-east-1/2026/11/01":    "2026-11-01",
		"CloudTrail-Insight/us-east-1/2026/02/03":             "2026-02-03",
		"AWSLogs/1/CloudTrail/us-east-1/2026/11":              "",
		"AWSLogs/1/CloudTrail/us-east-1/2026/11/01/x.json.gz": "",
		"AWSLogs/1/Config/us-east-1/2026/11/01":               "",
		"AWSLogs/1/CloudTrail/us-east-1/2026/13/01":           "",
		"AWSLogs/1/CloudTrail//2026/11/01":                    "",
	} {
		day, ok := DayFolder(p)
		got := ""
		if ok {
			got = day.Format(time.DateOnly)
		}
		if got != want {
			t.Errorf("DayFolder(%q) = %q, want %q", p, got, want)
		}
	}
}

func TestWindowSkipKey(t *testing.T) {
	day := "AWSLogs/1/CloudTrail/us-east-1/2026/11/01/"
	w := Window{Since: time.Date(2026, 11, 1, 11, 0, 0, 0, time.UTC), Until: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
	for key, want := range map[string]Skip{
		day + "1_CloudTrail_us-east-1_20261101T1000Z_a.json.gz":                                                               SkipEarly,
		day + "1_CloudTrail_us-east-1_20261101T1100Z_a.json.gz":                                                               Keep,
		day + "1_CloudTrail_us-east-1_20261101T1259Z_a.json.gz":                                                               Keep, // within the slack after Until
		day + "1_CloudTrail_us-east-1_20261101T1300Z_a.json.gz":                                                               SkipLate,
		"AWSLogs/1/CloudTrail-Digest/us-east-1/2026/11/01/1_CloudTrail-Digest_us-east-1_t_us-east-1_20261101T110000Z.json.gz": SkipDigest,
		"local/events.jsonl": Keep,      // no time in the name
		day + "renamed.json": SkipEarly, // the day folder's midnight
	} {
		if got := w.SkipKey(key); got != want {
			t.Errorf("SkipKey(%q) = %v, want %v", key, got, want)
		}
	}
	if got := (Window{}).SkipKey(day + "1_CloudTrail_us-east-1_20261101T1000Z_a.json.gz"); got != Keep {
		t.Errorf("open window: SkipKey = %v, want Keep", got)
	}
}

func TestWindowContainsDay(t *testing.T) {
	d := func(day int) time.Time { return time.Date(2026, 11, day, 0, 0, 0, 0, time.UTC) }
	w := Window{Since: d(2).Add(23 * time.Hour), Until: d(4).Add(23 * time.Hour)}
	for day, want := range map[int]bool{1: false, 2: true, 3: true, 4: true, 5: false} {
		if got := w.ContainsDay(d(day)); got != want {
			t.Errorf("ContainsDay(Nov %d) = %v, want %v", day, got, want)
		}
	}
	// a file of Nov 5 named before 00:00 + slack can still hold events before Until
	if !(Window{Until: d(5).Add(-30 * time.Minute)}).ContainsDay(d(5)) {
		t.Error("ContainsDay ignores the slack after Until")
	}
}

// FuzzLayout: any key or prefix is classified without panicking, and a region prefix ends
// with the parts it is said to have.
func FuzzLayout(f *testing.F) {
	for _, s := range []string{
		"AWSLogs/111111111111/CloudTrail/us-east-1/",
		"x/AWSLogs/o-abc123def4/111111111111/CloudTrail/eu-west-1/2026/11/28/111111111111_CloudTrail_eu-west-1_20261128T0105Z_x.json.gz",
		"AWSLogs//CloudTrail//", "CloudTrail/", "/", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		IsLogKey(s)
		KeyTime(s)
		DayFolder(s)
		IsLayoutFolder(s)
		Window{Since: time.Unix(0, 0)}.SkipKey(s)
		if a, folder, r, ok := RegionPrefix(s); ok {
			if tail := a + "/" + folder + "/" + r + "/"; s != tail && !strings.HasSuffix(s, "/"+tail) {
				t.Fatalf("RegionPrefix(%q) = %q, %q, %q", s, a, folder, r)
			}
			if k := KeyAt(s, time.Unix(0, 0)); !strings.HasPrefix(k, s) {
				t.Fatalf("KeyAt(%q) = %q", s, k)
			}
		}
	})
}
