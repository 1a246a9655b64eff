package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// Binary is a program that tests run as a process, built once per test binary on first use.
// Remove it from TestMain when the tests are done.
type Binary struct {
	Pkg  string   // the package to build, relative to the test's directory
	Name string   // the file name of the binary
	Tags string   // build tags, if any
	Env  []string // added to the build's environment (CGO_ENABLED=0, ...)

	once sync.Once
	path string
	err  error
}

// Path builds the binary the first time and returns its path.
func (b *Binary) Path(t testing.TB) string {
	t.Helper()
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "trailbell-"+b.Name+"-")
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(dir, b.Name)
		args := []string{"build", "-o", b.path}
		if b.Tags != "" {
			args = append(args, "-tags", b.Tags)
		}
		cmd := exec.Command("go", append(args, b.Pkg)...)
		cmd.Env = append(os.Environ(), b.Env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build %s: %v\n%s", b.Pkg, err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// Remove deletes the binary, if it was built.
func (b *Binary) Remove() {
	if b.path != "" {
		os.RemoveAll(filepath.Dir(b.path))
	}
}
