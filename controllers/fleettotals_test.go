package controllers

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	v1 "github.com/fleetwire/fleetwire/api/v1alpha1"
)

// TestFleetTotals serves one fleet's total from a scraper that read two
// real runtimes, then refuses with 503 once no count is fresh, rather than
// answering zero, and answers bad requests with JSON errors.
func TestFleetTotals(t *testing.T) {
	ns := newNamespace(t)
	a, b := startRuntime(t), startRuntime(t)
	for _, id := range []string{"alice-0", "alice-1"} {
		a.Connect(t, id)
	}
	b.Connect(t, "bob")
	create(t, jwtSecret(ns), newRTS(ns, "chat", func(s *v1.RealtimeServiceSpec) { withRedis(s); s.Replicas = 2 }))
	podFor(t, ns, "chat", "chat-a", a, true)
	podFor(t, ns, "chat", "chat-b", b, false)

	pods := &corev1.PodList{}
	if err := k8sClient.List(context.Background(), pods); err != nil {
		t.Fatal(err)
	}
	scraper := &MetricsScraper{}
	var mine []corev1.Pod
	for _, p := range pods.Items {
		if p.Namespace == ns {
			mine = append(mine, p)
		}
	}
	if got := scraper.Count(context.Background(), mine); got.active != 3 {
		t.Fatalf("the scraper read %d connections, want 3", got.active)
	}
	ft := &FleetTotals{Client: k8sClient, Counts: scraper, MaxAge: time.Minute}

	for _, tc := range []struct {
		method, path string
		code         int
		body         string
	}{
		{"GET", "/fleets/" + ns + "/chat", 200, `"activeConnections":3,"pods":2,"podsCounted":2`},
		{"GET", "/fleets/" + ns + "/other", 404, `"code":"not_found"`},
		{"GET", "/fleets/" + ns, 404, `"code":"not_found"`},
		{"GET", "/fleets/" + ns + "/chat/x", 404, `"code":"not_found"`},
		{"POST", "/fleets/" + ns + "/chat", 405, `"code":"method_not_allowed"`},
	} {
		rec := httptest.NewRecorder()
		ft.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
		if rec.Code != tc.code || !strings.Contains(rec.Body.String(), tc.body) ||
			rec.Header().Get("Content-Type") != "application/json; charset=utf-8" {
			t.Errorf("%s %s: %d %s, want %d with %s", tc.method, tc.path, rec.Code, rec.Body, tc.code, tc.body)
		}
	}

	ft.MaxAge = time.Nanosecond // every count is now too old
	rec := httptest.NewRecorder()
	ft.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/fleets/"+ns+"/chat", nil))
	t.Logf("with no fresh count: %d %s", rec.Code, strings.TrimSpace(rec.Body.String()))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), `"code":"counts_stale"`) {
		t.Errorf("with no fresh count: %d %s, want 503 counts_stale", rec.Code, rec.Body)
	}
}
