package redistest

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// READMEACL returns the arguments of the README's "ACL SETUSER tiercache"
// line, with password in place of CHANGE-ME, so that tests run the very
// ACL the README documents. It finds README.md beside the module's go.mod,
// above the test's directory.
func READMEACL(tb testing.TB, password string) []string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
	f, err := os.Open(filepath.Join(dir, "README.md"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	for sc := bufio.NewScanner(f); sc.Scan(); {
		if line := sc.Text(); strings.HasPrefix(line, "ACL SETUSER tiercache ") {
			return strings.Fields(strings.ReplaceAll(line, ">CHANGE-ME", ">"+password))
		}
	}
	tb.Fatal(`README.md has no line starting "ACL SETUSER tiercache "`)
	return nil
}
