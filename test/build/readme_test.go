package build

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The README's walkthrough works as written: every shell variable a
// command uses was set by an earlier command, the example client's --url
// flag is named, and the silent first build is announced. A reader once
// met $TOKEN, set nowhere.
func TestReadmeWalkthroughIsSelfContained(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	// Shell commands, in the order a reader meets them: fenced sh blocks,
	// and inline code spans that use a variable.
	var commands []string
	code := regexp.MustCompile("(?s)```sh\n(.*?)```|`([^`\n]*[$][^`\n]*)`")
	for _, m := range code.FindAllStringSubmatch(readme, -1) {
		commands = append(commands, m[1]+m[2])
	}
	if len(commands) == 0 {
		t.Fatal("no shell commands in the README")
	}
	set := map[string]bool{"HOME": true, "PWD": true, "PATH": true, "XDG_CACHE_HOME": true}
	assign := regexp.MustCompile(`(?m)(?:^|\s)([A-Z][A-Z0-9_]*)=`)
	use := regexp.MustCompile(`\$\{?([A-Z][A-Z0-9_]*)`)
	for _, cmd := range commands {
		for _, line := range strings.Split(cmd, "\n") {
			for _, m := range use.FindAllStringSubmatch(line, -1) {
				if !set[m[1]] {
					t.Errorf("the README uses $%s before setting it: %s", m[1], strings.TrimSpace(line))
				}
			}
			for _, m := range assign.FindAllStringSubmatch(line, -1) {
				set[m[1]] = true
			}
		}
	}
	for _, want := range []string{"--url ws://localhost:PORT/ws", "sits silent for about 90 seconds"} {
		if !strings.Contains(readme, want) {
			t.Errorf("the README does not say %q", want)
		}
	}
}
