package httpapi

import (
	"net/http"
)

// healthRoutes serves the replaced service's health endpoints. None needs
// a token: probes and load balancers call them.
func (a *API) healthRoutes() {
	a.handle("GET /health", http.HandlerFunc(a.handleHealth))
	a.handle("GET /health/live", http.HandlerFunc(a.handleLive))
	a.handle("GET /health/ready", http.HandlerFunc(a.handleReady))
	a.handle("GET /health/detailed", http.HandlerFunc(a.handleDetailed))
}

// Health is the body of GET /health.
type Health struct {
	Status      string `json:"status"`
	Version     string `json:"version"`
	UptimeSec   int64  `json:"uptimeSeconds"`
	Connections int    `json:"connections"`
}

func (a *API) handleHealth(w http.ResponseWriter, _ *http.Request) {
	status := "ok"
	if a.cfg.Health.Draining() {
		status = "draining"
	}
	writeJSON(w, http.StatusOK, Health{Status: status, Version: a.cfg.Version,
		UptimeSec: int64(a.cfg.Health.Uptime().Seconds()), Connections: a.cfg.Hub.Connections()})
}

// Liveness is the body of GET /health/live.
type Liveness struct {
	Alive         bool  `json:"alive"`
	LastBeatAgoMs int64 `json:"lastBeatAgoMs"`
}

func (a *API) handleLive(w http.ResponseWriter, _ *http.Request) {
	ok, age := a.cfg.Health.Live()
	status := http.StatusOK
	if !ok {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, Liveness{Alive: ok, LastBeatAgoMs: age.Milliseconds()})
}

func (a *API) handleReady(w http.ResponseWriter, r *http.Request) {
	rd := a.cfg.Health.Ready(r.Context())
	status := http.StatusOK
	if !rd.Ready {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, rd)
}

func (a *API) handleDetailed(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, a.cfg.Health.Detail(r.Context()))
}
