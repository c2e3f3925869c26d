package e2e

import (
	"context"
	"strings"
	"testing"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// faultProxy is a Toxiproxy proxy, in process, between a client and a
// server on loopback: toxics add latency, cut bandwidth or black-hole the
// traffic of every connection through it.
type faultProxy struct {
	p *toxiproxy.Proxy
}

// startFaultProxy proxies a fresh loopback port to upstream (host:port).
func startFaultProxy(t *testing.T, upstream string) *faultProxy {
	t.Helper()
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	p := toxiproxy.NewProxy(srv, "fault", "127.0.0.1:0", upstream)
	if err := p.Start(); err != nil {
		t.Fatalf("toxiproxy: %v", err)
	}
	t.Cleanup(p.Stop)
	return &faultProxy{p: p}
}

// addr is the proxy's listening host:port.
func (f *faultProxy) addr() string { return f.p.Listen }

// add adds a toxic, given as Toxiproxy's JSON (name, type, stream,
// attributes).
func (f *faultProxy) add(t *testing.T, toxic string) {
	t.Helper()
	if _, err := f.p.Toxics.AddToxicJson(strings.NewReader(toxic)); err != nil {
		t.Fatalf("toxic %s: %v", toxic, err)
	}
}

// blackhole stops every byte both ways on the proxy's connections, old and
// new, without closing them: the peers see a half-open connection.
func (f *faultProxy) blackhole(t *testing.T) {
	t.Helper()
	for _, stream := range []string{"upstream", "downstream"} {
		f.add(t, `{"name":"blackhole-`+stream+`","type":"timeout","stream":"`+stream+`","attributes":{"timeout":0}}`)
	}
}

// clear removes every toxic: the proxy's connections, old and new, pass
// traffic again.
func (f *faultProxy) clear() {
	f.p.Toxics.ResetToxics(context.Background())
}
