package controllers

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/fleetwire/fleetwire/api/v1alpha1"
)

// FleetTotals serves each fleet's total connections as JSON, for the
// keda provider's metrics-api trigger:
//
//	GET /fleets/<namespace>/<name>
//	{"namespace":"default","name":"chat","activeConnections":25,"pods":3,"podsCounted":3}
//
// The total sums the fresh counts (no older than MaxAge) of the fleet's
// running pods. When pods run but none has a fresh count, it answers 503
// rather than a total of zero: KEDA then reports an error and the
// fleet keeps its size, instead of scaling down on a count nobody read.
type FleetTotals struct {
	// Client reads the RealtimeService and lists its pods.
	Client client.Reader
	// Counts holds each pod's last count.
	Counts *MetricsScraper
	// MaxAge is how old a count may be and still be summed.
	MaxAge time.Duration
}

// FleetTotal is FleetTotals' answer.
type FleetTotal struct {
	Namespace         string `json:"namespace"`
	Name              string `json:"name"`
	ActiveConnections int64  `json:"activeConnections"`
	// Pods is the fleet's running pods; PodsCounted those whose count
	// is fresh.
	Pods        int `json:"pods"`
	PodsCounted int `json:"podsCounted"`
}

func (f *FleetTotals) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeJSONError(w, http.StatusMethodNotAllowed, "method_not_allowed", "only GET is served")
		return
	}
	ns, name, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, FleetTotalsPath), "/")
	if !ok || ns == "" || name == "" || strings.Contains(name, "/") || !strings.HasPrefix(r.URL.Path, FleetTotalsPath) {
		writeJSONError(w, http.StatusNotFound, "not_found", "ask for "+FleetTotalsPath+"<namespace>/<name> of a RealtimeService")
		return
	}
	rts := &v1.RealtimeService{}
	if err := f.Client.Get(r.Context(), types.NamespacedName{Namespace: ns, Name: name}, rts); err != nil {
		if apierrors.IsNotFound(err) {
			writeJSONError(w, http.StatusNotFound, "not_found", "no RealtimeService "+ns+"/"+name)
			return
		}
		writeJSONError(w, http.StatusServiceUnavailable, "api_unavailable", "reading RealtimeService "+ns+"/"+name+": "+err.Error())
		return
	}
	pods := &corev1.PodList{}
	if err := f.Client.List(r.Context(), pods, client.InNamespace(ns), client.MatchingLabels(selectorLabels(rts))); err != nil {
		writeJSONError(w, http.StatusServiceUnavailable, "api_unavailable", "listing the pods of "+ns+"/"+name+": "+err.Error())
		return
	}
	total := FleetTotal{Namespace: ns, Name: name}
	for _, p := range countablePods(pods.Items) {
		total.Pods++
		if s, ok := f.Counts.freshRead(p.UID, f.MaxAge); ok {
			total.PodsCounted++
			total.ActiveConnections += s.value
		}
	}
	if total.Pods > 0 && total.PodsCounted == 0 {
		writeJSONError(w, http.StatusServiceUnavailable, "counts_stale",
			"no pod of "+ns+"/"+name+" has a fresh connection count yet; the operator reads them every connection interval")
		return
	}
	writeJSON(w, http.StatusOK, total)
}

func writeJSONError(w http.ResponseWriter, status int, code, msg string) {
	type detail struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	writeJSON(w, status, struct {
		Error detail `json:"error"`
	}{detail{code, msg}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
