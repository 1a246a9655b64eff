// Package file finds CloudTrail inputs on the local file system: named files, directories
// walked recursively in lexical order, and "-" for standard input. Symbolic links are
// followed, to files and to folders alike, with each folder and file read once: a link back
// to a folder above it (a loop) or to one already walked is counted, not followed again. It
// only finds and opens inputs; internal/cloudtrail decodes what they hold.
package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/trailbell/trailbell/internal/cloudtrail"
)

// Input is one file to decode, or one that could not be listed (Err set).
type Input struct {
	Path string // "-" for standard input
	Size int64  // -1 when unknown
	// Err says why a file or folder met while walking could not be read (a broken link,
	// a folder that cannot be listed): it is an input lost, to report in its place.
	Err error
}

// Skipped counts what Walk left out, by reason.
type Skipped struct {
	Digest     int // CloudTrail-Digest files: hashes, not records
	OutOfRange int // log files whose name time is outside the window
	Other      int // files in directories that are not JSON or gzip by name, and devices, sockets, pipes
	Loops      int // links to a folder above them
	Repeats    int // files and folders reached a second time (through a link or named twice)
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

// Check reports, for every local path, why it cannot be scanned, all at once: the scan then
// never starts on some paths only to fail on a later one.
func Check(paths []string) error {
	var errs []error
	stdin := 0
	for _, p := range paths {
		if p == "-" {
			if stdin++; stdin == 2 {
				errs = append(errs, errors.New("-: standard input named twice"))
			}
			continue
		}
		if _, err := os.Stat(p); err != nil {
			errs = append(errs, err) // it names the path
		}
	}
	return errors.Join(errs...)
}

// Walk calls fn for every input under paths, in order: a named file always (unless it is a
// digest or outside the window), directories recursively with only JSON and gzip files. A
// file or folder that cannot be read while walking is passed to fn with its error, in its
// place, and the walk goes on; only an error of fn or of ctx ends it.
func Walk(ctx context.Context, paths []string, w cloudtrail.Window, fn func(Input) error) (Skipped, error) {
	wk := &walker{ctx: ctx, w: w, fn: fn, seen: map[fileID]bool{}}
	for _, p := range paths {
		if p == "-" {
			if err := fn(Input{Path: "-", Size: -1}); err != nil {
				return wk.sk, err
			}
			continue
		}
		info, err := os.Stat(p) // follows links
		if err != nil {
			if err := fn(Input{Path: p, Err: err}); err != nil {
				return wk.sk, err
			}
			continue
		}
		if err := wk.visit(p, info, nil, true); err != nil {
			return wk.sk, err
		}
	}
	return wk.sk, nil
}

type walker struct {
	ctx  context.Context
	w    cloudtrail.Window
	fn   func(Input) error
	sk   Skipped
	seen map[fileID]bool // folders and files walked or read
}

// visit handles one path whose (followed) info is known; above are the folders that lead to
// it, to tell a loop from a folder reached twice. named is true for a path given by the user.
func (wk *walker) visit(path string, info os.FileInfo, above []fileID, named bool) error {
	if err := wk.ctx.Err(); err != nil {
		return err
	}
	id, known := idOf(path, info)
	if known && wk.seen[id] {
		if info.IsDir() && slices.Contains(above, id) {
			wk.sk.Loops++
		} else {
			wk.sk.Repeats++
		}
		return nil
	}
	if info.IsDir() {
		if known {
			wk.seen[id] = true
		}
		return wk.dir(path, append(above, id))
	}
	// a named path is read whatever it is (a pipe from <(zcat ...) too); in folders only
	// regular files named like JSON or gzip
	if !named && (!info.Mode().IsRegular() || !dataFile(filepath.Base(path))) {
		wk.sk.Other++
		return nil
	}
	switch wk.w.SkipKey(filepath.ToSlash(path)) {
	case cloudtrail.Keep:
		if known {
			wk.seen[id] = true
		}
		return wk.fn(Input{Path: path, Size: info.Size()})
	case cloudtrail.SkipDigest:
		wk.sk.Digest++
	default:
		wk.sk.OutOfRange++
	}
	return nil
}

// dir walks a folder's entries in lexical order.
func (wk *walker) dir(path string, above []fileID) error {
	if day, ok := cloudtrail.DayFolder(filepath.ToSlash(path)); ok && !wk.w.ContainsDay(day) {
		// a whole day of log files outside the window: count them, open none
		entries, _ := os.ReadDir(path)
		wk.sk.OutOfRange += len(entries)
		return nil
	}
	entries, err := os.ReadDir(path) // sorted by name
	if err != nil {
		return wk.fn(Input{Path: path, Err: err})
	}
	for _, e := range entries {
		p := filepath.Join(path, e.Name())
		info, err := os.Stat(p) // follows links
		if err != nil {
			if e.Type()&os.ModeSymlink != 0 {
				err = fmt.Errorf("%s: broken link: %w", p, err)
			}
			if err := wk.fn(Input{Path: p, Err: err}); err != nil {
				return err
			}
			continue
		}
		if err := wk.visit(p, info, above, false); err != nil {
			return err
		}
	}
	return nil
}

// Open opens an input; "-" reads stdin, which is not closed.
func Open(in Input, stdin io.Reader) (io.ReadCloser, error) {
	if in.Err != nil {
		return nil, in.Err
	}
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
