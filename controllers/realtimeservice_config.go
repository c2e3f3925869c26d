package controllers

import (
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	v1 "github.com/fleetwire/fleetwire/api/v1alpha1"
	"github.com/fleetwire/fleetwire/runtime/channel"
	"github.com/fleetwire/fleetwire/runtime/config"
)

// Paths inside the runtime container.
const (
	configDir     = "/etc/fleetwire"
	configFile    = "runtime.yaml"
	publicKeyDir  = "/etc/fleetwire/jwt"
	publicKeyFile = "public.pem"
	runtimePort   = 8080
)

// renderConfig writes the runtime configuration for rts in the runtime's
// own file format. It starts from the runtime's defaults and overlays what
// the spec sets, so the file is complete and its hash changes with every
// setting. Secrets never appear in it: they reach the pod as environment
// variables and files (see buildDeployment).
func renderConfig(rts *v1.RealtimeService) ([]byte, error) {
	cfg := runtimeConfig(rts)
	return yaml.Marshal(&cfg)
}

func runtimeConfig(rts *v1.RealtimeService) config.Config {
	spec := &rts.Spec
	cfg := config.Default()
	cfg.Port = runtimePort
	cfg.Production = true
	if r := spec.Redis; r != nil {
		cfg.RedisURL = r.URL // from the Secret, when urlSecretRef, via REDIS_URL
		cfg.RedisMode = string(r.Mode)
		cfg.RedisAddrs = r.Addresses
		cfg.RedisMasterName = r.SentinelMaster
		cfg.RedisKeyPrefix = r.KeyPrefix
		cfg.RedisTLS = r.TLS
	}
	if spec.Auth.PublicKeySecretRef != nil {
		cfg.Auth.PublicKeyFile = publicKeyDir + "/" + publicKeyFile
	}
	cfg.Auth.Issuer = spec.Auth.Issuer
	cfg.Auth.Audience = spec.Auth.Audience
	if spec.CORS != nil {
		cfg.CORS.Origins = spec.CORS.AllowedOrigins
	}
	if spec.Limits.MaxConnectionsPerPod > 0 {
		cfg.Limits.MaxConnections = int(spec.Limits.MaxConnectionsPerPod)
	}
	if spec.Limits.MaxMessageBytes > 0 {
		cfg.Limits.MaxMessageBytes = spec.Limits.MaxMessageBytes
	}
	if n := spec.Limits.BadRequestsPerSecondPerIP; n != nil {
		cfg.Limits.BadRequestsPerSecondPerIP = int(*n)
	}
	applyRateLimits(&cfg.RateLimit, spec.RateLimits)
	applyChannels(&cfg.Channels, spec.Channels)
	if spec.RPCProxy != nil {
		cfg.RPCProxy.URL = spec.RPCProxy.URL
		setDuration(&cfg.RPCProxy.Timeout, spec.RPCProxy.Timeout)
	}
	setDuration(&cfg.Queue.TTL, spec.Queue.TTL)
	if spec.Queue.MaxLength > 0 {
		cfg.Queue.MaxPerUser = int(spec.Queue.MaxLength)
	}
	setDuration(&cfg.Drain.PreDelay, spec.Drain.PreDrainDelay)
	setDuration(&cfg.Drain.Timeout, spec.Drain.Timeout)
	cfg.Rebalance.AnnotationsFile = podInfoDir + "/annotations"
	applySocketIO(&cfg.SocketIO, spec.SocketIO)
	console := spec.Console != nil && spec.Console.Enabled
	cfg.Console.Enabled = &console
	return cfg
}

// applySocketIO renders spec.socketIO. A fleet serves Socket.IO only when
// asked, and long-polling only when the Service keeps clients on one pod
// (see buildService), so the transports follow spec.socketIO.polling.
func applySocketIO(dst *config.SocketIO, s *v1.SocketIOSpec) {
	if s == nil || !s.Enabled {
		dst.Enabled = false
		return
	}
	dst.Enabled = true
	dst.Transports = []string{config.TransportWebSocket}
	if s.Polling {
		dst.Transports = []string{config.TransportPolling, config.TransportWebSocket}
	}
	if s.Path != "" {
		dst.Path = s.Path
	}
	if len(s.Namespaces) > 0 {
		dst.Namespaces = slices.Clone(s.Namespaces)
	}
	setDuration(&dst.PingInterval, s.PingInterval)
	setDuration(&dst.PingTimeout, s.PingTimeout)
	if s.MaxHTTPBufferSize > 0 {
		dst.MaxHTTPBufferSize = int(s.MaxHTTPBufferSize)
	}
}

func setDuration(dst *config.Duration, d *metav1.Duration) {
	if d != nil {
		dst.Duration = d.Duration
	}
}

func rule(r v1.RateRule) config.Rule {
	return config.Rule{Limit: int(r.Limit), Window: window(r.Window)}
}

// window is the rule's window, or one minute: a limit without a window is
// refused by the runtime, and the CRD defaults it to 1m anyway.
func window(d metav1.Duration) config.Duration {
	if d.Duration <= 0 {
		return config.Duration{Duration: time.Minute}
	}
	return config.Duration{Duration: d.Duration}
}

func eventRules(in []v1.EventRateRule) map[string]config.Rule {
	out := make(map[string]config.Rule, len(in))
	for _, e := range in {
		out[e.Event] = config.Rule{Limit: int(e.Limit), Window: window(e.Window)}
	}
	return out
}

func applyRateLimits(dst *config.RateLimit, rl *v1.RateLimitsSpec) {
	if rl == nil {
		return
	}
	if rl.Messages != nil {
		dst.Max = int(rl.Messages.Limit)
		dst.Window = window(rl.Messages.Window)
	}
	if rl.Events != nil {
		dst.Events = eventRules(rl.Events)
	}
	if rl.ConnectionsPerIP != nil {
		dst.ConnectionsPerIP = rule(*rl.ConnectionsPerIP)
	}
	if rl.ConnectionsPerUser != nil {
		dst.ConnectionsPerUser = int(*rl.ConnectionsPerUser)
	}
	if rl.HTTPPerCaller != nil {
		dst.HTTPPerCaller = rule(*rl.HTTPPerCaller)
	}
	if rl.Abuse != nil {
		dst.Abuse.Blocked, dst.Abuse.Window = int(rl.Abuse.Blocked), window(rl.Abuse.Window) // the ban keeps its default
	}
	if len(rl.Tiers) > 0 {
		dst.Tiers = make(map[string]config.Tier, len(rl.Tiers))
	}
	for _, t := range rl.Tiers {
		var tier config.Tier
		if t.Messages != nil {
			r := rule(*t.Messages)
			tier.Messages = &r
		}
		if t.Events != nil {
			tier.Events = eventRules(t.Events)
		}
		if t.ConnectionsPerUser != nil {
			n := int(*t.ConnectionsPerUser)
			tier.ConnectionsPerUser = &n
		}
		if t.HTTPPerCaller != nil {
			r := rule(*t.HTTPPerCaller)
			tier.HTTPPerCaller = &r
		}
		dst.Tiers[t.Name] = tier
	}
}

func applyChannels(dst *channel.Config, ch *v1.ChannelsSpec) {
	if ch == nil {
		return
	}
	if d := ch.Default; d != nil {
		dst.Default = channel.Rule{Allow: channel.Access(d.Allow), Roles: d.Roles,
			Publish: channel.PublishAccess(d.Publish), PublishRoles: d.PublishRoles, PublishProxy: d.PublishProxy,
			Presence: d.Presence, JoinLeave: d.JoinLeave}
	}
	if len(ch.Namespaces) > 0 {
		dst.Namespaces = make(map[string]channel.Rule, len(ch.Namespaces))
	}
	for _, ns := range ch.Namespaces {
		dst.Namespaces[ns.Name] = channel.Rule{Allow: channel.Access(ns.Allow), Roles: ns.Roles,
			Publish: channel.PublishAccess(ns.Publish), PublishRoles: ns.PublishRoles, PublishProxy: ns.PublishProxy,
			Presence: ns.Presence, JoinLeave: ns.JoinLeave}
	}
	if len(ch.History) > 0 {
		dst.History = make(map[string]channel.HistoryRule, len(ch.History))
	}
	for _, h := range ch.History {
		ttl := h.TTL.Duration
		if ttl <= 0 {
			ttl = 10 * time.Minute
		}
		dst.History[h.Namespace] = channel.HistoryRule{Size: int(h.Size), TTL: ttl.String()}
	}
	if d := ch.DefaultHistory; d != nil {
		ttl := d.TTL.Duration
		if ttl <= 0 {
			ttl = 5 * time.Minute
		}
		dst.DefaultHistory = &channel.HistoryRule{Size: int(d.Size), TTL: ttl.String()}
	}
}
