// Package file finds CloudTrail inputs on the local file system: named files, directories
// walked recursively in lexical order, and "-" for standard input. It only finds and opens
// them; internal/cloudtrail decodes what they hold.
package file

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/trailbell/trailbell/internal/cloudtrail"
)

// Input is one file to decode.
type Input struct {
	Path string // "-" for standard input
	Size int64  // -1 when unknown
}

// Skipped counts what Walk left out, by reason.
type Skipped struct {
	Digest     int // CloudTrail-Digest files: hashes, not records
	OutOfRange int // log files whose name time is outside the window
	Other      int // files in directories that are not JSON or gzip by name
}

// dataFile reports whether a file met while walking a directory may hold records.
func dataFile(name string) bool {
	name = strings.ToLower(name)
	for _, ext := range []string{".json", ".json.gz", ".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz", ".gz"} {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return false
}

// Walk calls fn for every input under paths, in order: a named file always (unless it is a
// digest or outside the window), directories recursively with only JSON and gzip files.
func Walk(ctx context.Context, paths []string, w cloudtrail.Window, fn func(Input) error) (Skipped, error) {
	var sk Skipped
	for _, p := range paths {
		if p == "-" {
			if err := fn(Input{Path: "-", Size: -1}); err != nil {
				return sk, err
			}
			continue
		}
		info, err := os.Stat(p)
		if err != nil {
			return sk, err
		}
		if !info.IsDir() {
			if err := visit(p, info.Size(), w, &sk, fn); err != nil {
				return sk, err
			}
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if d.IsDir() {
				if day, ok := cloudtrail.DayFolder(filepath.ToSlash(path)); ok && !w.ContainsDay(day) {
					// a whole day of log files outside the window: count them, open none
					entries, _ := os.ReadDir(path)
					sk.OutOfRange += len(entries)
					return filepath.SkipDir
				}
				return nil
			}
			if !d.Type().IsRegular() || !dataFile(d.Name()) {
				sk.Other++
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			return visit(path, info.Size(), w, &sk, fn)
		})
		if err != nil {
			return sk, err
		}
	}
	return sk, nil
}

func visit(path string, size int64, w cloudtrail.Window, sk *Skipped, fn func(Input) error) error {
	switch w.SkipKey(filepath.ToSlash(path)) {
	case cloudtrail.Keep:
		return fn(Input{Path: path, Size: size})
	case cloudtrail.SkipDigest:
		sk.Digest++
	default:
		sk.OutOfRange++
	}
	return nil
}

// Open opens an input; "-" reads stdin, which is not closed.
func Open(in Input, stdin io.Reader) (io.ReadCloser, error) {
	if in.Path == "-" {
		if stdin == nil {
			return nil, errors.New("no standard input")
		}
		return io.NopCloser(stdin), nil
	}
	f, err := os.Open(in.Path)
	if err != nil {
		return nil, err // it says "open PATH: ..." already
	}
	return f, nil
}
