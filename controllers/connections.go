package controllers

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// connectionCount is the fleet's active connections as last observed.
type connectionCount struct {
	active int64
	// stalePods did not answer this time; their last known count (within
	// the scraper's MaxAge) is included in active.
	stalePods int32
	// perPod holds the count of each pod that answered this time.
	perPod map[types.UID]int64
}

// ConnectionCounter sums realtime_active_connections over a fleet's pods.
type ConnectionCounter interface {
	Count(ctx context.Context, pods []corev1.Pod) connectionCount
}

// MaxCountDuration is the longest one count of a fleet takes (the
// scraper's default Deadline).
const MaxCountDuration = 10 * time.Second

// MetricsScraper reads each pod's /metrics. The zero value is ready
// to use with the defaults below.
type MetricsScraper struct {
	// Client makes the requests; default one with Timeout.
	Client *http.Client
	// Timeout bounds each pod's request. Default 2s.
	Timeout time.Duration
	// Concurrency bounds requests in flight. Default 8.
	Concurrency int
	// Deadline bounds one Count over all pods; reads still running then
	// count as failed. Default 10s.
	Deadline time.Duration
	// MaxAge is how long a pod's last count stands in for a failed read.
	// Default 2m; older counts are dropped, and the pod still counts as
	// stale.
	MaxAge time.Duration

	mu   sync.Mutex
	last map[types.UID]sample
}

type sample struct {
	value int64
	at    time.Time
}

var _ ConnectionCounter = (*MetricsScraper)(nil)

// Count reads every pod concurrently and sums what they report.
func (s *MetricsScraper) Count(ctx context.Context, pods []corev1.Pod) connectionCount {
	timeout, conc, maxAge := s.Timeout, s.Concurrency, s.MaxAge
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	if conc <= 0 {
		conc = 8
	}
	if maxAge <= 0 {
		maxAge = 2 * time.Minute
	}
	deadline := s.Deadline
	if deadline <= 0 {
		deadline = MaxCountDuration
	}
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	hc := s.Client
	if hc == nil {
		hc = &http.Client{Timeout: timeout}
	}
	type result struct {
		uid   types.UID
		value int64
		err   error
	}
	results := make([]result, len(pods))
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	for i := range pods {
		wg.Add(1)
		select {
		case sem <- struct{}{}:
		case <-ctx.Done(): // past the deadline: the rest fail at once
			results[i] = result{uid: pods[i].UID, err: ctx.Err()}
			wg.Done()
			continue
		}
		go func(i int) {
			defer func() { <-sem; wg.Done() }()
			rctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			v, err := scrapePod(rctx, hc, &pods[i])
			results[i] = result{uid: pods[i].UID, value: v, err: err}
		}(i)
	}
	wg.Wait()

	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == nil {
		s.last = map[types.UID]sample{}
	}
	// One scraper serves every fleet, so samples are forgotten by age,
	// never because another fleet's call did not mention them.
	for uid, prev := range s.last {
		if now.Sub(prev.at) > maxAge {
			delete(s.last, uid)
		}
	}
	out := connectionCount{perPod: make(map[types.UID]int64, len(results))}
	for _, r := range results {
		if r.err == nil {
			s.last[r.uid] = sample{r.value, now}
			out.active += r.value
			out.perPod[r.uid] = r.value
			continue
		}
		out.stalePods++
		if prev, ok := s.last[r.uid]; ok {
			out.active += prev.value
		}
	}
	return out
}

// freshRead returns the pod's last count the scraper read, and when it
// read it, if that was no longer than maxAge ago: a pod that stopped
// answering keeps its last read's time, and drops out once it is old.
func (s *MetricsScraper) freshRead(uid types.UID, maxAge time.Duration) (sample, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.last[uid]
	if !ok || time.Since(v.at) > maxAge {
		return sample{}, false
	}
	return v, true
}

// scrapePod reads realtime_active_connections from the pod's http port.
func scrapePod(ctx context.Context, hc *http.Client, pod *corev1.Pod) (int64, error) {
	port := podPort(pod)
	if pod.Status.PodIP == "" || port == 0 {
		return 0, fmt.Errorf("pod %s has no IP or http port yet", pod.Name)
	}
	url := "http://" + net.JoinHostPort(pod.Status.PodIP, strconv.Itoa(int(port))) + "/metrics"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Accept", "text/plain")
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("pod %s: GET /metrics: %s", pod.Name, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return 0, fmt.Errorf("pod %s: parsing /metrics: %w", pod.Name, err)
	}
	fam, ok := families[connectionsMetric]
	if !ok || len(fam.GetMetric()) == 0 || fam.GetType() != dto.MetricType_GAUGE {
		return 0, fmt.Errorf("pod %s: no %s gauge in /metrics", pod.Name, connectionsMetric)
	}
	var sum float64
	for _, m := range fam.GetMetric() {
		sum += m.GetGauge().GetValue()
	}
	return int64(sum), nil
}

// podPort is the runtime container's port named http.
func podPort(pod *corev1.Pod) int32 {
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.Name == portName {
				return p.ContainerPort
			}
		}
	}
	return 0
}

// countablePods keeps the pods whose runtime is up: running, with an IP,
// not being deleted, and with the runtime container started (its startup
// probe passed). Readiness does not matter: a pod at its connection cap,
// or cut off from Redis, reports not ready and still holds connections.
func countablePods(pods []corev1.Pod) []corev1.Pod {
	var out []corev1.Pod
	for _, p := range pods {
		if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning || p.Status.PodIP == "" {
			continue
		}
		for _, c := range p.Status.ContainerStatuses {
			if c.Name == containerName && c.Started != nil && *c.Started {
				out = append(out, p)
				break
			}
		}
	}
	return out
}
