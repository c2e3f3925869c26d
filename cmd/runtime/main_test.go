package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/test/testproc"
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

// In dev mode with stderr not a terminal (a log collector, a pipe), the
// log stream stays pure JSON, and the dev admin token is not in it.
func TestDevModeLogsAreJSONWithoutTheToken(t *testing.T) {
	bin := testproc.Binary(t, "github.com/fleetwire/fleetwire/cmd/runtime")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "XDG_CACHE_HOME="+t.TempDir(), "JWT_SECRET=", "HOST=127.0.0.1", fmt.Sprintf("PORT=%d", port))
	logs := &testproc.Buffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(logs.String(), "runtime listening"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the runtime did not start:\n%s", logs.String())
		}
	}
	out := logs.String()
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if !json.Valid([]byte(line)) {
			t.Errorf("not a JSON log line: %q", line)
		}
	}
	if strings.Contains(out, "eyJ") {
		t.Errorf("a token is in the log stream:\n%s", out)
	}
	if !strings.Contains(out, "fleetwire-runtime token --user dev-admin") {
		t.Errorf("the log does not say how to get a dev token:\n%s", out)
	}
}
