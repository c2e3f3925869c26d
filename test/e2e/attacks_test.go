package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/runtime/auth"
	"github.com/fleetwire/fleetwire/test/testproc"
)

// TestAttacksInAnotherProcess runs the suite's attacks from a process of
// its own (test/attacker) against a runtime process, while a bystander on
// the same node sends acknowledged pings one after another. The runtime
// and this test share the first CPU, the attacker gets the second, so the
// attackers' own work does not count against the bystander. make test
// runs every attack at once for 2s; make faults (FLEETWIRE_FAULTS=full)
// runs a control (the attacker sending nothing), each attack alone, then
// all at once, for 10s each. Printed: the
// bystander's round-trip p50 and p99 without and with the attacks, and
// how the runtime answered each attack; each attack must have met its
// limit. The figures are not asserted: this machine is shared
// (docs/reliability.md has them).
//
// The node runs with the defaults, compression turned on for the deflate
// bomb, so limits.badRequestsPerSecondPerIP (20) bounds what each address
// may cost it in refusals. The full runs then run all the attacks at once
// against a node without that rule, for the comparison, and every attack
// against a node that also bounds the connections one address may open a
// second (limits.connectionsPerSecondPerIP: 20), where an address closed
// for abuse is also banned for rateLimit.abuse.ban. The attacks come from
// 127.0.0.66, the bystander and the checks from 127.0.0.1.
func TestAttacksInAnotherProcess(t *testing.T) {
	const all = "floods,slowloris,headers,socketio,siofloods,polling,deflate"
	window, runs := 2*time.Second, []string{all}
	full := os.Getenv("FLEETWIRE_FAULTS") == "full"
	if full {
		// "none" first: the control, the attacker process running and
		// sending nothing.
		window, runs = 10*time.Second, append(append([]string{"none"}, strings.Split(all, ",")...), runs...)
	}
	base := "limits:\n  httpHeaderTimeout: 1s\n"
	rest := "transport:\n  compression: true\nrateLimit:\n  tiers:\n    monitor:\n      messages: {limit: 0}\n"
	cfg := writeConfig(t, base+rest)
	for _, attacks := range runs {
		t.Run(attacks, func(t *testing.T) { attackFromAnotherProcess(t, cfg, attacks, window, false) })
	}
	if full {
		unbounded := writeConfig(t, base+"  badRequestsPerSecondPerIP: 0\n"+rest)
		t.Run("no-bad-request-rule/"+all, func(t *testing.T) { attackFromAnotherProcess(t, unbounded, all, window, false) })
		limited := writeConfig(t, base+"  connectionsPerSecondPerIP: 20\n"+rest)
		for _, attacks := range append(strings.Split(all, ","), all) {
			t.Run("ip-rate-20/"+attacks, func(t *testing.T) { attackFromAnotherProcess(t, limited, attacks, window, true) })
		}
	}
}

func attackFromAnotherProcess(t *testing.T, cfg, attacks string, window time.Duration, ipRate bool) {
	p := startProcessEnv(t, []string{"RATE_LIMIT_MAX=60", "LOG_LEVEL=warn"}, "--config", cfg)
	pinned := pinCPUs(t, p.cmd.Process.Pid)
	bystander := dial(t, p.node, token(t, auth.TokenRequest{UserID: "bystander", Tier: "monitor", TTL: time.Hour}))
	pingRTTs(t, bystander, 500*time.Millisecond) // warm up
	quiet := pingRTTs(t, bystander, window)

	attacker := testproc.Binary(t, "github.com/fleetwire/fleetwire/test/attacker")
	// The attacks come from an address of their own, as they would; the
	// bystander and this test's checks from 127.0.0.1.
	args := []string{attacker, "--url", p.node.base, "--secret", testSecret, "--for", window.String(), "--attacks", attacks, "--from", "127.0.0.66"}
	if pinned {
		args = append([]string{"taskset", "-c", "1"}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	attacked := pingRTTs(t, bystander, window)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("attacker: %v\n%s", err, errOut.String())
	}
	var reports map[string]struct {
		Attempts int            `json:"attempts"`
		Frames   int            `json:"frames"`
		Answers  map[string]int `json:"answers"`
	}
	if err := json.Unmarshal([]byte(out.String()), &reports); err != nil {
		t.Fatalf("attacker's report %q: %v", out.String(), err)
	}
	limits := map[string]string{
		"floods":    "close 1008 rate limit abuse",
		"slowloris": "cut",
		"headers":   "status 431",
		"socketio":  "close 1000 ",
		"siofloods": "close_reason 1008 rate limit abuse",
		"polling":   "status 413",
		"deflate":   "close 1009 message too big",
	}
	if ipRate {
		limits["headers"] = "status 429" // refused as accepted, past 20 a second
	}
	names := strings.Split(attacks, ",")
	for _, name := range names {
		r := reports[name]
		t.Logf("%s: %d attempts, %d frames, answers %v", name, r.Attempts, r.Frames, r.Answers)
		// Attacks from one address share its bad-request budget: run
		// together, one may find the address refused before its own limit
		// was reached, which is a limit too.
		if len(names) > 1 && r.Answers["status 429"] > 0 {
			continue
		}
		if name != "none" && r.Answers[limits[name]] == 0 {
			t.Errorf("%s: never answered %q", name, limits[name])
		}
	}
	q50, q99 := percentile(quiet, 50), percentile(quiet, 99)
	a50, a99 := percentile(attacked, 50), percentile(attacked, 99)
	t.Logf("bystander, CPUs pinned %v: %d pings without the attacks, p50 %s p99 %s; %d pings during them, p50 %s p99 %s (p99 %+.0f%%)",
		pinned, len(quiet), q50, q99, len(attacked), a50, a99, 100*(float64(a99)/float64(q99)-1))
	if r := call(t, "GET", p.node.base+"/health/live", "", nil); r.Status != http.StatusOK {
		t.Fatalf("the node is not alive after the attacks: %d %s", r.Status, r.Raw)
	}
}

// pinCPUs puts the runtime process pid and this test's process on the
// first CPU, leaving the second to the attacker, and puts this process
// back on every CPU when the test ends. It reports false, and pins
// nothing, on a machine with one CPU.
func pinCPUs(t *testing.T, pid int) bool {
	t.Helper()
	if runtime.NumCPU() < 2 {
		t.Log("one CPU: the attacker shares it")
		return false
	}
	all := fmt.Sprintf("0-%d", runtime.NumCPU()-1)
	for _, p := range []int{pid, os.Getpid()} {
		if out, err := exec.Command("taskset", "-a", "-p", "-c", "0", strconv.Itoa(p)).CombinedOutput(); err != nil {
			t.Fatalf("taskset: %v\n%s", err, out)
		}
	}
	t.Cleanup(func() {
		if out, err := exec.Command("taskset", "-a", "-p", "-c", all, strconv.Itoa(os.Getpid())).CombinedOutput(); err != nil {
			t.Errorf("taskset: %v\n%s", err, out)
		}
	})
	return true
}

// pingRTTs sends acknowledged pings one after another for d and returns
// their round trips, sorted.
func pingRTTs(t *testing.T, c *client, d time.Duration) []time.Duration {
	t.Helper()
	var rtts []time.Duration
	for end := time.Now().Add(d); time.Now().Before(end) && len(rtts) < 1_000_000; {
		start := time.Now()
		if f := c.request("ping", nil); f.Event != "ack" {
			t.Fatalf("ping answered %s %s", f.Event, f.Data)
		}
		rtts = append(rtts, time.Since(start))
	}
	slices.Sort(rtts)
	return rtts
}

// percentile returns the pth percentile of sorted.
func percentile(sorted []time.Duration, p int) time.Duration {
	return sorted[min(len(sorted)-1, len(sorted)*p/100)]
}
