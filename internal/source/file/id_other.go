//go:build !unix

package file

import (
	"os"
	"path/filepath"
)

// fileID identifies a file or folder whatever the path (or link) it is reached by: here, by
// the path with every link resolved.
type fileID struct{ path string }

func idOf(path string, _ os.FileInfo) (fileID, bool) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return fileID{}, false
	}
	abs, err := filepath.Abs(real)
	if err != nil {
		return fileID{}, false
	}
	return fileID{abs}, true
}
