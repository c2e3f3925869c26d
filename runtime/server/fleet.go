package server

import (
	"context"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/fleetwire/fleetwire/runtime/fleet"
	"github.com/fleetwire/fleetwire/runtime/health"
	"github.com/fleetwire/fleetwire/runtime/hub"
	"github.com/fleetwire/fleetwire/runtime/metrics"
)

// nodeFleet is this node's place in the fleet registry the console reads
// (docs/console.md): named and addressed once Serve knows the port.
type nodeFleet struct {
	fleet *fleet.Fleet

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

func newFleet(reg fleet.Registry, m *metrics.Metrics, h *hub.Hub, checker *health.Checker, version string, log logr.Logger) *nodeFleet {
	nf := &nodeFleet{}
	nf.fleet = fleet.New(fleet.Config{
		Registry: reg,
		Logger:   log.WithName("fleet"),
		Self: func() fleet.Node {
			return fleet.Node{Version: version, Draining: checker.Draining(), Connections: h.Connections(), Users: h.Users()}
		},
		Ready: func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			return checker.Ready(ctx).Ready
		},
		Counters: func() fleet.Counters {
			return fleet.Counters{
				Received: sumOf(m.MessagesReceived, nil),
				Sent:     sumOf(m.MessagesSent, nil),
				Blocked:  sumOf(m.RateLimitDecisions, map[string]string{"outcome": "blocked"}),
				Slow:     sumOf(m.SlowConsumers, nil),
			}
		},
	})
	nf.fleet.SetIdentity(nodeName(""), "")
	return nf
}

// start names the node after the port it serves on, sets its address and
// starts sampling. Only the first call counts.
func (nf *nodeFleet) start(addr net.Addr) {
	nf.mu.Lock()
	defer nf.mu.Unlock()
	if nf.cancel != nil {
		return
	}
	port, address := "", ""
	if ta, ok := addr.(*net.TCPAddr); ok {
		port, address = strconv.Itoa(ta.Port), nodeAddress(ta)
	}
	nf.fleet.SetIdentity(nodeName(port), address)
	ctx, cancel := context.WithCancel(context.Background())
	nf.cancel, nf.done = cancel, make(chan struct{})
	go func() {
		defer close(nf.done)
		nf.fleet.Run(ctx)
	}()
}

// stop ends the sampling and takes the node out of the registry.
func (nf *nodeFleet) stop() {
	nf.mu.Lock()
	cancel, done := nf.cancel, nf.done
	nf.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// nodeName is POD_NAME, else the host name; with the port, since several
// nodes may share a host outside Kubernetes.
func nodeName(port string) string {
	name := os.Getenv("POD_NAME")
	if name == "" {
		name, _ = os.Hostname()
	}
	if name == "" {
		name = "node"
	}
	if port != "" {
		name += ":" + port
	}
	return name
}

// nodeAddress is where the other nodes reach this one: POD_IP, else the
// listening IP, else the host name; with the port.
func nodeAddress(ta *net.TCPAddr) string {
	host := os.Getenv("POD_IP")
	if host == "" && !ta.IP.IsUnspecified() {
		host = ta.IP.String()
	}
	if host == "" {
		host, _ = os.Hostname()
	}
	return net.JoinHostPort(host, strconv.Itoa(ta.Port))
}

// sumOf adds up a counter's series whose labels include match.
func sumOf(c prometheus.Collector, match map[string]string) float64 {
	ch := make(chan prometheus.Metric, 64)
	go func() {
		c.Collect(ch)
		close(ch)
	}()
	total := 0.0
	for m := range ch {
		var d dto.Metric
		if m.Write(&d) != nil || d.Counter == nil {
			continue
		}
		if matches(d.Label, match) {
			total += d.Counter.GetValue()
		}
	}
	return total
}

func matches(labels []*dto.LabelPair, match map[string]string) bool {
	for k, v := range match {
		found := false
		for _, l := range labels {
			if l.GetName() == k && l.GetValue() == v {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}
