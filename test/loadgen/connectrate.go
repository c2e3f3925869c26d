package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/fleetwire/fleetwire/test/procstat"
)

// connectRateResult is the JSON line connect-rate prints.
type connectRateResult struct {
	Mode            string  `json:"mode"`
	Handshakes      int64   `json:"handshakes"`
	Failed          int64   `json:"failed"`
	Seconds         float64 `json:"seconds"`
	PerSecond       float64 `json:"handshakesPerSecond"`
	Concurrency     int     `json:"concurrency"`
	Sources         int     `json:"sources"`
	P50Ms           float64 `json:"latencyP50Ms"`
	P99Ms           float64 `json:"latencyP99Ms"`
	ServerCPUPerMic float64 `json:"serverCpuMicrosecondsPerHandshake,omitempty"`
}

// connectRate measures handshakes: o.conns connections, o.concurrency at
// a time, each a WebSocket upgrade with a JWT, the connected event and a
// subscribe with its ack, then closed. Connections go out from o.sources
// loopback addresses in turn (127.0.0.1, 127.0.0.2, ...), so that one
// address does not run out of ports in TIME_WAIT. With a pid it reports
// the server's CPU per handshake, from /proc.
func connectRate(ctx context.Context, o options, tokens []string) error {
	var (
		done, failed atomic.Int64
		firstErr     error
		mu           sync.Mutex
		latency      hist
	)
	cpuBefore := procstat.CPUTime(o.pid)
	start := time.Now()
	dialWorkers(ctx, o, tokens, func(i int, c *websocket.Conn, took time.Duration, err error) bool {
		if err != nil {
			failed.Add(1)
			mu.Lock()
			if firstErr == nil {
				firstErr = fmt.Errorf("connection %d: %w", i, err)
			}
			mu.Unlock()
			return true
		}
		latency.record(took)
		_ = c.Close()
		if n := done.Add(1); n%5000 == 0 {
			fmt.Printf("  %d handshakes after %s\n", n, time.Since(start).Round(time.Millisecond))
		}
		return true
	})
	el := time.Since(start)
	res := connectRateResult{Mode: "connect-rate", Handshakes: done.Load(), Failed: failed.Load(), Seconds: el.Seconds(),
		PerSecond: float64(done.Load()) / el.Seconds(), Concurrency: o.concurrency, Sources: o.sources,
		P50Ms: ms(latency.quantile(0.5)), P99Ms: ms(latency.quantile(0.99))}
	if o.pid > 0 && res.Handshakes > 0 {
		res.ServerCPUPerMic = float64((procstat.CPUTime(o.pid) - cpuBefore).Microseconds()) / float64(res.Handshakes)
	}
	fmt.Printf("connect-rate: %d handshakes (%d failed) in %s from %d source addresses, concurrency %d: %.0f/s; latency p50 %.1fms p99 %.1fms",
		res.Handshakes, res.Failed, el.Round(time.Millisecond), o.sources, o.concurrency, res.PerSecond, res.P50Ms, res.P99Ms)
	if res.ServerCPUPerMic > 0 {
		fmt.Printf("; server CPU %.0f µs per handshake", res.ServerCPUPerMic)
	}
	fmt.Println()
	line, _ := json.Marshal(res)
	fmt.Println(string(line))
	if res.Failed > 0 {
		return firstErr
	}
	if res.Handshakes < int64(o.conns) {
		return fmt.Errorf("only %d of %d handshakes before the deadline", res.Handshakes, o.conns)
	}
	return nil
}
