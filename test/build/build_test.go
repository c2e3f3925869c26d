// Package build checks the release build: the binaries that the
// Dockerfile builds, built here with exactly its command (hack/build.sh;
// Docker itself cannot run on this machine), carry the version, commit
// and build date they were given, and say so.
package build

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

const (
	version = "v0.0.0-buildtest"
	commit  = "0123456789abcdef0123456789abcdef01234567"
	date    = "2026-12-01T12:00:00Z"
)

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// The Dockerfile's build stage runs hack/build.sh with its three build
// arguments, and its final stage is distroless, non-root, with both
// binaries; .dockerignore keeps out nothing the build needs.
func TestDockerfileBuildsWithHackBuild(t *testing.T) {
	root := repoRoot(t)
	b, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	for _, want := range []string{
		"ARG VERSION=", "ARG COMMIT=", "ARG DATE=",
		`RUN VERSION="${VERSION}" COMMIT="${COMMIT}" DATE="${DATE}" ./hack/build.sh /out`,
		"FROM gcr.io/distroless/static-debian12:nonroot", "COPY --from=build /out/ /", "USER 65532:65532",
	} {
		if !strings.Contains(df, want) {
			t.Errorf("the Dockerfile has no %q", want)
		}
	}
	ignore, err := os.ReadFile(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	needed := []string{"go.mod", "go.sum", "hack", "hack/build.sh", "cmd", "runtime", "api", "controllers"}
	sc := bufio.NewScanner(strings.NewReader(string(ignore)))
	for sc.Scan() {
		pattern := strings.TrimSpace(sc.Text())
		if pattern == "" || strings.HasPrefix(pattern, "#") {
			continue
		}
		for _, n := range needed {
			if ok, _ := filepath.Match(pattern, n); ok {
				t.Errorf(".dockerignore's %q leaves out %s, which the build needs", pattern, n)
			}
		}
	}
}

// hack/build.sh injects what it is given: both binaries print it for
// --version and version, with the Go version; the runtime shows it in
// /health/detailed and in fleetwire_build_info.
func TestBuiltBinariesCarryTheirVersion(t *testing.T) {
	root := repoRoot(t)
	out := t.TempDir()
	cmd := exec.Command(filepath.Join(root, "hack", "build.sh"), out)
	cmd.Env = append(os.Environ(), "VERSION="+version, "COMMIT="+commit, "DATE="+date)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("hack/build.sh: %v\n%s", err, b)
	}
	want := fmt.Sprintf("%s (commit %s, built %s, %s)", version, commit, date, runtime.Version())
	for _, bin := range []string{"fleetwire-runtime", "fleetwire-operator"} {
		for _, arg := range []string{"--version", "version"} {
			b, err := exec.Command(filepath.Join(out, bin), arg).CombinedOutput()
			if err != nil {
				t.Fatalf("%s %s: %v\n%s", bin, arg, err, b)
			}
			if got := strings.TrimSpace(string(b)); got != bin+" "+want {
				t.Errorf("%s %s printed %q, want %q", bin, arg, got, bin+" "+want)
			}
		}
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	rt := exec.Command(filepath.Join(out, "fleetwire-runtime"))
	rt.Env = append(os.Environ(), fmt.Sprintf("PORT=%d", port), "HOST=127.0.0.1",
		"JWT_SECRET=build-test-secret-0123456789abcdef0123", "LOG_LEVEL=error")
	if err := rt.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Process.Kill(); _ = rt.Wait() })
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	detailed := get(t, base+"/health/detailed")
	for _, field := range []string{`"version":"` + version + `"`, `"commit":"` + commit + `"`, `"buildDate":"` + date + `"`, `"goVersion":"` + runtime.Version() + `"`} {
		if !strings.Contains(detailed, field) {
			t.Errorf("/health/detailed has no %s: %s", field, detailed)
		}
	}
	metric := regexp.MustCompile(`(?m)^fleetwire_build_info\{build_date="` + date + `",commit="` + commit + `",goversion="` + regexp.QuoteMeta(runtime.Version()) + `",version="` + version + `"\} 1$`)
	if m := get(t, base+"/metrics"); !metric.MatchString(m) {
		t.Errorf("/metrics has no fleetwire_build_info with the build's labels")
	}
}

// get waits for the runtime to answer, then returns the body.
func get(t *testing.T, url string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return string(b)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer 200 within 30s: %v", url, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
