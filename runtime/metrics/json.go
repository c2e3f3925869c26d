package metrics

import (
	"errors"
	"math"
	"sort"

	dto "github.com/prometheus/client_model/go"
)

// Kind is a metric family's type in the JSON views.
type Kind string

// Kinds served by the JSON endpoints.
const (
	KindCounter   Kind = "counter"
	KindGauge     Kind = "gauge"
	KindHistogram Kind = "histogram"
	KindSummary   Kind = "summary"
	KindUntyped   Kind = "untyped"
)

// Family is one metric family as JSON.
type Family struct {
	Name    string   `json:"name"`
	Kind    Kind     `json:"type"`
	Help    string   `json:"help"`
	Samples []Sample `json:"samples"`
}

// Sample is one labelled series. Value is set for counters and gauges;
// histograms carry Count, Sum and quantile estimates.
type Sample struct {
	Labels map[string]string `json:"labels,omitempty"`
	Value  *float64          `json:"value,omitempty"`
	Count  *uint64           `json:"count,omitempty"`
	Sum    *float64          `json:"sum,omitempty"`
	P50    *float64          `json:"p50,omitempty"`
	P90    *float64          `json:"p90,omitempty"`
	P99    *float64          `json:"p99,omitempty"`
}

// ErrNotFound is returned by Find for unknown names or a kind mismatch.
var ErrNotFound = errors.New("metrics: no such metric")

// Snapshot gathers every family from the registry, sorted by name.
func (m *Metrics) Snapshot() ([]Family, error) {
	mfs, err := m.Registry.Gather()
	if err != nil {
		return nil, err
	}
	out := make([]Family, 0, len(mfs))
	for _, mf := range mfs {
		out = append(out, convert(mf))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Find returns the family with the full name (e.g.
// "realtime_active_connections") if it has the given kind.
func (m *Metrics) Find(name string, kind Kind) (Family, error) {
	fams, err := m.Snapshot()
	if err != nil {
		return Family{}, err
	}
	for _, f := range fams {
		if f.Name == name && f.Kind == kind {
			return f, nil
		}
	}
	return Family{}, ErrNotFound
}

func convert(mf *dto.MetricFamily) Family {
	f := Family{Name: mf.GetName(), Help: mf.GetHelp(), Kind: kindOf(mf.GetType()), Samples: []Sample{}}
	for _, mt := range mf.GetMetric() {
		s := Sample{}
		if len(mt.GetLabel()) > 0 {
			s.Labels = map[string]string{}
			for _, l := range mt.GetLabel() {
				s.Labels[l.GetName()] = l.GetValue()
			}
		}
		switch mf.GetType() {
		case dto.MetricType_COUNTER:
			s.Value = ptr(mt.GetCounter().GetValue())
		case dto.MetricType_GAUGE:
			s.Value = ptr(mt.GetGauge().GetValue())
		case dto.MetricType_UNTYPED:
			s.Value = ptr(mt.GetUntyped().GetValue())
		case dto.MetricType_SUMMARY:
			s.Count, s.Sum = ptr(mt.GetSummary().GetSampleCount()), ptr(mt.GetSummary().GetSampleSum())
		case dto.MetricType_HISTOGRAM:
			h := mt.GetHistogram()
			s.Count, s.Sum = ptr(h.GetSampleCount()), ptr(h.GetSampleSum())
			s.P50, s.P90, s.P99 = quantile(h, .5), quantile(h, .9), quantile(h, .99)
		}
		f.Samples = append(f.Samples, s)
	}
	return f
}

func kindOf(t dto.MetricType) Kind {
	switch t {
	case dto.MetricType_COUNTER:
		return KindCounter
	case dto.MetricType_GAUGE:
		return KindGauge
	case dto.MetricType_HISTOGRAM:
		return KindHistogram
	case dto.MetricType_SUMMARY:
		return KindSummary
	}
	return KindUntyped
}

func ptr[T any](v T) *T { return &v }

// quantile estimates the q-quantile from cumulative buckets by linear
// interpolation inside the bucket that holds it, as Prometheus'
// histogram_quantile does. It returns nil for an empty histogram; a
// quantile in the +Inf bucket reports the highest finite bound.
func quantile(h *dto.Histogram, q float64) *float64 {
	total := h.GetSampleCount()
	if total == 0 {
		return nil
	}
	rank := q * float64(total)
	lower, prevCount := 0.0, uint64(0)
	for _, b := range h.GetBucket() {
		upper, count := b.GetUpperBound(), b.GetCumulativeCount()
		if math.IsInf(upper, 1) {
			break
		}
		if float64(count) >= rank {
			inBucket := float64(count - prevCount)
			if inBucket == 0 {
				return ptr(upper)
			}
			return ptr(lower + (upper-lower)*(rank-float64(prevCount))/inBucket)
		}
		lower, prevCount = upper, count
	}
	return ptr(lower)
}
