// Package buildinfo names the build of a Fleetwire binary: its version,
// commit and build date, injected by the linker (hack/build.sh, which the
// Dockerfile runs), and the Go version it was built with.
//
//	go build -ldflags "-X github.com/fleetwire/fleetwire/runtime/buildinfo.Version=v0.3.0 \
//	  -X github.com/fleetwire/fleetwire/runtime/buildinfo.Commit=$(git rev-parse HEAD) \
//	  -X github.com/fleetwire/fleetwire/runtime/buildinfo.Date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
//
// A binary built without them (go run, go build) says "dev", and takes
// the commit and its time from what the Go toolchain stamped, when it
// built from a git checkout.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// Set by the linker.
var (
	Version = "dev"
	Commit  = ""
	Date    = ""
)

// Info is one binary's build.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	Date      string `json:"buildDate"`
	GoVersion string `json:"goVersion"`
}

// Get returns this binary's build.
func Get() Info {
	i := Info{Version: Version, Commit: Commit, Date: Date, GoVersion: runtime.Version()}
	if i.Commit != "" && i.Date != "" {
		return i
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision" && i.Commit == "":
				i.Commit = s.Value
			case s.Key == "vcs.time" && i.Date == "":
				i.Date = s.Value
			}
		}
	}
	if i.Commit == "" {
		i.Commit = "unknown"
	}
	if i.Date == "" {
		i.Date = "unknown"
	}
	return i
}

// String is what --version prints, after the binary's name.
func (i Info) String() string {
	return fmt.Sprintf("%s (commit %s, built %s, %s)", i.Version, i.Commit, i.Date, i.GoVersion)
}

// Collector returns the gauge fleetwire_build_info, always 1, whose
// labels carry the build, as Prometheus's own build_info metrics do.
func Collector() prometheus.Collector {
	i := Get()
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "fleetwire_build_info",
		Help: "The build of this Fleetwire binary: always 1, with its version, commit, build date and Go version as labels.",
	}, []string{"version", "commit", "build_date", "goversion"})
	g.WithLabelValues(i.Version, i.Commit, i.Date, i.GoVersion).Set(1)
	return g
}
