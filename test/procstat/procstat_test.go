package procstat

import (
	"os"
	"testing"
)

func TestRSSKiB(t *testing.T) {
	if n := RSSKiB(os.Getpid()); n <= 0 {
		t.Fatalf("RSS of this test process: %d KiB", n)
	}
	if n := RSSKiB(0); n != 0 {
		t.Fatalf("RSS without a pid: %d", n)
	}
}
