package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
)

// compare reads the JSON lines two servers' runs printed (idle,
// handshakes, then paced fan-outs at stepped rates) and prints them side by side, with the
// first server's figure over the second's: the idle memory, each rate's
// run, and the highest rate each sustained (every publish made on time,
// nothing lost, p99 within sustainedP99Ms). hack/bench-compare.sh runs it
// on the runtime's lines and Centrifugo's.
func compare(w io.Writer, names, files []string) error {
	if len(names) != 2 || len(files) != 2 {
		return fmt.Errorf("compare takes two result files and two names, got %d and %d", len(files), len(names))
	}
	var idle [2]idleResult
	var paced [2][]pacedResult
	var handshakes [2]connectRateResult
	for i, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return err
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		found := 0
		seenIdle := false // the first: a paced run prints an idle line of its own
		for sc.Scan() {
			line := sc.Bytes()
			var m struct{ Mode string }
			if json.Unmarshal(line, &m) != nil {
				continue
			}
			switch m.Mode {
			case "idle":
				if !seenIdle {
					found++
					seenIdle = json.Unmarshal(line, &idle[i]) == nil
				}
			case "connect-rate":
				if json.Unmarshal(line, &handshakes[i]) == nil {
					found++
				}
			case "paced":
				var p pacedResult
				if json.Unmarshal(line, &p) == nil {
					found++
					paced[i] = append(paced[i], p)
				}
			}
		}
		fh.Close()
		if err := sc.Err(); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		if found == 0 {
			return fmt.Errorf("%s holds no idle, connect-rate or paced result line", f)
		}
	}
	fmt.Fprintf(w, "| measure | %s | %s | %s / %s |\n| --- | --- | --- | --- |\n", names[0], names[1], names[0], names[1])
	row := func(what string, a, b float64, unit string) {
		ratio := "—"
		if b != 0 && a != 0 {
			ratio = fmt.Sprintf("%.2f", a/b)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", what, figure(a, unit), figure(b, unit), ratio)
	}
	// A stage that was skipped (hack/bench-compare.sh's BENCH_* set to 0
	// or "") prints no rows.
	if idle[0].Connections > 0 || idle[1].Connections > 0 {
		row("idle connections", float64(idle[0].Connections), float64(idle[1].Connections), "")
		row("server RSS per idle connection", idle[0].RSSKiBPerConnection, idle[1].RSSKiBPerConnection, "KiB")
		row("GC heap goal per idle connection", idle[0].HeapGoalKiBPerConnection, idle[1].HeapGoalKiBPerConnection, "KiB")
	}
	if handshakes[0].Handshakes > 0 || handshakes[1].Handshakes > 0 {
		h := handshakes
		row(fmt.Sprintf("handshakes (JWT, connected, a subscribe), concurrency %d, %d sources: a second", h[0].Concurrency, h[0].Sources),
			h[0].PerSecond, h[1].PerSecond, "")
		row("  handshake latency p99", h[0].P99Ms, h[1].P99Ms, "ms")
		row("  server CPU per handshake", h[0].ServerCPUPerMic, h[1].ServerCPUPerMic, "µs")
	}
	var best [2]pacedResult
	for k := range 2 {
		for _, p := range paced[k] {
			if sustained(p) && p.DeliveriesPerS > best[k].DeliveriesPerS {
				best[k] = p
			}
		}
	}
	if len(paced[0]) > 0 || len(paced[1]) > 0 {
		row("max sustained deliveries a second", best[0].DeliveriesPerS, best[1].DeliveriesPerS, "")
		row("  at publishes a second", float64(best[0].Rate), float64(best[1].Rate), "")
	}
	for n := 0; n < max(len(paced[0]), len(paced[1])); n++ {
		var a, b pacedResult
		if n < len(paced[0]) {
			a = paced[0][n]
		}
		if n < len(paced[1]) {
			b = paced[1][n]
		}
		at := fmt.Sprintf("%d subscribers, %d publishes/s", a.Subscribers, a.Rate)
		if a.Rate != b.Rate || a.Subscribers != b.Subscribers {
			at = fmt.Sprintf("%d/%d subscribers, %d/%d publishes/s", a.Subscribers, b.Subscribers, a.Rate, b.Rate)
		}
		row(at+": published", float64(a.Published), float64(b.Published), "")
		row("  skipped publishes", float64(a.Skipped), float64(b.Skipped), "")
		row("  deliveries lost", float64(a.Lost), float64(b.Lost), "")
		row("  deliveries a second", a.DeliveriesPerS, b.DeliveriesPerS, "")
		row("  deliveries per server CPU second", perCPU(a), perCPU(b), "")
		row("  latency p50", a.LatencyP50Ms, b.LatencyP50Ms, "ms")
		row("  latency p99", a.LatencyP99Ms, b.LatencyP99Ms, "ms")
		row("  first-to-last spread p99", a.SpreadP99Ms, b.SpreadP99Ms, "ms")
		row("  publish API p99", a.PublishAPIP99Ms, b.PublishAPIP99Ms, "ms")
	}
	return nil
}

// sustainedP99Ms is the latency a sustained rate stays within.
const sustainedP99Ms = 500

// sustained reports whether a paced run kept up: every publish made on
// time, nothing lost, p99 within sustainedP99Ms.
func sustained(p pacedResult) bool {
	return p.Published > 0 && p.Skipped == 0 && p.Lost == 0 && p.LatencyP99Ms <= sustainedP99Ms
}

func perCPU(p pacedResult) float64 {
	if p.ServerCPUSeconds <= 0 {
		return 0
	}
	return float64(p.Received) / p.ServerCPUSeconds
}

func figure(v float64, unit string) string {
	s := fmt.Sprintf("%.2f", v)
	if v == float64(int64(v)) {
		s = fmt.Sprintf("%d", int64(v))
	}
	if unit != "" {
		s += " " + unit
	}
	return strings.TrimSpace(s)
}
