// Package checkpoint owns the daemon's small state files: where each source has got to.
// A checkpoint is a JSON document replaced atomically (temp file, fsync, rename, fsync of the
// directory), so a crash leaves either the old or the new document, never a torn one.
package checkpoint

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Dir is a directory of checkpoints, one file per key. Keys are free text (an S3 prefix, a
// queue URL); file names are derived from them so any key is safe on any file system.
type Dir struct {
	path string
}

// Open creates the directory if needed.
func Open(path string) (*Dir, error) {
	if path == "" {
		return nil, errors.New("checkpoint: empty state directory")
	}
	if err := os.MkdirAll(path, 0o700); err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	return &Dir{path: path}, nil
}

// file names a key: a readable slug for people looking at the directory plus a hash so two keys
// that slug alike never share a file.
func (d *Dir) file(key string) string {
	sum := sha256.Sum256([]byte(key))
	slug := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.':
			return r
		}
		return '_'
	}, key)
	if len(slug) > 80 {
		slug = slug[len(slug)-80:]
	}
	return filepath.Join(d.path, slug+"."+hex.EncodeToString(sum[:6])+".json")
}

// ErrCorrupt is wrapped by Load's error when a checkpoint file cannot be read as one (a disk
// or a hand that damaged it): the caller may start afresh, after Quarantine.
var ErrCorrupt = errors.New("corrupt checkpoint")

// Load decodes the checkpoint stored under key into v and reports whether there was one.
func (d *Dir) Load(key string, v any) (bool, error) {
	name := d.file(key)
	b, err := os.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("checkpoint: %w", err)
	}
	var doc document
	if err := json.Unmarshal(b, &doc); err != nil {
		return false, fmt.Errorf("checkpoint %s: %w: %w", name, ErrCorrupt, err)
	}
	if doc.Key != key {
		return false, fmt.Errorf("checkpoint %s: %w: holds key %q, want %q", name, ErrCorrupt, doc.Key, key)
	}
	if err := json.Unmarshal(doc.State, v); err != nil {
		return false, fmt.Errorf("checkpoint %s: %w: state: %w", name, ErrCorrupt, err)
	}
	return true, nil
}

// Quarantine moves the checkpoint stored under key aside, to NAME.corrupt, kept for a look;
// the next Save writes a fresh one.
func (d *Dir) Quarantine(key string) error {
	name := d.file(key)
	if err := os.Rename(name, name+".corrupt"); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}

// document keeps the key beside the state so a file can be traced back to its source.
type document struct {
	Key   string          `json:"key"`
	State json.RawMessage `json:"state"`
}

// Save replaces the checkpoint under key with v, durably. Calls for one key must not overlap.
func (d *Dir) Save(key string, v any) error {
	state, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("checkpoint %q: %w", key, err)
	}
	b, err := json.Marshal(document{Key: key, State: state})
	if err != nil {
		return fmt.Errorf("checkpoint %q: %w", key, err)
	}
	return WriteFile(d.file(key), append(b, '\n'))
}

// WriteFile replaces name with data atomically and durably.
func WriteFile(name string, data []byte) error {
	dir := filepath.Dir(name)
	f, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(name)+"-*")
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("checkpoint: write %s: %w", name, err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("checkpoint: write %s: %w", name, err)
	}
	if err := os.Rename(tmp, name); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("checkpoint: write %s: %w", name, err)
	}
	// The rename is only durable once the directory entry is.
	if dh, err := os.Open(dir); err == nil {
		err = dh.Sync()
		dh.Close()
		if err != nil {
			return fmt.Errorf("checkpoint: sync %s: %w", dir, err)
		}
	}
	return nil
}
