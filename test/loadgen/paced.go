package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/fleetwire/fleetwire/test/procstat"
)

// The paced fan-out: publishes at a fixed rate for a fixed time, each
// stamped with its sequence number and send time, and measures what the
// subscribers saw: delivery latency (send to receipt), loss, the spread
// between a message's first and last receipt, the publish API's own
// latency, and publishes skipped because the previous one was still in
// flight when the next was due.

// tracker records every receipt of a paced run. It is set before the
// connections are dialled, so their readers report to it.
type tracker struct {
	first, last []atomic.Int64 // per sequence number: unix ns of the first and last receipt
	received    atomic.Int64
	latency     hist
}

var track *tracker

func newTracker(publishes int) *tracker {
	return &tracker{first: make([]atomic.Int64, publishes), last: make([]atomic.Int64, publishes)}
}

// note takes one received bench message.
func (t *tracker) note(p []byte) {
	now := time.Now().UnixNano()
	seq, ok1 := intAfter(p, `"seq":`)
	sent, ok2 := intAfter(p, `"sent":`)
	if !ok1 || !ok2 || seq < 0 || int(seq) >= len(t.first) {
		return
	}
	t.received.Add(1)
	t.latency.record(time.Duration(now - sent))
	t.first[seq].CompareAndSwap(0, now)
	for {
		old := t.last[seq].Load()
		if now <= old || t.last[seq].CompareAndSwap(old, now) {
			break
		}
	}
}

// intAfter parses the integer that follows key in p.
func intAfter(p []byte, key string) (int64, bool) {
	i := bytes.Index(p, []byte(key))
	if i < 0 {
		return 0, false
	}
	rest := p[i+len(key):]
	j := 0
	for j < len(rest) && (rest[j] == '-' || (rest[j] >= '0' && rest[j] <= '9')) {
		j++
	}
	v, err := strconv.ParseInt(string(rest[:j]), 10, 64)
	return v, err == nil
}

// pacedResult is the run's one JSON line.
type pacedResult struct {
	Mode            string  `json:"mode"` // "paced"
	Subscribers     int     `json:"subscribers"`
	Rate            int     `json:"publishesPerSecond"`
	Seconds         float64 `json:"seconds"`
	Published       int     `json:"published"`
	Skipped         int     `json:"skipped"`
	Expected        int64   `json:"expectedDeliveries"`
	Received        int64   `json:"received"`
	Lost            int64   `json:"lost"`
	DeliveriesPerS  float64 `json:"deliveriesPerSecond"`
	LatencyP50Ms    float64 `json:"latencyP50Ms"`
	LatencyP99Ms    float64 `json:"latencyP99Ms"`
	LatencyP999Ms   float64 `json:"latencyP999Ms"`
	LatencyMaxMs    float64 `json:"latencyMaxMs"`
	SpreadP50Ms     float64 `json:"spreadP50Ms"`
	SpreadP99Ms     float64 `json:"spreadP99Ms"`
	SpreadMaxMs     float64 `json:"spreadMaxMs"`
	PublishAPIP50Ms float64 `json:"publishApiP50Ms"`
	PublishAPIP99Ms float64 `json:"publishApiP99Ms"`
	// ServerCPUSeconds is the server's CPU time over the run, with --pid.
	ServerCPUSeconds float64 `json:"serverCpuSeconds,omitempty"`
	// PeakRSSKiB is the server's largest RSS seen over the run (sampled
	// every 100ms), with --pid.
	PeakRSSKiB int64 `json:"peakRssKiB,omitempty"`
	// Slow is how many more connections were subscribed and never read
	// (--slow); Subscribers counts the others.
	Slow int `json:"slow,omitempty"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// paced publishes o.rate messages a second for o.duration to every
// connection's channel, then waits up to o.drain for the stragglers.
// conns counts the connections that read.
func paced(ctx context.Context, o options, conns int) error {
	publish, err := publisher(o)
	if err != nil {
		return err
	}
	total := len(track.first)
	interval := time.Second / time.Duration(o.rate)
	pad := strings.Repeat("x", o.pad)
	var apiLatency hist
	res := pacedResult{Mode: "paced", Subscribers: conns, Rate: o.rate, Slow: o.slow}
	cpu0 := procstat.CPUTime(o.pid)
	var peak atomic.Int64
	if o.pid > 0 {
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					if v := procstat.RSSKiB(o.pid); v > peak.Load() {
						peak.Store(v)
					}
				}
			}
		}()
	}
	start := time.Now()
	for seq := 0; seq < total && ctx.Err() == nil; seq++ {
		due := start.Add(time.Duration(seq) * interval)
		if late := time.Since(due); late > interval {
			res.Skipped++ // the previous publish ran past this one's slot
			continue
		}
		time.Sleep(time.Until(due))
		payload := map[string]any{"seq": seq, "sent": time.Now().UnixNano(), "pad": pad}
		t0 := time.Now()
		if err := publish(ctx, payload); err != nil {
			return fmt.Errorf("publish %d: %w", seq, err)
		}
		apiLatency.record(time.Since(t0))
		res.Published++
	}
	res.Expected = int64(res.Published) * int64(conns)
	drainEnd := time.Now().Add(o.drain)
	for track.received.Load() < res.Expected && time.Now().Before(drainEnd) && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	el := time.Since(start)
	res.Seconds = el.Seconds()
	if o.pid > 0 {
		res.ServerCPUSeconds = (procstat.CPUTime(o.pid) - cpu0).Seconds()
		res.PeakRSSKiB = peak.Load()
	}
	res.Received = track.received.Load()
	res.Lost = res.Expected - res.Received
	res.DeliveriesPerS = float64(res.Received) / el.Seconds()
	res.LatencyP50Ms, res.LatencyP99Ms = ms(track.latency.quantile(0.5)), ms(track.latency.quantile(0.99))
	res.LatencyP999Ms, res.LatencyMaxMs = ms(track.latency.quantile(0.999)), ms(track.latency.quantile(1))
	var spread hist
	for i := range track.first {
		if f, l := track.first[i].Load(), track.last[i].Load(); f > 0 {
			spread.record(time.Duration(l - f))
		}
	}
	res.SpreadP50Ms, res.SpreadP99Ms, res.SpreadMaxMs = ms(spread.quantile(0.5)), ms(spread.quantile(0.99)), ms(spread.quantile(1))
	res.PublishAPIP50Ms, res.PublishAPIP99Ms = ms(apiLatency.quantile(0.5)), ms(apiLatency.quantile(0.99))
	fmt.Printf("paced fan-out: %d subscribers (and %d that never read), %d publishes/s for %s: %d published, %d skipped; %d of %d deliveries (%d lost), %.0f deliveries/s; server RSS peak %d KiB\n",
		conns, o.slow, o.rate, o.duration, res.Published, res.Skipped, res.Received, res.Expected, res.Lost, res.DeliveriesPerS, res.PeakRSSKiB)
	fmt.Printf("  latency p50 %.1fms p99 %.1fms p99.9 %.1fms max %.1fms; first-to-last spread p50 %.1fms p99 %.1fms max %.1fms; publish API p50 %.2fms p99 %.2fms\n",
		res.LatencyP50Ms, res.LatencyP99Ms, res.LatencyP999Ms, res.LatencyMaxMs, res.SpreadP50Ms, res.SpreadP99Ms, res.SpreadMaxMs, res.PublishAPIP50Ms, res.PublishAPIP99Ms)
	line, _ := json.Marshal(res)
	fmt.Println(string(line))
	if res.Lost > 0 {
		return fmt.Errorf("%d deliveries lost", res.Lost)
	}
	return nil
}
