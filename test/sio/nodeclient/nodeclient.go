package nodeclient

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// installTimeout bounds `npm ci`; with a warm npm cache it takes seconds,
// from an empty cache it downloads a dozen small packages.
const installTimeout = 5 * time.Minute

var (
	installOnce sync.Once
	installErr  error
)

// Dir returns the test/sio directory, which holds package.json and the scripts.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// Install makes sure node and npm exist and that test/sio/node_modules
// matches the lock file, running `npm ci` at most once per test process. It
// fails t otherwise.
func Install(t testing.TB) {
	t.Helper()
	installOnce.Do(func() { installErr = install() })
	if installErr != nil {
		t.Fatalf("nodeclient: %v", installErr)
	}
}

func install() error {
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s is required to run the socket.io-client tests but is not on PATH: %w", tool, err)
		}
	}
	dir := Dir()
	if fresh, err := modulesFresh(dir); err != nil || fresh {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), installTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund", "--prefer-offline")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("while running npm ci in %s: %w\n%s", dir, err, out)
	}
	return nil
}

// modulesFresh reports whether node_modules was installed after the lock
// file last changed. npm writes node_modules/.package-lock.json on every
// install, so its time is the install's time.
func modulesFresh(dir string) (bool, error) {
	lock, err := os.Stat(filepath.Join(dir, "package-lock.json"))
	if err != nil {
		return false, fmt.Errorf("while reading the lock file: %w", err)
	}
	installed, err := os.Stat(filepath.Join(dir, "node_modules", ".package-lock.json"))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("while checking node_modules: %w", err)
	}
	return !installed.ModTime().Before(lock.ModTime()), nil
}

// Output is what a script printed and how it ended.
type Output struct {
	// Lines are the stdout lines that are JSON objects, in order; scripts
	// report each step as one such line.
	Lines    []map[string]any
	Stdout   string
	Stderr   string
	ExitCode int
}

// Step returns the first line whose "step" field is name, or nil.
func (o Output) Step(name string) map[string]any {
	for _, l := range o.Lines {
		if l["step"] == name {
			return l
		}
	}
	return nil
}

// Run runs `node test/sio/<script>` with env ("KEY=value") added to the
// environment and kills it after timeout. It installs the npm packages
// first if needed. The returned error is non-nil when node could not run,
// timed out or exited non-zero; Output is filled in every case.
func Run(t testing.TB, timeout time.Duration, script string, env ...string) (Output, error) {
	t.Helper()
	Install(t)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", script)
	cmd.Dir = Dir()
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// WaitDelay bounds Wait when a killed node left a child holding the pipes.
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	out := Output{Stdout: stdout.String(), Stderr: stderr.String(), ExitCode: cmd.ProcessState.ExitCode()}
	out.Lines = jsonLines(out.Stdout)
	switch {
	case ctx.Err() != nil:
		return out, fmt.Errorf("node %s: killed after %v: %w", script, timeout, ctx.Err())
	case err != nil:
		return out, fmt.Errorf("node %s: %w", script, err)
	}
	return out, nil
}

// MustRun is Run that fails t, showing the script's output, on any error.
func MustRun(t testing.TB, timeout time.Duration, script string, env ...string) Output {
	t.Helper()
	out, err := Run(t, timeout, script, env...)
	if err != nil {
		t.Fatalf("%v\nstdout:\n%s\nstderr:\n%s", err, out.Stdout, out.Stderr)
	}
	return out
}

func jsonLines(s string) []map[string]any {
	var lines []map[string]any
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			lines = append(lines, m)
		}
	}
	return lines
}
