package server

import (
	"context"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	"github.com/redis/go-redis/v9"

	"github.com/fleetwire/fleetwire/runtime/auth"
	redisdenylist "github.com/fleetwire/fleetwire/runtime/auth/redis"
	"github.com/fleetwire/fleetwire/runtime/broker"
	redisbroker "github.com/fleetwire/fleetwire/runtime/broker/redis"
	"github.com/fleetwire/fleetwire/runtime/chanpresence"
	redischanpresence "github.com/fleetwire/fleetwire/runtime/chanpresence/redis"
	"github.com/fleetwire/fleetwire/runtime/config"
	"github.com/fleetwire/fleetwire/runtime/fleet"
	redisfleet "github.com/fleetwire/fleetwire/runtime/fleet/redis"
	"github.com/fleetwire/fleetwire/runtime/history"
	redishistory "github.com/fleetwire/fleetwire/runtime/history/redis"
	"github.com/fleetwire/fleetwire/runtime/metrics"
	"github.com/fleetwire/fleetwire/runtime/presence"
	redispresence "github.com/fleetwire/fleetwire/runtime/presence/redis"
	"github.com/fleetwire/fleetwire/runtime/queue"
	redisqueue "github.com/fleetwire/fleetwire/runtime/queue/redis"
	"github.com/fleetwire/fleetwire/runtime/ratelimit"
	redislimiter "github.com/fleetwire/fleetwire/runtime/ratelimit/redis"
	"github.com/fleetwire/fleetwire/runtime/recovery"
	redisrecovery "github.com/fleetwire/fleetwire/runtime/recovery/redis"
	"github.com/fleetwire/fleetwire/runtime/redisconn"
	"github.com/fleetwire/fleetwire/runtime/serversub"
	redisserversub "github.com/fleetwire/fleetwire/runtime/serversub/redis"
)

// stores are the node's shared-state backends: all in memory, or all in
// Redis when REDIS_URL is set, so a fleet behaves as one server.
type stores struct {
	kind     string // "memory" or "redis"
	broker   broker.Broker
	presence presence.Presence
	queue    queue.Queue
	limiter  ratelimit.Limiter
	denylist auth.Denylist
	history  history.Store
	recovery recovery.Store
	subs     serversub.Store
	chanPres chanpresence.Store
	fleet    fleet.Registry
	client   redis.UniversalClient
	// epoch names the data Redis holds (redisconn.Epoch); nil in memory.
	epoch func(ctx context.Context) (map[string]string, error)
	// rebalanceClaim claims a user fleet-wide before a rebalance order
	// asks them to reconnect (hub.Config.RebalanceClaim); nil in memory,
	// where the node is the fleet.
	rebalanceClaim func(ctx context.Context, userID string, window time.Duration) (bool, error)
}

func newStores(cfg *config.Config, m *metrics.Metrics, log logr.Logger) (*stores, error) {
	qcfg := queue.Config{MaxPerUser: cfg.Queue.MaxPerUser, TTL: cfg.Queue.TTL.Duration}
	if !cfg.UsesRedis() {
		return &stores{
			kind:     "memory",
			broker:   broker.NewMemory(),
			presence: presence.NewMemory(),
			queue:    queue.NewMemory(qcfg),
			limiter:  ratelimit.NewMemory(),
			denylist: auth.NewMemoryDenylist(),
			history:  history.NewMemory(),
			recovery: recovery.NewMemory(),
			subs:     serversub.NewMemory(),
			chanPres: chanpresence.NewMemory(),
			fleet:    fleet.NewMemory(),
		}, nil
	}
	rc := cfg.Redis()
	client, err := redisconn.NewClient(rc)
	if err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	prefix := rc.Prefix()
	s := &stores{kind: "redis", client: client,
		epoch: func(ctx context.Context) (map[string]string, error) { return redisconn.Epoch(ctx, client, prefix) },
		// One key per user asked, gone with the window: SET NX takes it
		// for the first node only.
		rebalanceClaim: func(ctx context.Context, userID string, window time.Duration) (bool, error) {
			return client.SetNX(ctx, prefix+"rebalance:asked:"+userID, 1, window).Result()
		}}
	if s.broker, err = redisbroker.New(redisbroker.Config{Client: client, Prefix: prefix, Logger: log.WithName("broker"),
		OnReconnect:    m.BrokerReconnects.Inc,
		HealthInterval: cfg.Health.SubscriptionCheck.Duration,
		OnLag:          func(d time.Duration) { m.BrokerLag.Observe(d.Seconds()) }}); err != nil {
		return nil, err
	}
	if s.presence, err = redispresence.New(redispresence.Config{Client: client, Prefix: prefix, TTL: cfg.Presence.TTL.Duration}); err != nil {
		return nil, err
	}
	if s.queue, err = redisqueue.New(redisqueue.Config{Client: client, Prefix: prefix, MaxPerUser: qcfg.MaxPerUser, TTL: qcfg.TTL}); err != nil {
		return nil, err
	}
	if s.limiter, err = redislimiter.New(redislimiter.Config{Client: client, Prefix: prefix}); err != nil {
		return nil, err
	}
	if s.denylist, err = redisdenylist.New(redisdenylist.Config{Client: client, Prefix: prefix}); err != nil {
		return nil, err
	}
	if s.history, err = redishistory.New(redishistory.Config{Client: client, Prefix: prefix}); err != nil {
		return nil, err
	}
	if s.recovery, err = redisrecovery.New(redisrecovery.Config{Client: client, Prefix: prefix}); err != nil {
		return nil, err
	}
	if s.subs, err = redisserversub.New(redisserversub.Config{Client: client, Prefix: prefix}); err != nil {
		return nil, err
	}
	if s.fleet, err = redisfleet.New(redisfleet.Config{Client: client, Prefix: prefix}); err != nil {
		return nil, err
	}
	if s.chanPres, err = redischanpresence.New(redischanpresence.Config{Client: client, Prefix: prefix, TTL: cfg.Presence.TTL.Duration}); err != nil {
		return nil, err
	}
	return s, nil
}

// close releases the Redis client, after the hub has stopped using it.
func (s *stores) close() {
	if s.client != nil {
		_ = s.client.Close()
	}
}
