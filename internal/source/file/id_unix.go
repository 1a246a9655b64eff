//go:build unix

package file

import (
	"os"
	"syscall"
)

// fileID identifies a file or folder whatever the path (or link) it is reached by.
type fileID struct{ dev, ino uint64 }

func idOf(_ string, info os.FileInfo) (fileID, bool) {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, false
	}
	return fileID{uint64(st.Dev), uint64(st.Ino)}, true
}
