package httpapi

import (
	"errors"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/fleetwire/fleetwire/runtime/metrics"
)

// metricsRoutes serves Prometheus text at /metrics and at the replaced
// service's /metrics/prometheus, and its JSON views. They need no token,
// like any Prometheus endpoint; keep them off the public network.
func (a *API) metricsRoutes() {
	// A collector that fails (the queue statistics, while Redis is away)
	// drops only its own series: the rest are what an operator needs most
	// right then.
	prom := promhttp.HandlerFor(a.cfg.Metrics.Registry, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
	a.handle("GET /metrics", prom)
	a.handle("GET /metrics/prometheus", prom)
	a.handle("GET /metrics/snapshot", http.HandlerFunc(a.handleSnapshot))
	a.handle("GET /metrics/counter/{name}", http.HandlerFunc(a.handleFamily(metrics.KindCounter)))
	a.handle("GET /metrics/gauge/{name}", http.HandlerFunc(a.handleFamily(metrics.KindGauge)))
	a.handle("GET /metrics/histogram/{name}", http.HandlerFunc(a.handleFamily(metrics.KindHistogram)))
}

// Snapshot is the body of GET /metrics/snapshot.
type Snapshot struct {
	Metrics []metrics.Family `json:"metrics"`
}

func (a *API) handleSnapshot(w http.ResponseWriter, r *http.Request) {
	fams, err := a.cfg.Metrics.Snapshot()
	if err != nil {
		a.cfg.Logger.Error(err, "metrics gather failed")
		writeError(w, r, newError(http.StatusInternalServerError, CodeInternal, "metrics could not be gathered"))
		return
	}
	writeJSON(w, http.StatusOK, Snapshot{Metrics: fams})
}

// handleFamily serves one family by name. The name may be given in full
// ("realtime_active_connections") or without the "realtime_" prefix.
func (a *API) handleFamily(kind metrics.Kind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		full := name
		if !strings.HasPrefix(name, metrics.Namespace+"_") && !strings.HasPrefix(name, "go_") && !strings.HasPrefix(name, "process_") {
			full = metrics.Namespace + "_" + name
		}
		f, err := a.cfg.Metrics.Find(full, kind)
		switch {
		case errors.Is(err, metrics.ErrNotFound):
			writeError(w, r, newError(http.StatusNotFound, CodeNotFound, "no "+string(kind)+" named "+name+"; GET /metrics/snapshot lists them all"))
		case err != nil:
			writeError(w, r, newError(http.StatusInternalServerError, CodeInternal, "metrics could not be gathered"))
		default:
			writeJSON(w, http.StatusOK, f)
		}
	}
}
