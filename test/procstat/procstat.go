// Package procstat reads a process's memory from /proc, for the load
// generator and the tests that measure a runtime process.
package procstat

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// RSSKiB returns VmRSS of pid in KiB, or 0 without a pid or when /proc
// cannot tell (a process gone, a system without /proc).
func RSSKiB(pid int) int64 {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			if f := strings.Fields(v); len(f) >= 1 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n
			}
		}
	}
	return 0
}
