package procstat

import (
	"os"
	"testing"
	"time"
)

func TestRSSKiB(t *testing.T) {
	if n := RSSKiB(os.Getpid()); n <= 0 {
		t.Fatalf("RSS of this test process: %d KiB", n)
	}
	if n := RSSKiB(0); n != 0 {
		t.Fatalf("RSS without a pid: %d", n)
	}
}

func TestCPUTime(t *testing.T) {
	before := CPUTime(os.Getpid())
	deadline := time.Now().Add(300 * time.Millisecond)
	x := 0
	for time.Now().Before(deadline) {
		x++
	}
	after := CPUTime(os.Getpid())
	if after <= before || x == 0 {
		t.Fatalf("CPU time %s then %s after 300ms of spinning", before, after)
	}
	if CPUTime(0) != 0 {
		t.Fatal("no pid has CPU time")
	}
}
