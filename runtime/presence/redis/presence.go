// Package redispresence owns fleet-wide presence: which users are online,
// with how many connections on all nodes together, kept in Redis. Every
// connection is a sorted-set member whose score is its expiry, so the
// connections of a node that dies stop counting within the TTL.
package redispresence

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/fleetwire/fleetwire/runtime/redisconn"

	"github.com/fleetwire/fleetwire/runtime/presence"
)

// Config configures a Presence. Zero values mean the defaults.
type Config struct {
	// Client reaches Redis. Required.
	Client redis.UniversalClient
	// Prefix starts every key. Default "fleetwire:".
	Prefix string
	// TTL is how long a connection counts without a Refresh. Nodes refresh
	// every TTL/3, so one missed refresh is not fatal. Default 30s.
	TTL time.Duration
}

// DefaultTTL bounds how long a dead node's connections keep counting.
const DefaultTTL = 30 * time.Second

// Presence is the Redis implementation of presence.Presence.
type Presence struct {
	client redis.UniversalClient
	prefix string
	ttl    time.Duration
}

var (
	_ presence.Presence  = (*Presence)(nil)
	_ presence.Refresher = (*Presence)(nil)
	_ presence.Lister    = (*Presence)(nil)
)

// New returns a Presence.
func New(cfg Config) (*Presence, error) {
	if cfg.Client == nil {
		return nil, errors.New("redispresence: Client is required")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = redisconn.DefaultKeyPrefix
	}
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultTTL
	}
	return &Presence{client: cfg.Client, prefix: cfg.Prefix, ttl: cfg.TTL}, nil
}

// TTL returns how long a connection counts without a refresh.
func (p *Presence) TTL() time.Duration { return p.ttl }

// key puts the user id in a hash tag, so in cluster mode all of a user's
// keys live in one slot.
func (p *Presence) key(userID string) string { return p.prefix + "presence:{" + userID + "}" }

// joinScript drops expired members, adds the connection and reports
// whether it was new and how many remain. The key itself expires two TTLs
// after the last write, so users who leave without a Leave do not pin
// memory.
var joinScript = redis.NewScript(`
redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", ARGV[1])
local added = redis.call("ZADD", KEYS[1], ARGV[2], ARGV[3])
redis.call("PEXPIRE", KEYS[1], ARGV[4])
return {added, redis.call("ZCARD", KEYS[1])}
`)

var leaveScript = redis.NewScript(`
local removed = redis.call("ZREM", KEYS[1], ARGV[2])
redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", ARGV[1])
return {removed, redis.call("ZCARD", KEYS[1])}
`)

func nowMs() int64 { return time.Now().UnixMilli() }

// Join implements presence.Presence.
func (p *Presence) Join(ctx context.Context, userID, connID string) (bool, error) {
	now := nowMs()
	res, err := joinScript.Run(ctx, p.client, []string{p.key(userID)},
		now, now+p.ttl.Milliseconds(), connID, (2 * p.ttl).Milliseconds()).Int64Slice()
	if err != nil {
		return false, fmt.Errorf("while recording %s online: %w", userID, err)
	}
	return res[0] == 1 && res[1] == 1, nil
}

// Leave implements presence.Presence.
func (p *Presence) Leave(ctx context.Context, userID, connID string) (bool, error) {
	res, err := leaveScript.Run(ctx, p.client, []string{p.key(userID)}, nowMs(), connID).Int64Slice()
	if err != nil {
		return false, fmt.Errorf("while recording %s offline: %w", userID, err)
	}
	return res[0] == 1 && res[1] == 0, nil
}

// Get implements presence.Presence; expired connections do not count.
func (p *Presence) Get(ctx context.Context, userID string) (presence.Info, error) {
	n, err := p.client.ZCount(ctx, p.key(userID), fmt.Sprint(nowMs()), "+inf").Result()
	if err != nil {
		return presence.Info{}, fmt.Errorf("while reading presence of %s: %w", userID, err)
	}
	return presence.Info{Online: n > 0, Connections: int(n)}, nil
}

// listPage is how many keys one SCAN step returns, and so how many
// ZRANGEs go in one pipeline.
const listPage = 1000

// Connections implements presence.Lister by scanning every presence key
// (on every master of a cluster), reading each page of keys in one
// pipeline. It is for admin endpoints.
func (p *Presence) Connections(ctx context.Context) ([]presence.Conn, error) {
	var out []presence.Conn
	var mu sync.Mutex
	scan := func(ctx context.Context, c *redis.Client) error {
		now := fmt.Sprint(nowMs())
		for cursor := uint64(0); ; {
			keys, next, err := c.Scan(ctx, cursor, p.prefix+"presence:{*}", listPage).Result()
			if err != nil {
				return err
			}
			cmds := make([]*redis.StringSliceCmd, len(keys))
			if len(keys) > 0 {
				if _, err := c.Pipelined(ctx, func(pipe redis.Pipeliner) error {
					for i, key := range keys {
						cmds[i] = pipe.ZRangeArgs(ctx, redis.ZRangeArgs{Key: key, Start: now, Stop: "+inf", ByScore: true})
					}
					return nil
				}); err != nil {
					return err
				}
			}
			mu.Lock()
			for i, key := range keys {
				user := strings.TrimSuffix(strings.TrimPrefix(key, p.prefix+"presence:{"), "}")
				for _, m := range cmds[i].Val() {
					out = append(out, presence.Conn{UserID: user, ConnID: m})
				}
			}
			mu.Unlock()
			if next == 0 {
				return nil
			}
			cursor = next
		}
	}
	var err error
	switch c := p.client.(type) {
	case *redis.ClusterClient:
		err = c.ForEachMaster(ctx, scan)
	case *redis.Client:
		err = scan(ctx, c)
	default:
		return nil, errors.New("redispresence: listing needs a standalone, sentinel or cluster client")
	}
	if err != nil {
		return nil, fmt.Errorf("while listing connections: %w", err)
	}
	return out, nil
}

// Refresh pushes the expiry of the given live connections one TTL ahead,
// in one pipeline. ZADD XX only updates members that still exist, so a
// connection that has left is not brought back.
func (p *Presence) Refresh(ctx context.Context, conns []presence.Conn) error {
	if err := p.write(ctx, conns, true); err != nil {
		return fmt.Errorf("while refreshing %d connections: %w", len(conns), err)
	}
	return nil
}

// Restore implements presence.Refresher: Refresh without XX, in one
// pipeline.
func (p *Presence) Restore(ctx context.Context, conns []presence.Conn) error {
	if err := p.write(ctx, conns, false); err != nil {
		return fmt.Errorf("while recording %d connections again: %w", len(conns), err)
	}
	return nil
}

// write sets each connection's expiry one TTL ahead, and its key's, in
// one pipeline; with existing, only for members still there (ZADD XX).
func (p *Presence) write(ctx context.Context, conns []presence.Conn, existing bool) error {
	if len(conns) == 0 {
		return nil
	}
	exp := float64(nowMs() + p.ttl.Milliseconds())
	_, err := p.client.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for _, c := range conns {
			z := redis.Z{Score: exp, Member: c.ConnID}
			if existing {
				pipe.ZAddXX(ctx, p.key(c.UserID), z)
			} else {
				pipe.ZAdd(ctx, p.key(c.UserID), z)
			}
			pipe.PExpire(ctx, p.key(c.UserID), 2*p.ttl)
		}
		return nil
	})
	return err
}
