package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/fleetwire/fleetwire/runtime/auth"
	"github.com/fleetwire/fleetwire/runtime/channel"
	"github.com/fleetwire/fleetwire/runtime/config"
	"github.com/fleetwire/fleetwire/runtime/console"
	"github.com/fleetwire/fleetwire/runtime/health"
	"github.com/fleetwire/fleetwire/runtime/httpapi"
	"github.com/fleetwire/fleetwire/runtime/hub"
	"github.com/fleetwire/fleetwire/runtime/metrics"
	"github.com/fleetwire/fleetwire/runtime/podinfo"
	"github.com/fleetwire/fleetwire/runtime/queue"
	"github.com/fleetwire/fleetwire/runtime/rpcproxy"
	"github.com/fleetwire/fleetwire/runtime/schedule"
	"github.com/fleetwire/fleetwire/runtime/transport"
)

// Server is one runtime node.
type Server struct {
	cfg      *config.Config
	log      logr.Logger
	hub      *hub.Hub
	api      *httpapi.API
	http     *http.Server
	health   *health.Checker
	sched    *schedule.Scheduler
	verifier *auth.Verifier
	// ipRefused counts a connection the listener refused, by rule:
	// limits.connectionsPerSecondPerIP (or a ban) or
	// limits.badRequestsPerSecondPerIP.
	ipRefused func(rule string)
	// ipLimit is the listener that bounds addresses, once Serve made it;
	// the hub bans an abusive connection's address through it.
	ipLimit *atomic.Pointer[ipRateListener]
	stores  *stores
	// stopOrders ends the reading of rebalance orders; ordersDone closes
	// once it has ended.
	stopOrders context.CancelFunc
	ordersDone chan struct{}
	fleet      *nodeFleet
}

// Options are what the caller decides beyond the Config.
type Options struct {
	Logger  logr.Logger
	Version string
	// DevSecret is the HS256 key used when the Config has no key (dev mode).
	DevSecret []byte
}

// New assembles a node. cfg must already be validated.
func New(cfg *config.Config, opts Options) (*Server, error) {
	log := opts.Logger
	m := metrics.New()
	st, err := newStores(cfg, m, log)
	if err != nil {
		return nil, err
	}
	denylist := st.denylist
	verifier, err := newVerifier(cfg, opts.DevSecret, denylist)
	if err != nil {
		return nil, err
	}
	policy, err := channel.NewPolicy(cfg.Channels)
	if err != nil {
		return nil, fmt.Errorf("channels: %w", err)
	}
	q := st.queue
	registerQueueMetrics(m, q)
	b := st.broker
	sched := schedule.New()
	var fw hub.Forwarder
	if cfg.RPCProxy.URL != "" {
		p, err := rpcproxy.New(rpcproxy.Config{URL: cfg.RPCProxy.URL, Timeout: cfg.RPCProxy.Timeout.Duration, MaxConcurrent: cfg.RPCProxy.MaxConcurrent})
		if err != nil {
			return nil, fmt.Errorf("rpcProxy: %w", err)
		}
		fw = p
	}
	rates := cfg.RatePolicy()
	allowed := map[string]bool{}
	for _, t := range cfg.Messages.AllowedTypes {
		allowed[t] = true
	}
	ipLimit := new(atomic.Pointer[ipRateListener])
	// badRequest counts a request refused for what it was against the
	// address it came from (limits.badRequestsPerSecondPerIP).
	badRequest := func(addr string) {
		if l := ipLimit.Load(); l != nil {
			l.badRequest(addr)
		}
	}
	h, err := hub.New(hub.Config{
		AllowedTypes:             allowed,
		Forwarder:                fw,
		DurableUserMessages:      st.kind == "redis",
		StoreEpoch:               st.epoch,
		Metrics:                  m,
		Broker:                   b,
		Scheduler:                sched,
		HeartbeatInterval:        cfg.Heartbeat.Interval.Duration,
		HeartbeatTimeout:         cfg.Heartbeat.Timeout.Duration,
		MaxChannelsPerConnection: cfg.Limits.MaxChannelsPerConnection,
		ExpiryGrace:              verifier.Leeway(),
		ExpiryWarning:            cfg.Auth.ExpiryWarning.Duration,
		Tokens:                   verifier,
		Rates:                    rates,
		Queue:                    q,
		Presence:                 st.presence,
		History:                  st.history,
		Recovery:                 st.recovery,
		RecoveryOutlivesNode:     st.kind == "redis",
		RecoveryWindow:           cfg.SocketIO.RecoveryWindow.Duration,
		RebalanceDelayMax:        cfg.Drain.ReconnectDelayMax.Duration,
		RebalanceClaim:           st.rebalanceClaim,
		ServerSubs:               st.subs,
		ChannelPresence:          st.chanPres,
		ServerSubTTL:             cfg.ServerSubscriptions.TTL.Duration,
		Limiter:                  st.limiter,
		Policy:                   policy,
		OnAbuse: func(ip string) {
			if l := ipLimit.Load(); l != nil {
				l.badRequest(ip)
				if l.perSecond > 0 {
					l.ban(ip, cfg.RateLimit.Abuse.Ban.Duration)
				}
			}
		},
		Logger: log.WithName("hub"),
	})
	if err != nil {
		sched.Close()
		return nil, err
	}
	checker := health.New(health.Config{
		Version:     opts.Version,
		Broker:      b,
		Connections: func() (int, int) { return h.Connections(), cfg.Limits.MaxConnections },
		QueueStats:  q.Stats,
		BrokerGrace: cfg.Health.BrokerGrace.Duration,
	})
	scheduleBeat(sched, checker)
	m.Registry.MustRegister(&nodeCollector{maxConns: cfg.Limits.MaxConnections, checker: checker})
	fl := newFleet(st.fleet, m, h, checker, opts.Version, log)
	var consoleFiles http.Handler
	if cfg.ConsoleEnabled() {
		consoleFiles = console.Handler()
	}
	api, err := httpapi.New(httpapi.Config{
		Fleet:      fl.fleet,
		Console:    consoleFiles,
		Hub:        h,
		Queue:      q,
		Limiter:    st.limiter,
		Verifier:   verifier,
		Denylist:   denylist,
		Metrics:    m,
		Health:     checker,
		Rates:      rates,
		HSTSMaxAge: cfg.Security.HSTSMaxAge.Duration,
		Upgrader: transport.NewUpgrader(transport.Config{
			EnableCompression: cfg.Transport.Compression,
			WriteDelay:        cfg.Transport.WriteDelay.Duration,
			MaxMessageBytes:   cfg.Limits.MaxMessageBytes,
			MaxQueueBytes:     cfg.Limits.OutboundQueueBytes,
			WriteTimeout:      cfg.Limits.WriteTimeout.Duration,
			ObserveDelivery:   func(d time.Duration) { m.DeliveryLatency.Observe(d.Seconds()) },
			OnBadInput:        badRequest,
		}),
		Origins:        httpapi.NewOriginPolicy(cfg.CORS.Origins, cfg.DevMode()),
		Logger:         log.WithName("http"),
		MaxBodyBytes:   cfg.Limits.MaxBodyBytes,
		MaxConnections: cfg.Limits.MaxConnections,
		MaxBulkUsers:   cfg.Limits.MaxBulkUsers,
		AllowedTypes:   allowed,
		Version:        opts.Version,
		SocketIO:       socketIOConfig(cfg, m, sched, badRequest),
	})
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: log, hub: h, api: api, health: checker, sched: sched, verifier: verifier, stores: st, fleet: fl,
		ipRefused: func(rule string) { m.ConnectionsRejected.WithLabelValues(rule).Inc() }, ipLimit: ipLimit}
	ordersCtx, stopOrders := context.WithCancel(context.Background())
	s.stopOrders, s.ordersDone = stopOrders, make(chan struct{})
	if f := cfg.Rebalance.AnnotationsFile; f != "" {
		go func() {
			defer close(s.ordersDone)
			podinfo.FollowOrders(ordersCtx, f, ordersInterval, h, log.WithName("rebalance"))
		}()
	} else {
		close(s.ordersDone)
	}
	s.http = &http.Server{
		Handler:           api.Handler(),
		ReadHeaderTimeout: cfg.Limits.HTTPHeaderTimeout.Duration,
		ReadTimeout:       cfg.Limits.HTTPReadTimeout.Duration,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    cfg.Limits.MaxHeaderBytes,
		ErrorLog:          nil,
	}
	if cfg.Limits.BadRequestsPerSecondPerIP > 0 {
		newRefusedWatch(func(addr string, d int) {
			if l := ipLimit.Load(); l != nil {
				l.unresolvedRequest(addr, d)
			}
		}).watch(s.http)
	}
	return s, nil
}

func newVerifier(cfg *config.Config, devSecret []byte, d auth.Denylist) (*auth.Verifier, error) {
	ac := auth.Config{
		Secret:        []byte(cfg.Auth.Secret),
		Issuer:        cfg.Auth.Issuer,
		Audience:      cfg.Auth.Audience,
		Leeway:        leeway(cfg.Auth.Leeway.Duration),
		RequireExpiry: cfg.Auth.RequireExpiry,
	}
	if cfg.Auth.PublicKeyFile != "" {
		pem, err := os.ReadFile(cfg.Auth.PublicKeyFile)
		if err != nil {
			return nil, fmt.Errorf("auth.publicKeyFile (JWT_PUBLIC_KEY_FILE): %w", err)
		}
		ac.PublicKeyPEM = pem
	}
	if cfg.DevMode() {
		ac.Secret = devSecret
	}
	v, err := auth.NewVerifier(ac, d)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	return v, nil
}

// ordersInterval is how often the pod's annotations file is read for a
// rebalance order. The kubelet refreshes that file far less often.
const ordersInterval = 2 * time.Second

// beatInterval is how often the scheduler proves the process alive to the
// liveness probe; far below health.DefaultLiveWithin.
const beatInterval = time.Second

// scheduleBeat makes the scheduler, the loop every connection's deadlines
// depend on, feed the liveness probe. A wedged scheduler stops the beats.
func scheduleBeat(sched *schedule.Scheduler, c *health.Checker) {
	var e *schedule.Entry
	e = sched.At(time.Now().Add(beatInterval), func() {
		c.Beat()
		sched.Reset(e, time.Now().Add(beatInterval))
	})
}

// registerQueueMetrics exports the queue's own counters, in the replaced
// service's terms. One scrape reads the queue's statistics once: with
// Redis that is a scan over every queued user.
func registerQueueMetrics(m *metrics.Metrics, q queue.Queue) {
	m.Registry.MustRegister(queueCollector{q: q})
}

// queueScrapeTimeout bounds reading queue statistics during a scrape.
const queueScrapeTimeout = 5 * time.Second

type queueCollector struct{ q queue.Queue }

var queueMetrics = []struct {
	desc  *prometheus.Desc
	kind  prometheus.ValueType
	value func(queue.Stats) float64
}{
	{prometheus.NewDesc("realtime_queue_waiting", "Messages waiting in offline queues.", nil, nil),
		prometheus.GaugeValue, func(s queue.Stats) float64 { return float64(s.Waiting) }},
	{prometheus.NewDesc("realtime_queue_users", "Users with a non-empty offline queue.", nil, nil),
		prometheus.GaugeValue, func(s queue.Stats) float64 { return float64(s.Users) }},
	{prometheus.NewDesc("realtime_queue_delivered_total", "Messages delivered from offline queues.", nil, nil),
		prometheus.CounterValue, func(s queue.Stats) float64 { return float64(s.Completed) }},
	{prometheus.NewDesc("realtime_queue_failed_total", "Messages dropped because an offline queue was full.", nil, nil),
		prometheus.CounterValue, func(s queue.Stats) float64 { return float64(s.Failed) }},
	{prometheus.NewDesc("realtime_queue_expired_total", "Messages dropped because their TTL passed.", nil, nil),
		prometheus.CounterValue, func(s queue.Stats) float64 { return float64(s.Expired) }},
	{prometheus.NewDesc("realtime_queue_oldest_age_seconds", "How long the oldest message still waiting in an offline queue has waited; 0 when none waits.", nil, nil),
		prometheus.GaugeValue, func(s queue.Stats) float64 {
			if s.OldestAt.IsZero() {
				return 0
			}
			return max(time.Since(s.OldestAt).Seconds(), 0)
		}},
}

func (queueCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, qm := range queueMetrics {
		ch <- qm.desc
	}
}

func (c queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), queueScrapeTimeout)
	defer cancel()
	st, err := c.q.Stats(ctx)
	if err != nil {
		for _, qm := range queueMetrics {
			ch <- prometheus.NewInvalidMetric(qm.desc, err)
		}
		return
	}
	for _, qm := range queueMetrics {
		ch <- prometheus.MustNewConstMetric(qm.desc, qm.kind, qm.value(st))
	}
}

// leeway maps the config's 0 (no leeway) to auth's negative "none"; in
// auth, zero means the default.
func leeway(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// Handler returns the node's HTTP handler, for tests with httptest.
func (s *Server) Handler() http.Handler { return s.http.Handler }

// Hub returns the node's hub.
func (s *Server) Hub() *hub.Hub { return s.hub }

// Serve accepts connections on ln until Shutdown. It returns nil after a
// clean shutdown.
func (s *Server) Serve(ln net.Listener) error {
	s.log.Info("runtime listening", "addr", ln.Addr().String(), "algorithms", s.verifier.Algorithms(),
		"broker", s.stores.kind, "maxConnections", s.cfg.Limits.MaxConnections,
		"connectionsPerSecondPerIP", s.cfg.Limits.ConnectionsPerSecondPerIP, "badRequestsPerSecondPerIP", s.cfg.Limits.BadRequestsPerSecondPerIP)
	if n, bad := s.cfg.Limits.ConnectionsPerSecondPerIP, s.cfg.Limits.BadRequestsPerSecondPerIP; n > 0 || bad > 0 {
		l := newIPRateListener(ln, n, bad, s.ipRefused)
		s.ipLimit.Store(l)
		ln = l
	}
	s.fleet.start(ln.Addr())
	if err := s.http.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Drain is the stop on SIGTERM. It reports not ready at once and refuses
// new WebSockets, keeps serving the HTTP API through drain.preDelay so
// load balancers can take the node out of rotation, closes the
// connections in paced batches over drain.timeout (each client gets a
// "reconnect" event first), then stops the HTTP server. Messages that were
// queued on a connection but not written go back to their users' queues.
// ctx bounds all of it.
func (s *Server) Drain(ctx context.Context) error {
	s.health.SetDraining()
	s.log.Info("drain started: not ready, refusing new connections", "connections", s.hub.Connections(),
		"preDelay", s.cfg.Drain.PreDelay.String(), "window", s.cfg.Drain.Timeout.String())
	select {
	case <-time.After(s.cfg.Drain.PreDelay.Duration):
	case <-ctx.Done():
	}
	return s.stop(ctx, hub.DrainConfig{Window: s.cfg.Drain.Timeout.Duration, ReconnectDelayMax: s.cfg.Drain.ReconnectDelayMax.Duration})
}

// Shutdown closes every connection at once (with a "reconnect" event and
// 1012), then stops the HTTP server, within ctx.
func (s *Server) Shutdown(ctx context.Context) error {
	s.health.SetDraining()
	s.log.Info("shutting down", "connections", s.hub.Connections())
	return s.stop(ctx, hub.DrainConfig{ReconnectDelayMax: s.cfg.Drain.ReconnectDelayMax.Duration})
}

func (s *Server) stop(ctx context.Context, dc hub.DrainConfig) error {
	s.stopOrders()
	<-s.ordersDone
	s.fleet.stop()
	hubErr := s.hub.Drain(ctx, dc)
	apiErr := s.api.Shutdown(ctx)
	httpErr := s.http.Shutdown(ctx)
	s.sched.Close()
	s.stores.close()
	return errors.Join(hubErr, apiErr, httpErr)
}

// socketIOConfig is the Socket.IO endpoint's configuration, nil when it
// is off. Its queue, write and frame limits are the WebSocket transport's.
func socketIOConfig(cfg *config.Config, m *metrics.Metrics, sched *schedule.Scheduler, badRequest func(string)) *httpapi.SocketIOConfig {
	sio := cfg.SocketIO
	if !sio.Enabled {
		return nil
	}
	return &httpapi.SocketIOConfig{
		Path:            sio.Path,
		Namespaces:      sio.Namespaces,
		Transports:      sio.Transports,
		PingInterval:    sio.PingInterval.Duration,
		PingTimeout:     sio.PingTimeout.Duration,
		MaxPayload:      sio.MaxHTTPBufferSize,
		ConnectTimeout:  sio.ConnectTimeout.Duration,
		MaxQueueBytes:   cfg.Limits.OutboundQueueBytes,
		WriteTimeout:    cfg.Limits.WriteTimeout.Duration,
		MaxMessageBytes: int(cfg.Limits.MaxMessageBytes),
		ObserveDelivery: func(d time.Duration) { m.DeliveryLatency.Observe(d.Seconds()) },
		Compression:     cfg.Transport.Compression,
		Recovery:        sio.Recovery,
		Scheduler:       sched,
		OnBadInput:      badRequest,
	}
}
