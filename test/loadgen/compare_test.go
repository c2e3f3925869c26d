package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// compare takes the first idle and the first paced line of each file and
// prints both servers' figures with their ratio.
func TestCompare(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.jsonl")
	b := filepath.Join(dir, "b.jsonl")
	write := func(path, body string) {
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(a, "server RSS before: 1 KiB\n"+
		`{"mode":"idle","connections":100,"rssKiBPerConnection":8}`+"\n"+
		`{"mode":"idle","connections":5,"rssKiBPerConnection":99}`+"\n"+ // the paced run's own
		`{"mode":"connect-rate","handshakes":1000,"handshakesPerSecond":6000,"concurrency":50,"sources":32,"latencyP99Ms":12,"serverCpuMicrosecondsPerHandshake":150}`+"\n"+
		`{"mode":"paced","subscribers":5,"publishesPerSecond":10,"published":10,"received":50,"deliveriesPerSecond":300,"latencyP99Ms":20,"serverCpuSeconds":0.5}`+"\n"+
		`{"mode":"paced","subscribers":5,"publishesPerSecond":20,"published":15,"skipped":5,"received":75,"deliveriesPerSecond":400,"latencyP99Ms":30,"serverCpuSeconds":1}`+"\n")
	write(b, `{"mode":"idle","connections":100,"rssKiBPerConnection":32}`+"\n"+
		`{"mode":"connect-rate","handshakes":1000,"handshakesPerSecond":5000,"concurrency":50,"sources":32,"latencyP99Ms":10,"serverCpuMicrosecondsPerHandshake":100}`+"\n"+
		`{"mode":"paced","subscribers":5,"publishesPerSecond":10,"published":10,"received":50,"deliveriesPerSecond":200,"latencyP99Ms":10,"serverCpuSeconds":1}`+"\n"+
		`{"mode":"paced","subscribers":5,"publishesPerSecond":20,"published":20,"received":100,"deliveriesPerSecond":390,"latencyP99Ms":600,"serverCpuSeconds":1}`+"\n")
	var out strings.Builder
	if err := compare(&out, []string{"A", "B"}, []string{a, b}); err != nil {
		t.Fatal(err)
	}
	for _, row := range []string{
		"| server RSS per idle connection | 8 KiB | 32 KiB | 0.25 |",
		"| handshakes (JWT, connected, a subscribe), concurrency 50, 32 sources: a second | 6000 | 5000 | 1.20 |",
		"|   server CPU per handshake | 150 µs | 100 µs | 1.50 |",
		"| max sustained deliveries a second | 300 | 200 | 1.50 |", // 20/s: A skipped, B's p99 above 500ms
		"| 5 subscribers, 10 publishes/s: published | 10 | 10 | 1.00 |",
		"|   deliveries per server CPU second | 100 | 50 | 2.00 |",
		"|   latency p99 | 20 ms | 10 ms | 2.00 |",
		"| 5 subscribers, 20 publishes/s: published | 15 | 20 | 0.75 |",
	} {
		if !strings.Contains(out.String(), row) {
			t.Errorf("no row %q in:\n%s", row, out.String())
		}
	}
	// Only handshakes: no idle or fan-out rows.
	write(a, `{"mode":"connect-rate","handshakes":10,"handshakesPerSecond":60,"concurrency":50,"sources":32}`+"\n")
	write(b, `{"mode":"connect-rate","handshakes":10,"handshakesPerSecond":50,"concurrency":50,"sources":32}`+"\n")
	out.Reset()
	if err := compare(&out, []string{"A", "B"}, []string{a, b}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "idle") || strings.Contains(out.String(), "sustained") || !strings.Contains(out.String(), "| 60 | 50 | 1.20 |") {
		t.Errorf("handshakes only:\n%s", out.String())
	}
	write(b, "nothing\n")
	if err := compare(&out, []string{"A", "B"}, []string{a, b}); err == nil {
		t.Error("a file without results was taken")
	}
}
