package main

import (
	"archive/zip"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// The archive holds bootstrap by its base name, executable, with its bytes; writing it again
// gives the same archive.
func TestWrite(t *testing.T) {
	dir := t.TempDir()
	boot := filepath.Join(dir, "arm64", "bootstrap")
	os.MkdirAll(filepath.Dir(boot), 0o755)
	body := bytes.Repeat([]byte("\x7fELF not really "), 1000)
	if err := os.WriteFile(boot, body, 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "trailbell-arm64.zip")
	if err := write(out, []string{boot}); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.OpenReader(out)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	if len(zr.File) != 1 || zr.File[0].Name != "bootstrap" || zr.File[0].Mode().Perm() != 0o755 {
		t.Fatalf("entries %v, want bootstrap with mode 0755", zr.File)
	}
	rc, err := zr.File[0].Open()
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, body) {
		t.Error("bootstrap's bytes differ")
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("the archive's mode: %v %v, want 0644", fi.Mode(), err)
	}
	first, _ := os.ReadFile(out)
	if err := write(out, []string{boot}); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(out); !bytes.Equal(first, again) {
		t.Error("the same file gave another archive")
	}
	if err := write(filepath.Join(dir, "x.zip"), []string{filepath.Join(dir, "missing")}); err == nil {
		t.Error("a missing file: want an error")
	}
	if m, _ := filepath.Glob(filepath.Join(dir, ".lambdazip-*")); len(m) != 0 {
		t.Errorf("temporary files left: %v", m)
	}
}
