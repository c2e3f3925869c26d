package buildinfo

import (
	"runtime"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestInjectedValuesWin(t *testing.T) {
	old := [3]string{Version, Commit, Date}
	t.Cleanup(func() { Version, Commit, Date = old[0], old[1], old[2] })
	Version, Commit, Date = "v1.2.3", "abc123", "2026-12-01T00:00:00Z"
	i := Get()
	want := Info{Version: "v1.2.3", Commit: "abc123", Date: "2026-12-01T00:00:00Z", GoVersion: runtime.Version()}
	if i != want {
		t.Fatalf("Get() = %+v, want %+v", i, want)
	}
	if s := i.String(); s != "v1.2.3 (commit abc123, built 2026-12-01T00:00:00Z, "+runtime.Version()+")" {
		t.Fatalf("String() = %q", s)
	}
	r := prometheus.NewRegistry()
	r.MustRegister(Collector())
	expected := `# HELP fleetwire_build_info The build of this Fleetwire binary: always 1, with its version, commit, build date and Go version as labels.
# TYPE fleetwire_build_info gauge
fleetwire_build_info{build_date="2026-12-01T00:00:00Z",commit="abc123",goversion="` + runtime.Version() + `",version="v1.2.3"} 1
`
	if err := testutil.GatherAndCompare(r, strings.NewReader(expected), "fleetwire_build_info"); err != nil {
		t.Fatal(err)
	}
}

// Without injected values the fields are never empty.
func TestDefaultsAreNamed(t *testing.T) {
	i := Get()
	if i.Version == "" || i.Commit == "" || i.Date == "" || i.GoVersion == "" {
		t.Fatalf("Get() = %+v: every field should be named", i)
	}
}
