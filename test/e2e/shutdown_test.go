package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/test/redistest"
	"github.com/fleetwire/fleetwire/test/testproc"
)

func TestShutdownClosesClientsWithServiceRestart(t *testing.T) {
	n := startNode(t, nil)
	var clients []*client
	for i := range 10 {
		clients = append(clients, dial(t, n, userToken(t, fmt.Sprintf("u%d", i))))
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- n.srv.Shutdown(ctx) }()
	for _, c := range clients {
		code, reason := c.expectClose()
		if code != 1012 || reason != "service restart" {
			t.Fatalf("close %d %q, want 1012 \"service restart\"", code, reason)
		}
		c.ws.Close()
	}
	if err := <-errc; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// runtimeBinary builds cmd/runtime once per test run.
func runtimeBinary(t *testing.T) string {
	return testproc.Binary(t, "github.com/fleetwire/fleetwire/cmd/runtime")
}

func freePort(t *testing.T) int { return redistest.FreePort(t) }

// proc is a runtime running as its own process.
type proc struct {
	cmd  *exec.Cmd
	node *node
	logs *testproc.Buffer
	exit chan error
}

func startProcess(t *testing.T, args ...string) *proc {
	t.Helper()
	return startProcessEnv(t, nil, args...)
}

// startProcessEnv starts a runtime process with extra environment
// variables, on a free port. A port found free can be taken by another
// test's process or client before the runtime binds it; the runtime then
// exits at once, and another port is tried.
func startProcessEnv(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	for attempt := 1; ; attempt++ {
		p, taken := launchProcess(t, freePort(t), env, args...)
		if !taken {
			return p
		}
		if attempt == 5 {
			t.Fatal("every free port tried was taken before the runtime could bind it")
		}
	}
}

// startProcessAt starts a runtime process on a given port, so a test can
// restart a node where its clients will look for it.
func startProcessAt(t *testing.T, port int, env []string, args ...string) *proc {
	t.Helper()
	p, taken := launchProcess(t, port, env, args...)
	if taken {
		t.Fatalf("port %d is taken", port)
	}
	return p
}

// launchProcess starts a runtime process on port and waits until it
// serves /health. taken reports that it exited because the port was in
// use; any other early exit fails t.
func launchProcess(t *testing.T, port int, env []string, args ...string) (p *proc, taken bool) {
	t.Helper()
	cmd := exec.Command(runtimeBinary(t), args...)
	cmd.Env = append(os.Environ(), "PORT="+fmt.Sprint(port), "JWT_SECRET="+testSecret, "LOG_LEVEL=debug", "RATE_LIMIT_MAX=0", "MAX_CONNECTIONS=2000")
	cmd.Env = append(cmd.Env, env...)
	logs := &testproc.Buffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p = &proc{cmd: cmd, logs: logs, exit: make(chan error, 1),
		node: &node{base: fmt.Sprintf("http://127.0.0.1:%d", port), logs: logs}}
	go func() { p.exit <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		if t.Failed() {
			t.Logf("process logs:\n%s", logs.String())
		}
	})
	deadline := time.Now().Add(wait)
	for {
		// Still running a moment after it answered: the answer was this
		// process's, not that of whoever held the port.
		if testproc.Answers200(p.node.base+"/health") && !exitsWithin(p, 100*time.Millisecond) {
			return p, false
		}
		select {
		case err := <-p.exit:
			if strings.Contains(logs.String(), "address already in use") {
				return nil, true
			}
			t.Fatalf("the runtime exited before it listened: %v\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting for the runtime to listen")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// exitsWithin reports whether p exits within d. An exit is put back for
// whoever waits on p.exit next.
func exitsWithin(p *proc, d time.Duration) bool {
	select {
	case err := <-p.exit:
		p.exit <- err
		return true
	case <-time.After(d):
		return false
	}
}

func TestSIGTERMClosesClientsAndExitsCleanly(t *testing.T) {
	p := startProcess(t, "--drain-pre-delay", "0s", "--drain-timeout", "500ms")
	var clients []*client
	for i := range 20 {
		clients = append(clients, dial(t, p.node, userToken(t, fmt.Sprintf("u%d", i))))
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for _, c := range clients {
		if code, reason := c.expectClose(); code != 1012 || reason != "service restart" {
			t.Fatalf("close %d %q, want 1012", code, reason)
		}
		c.ws.Close()
	}
	select {
	case err := <-p.exit:
		if err != nil {
			t.Fatalf("exit: %v", err)
		}
	case <-time.After(wait):
		t.Fatal("runtime did not exit after SIGTERM")
	}
	if !strings.Contains(p.logs.String(), "stopped cleanly") {
		t.Fatalf("no clean-stop log")
	}
	// After the exit, the port no longer accepts connections.
	if _, err := net.DialTimeout("tcp", strings.TrimPrefix(p.node.base, "http://"), time.Second); err == nil {
		t.Fatal("port still accepting after exit")
	}
}

func TestProductionModeRefusesToStartWithoutSecret(t *testing.T) {
	cmd := exec.Command(runtimeBinary(t), "--production")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "PORT=" + fmt.Sprint(freePort(t))}
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("started without a secret:\n%s", out)
	}
	if !strings.Contains(string(out), "production mode needs JWT_SECRET") {
		t.Fatalf("message does not name the setting:\n%s", out)
	}
}

func TestInvalidSettingStopsStartup(t *testing.T) {
	for _, tc := range []struct{ env, want string }{
		{"MAX_CONNECTIONS=lots", "MAX_CONNECTIONS: must be an integer"},
		{"RATE_LIMIT_WINDOW=-5", "rateLimit"},
		{"CORS_ORIGINS=ftp://x", "cors.origins (CORS_ORIGINS)"},
		{"PORT=70000", "port (PORT)"},
	} {
		cmd := exec.Command(runtimeBinary(t))
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "JWT_SECRET=" + testSecret, tc.env}
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), tc.want) {
			t.Errorf("%s: err=%v output:\n%s", tc.env, err, out)
		}
	}
}

// In dev mode, with stderr a pipe (as here, or a log collector), the log
// stream carries no token and names the command that signs one; the
// token command signs with the same dev secret, so its admin token works.
// (At a terminal the runtime prints that admin token in a banner.)
func TestDevModePrintsAWorkingAdminToken(t *testing.T) {
	home := t.TempDir()
	port := freePort(t)
	cmd := exec.Command(runtimeBinary(t))
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "XDG_CACHE_HOME=" + home, "PORT=" + fmt.Sprint(port)}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	hinted := false
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		line := sc.Text()
		if strings.Contains(line, "eyJ") {
			t.Errorf("a token in the log stream: %s", line)
		}
		hinted = hinted || strings.Contains(line, "fleetwire-runtime token --user dev-admin --roles admin,service")
		if strings.Contains(line, "runtime listening") {
			break
		}
	}
	if !hinted {
		t.Error("the log does not name the command that signs a dev admin token")
	}
	go func() {
		for sc.Scan() {
		}
	}()
	sign := exec.Command(runtimeBinary(t), "token", "--user", "dev-admin", "--roles", "admin,service")
	sign.Env = cmd.Env
	signed, err := sign.Output()
	if err != nil {
		t.Fatal(err)
	}
	admin := strings.TrimSpace(string(signed))
	n := &node{base: fmt.Sprintf("http://127.0.0.1:%d", port)}
	eventually(t, "listen", func() bool {
		resp, err := http.Get(n.base + "/health")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})
	mustStatus(t, call(t, "GET", n.base+"/ws/status/alice", admin, nil), 200)
	// The token command signs with the same dev secret.
	tok := exec.Command(runtimeBinary(t), "token", "--user", "alice")
	tok.Env = cmd.Env
	out, err := tok.Output()
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, n, strings.TrimSpace(string(out)))
	if c.conn.UserID != "alice" {
		t.Fatalf("user %q", c.conn.UserID)
	}
}
