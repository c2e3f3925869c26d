// Package redischanpresence keeps channel presence in Redis, shared by the
// fleet. Each channel has a sorted set of its users and, per user, a
// sorted set of their connections there, each scored by the time it stops
// counting unless its node refreshes it; and a hash of the users' info.
// All of a channel's keys carry the channel name in a hash tag, so they
// share one cluster slot.
package redischanpresence

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/fleetwire/fleetwire/runtime/chanpresence"
	"github.com/fleetwire/fleetwire/runtime/redisconn"
)

// Config configures a Store.
type Config struct {
	// Client reaches Redis. Required.
	Client redis.UniversalClient
	// Prefix starts every key. Default "fleetwire:".
	Prefix string
	// TTL is how long a connection counts without a refresh. Default
	// DefaultTTL.
	TTL time.Duration
}

// DefaultTTL bounds how long a dead node's connections stay present.
const DefaultTTL = 30 * time.Second

// Store is the Redis implementation of chanpresence.Store.
type Store struct {
	client redis.UniversalClient
	prefix string
	ttl    time.Duration
}

var (
	_ chanpresence.Store     = (*Store)(nil)
	_ chanpresence.Refresher = (*Store)(nil)
)

// New returns a Store.
func New(cfg Config) (*Store, error) {
	if cfg.Client == nil {
		return nil, errors.New("redischanpresence: Client is required")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = redisconn.DefaultKeyPrefix
	}
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultTTL
	}
	return &Store{client: cfg.Client, prefix: cfg.Prefix, ttl: cfg.TTL}, nil
}

// TTL implements chanpresence.Refresher.
func (s *Store) TTL() time.Duration { return s.ttl }

func (s *Store) base(ch string) string           { return s.prefix + "chanpresence:{" + ch + "}" }
func (s *Store) usersKey(ch string) string       { return s.base(ch) + ":users" }
func (s *Store) infoKey(ch string) string        { return s.base(ch) + ":info" }
func (s *Store) connsKey(ch, user string) string { return s.base(ch) + ":u:" + user }

// joinScript: KEYS users, conns, info; ARGV now, expiry, user, conn,
// info, keep (ms). It drops the user's expired connections, adds this
// one, and returns whether it was new and how many the user has.
var joinScript = redis.NewScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
local added = redis.call('ZADD', KEYS[2], ARGV[2], ARGV[4])
local n = redis.call('ZCARD', KEYS[2])
redis.call('ZADD', KEYS[1], 'GT', ARGV[2], ARGV[3])
if ARGV[5] ~= '' then redis.call('HSET', KEYS[3], ARGV[3], ARGV[5]) end
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ARGV[6]) end
return {added, n}
`)

// leaveScript: KEYS users, conns, info; ARGV now, user, conn. It removes
// the connection and, with the user's last one, the user.
var leaveScript = redis.NewScript(`
local removed = redis.call('ZREM', KEYS[2], ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
local n = redis.call('ZCARD', KEYS[2])
if n == 0 then
  redis.call('ZREM', KEYS[1], ARGV[2])
  redis.call('HDEL', KEYS[3], ARGV[2])
end
return {removed, n}
`)

// keep is how long a channel's keys outlive their last write: two TTLs,
// so a refresh can always find them.
func (s *Store) keep() int64 { return (2 * s.ttl).Milliseconds() }

// Join implements chanpresence.Store.
func (s *Store) Join(ctx context.Context, c chanpresence.Conn) (bool, error) {
	now := time.Now()
	res, err := joinScript.Run(ctx, s.client,
		[]string{s.usersKey(c.Channel), s.connsKey(c.Channel, c.UserID), s.infoKey(c.Channel)},
		now.UnixMilli(), now.Add(s.ttl).UnixMilli(), c.UserID, c.ConnID, string(c.Info), s.keep()).Int64Slice()
	if err != nil {
		return false, fmt.Errorf("while recording channel presence: %w", err)
	}
	return res[0] == 1 && res[1] == 1, nil
}

// Leave implements chanpresence.Store.
func (s *Store) Leave(ctx context.Context, ch, userID, connID string) (bool, error) {
	res, err := leaveScript.Run(ctx, s.client,
		[]string{s.usersKey(ch), s.connsKey(ch, userID), s.infoKey(ch)},
		time.Now().UnixMilli(), userID, connID).Int64Slice()
	if err != nil {
		return false, fmt.Errorf("while removing channel presence: %w", err)
	}
	return res[0] == 1 && res[1] == 0, nil
}

// liveUsers returns the channel's users whose entry has not expired,
// sorted by id. It reads them all: presence is for channels of people,
// not of every connection of a fleet.
func (s *Store) liveUsers(ctx context.Context, ch string) ([]string, error) {
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	users, err := s.client.ZRangeByScore(ctx, s.usersKey(ch), &redis.ZRangeBy{Min: "(" + now, Max: "+inf"}).Result()
	if err != nil {
		return nil, fmt.Errorf("while reading channel presence: %w", err)
	}
	sort.Strings(users)
	return users, nil
}

// countConns counts each user's live connections on the channel.
func (s *Store) countConns(ctx context.Context, ch string, users []string) ([]int64, error) {
	now := "(" + strconv.FormatInt(time.Now().UnixMilli(), 10)
	cmds := make([]*redis.IntCmd, len(users))
	_, err := s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, u := range users {
			cmds[i] = p.ZCount(ctx, s.connsKey(ch, u), now, "+inf")
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("while counting channel presence: %w", err)
	}
	out := make([]int64, len(users))
	for i, c := range cmds {
		out[i] = c.Val()
	}
	return out, nil
}

// Members implements chanpresence.Store. A user whose connections all
// expired is left out.
func (s *Store) Members(ctx context.Context, ch, after string, limit int) ([]chanpresence.Member, bool, error) {
	users, err := s.liveUsers(ctx, ch)
	if err != nil {
		return nil, false, err
	}
	i := sort.SearchStrings(users, after)
	if i < len(users) && users[i] == after {
		i++
	}
	users = users[i:]
	var out []chanpresence.Member
	more := false
	for len(users) > 0 && len(out) < limit {
		page := users[:min(len(users), limit-len(out))]
		users = users[len(page):]
		counts, err := s.countConns(ctx, ch, page)
		if err != nil {
			return nil, false, err
		}
		infos, err := s.client.HMGet(ctx, s.infoKey(ch), page...).Result()
		if err != nil {
			return nil, false, fmt.Errorf("while reading channel presence info: %w", err)
		}
		for j, u := range page {
			if counts[j] == 0 {
				continue
			}
			m := chanpresence.Member{UserID: u, Connections: int(counts[j])}
			if info, ok := infos[j].(string); ok && info != "" {
				m.Info = json.RawMessage(info)
			}
			out = append(out, m)
		}
	}
	if len(users) > 0 {
		more = true
	}
	if out == nil {
		out = []chanpresence.Member{}
	}
	return out, more, nil
}

// Stats implements chanpresence.Store.
func (s *Store) Stats(ctx context.Context, ch string) (chanpresence.Stats, error) {
	users, err := s.liveUsers(ctx, ch)
	if err != nil {
		return chanpresence.Stats{}, err
	}
	counts, err := s.countConns(ctx, ch, users)
	if err != nil {
		return chanpresence.Stats{}, err
	}
	var st chanpresence.Stats
	for _, n := range counts {
		if n > 0 {
			st.Users++
			st.Connections += int(n)
		}
	}
	return st, nil
}

// Refresh implements chanpresence.Refresher: it extends this node's
// connections, which must have joined, by another TTL. It sends one
// command per key rather than per connection: per channel, one ZADD GT of
// its users (in chunks of refreshChunk) and one PEXPIRE each of its users
// and info keys; per user on a channel, one ZADD XX of their connections
// and one PEXPIRE. For connections of distinct users that is 2 commands
// a connection, against 5 when each connection refreshed every key.
func (s *Store) Refresh(ctx context.Context, conns []chanpresence.Conn) error {
	exp := float64(time.Now().Add(s.ttl).UnixMilli())
	keep := 2 * s.ttl
	byChannel := map[string]map[string][]any{} // channel -> user -> connection ids
	for _, c := range conns {
		users := byChannel[c.Channel]
		if users == nil {
			users = map[string][]any{}
			byChannel[c.Channel] = users
		}
		users[c.UserID] = append(users[c.UserID], c.ConnID)
	}
	p := s.client.Pipeline()
	flush := func(force bool) error {
		if p.Len() == 0 || (!force && p.Len() < refreshChunk) {
			return nil
		}
		if _, err := p.Exec(ctx); err != nil {
			return fmt.Errorf("while refreshing channel presence: %w", err)
		}
		return nil
	}
	for ch, users := range byChannel {
		members := make([]redis.Z, 0, min(len(users), refreshChunk))
		for user, ids := range users {
			zs := make([]redis.Z, len(ids))
			for i, id := range ids {
				zs[i] = redis.Z{Score: exp, Member: id}
			}
			p.ZAddXX(ctx, s.connsKey(ch, user), zs...)
			p.PExpire(ctx, s.connsKey(ch, user), keep)
			if members = append(members, redis.Z{Score: exp, Member: user}); len(members) == refreshChunk {
				p.ZAddArgs(ctx, s.usersKey(ch), redis.ZAddArgs{GT: true, Members: members})
				members = make([]redis.Z, 0, refreshChunk)
			}
			if err := flush(false); err != nil {
				return err
			}
		}
		if len(members) > 0 {
			p.ZAddArgs(ctx, s.usersKey(ch), redis.ZAddArgs{GT: true, Members: members})
		}
		p.PExpire(ctx, s.usersKey(ch), keep)
		p.PExpire(ctx, s.infoKey(ch), keep)
	}
	return flush(true)
}

// Restore implements chanpresence.Refresher: each connection joins
// again, its info included, in pipelines of refreshChunk. The script is
// sent whole (EVAL), as a store that lost its data lost its scripts too.
func (s *Store) Restore(ctx context.Context, conns []chanpresence.Conn) error {
	for len(conns) > 0 {
		chunk := conns[:min(len(conns), refreshChunk)]
		conns = conns[len(chunk):]
		now := time.Now()
		_, err := s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, c := range chunk {
				joinScript.Eval(ctx, p, []string{s.usersKey(c.Channel), s.connsKey(c.Channel, c.UserID), s.infoKey(c.Channel)},
					now.UnixMilli(), now.Add(s.ttl).UnixMilli(), c.UserID, c.ConnID, string(c.Info), s.keep())
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("while recording channel presence again: %w", err)
		}
	}
	return nil
}

// refreshChunk bounds the members of one ZADD, and the commands of one
// pipeline, in a refresh.
const refreshChunk = 500
