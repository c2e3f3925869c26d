// Package procstat reads a process's memory and CPU time from /proc, for the load
// generator and the tests that measure a runtime process.
package procstat

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
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

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's times: 100 on
// Linux for every architecture Go supports.
const clockTicks = 100

// CPUTime returns the user plus system CPU time pid has used, or 0
// without a pid or when /proc cannot tell.
func CPUTime(pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name, field 2, may hold spaces; the fields after its
	// closing parenthesis are space-separated, utime and stime being the
	// 12th and 13th of them.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return time.Duration(utime+stime) * time.Second / clockTicks
}
