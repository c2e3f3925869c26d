package fleet

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/go-logr/logr"
)

// Sample is one interval of a node's activity, or of the fleet's when
// summed.
type Sample struct {
	// At is the interval's start, in Unix seconds: a multiple of the
	// interval, so that the samples of all nodes line up.
	At          int64   `json:"t"`
	Connections int     `json:"connections"`
	In          float64 `json:"in"`      // client frames received per second
	Out         float64 `json:"out"`     // messages sent to clients per second
	Blocked     int     `json:"blocked"` // rate-limit blocks in the interval
	Slow        int     `json:"slow"`    // slow-consumer closes in the interval
}

// Node is one node's vital signs.
type Node struct {
	Name string `json:"name"`
	// Address is where other nodes reach this node's HTTP API, for the
	// requests the console fans out (a user's connections).
	Address     string    `json:"address"`
	Version     string    `json:"version"`
	Ready       bool      `json:"ready"`
	Draining    bool      `json:"draining"`
	Connections int       `json:"connections"`
	Users       int       `json:"users"`
	MessagesIn  float64   `json:"messagesInPerSecond"`
	MessagesOut float64   `json:"messagesOutPerSecond"`
	StartedAt   time.Time `json:"startedAt"`
	UpdatedAt   time.Time `json:"updatedAt"`
	// Series is the node's ring, oldest first; the overview leaves it out.
	Series []Sample `json:"series,omitempty"`
}

// Registry is where nodes write their vital signs for the others to read.
type Registry interface {
	Put(ctx context.Context, n Node) error
	// List returns the nodes that wrote within staleAfter.
	List(ctx context.Context, staleAfter time.Duration) ([]Node, error)
	Remove(ctx context.Context, name string) error
}

// Counters are the node's cumulative counts the samples are taken from.
type Counters struct {
	Received, Sent, Blocked, Slow float64
}

// Config configures a Fleet. Zero durations mean the defaults.
type Config struct {
	Registry Registry
	// Self returns this node's vital signs now. It runs on every overview
	// request, so it must be cheap. The Fleet fills in the name, address,
	// readiness, rates, times and series.
	Self func() Node
	// Ready reports whether the node takes new connections. It may do
	// I/O (a broker ping), so it runs once per sample, not per request.
	Ready    func() bool
	Counters func() Counters
	// Interval is how often a sample is taken and written. Default 5s.
	Interval time.Duration
	// Window is how much history the ring keeps. Default 15m.
	Window time.Duration
	Logger logr.Logger
}

// Defaults of Config.
const (
	DefaultInterval = 5 * time.Second
	DefaultWindow   = 15 * time.Minute
	// recentWindow is what the overview's recent counts cover.
	recentWindow = 5 * time.Minute
)

// Fleet samples this node and reads the others.
type Fleet struct {
	cfg     Config
	started time.Time

	mu      sync.Mutex
	ring    []Sample // oldest first, at most size
	size    int
	last    Counters
	lastAt  time.Time
	name    string
	address string
	ready   bool
}

// New returns a Fleet; Run starts its sampling.
func New(cfg Config) *Fleet {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Window <= 0 {
		cfg.Window = DefaultWindow
	}
	size := max(int(cfg.Window/cfg.Interval), 1)
	return &Fleet{cfg: cfg, started: time.Now().UTC(), size: size}
}

// Name is this node's name in the registry.
func (f *Fleet) Name() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.name
}

// SetIdentity names this node and says where other nodes reach it.
func (f *Fleet) SetIdentity(name, address string) {
	f.mu.Lock()
	f.name, f.address = name, address
	f.mu.Unlock()
}

// Run samples every interval and writes this node to the registry until
// ctx ends, then removes it.
func (f *Fleet) Run(ctx context.Context) {
	ready := f.cfg.Ready()
	f.mu.Lock()
	f.last, f.lastAt, f.ready = f.cfg.Counters(), time.Now(), ready
	f.mu.Unlock()
	f.put(ctx)
	t := time.NewTicker(f.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			rctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = f.cfg.Registry.Remove(rctx, f.Name())
			cancel()
			return
		case now := <-t.C:
			f.sample(now)
			f.put(ctx)
		}
	}
}

// sample closes the interval that ends now.
func (f *Fleet) sample(now time.Time) {
	c := f.cfg.Counters()
	self := f.cfg.Self()
	ready := f.cfg.Ready()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ready = ready
	secs := now.Sub(f.lastAt).Seconds()
	if secs <= 0 {
		return
	}
	s := Sample{
		At:          f.lastAt.Truncate(f.cfg.Interval).Unix(),
		Connections: self.Connections,
		In:          max(c.Received-f.last.Received, 0) / secs,
		Out:         max(c.Sent-f.last.Sent, 0) / secs,
		Blocked:     int(max(c.Blocked-f.last.Blocked, 0)),
		Slow:        int(max(c.Slow-f.last.Slow, 0)),
	}
	f.last, f.lastAt = c, now
	if len(f.ring) == f.size {
		copy(f.ring, f.ring[1:])
		f.ring = f.ring[:f.size-1]
	}
	f.ring = append(f.ring, s)
}

func (f *Fleet) put(ctx context.Context) {
	n := f.self()
	n.Series = f.Series()
	wctx, cancel := context.WithTimeout(ctx, f.cfg.Interval)
	defer cancel()
	if err := f.cfg.Registry.Put(wctx, n); err != nil && ctx.Err() == nil {
		f.cfg.Logger.V(1).Info("could not write this node to the fleet registry", "error", err.Error())
	}
}

// self is this node now, with the readiness and rates of its last
// sample.
func (f *Fleet) self() Node {
	n := f.cfg.Self()
	f.mu.Lock()
	defer f.mu.Unlock()
	n.Name, n.Address, n.Ready = f.name, f.address, f.ready
	n.StartedAt = f.started
	n.UpdatedAt = time.Now().UTC()
	if len(f.ring) > 0 {
		last := f.ring[len(f.ring)-1]
		n.MessagesIn, n.MessagesOut = last.In, last.Out
	}
	return n
}

// Series returns this node's ring, oldest first.
func (f *Fleet) Series() []Sample {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.ring)
}

// Overview is the fleet at a glance.
type Overview struct {
	Nodes  []Node `json:"nodes"`
	Totals Totals `json:"totals"`
	Recent Recent `json:"recent"`
	// Series sums the nodes' samples interval by interval, oldest first.
	Series          []Sample `json:"series"`
	IntervalSeconds int      `json:"intervalSeconds"`
	// Warnings say what could not be read, so a partial answer is never
	// mistaken for the whole fleet.
	Warnings []string `json:"warnings"`
}

// Totals add up the nodes. A user connected to two nodes counts on both.
type Totals struct {
	Nodes       int     `json:"nodes"`
	Connections int     `json:"connections"`
	Users       int     `json:"users"`
	MessagesIn  float64 `json:"messagesInPerSecond"`
	MessagesOut float64 `json:"messagesOutPerSecond"`
}

// Recent counts what went wrong in the last minutes, fleet-wide.
type Recent struct {
	WindowSeconds      int `json:"windowSeconds"`
	RateLimitBlocks    int `json:"rateLimitBlocks"`
	SlowConsumerCloses int `json:"slowConsumerCloses"`
}

// Nodes returns every live node, this one with its current values, by
// name.
func (f *Fleet) Nodes(ctx context.Context) ([]Node, error) {
	listed, err := f.cfg.Registry.List(ctx, 3*f.cfg.Interval)
	if err != nil {
		return nil, err
	}
	self := f.self()
	self.Series = f.Series()
	nodes := []Node{self}
	for _, n := range listed {
		if n.Name != self.Name {
			nodes = append(nodes, n)
		}
	}
	slices.SortFunc(nodes, func(a, b Node) int { return cmp.Compare(a.Name, b.Name) })
	return nodes, nil
}

// Overview reads the registry and sums it up. When the registry cannot be
// read (Redis is away), it shows this node alone and says so in Warnings:
// that is when a person most needs to see the node.
func (f *Fleet) Overview(ctx context.Context) Overview {
	o := Overview{IntervalSeconds: int(f.cfg.Interval / time.Second),
		Recent: Recent{WindowSeconds: int(recentWindow / time.Second)}, Warnings: []string{}}
	nodes, err := f.Nodes(ctx)
	if err != nil {
		o.Warnings = append(o.Warnings, "only this node is shown: the fleet registry could not be read ("+err.Error()+")")
		self := f.self()
		self.Series = f.Series()
		nodes = []Node{self}
	}
	bySlot := map[int64]*Sample{}
	since := time.Now().Add(-recentWindow).Unix()
	for i := range nodes {
		n := &nodes[i]
		o.Totals.Nodes++
		o.Totals.Connections += n.Connections
		o.Totals.Users += n.Users
		o.Totals.MessagesIn += n.MessagesIn
		o.Totals.MessagesOut += n.MessagesOut
		for _, s := range n.Series {
			sum := bySlot[s.At]
			if sum == nil {
				sum = &Sample{At: s.At}
				bySlot[s.At] = sum
			}
			sum.Connections += s.Connections
			sum.In += s.In
			sum.Out += s.Out
			sum.Blocked += s.Blocked
			sum.Slow += s.Slow
			if s.At >= since {
				o.Recent.RateLimitBlocks += s.Blocked
				o.Recent.SlowConsumerCloses += s.Slow
			}
		}
		n.Series = nil
	}
	o.Nodes = nodes
	o.Series = make([]Sample, 0, len(bySlot))
	for _, s := range bySlot {
		o.Series = append(o.Series, *s)
	}
	slices.SortFunc(o.Series, func(a, b Sample) int { return cmp.Compare(a.At, b.At) })
	return o
}
