package main

import (
	"errors"
	"strings"
	"testing"
)

// --help lists the flags and the commands, and is not an error: the
// process exits 0. Before, it listed only the flags and exited 2, which
// go run reported as "exit status 2".
func TestHelpListsTheCommandsAndExitsZero(t *testing.T) {
	var out, errOut strings.Builder
	err := run([]string{"--help"}, &out, &errOut)
	if code := exitCode(err, &errOut); code != 0 {
		t.Fatalf("--help exits %d, want 0 (%v)", code, err)
	}
	help := errOut.String()
	for _, want := range []string{"-config", "-redis-url", "fleetwire-runtime token [flags]", "fleetwire-runtime version", "docs/configuration.md"} {
		if !strings.Contains(help, want) {
			t.Errorf("--help does not mention %q:\n%s", want, help)
		}
	}
	errOut.Reset()
	if code := exitCode(run([]string{"token", "--help"}, &out, &errOut), &errOut); code != 0 || !strings.Contains(errOut.String(), "-user") {
		t.Errorf("token --help exits %d:\n%s", code, errOut.String())
	}
	errOut.Reset()
	if code := exitCode(errors.New("broken"), &errOut); code != 2 || errOut.String() != "fleetwire-runtime: broken\n" {
		t.Errorf("an error exits %d and says %q", code, errOut.String())
	}
	out.Reset()
	if err := run([]string{"version"}, &out, &errOut); err != nil || !strings.HasPrefix(out.String(), "fleetwire-runtime ") {
		t.Errorf("version: %v %q", err, out.String())
	}
}
