package cloudtrail

import "testing"

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
