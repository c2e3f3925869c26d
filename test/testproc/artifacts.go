package testproc

import (
	"os"
	"path/filepath"
	"testing"
)

// Artifacts returns the directory, made if need be, where tests keep what
// a person reads after a run, even a passing one whose log go test does
// not show: $FLEETWIRE_ARTIFACTS/sub, else fleetwire-artifacts/sub under
// the system's temporary directory.
func Artifacts(t testing.TB, sub string) string {
	t.Helper()
	dir := os.Getenv("FLEETWIRE_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "fleetwire-artifacts")
	}
	dir = filepath.Join(dir, sub)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}
