// Command lambdazip writes the zip archive AWS Lambda takes for a provided.al2023 function:
// one file, bootstrap, executable, with a fixed time so that the same binary always gives the
// same archive. scripts/build-lambda.sh (make lambda) uses it, so that building the package
// needs nothing but Go.
//
//	go run ./scripts/lambdazip -o build/lambda/trailbell-arm64.zip build/lambda/arm64/bootstrap
package main

import (
	"archive/zip"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

func main() {
	out := flag.String("o", "", "the zip `file` to write")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: lambdazip -o OUT.zip FILE...\n\nWrites FILE... (by base name, executable) into OUT.zip.")
	}
	flag.Parse()
	if *out == "" || flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := write(*out, flag.Args()); err != nil {
		fmt.Fprintf(os.Stderr, "lambdazip: %v\n", err)
		os.Exit(1)
	}
}

// epoch is the time every entry carries: zip's earliest (1980), as `zip -X` builds tend to be
// compared by content only.
var epoch = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)

// write stores files in a new zip at out, each under its base name with mode 0755 (Lambda
// runs bootstrap as it finds it), written to a temporary file first.
func write(out string, files []string) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(out), ".lambdazip-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	zw := zip.NewWriter(tmp)
	for _, name := range files {
		if err := add(zw, name); err != nil {
			return err
		}
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := tmp.Chmod(0o644); err != nil { // as any file written here; CreateTemp makes 0600
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), out)
}

func add(zw *zip.Writer, name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	h := &zip.FileHeader{Name: filepath.Base(name), Method: zip.Deflate, Modified: epoch}
	h.SetMode(0o755)
	w, err := zw.CreateHeader(h)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if _, err := io.Copy(w, f); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}
