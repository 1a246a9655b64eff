package checkpoint

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type cursor struct {
	After string   `json:"after"`
	Done  []string `json:"done"`
}

func TestSaveLoadRoundTrip(t *testing.T) {
	d, err := Open(filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	var c cursor
	ok, err := d.Load("s3://b/AWSLogs/1/CloudTrail/us-east-1/", &c)
	if err != nil || ok {
		t.Fatalf("Load of missing key = %v, %v; want false, nil", ok, err)
	}
	want := cursor{After: "AWSLogs/1/CloudTrail/us-east-1/2026/11/28/x.json.gz", Done: []string{"a", "b"}}
	for range 2 { // the second save replaces the first
		if err := d.Save("s3://b/AWSLogs/1/CloudTrail/us-east-1/", want); err != nil {
			t.Fatal(err)
		}
	}
	ok, err = d.Load("s3://b/AWSLogs/1/CloudTrail/us-east-1/", &c)
	if err != nil || !ok {
		t.Fatalf("Load = %v, %v", ok, err)
	}
	if c.After != want.After || strings.Join(c.Done, ",") != "a,b" {
		t.Fatalf("Load = %+v, want %+v", c, want)
	}
	entries, _ := os.ReadDir(d.path)
	if len(entries) != 1 || strings.HasPrefix(entries[0].Name(), ".tmp") {
		t.Fatalf("directory holds %v, want one checkpoint and no temp files", entries)
	}
}

func TestKeysThatSlugAlikeDoNotCollide(t *testing.T) {
	d, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Save("a/b", cursor{After: "1"}); err != nil {
		t.Fatal(err)
	}
	if err := d.Save("a_b", cursor{After: "2"}); err != nil {
		t.Fatal(err)
	}
	var c cursor
	if _, err := d.Load("a/b", &c); err != nil || c.After != "1" {
		t.Fatalf("a/b = %+v, %v; want After 1", c, err)
	}
	if _, err := d.Load("a_b", &c); err != nil || c.After != "2" {
		t.Fatalf("a_b = %+v, %v; want After 2", c, err)
	}
}

func TestCorruptCheckpointIsAnErrorNamingTheFile(t *testing.T) {
	d, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(d.file("k"), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	var c cursor
	_, err = d.Load("k", &c)
	if err == nil || !strings.Contains(err.Error(), d.file("k")) {
		t.Fatalf("Load of corrupt file = %v, want an error naming the file", err)
	}
}
