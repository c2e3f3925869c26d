package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/go-logr/logr"

	"github.com/fleetwire/fleetwire/runtime/auth"
	"github.com/fleetwire/fleetwire/runtime/channel"
	"github.com/fleetwire/fleetwire/runtime/config"
	"github.com/fleetwire/fleetwire/runtime/httpapi"
	"github.com/fleetwire/fleetwire/runtime/hub"
	"github.com/fleetwire/fleetwire/runtime/metrics"
	"github.com/fleetwire/fleetwire/runtime/queue"
	"github.com/fleetwire/fleetwire/runtime/ratelimit"
	"github.com/fleetwire/fleetwire/runtime/transport"
)

// Server is one runtime node.
type Server struct {
	cfg     *config.Config
	log     logr.Logger
	hub     *hub.Hub
	api     *httpapi.API
	http    *http.Server
	denies  auth.Denylist
	verifer *auth.Verifier
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
	denylist := auth.NewMemoryDenylist()
	verifier, err := newVerifier(cfg, opts.DevSecret, denylist)
	if err != nil {
		return nil, err
	}
	m := metrics.New()
	policy, err := channel.NewPolicy(cfg.Channels)
	if err != nil {
		return nil, fmt.Errorf("channels: %w", err)
	}
	q := queue.NewMemory(queue.Config{MaxPerUser: cfg.Queue.MaxPerUser, TTL: cfg.Queue.TTL.Duration})
	registerQueueMetrics(m, q)
	h, err := hub.New(hub.Config{
		Metrics:                  m,
		HeartbeatInterval:        cfg.Heartbeat.Interval.Duration,
		HeartbeatTimeout:         cfg.Heartbeat.Timeout.Duration,
		MaxChannelsPerConnection: cfg.Limits.MaxChannelsPerConnection,
		ExpiryGrace:              verifier.Leeway(),
		EventRate:                ratelimit.Rule{Limit: cfg.RateLimit.Max, Window: cfg.RateLimit.Window.Duration},
		Queue:                    q,
		Policy:                   policy,
		Logger:                   log.WithName("hub"),
	})
	if err != nil {
		return nil, err
	}
	allowed := map[string]bool{}
	for _, t := range cfg.Messages.AllowedTypes {
		allowed[t] = true
	}
	api, err := httpapi.New(httpapi.Config{
		Hub:      h,
		Verifier: verifier,
		Denylist: denylist,
		Metrics:  m,
		Upgrader: transport.NewUpgrader(transport.Config{
			MaxMessageBytes: cfg.Limits.MaxMessageBytes,
			MaxQueueBytes:   cfg.Limits.OutboundQueueBytes,
			ObserveDelivery: func(d time.Duration) { m.DeliveryLatency.Observe(d.Seconds()) },
		}),
		Origins:        httpapi.NewOriginPolicy(cfg.CORS.Origins, cfg.DevMode()),
		Logger:         log.WithName("http"),
		MaxBodyBytes:   cfg.Limits.MaxBodyBytes,
		MaxConnections: cfg.Limits.MaxConnections,
		MaxBulkUsers:   cfg.Limits.MaxBulkUsers,
		AllowedTypes:   allowed,
		Version:        opts.Version,
	})
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: log, hub: h, api: api, denies: denylist, verifer: verifier}
	s.http = &http.Server{
		Handler:           api.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          nil,
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

// registerQueueMetrics exports the queue's own counters, in the replaced
// service's terms, read at scrape time.
func registerQueueMetrics(m *metrics.Metrics, q queue.Queue) {
	stat := func(pick func(queue.Stats) float64) func() float64 {
		return func() float64 {
			st, err := q.Stats(context.Background())
			if err != nil {
				return 0
			}
			return pick(st)
		}
	}
	m.GaugeFunc("queue_waiting", "Messages waiting in offline queues.", stat(func(s queue.Stats) float64 { return float64(s.Waiting) }))
	m.GaugeFunc("queue_users", "Users with a non-empty offline queue.", stat(func(s queue.Stats) float64 { return float64(s.Users) }))
	m.CounterFunc("queue_delivered_total", "Messages delivered from offline queues.", stat(func(s queue.Stats) float64 { return float64(s.Completed) }))
	m.CounterFunc("queue_failed_total", "Messages dropped because an offline queue was full.", stat(func(s queue.Stats) float64 { return float64(s.Failed) }))
	m.CounterFunc("queue_expired_total", "Messages dropped because their TTL passed.", stat(func(s queue.Stats) float64 { return float64(s.Expired) }))
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
	s.log.Info("runtime listening", "addr", ln.Addr().String(), "algorithms", s.verifer.Algorithms(),
		"broker", "memory", "maxConnections", s.cfg.Limits.MaxConnections)
	if err := s.http.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Shutdown stops accepting, closes every WebSocket with 1012 "service
// restart", and waits for them within ctx.
func (s *Server) Shutdown(ctx context.Context) error {
	s.log.Info("shutting down", "connections", s.hub.Connections())
	httpErr := s.http.Shutdown(ctx)
	hubErr := s.hub.Shutdown(ctx)
	return errors.Join(httpErr, hubErr)
}
