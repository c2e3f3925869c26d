// Package redistest starts real redis-server processes for tests, each on
// a free loopback port with its own scratch directory. hack/setup-test-env.sh
// installs redis-server; make test runs it first.
package redistest

import (
	"bufio"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Server is one redis-server process.
type Server struct {
	Port int
	dir  string
	args []string
	cmd  *exec.Cmd
	exit chan error
}

// startWait bounds how long a server may take to answer PING.
const startWait = 10 * time.Second

// Start runs redis-server on a free loopback port and stops it when the
// test ends. Extra args are passed to redis-server.
func Start(t testing.TB, args ...string) *Server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("redis-server not found: run hack/setup-test-env.sh (make test does)")
	}
	s := &Server{Port: freePort(t), dir: t.TempDir(), args: args}
	s.start(t)
	t.Cleanup(s.Stop)
	return s
}

// Addr is host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)) }

// URL is the redis:// URL of the server.
func (s *Server) URL() string { return "redis://" + s.Addr() }

func (s *Server) start(t testing.TB) {
	t.Helper()
	args := append([]string{
		"--port", strconv.Itoa(s.Port), "--bind", "127.0.0.1", "--dir", s.dir,
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", "",
	}, s.args...)
	s.cmd = exec.Command("redis-server", args...)
	s.exit = make(chan error, 1)
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("starting redis-server: %v", err)
	}
	go func(cmd *exec.Cmd, exit chan error) { exit <- cmd.Wait() }(s.cmd, s.exit)
	deadline := time.Now().Add(startWait)
	for {
		if err := ping(s.Addr()); err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.Stop()
			t.Fatalf("redis-server on %s did not answer PING within %s", s.Addr(), startWait)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop kills the server and waits for it. It is idempotent.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.exit
	s.cmd = nil
}

// Restart stops the server and starts it again on the same port, empty.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	s.start(t)
}

func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("unexpected reply %q", line)
	}
	return nil
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

