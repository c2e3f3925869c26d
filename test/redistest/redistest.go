// Package redistest starts real redis-server processes for tests, each on
// a free loopback port with its own scratch directory. hack/setup-test-env.sh
// installs redis-server; make test runs it first.
package redistest

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is one redis-server process.
type Server struct {
	Port         int
	dir          string
	args         []string
	sentinelConf string // set for a sentinel
	cmd          *exec.Cmd
	exit         chan error
	out          *syncBuffer // the process's output, shown when it fails to start
}

// syncBuffer collects a process's output from exec's goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// startAttempts bounds how often Start tries a new port when the server
// does not come up: a port found free can be taken again before redis-server
// binds it, by any of the connections the other test packages open at the
// same time.
const startAttempts = 3

// startWait bounds how long a server may take to answer PING.
const startWait = 10 * time.Second

// Start runs redis-server on a free loopback port and stops it when the
// test ends. Extra args are passed to redis-server.
func Start(t testing.TB, args ...string) *Server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("redis-server not found: run hack/setup-test-env.sh (make test does)")
	}
	cluster := slices.Contains(args, "--cluster-enabled")
	var err error
	for range startAttempts {
		port := freePort(t)
		if cluster {
			port = freeClusterPort(t)
		}
		s := &Server{Port: port, dir: t.TempDir(), args: args}
		if err = s.tryStart(); err == nil {
			t.Cleanup(s.Stop)
			return s
		}
		t.Logf("%v; trying another port", err)
	}
	t.Fatal(err)
	return nil
}

// freeClusterPort returns a port that is free together with the one 10000
// above it, which a cluster node binds for its bus.
func freeClusterPort(t testing.TB) int {
	t.Helper()
	for range 100 {
		p := freePort(t)
		if p+10000 > 65535 {
			continue
		}
		if ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+10000)); err == nil {
			ln.Close()
			return p
		}
	}
	t.Fatal("no free port pair for a cluster node")
	return 0
}

// Addr is host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)) }

// URL is the redis:// URL of the server.
func (s *Server) URL() string { return "redis://" + s.Addr() }

func (s *Server) start(t testing.TB) {
	t.Helper()
	if err := s.tryStart(); err != nil {
		t.Fatal(err)
	}
}

// tryStart runs the server and waits until it answers PING.
func (s *Server) tryStart() error {
	args := append([]string{
		"--port", strconv.Itoa(s.Port), "--bind", "127.0.0.1", "--dir", s.dir,
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", "",
	}, s.args...)
	if s.sentinelConf != "" {
		args = []string{s.sentinelConf, "--sentinel"}
	}
	s.cmd = exec.Command("redis-server", args...)
	s.out = &syncBuffer{}
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	s.exit = make(chan error, 1)
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("starting redis-server: %w", err)
	}
	go func(cmd *exec.Cmd, exit chan error) { exit <- cmd.Wait() }(s.cmd, s.exit)
	deadline := time.Now().Add(startWait)
	for {
		if err := ping(s.Addr()); err == nil {
			return nil
		}
		if time.Now().After(deadline) || s.exited() {
			out := s.out.String()
			s.Stop()
			return fmt.Errorf("redis-server on %s did not answer PING within %s; its output:\n%s", s.Addr(), startWait, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// exited reports whether the process has ended, keeping its exit for Stop.
func (s *Server) exited() bool {
	select {
	case err := <-s.exit:
		s.exit <- err
		return true
	default:
		return false
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

// Resume starts a stopped server again on the same port, empty.
func (s *Server) Resume(t testing.TB) {
	t.Helper()
	s.start(t)
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

func writeFile(path, body string) error { return os.WriteFile(path, []byte(body), 0o600) }

// FreePort returns a loopback TCP port that was free a moment ago and
// that this process has not handed out before.
func FreePort(t testing.TB) int { return freePort(t) }

// handedOut holds every port freePort has returned. A child process binds
// its port some time after freePort released it, and in that time the
// kernel may offer the same port again: a cluster test once gave kwok and
// the operator the same one.
var handedOut sync.Map

// freePort asks the kernel for a port free on every address: a server
// that listens on all of them (the runtime) needs that, and a port free
// on 127.0.0.1 alone can still be held there by another address's
// connection, such as the reconnect storm's, from 127.0.1.x. The port must
// also bind on 127.0.0.1 alone, where a child process may already listen
// on it, and must not have been handed out before.
func freePort(t testing.TB) int {
	t.Helper()
	for range 100 {
		port, err := openPort()
		if err != nil {
			t.Fatal(err)
		}
		if ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			ln.Close()
			if _, taken := handedOut.LoadOrStore(port, true); !taken {
				return port
			}
		}
	}
	t.Fatal("no free port in 100 tries")
	return 0
}

// openPort returns a port the kernel gives a listener on every address.
func openPort() (int, error) {
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Sentinel is a master, a replica and three sentinels watching them.
type Sentinel struct {
	Master     *Server
	Replica    *Server
	Sentinels  []*Server
	MasterName string
}

// SentinelAddrs returns the sentinels' host:port addresses.
func (s *Sentinel) SentinelAddrs() []string {
	out := make([]string, len(s.Sentinels))
	for i, x := range s.Sentinels {
		out[i] = x.Addr()
	}
	return out
}

// StartSentinel runs a master, a replica and three sentinels, with a
// down-after of one second so that failover tests stay short.
func StartSentinel(t testing.TB) *Sentinel {
	t.Helper()
	s := &Sentinel{MasterName: "fleetwire"}
	s.Master = Start(t)
	s.Replica = Start(t, "--replicaof", "127.0.0.1", strconv.Itoa(s.Master.Port))
	for range 3 {
		s.Sentinels = append(s.Sentinels, startSentinel(t, s.MasterName, s.Master.Port))
	}
	return s
}

func startSentinel(t testing.TB, master string, masterPort int) *Server {
	t.Helper()
	dir := t.TempDir()
	port := freePort(t)
	conf := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nsentinel monitor %s 127.0.0.1 %d 2\n"+
		"sentinel down-after-milliseconds %s 1000\nsentinel failover-timeout %s 5000\nsentinel parallel-syncs %s 1\n",
		port, dir, master, masterPort, master, master, master)
	path := dir + "/sentinel.conf"
	if err := writeFile(path, conf); err != nil {
		t.Fatal(err)
	}
	s := &Server{Port: port, dir: dir, sentinelConf: path}
	s.start(t)
	t.Cleanup(s.Stop)
	return s
}

// Cluster is a Redis Cluster of three masters, each with one replica.
type Cluster struct {
	Nodes []*Server
}

// Addrs returns every node's host:port.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.Addr()
	}
	return out
}

// StartCluster runs six nodes and joins them with redis-cli --cluster
// create (three masters, one replica each).
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	c := &Cluster{}
	for range 6 {
		c.Nodes = append(c.Nodes, Start(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000", "--cluster-replica-validity-factor", "0"))
	}
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", "1", "--cluster-yes")
	out, err := exec.Command("redis-cli", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		info, err := exec.Command("redis-cli", "-p", strconv.Itoa(c.Nodes[0].Port), "cluster", "info").Output()
		if err == nil && strings.Contains(string(info), "cluster_state:ok") {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster not ok after 30s: %s", info)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
