package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
)

// compare reads the JSON lines two servers' runs printed (idle, then the
// paced fan-out) and prints them side by side, with the first server's
// figure over the second's. hack/bench-compare.sh runs it on the
// runtime's lines and Centrifugo's.
func compare(w io.Writer, names, files []string) error {
	if len(names) != 2 || len(files) != 2 {
		return fmt.Errorf("compare takes two result files and two names, got %d and %d", len(files), len(names))
	}
	var idle [2]idleResult
	var paced [2]pacedResult
	for i, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return err
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		found := 0
		var seenIdle, seenPaced bool // the first of each: a paced run prints an idle line of its own
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
			case "paced":
				if !seenPaced {
					found++
					seenPaced = json.Unmarshal(line, &paced[i]) == nil
				}
			}
		}
		fh.Close()
		if err := sc.Err(); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		if found == 0 {
			return fmt.Errorf("%s holds no idle or paced result line", f)
		}
	}
	perCPU := func(p pacedResult) float64 {
		if p.ServerCPUSeconds <= 0 {
			return 0
		}
		return float64(p.Received) / p.ServerCPUSeconds
	}
	rows := []struct {
		what string
		a, b float64
		unit string
	}{
		{"idle connections", float64(idle[0].Connections), float64(idle[1].Connections), ""},
		{"server RSS per idle connection", idle[0].RSSKiBPerConnection, idle[1].RSSKiBPerConnection, "KiB"},
		{"GC heap goal per idle connection", idle[0].HeapGoalKiBPerConnection, idle[1].HeapGoalKiBPerConnection, "KiB"},
		{"fan-out subscribers", float64(paced[0].Subscribers), float64(paced[1].Subscribers), ""},
		{"publishes offered a second", float64(paced[0].Rate), float64(paced[1].Rate), ""},
		{"published", float64(paced[0].Published), float64(paced[1].Published), ""},
		{"skipped publishes", float64(paced[0].Skipped), float64(paced[1].Skipped), ""},
		{"deliveries lost", float64(paced[0].Lost), float64(paced[1].Lost), ""},
		{"deliveries a second", paced[0].DeliveriesPerS, paced[1].DeliveriesPerS, ""},
		{"deliveries per server CPU second", perCPU(paced[0]), perCPU(paced[1]), ""},
		{"latency p50", paced[0].LatencyP50Ms, paced[1].LatencyP50Ms, "ms"},
		{"latency p99", paced[0].LatencyP99Ms, paced[1].LatencyP99Ms, "ms"},
		{"first-to-last spread p99", paced[0].SpreadP99Ms, paced[1].SpreadP99Ms, "ms"},
		{"publish API p99", paced[0].PublishAPIP99Ms, paced[1].PublishAPIP99Ms, "ms"},
	}
	fmt.Fprintf(w, "| measure | %s | %s | %s / %s |\n| --- | --- | --- | --- |\n", names[0], names[1], names[0], names[1])
	for _, r := range rows {
		ratio := "—"
		if r.b != 0 && r.a != 0 {
			ratio = fmt.Sprintf("%.2f", r.a/r.b)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", r.what, figure(r.a, r.unit), figure(r.b, r.unit), ratio)
	}
	return nil
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
