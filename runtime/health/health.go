package health

import (
	"context"
	"github.com/fleetwire/fleetwire/runtime/buildinfo"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/fleetwire/fleetwire/runtime/queue"
)

// Pinger is what readiness needs of the broker.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Config wires a Checker. Zero durations mean the defaults.
type Config struct {
	Version string
	Broker  Pinger
	// Connections returns the node's open connections and its cap.
	Connections func() (open, max int)
	// QueueStats reports the offline queue for /health/detailed.
	QueueStats func(ctx context.Context) (queue.Stats, error)
	// BrokerGrace is how long the broker may be unreachable before the
	// node reports not ready. Default 15s: long enough to ride out a
	// Redis failover without taking every pod out of rotation at once.
	BrokerGrace time.Duration
	// PingTimeout bounds one broker ping. Default 2s.
	PingTimeout time.Duration
	// LiveWithin is how recent the last Beat must be for the node to be
	// live. Default 30s.
	LiveWithin time.Duration
}

// Defaults for Config.
const (
	DefaultBrokerGrace = 15 * time.Second
	DefaultPingTimeout = 2 * time.Second
	DefaultLiveWithin  = 30 * time.Second
)

// Checker answers the health endpoints. It is safe for concurrent use.
type Checker struct {
	cfg        Config
	started    time.Time
	draining   atomic.Bool
	downSince  atomic.Int64 // unix nanos of the first failed ping in a row; 0 when up
	lastBeat   atomic.Int64
	lastBroker atomic.Pointer[BrokerStatus]
}

// New returns a Checker. Call Beat regularly from the process's own loop.
func New(cfg Config) *Checker {
	if cfg.BrokerGrace <= 0 {
		cfg.BrokerGrace = DefaultBrokerGrace
	}
	if cfg.PingTimeout <= 0 {
		cfg.PingTimeout = DefaultPingTimeout
	}
	if cfg.LiveWithin <= 0 {
		cfg.LiveWithin = DefaultLiveWithin
	}
	c := &Checker{cfg: cfg, started: time.Now()}
	c.Beat()
	return c
}

// Beat records that the process's loop is turning.
func (c *Checker) Beat() { c.lastBeat.Store(time.Now().UnixNano()) }

// SetDraining marks the node as draining: it is no longer ready.
func (c *Checker) SetDraining() { c.draining.Store(true) }

// Draining reports whether a drain has begun.
func (c *Checker) Draining() bool { return c.draining.Load() }

// Uptime returns the time since the Checker was made.
func (c *Checker) Uptime() time.Duration { return time.Since(c.started) }

// Live reports whether the last Beat is recent. It never looks at
// dependencies, so an outage elsewhere never restarts the pod.
func (c *Checker) Live() (bool, time.Duration) {
	age := time.Since(time.Unix(0, c.lastBeat.Load()))
	return age <= c.cfg.LiveWithin, age
}

// BrokerStatus is the outcome of the latest broker ping.
type BrokerStatus struct {
	Status    string  `json:"status"` // "up" or "down"
	LatencyMs float64 `json:"latencyMs"`
	Error     string  `json:"error,omitempty"`
	DownForMs int64   `json:"downForMs,omitempty"`
}

// PingBroker pings the broker, tracks how long it has been down, and
// returns the result.
func (c *Checker) PingBroker(ctx context.Context) BrokerStatus {
	if c.cfg.Broker == nil {
		return BrokerStatus{Status: "up"}
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.PingTimeout)
	defer cancel()
	start := time.Now()
	err := c.cfg.Broker.Ping(ctx)
	st := BrokerStatus{Status: "up", LatencyMs: float64(time.Since(start).Microseconds()) / 1000}
	if err == nil {
		c.downSince.Store(0)
	} else {
		// Count from when the failure was seen: a client that retries
		// inside Ping would otherwise use up the grace in one probe.
		c.downSince.CompareAndSwap(0, time.Now().UnixNano())
		st.Status, st.Error = "down", "broker unreachable"
		st.DownForMs = time.Since(time.Unix(0, c.downSince.Load())).Milliseconds()
	}
	c.lastBroker.Store(&st)
	return st
}

// Readiness is the body of /health/ready.
type Readiness struct {
	Ready   bool     `json:"ready"`
	Reasons []string `json:"reasons,omitempty"`
}

// Reasons a node is not ready; stable strings for probes and dashboards.
const (
	ReasonDraining   = "draining"
	ReasonBrokerDown = "broker_unreachable"
	ReasonAtCapacity = "at_max_connections"
)

// Ready reports whether the node should receive new connections.
func (c *Checker) Ready(ctx context.Context) Readiness {
	var r Readiness
	if c.Draining() {
		r.Reasons = append(r.Reasons, ReasonDraining)
	}
	if st := c.PingBroker(ctx); st.Status == "down" && time.Duration(st.DownForMs)*time.Millisecond >= c.cfg.BrokerGrace {
		r.Reasons = append(r.Reasons, ReasonBrokerDown)
	}
	if c.cfg.Connections != nil {
		if open, max := c.cfg.Connections(); open >= max {
			r.Reasons = append(r.Reasons, ReasonAtCapacity)
		}
	}
	r.Ready = len(r.Reasons) == 0
	return r
}

// Detailed is the body of /health/detailed.
type Detailed struct {
	Status         string         `json:"status"` // "ok", "degraded" or "draining"
	Version        string         `json:"version"`
	Build          buildinfo.Info `json:"build"` // version, commit, build date and Go version
	UptimeSeconds  int64          `json:"uptimeSeconds"`
	Draining       bool           `json:"draining"`
	Ready          Readiness      `json:"readiness"`
	Broker         BrokerStatus   `json:"broker"`
	Connections    int            `json:"connections"`
	MaxConnections int            `json:"maxConnections"`
	Queue          *queue.Stats   `json:"queue,omitempty"`
	Memory         Memory         `json:"memory"`
	Goroutines     int            `json:"goroutines"`
}

// Memory is the Go runtime's view of the process's memory.
type Memory struct {
	HeapAllocBytes uint64 `json:"heapAllocBytes"`
	HeapSysBytes   uint64 `json:"heapSysBytes"`
	StackBytes     uint64 `json:"stackBytes"`
	SysBytes       uint64 `json:"sysBytes"`
	NumGC          uint32 `json:"numGC"`
}

// BrokerUp reports whether the broker answered the last check; true
// before the first.
func (c *Checker) BrokerUp() bool {
	st := c.lastBroker.Load()
	return st == nil || st.Status == "up"
}

// Detail builds the detailed report.
func (c *Checker) Detail(ctx context.Context) Detailed {
	d := Detailed{
		Version:       c.cfg.Version,
		Build:         buildinfo.Get(),
		UptimeSeconds: int64(c.Uptime().Seconds()),
		Draining:      c.Draining(),
		Ready:         c.Ready(ctx),
		Goroutines:    runtime.NumGoroutine(),
	}
	if st := c.lastBroker.Load(); st != nil {
		d.Broker = *st
	}
	if c.cfg.Connections != nil {
		d.Connections, d.MaxConnections = c.cfg.Connections()
	}
	if c.cfg.QueueStats != nil {
		if st, err := c.cfg.QueueStats(ctx); err == nil {
			d.Queue = &st
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	d.Memory = Memory{HeapAllocBytes: ms.HeapAlloc, HeapSysBytes: ms.HeapSys, StackBytes: ms.StackSys, SysBytes: ms.Sys, NumGC: ms.NumGC}
	switch {
	case d.Draining:
		d.Status = "draining"
	case d.Broker.Status == "down":
		d.Status = "degraded"
	default:
		d.Status = "ok"
	}
	return d
}
