package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// artilleryDir is $FLEETWIRE_ARTILLERY (make test sets it), else what
// hack/setup-artillery.sh installs and caches.
func artilleryDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("FLEETWIRE_ARTILLERY"); d != "" {
		return d
	}
	out, err := exec.Command("../../hack/setup-artillery.sh").Output()
	if err != nil {
		t.Fatalf("hack/setup-artillery.sh: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// TestArtillerySmoke runs the replaced service's kind of load test,
// test/load/socketio.yml, with Artillery's Socket.IO v3/v4 engine for two
// seconds: every virtual user connected with its token, subscribed,
// published through the API and received its own headline.
func TestArtillerySmoke(t *testing.T) {
	t.Parallel() // it mostly waits for Artillery
	art := artilleryDir(t)
	n := startNode(t, nil)
	report := filepath.Join(t.TempDir(), "report.json")
	cmd := exec.Command(filepath.Join(art, "node_modules", ".bin", "artillery"), "run", "--output", report, "../load/socketio.yml")
	cmd.Env = append(os.Environ(), "FLEETWIRE_URL="+n.base, "JWT_SECRET="+testSecret, "LOAD_DURATION=2", "LOAD_RATE=5",
		"ARTILLERY_DISABLE_TELEMETRY=true")
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(90 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("artillery did not finish within 90s:\n%s", out)
	}
	if err != nil {
		t.Fatalf("artillery: %v\n%s", err, out)
	}
	raw, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Aggregate struct {
			Counters map[string]int `json:"counters"`
		} `json:"aggregate"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatal(err)
	}
	c := r.Aggregate.Counters
	t.Logf("artillery counters: %v", c)
	if c["vusers.completed"] < 5 || c["vusers.failed"] != 0 || c["fleetwire.headline_received"] != c["vusers.completed"] {
		t.Fatalf("counters %v: want every user completed, none failed, each headline received\n%s", c, out)
	}
}
