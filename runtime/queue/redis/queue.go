// Package redisqueue owns durable offline queues: a queue.Queue on Redis
// Streams, one stream per user, bounded per user with priority-aware
// eviction and a TTL per message, so that queued messages survive node
// restarts and are delivered on whichever node the user connects to.
package redisqueue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/fleetwire/fleetwire/runtime/redisconn"

	"github.com/fleetwire/fleetwire/runtime/message"
	"github.com/fleetwire/fleetwire/runtime/queue"
)

// Config configures a Queue. Zero values mean the memory queue's defaults.
type Config struct {
	// Client reaches Redis. Required.
	Client redis.UniversalClient
	// Prefix starts every key. Default "fleetwire:".
	Prefix string
	// MaxPerUser bounds each user's queue. Default queue.DefaultMaxPerUser.
	MaxPerUser int
	// TTL is how long a message waits. Default queue.DefaultTTL.
	TTL time.Duration
}

// Queue is the Redis implementation of queue.Queue.
type Queue struct {
	client redis.UniversalClient
	prefix string
	max    int
	ttl    time.Duration
}

var _ queue.Queue = (*Queue)(nil)

// New returns a Queue.
func New(cfg Config) (*Queue, error) {
	if cfg.Client == nil {
		return nil, errors.New("redisqueue: Client is required")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = redisconn.DefaultKeyPrefix
	}
	if cfg.MaxPerUser <= 0 {
		cfg.MaxPerUser = queue.DefaultMaxPerUser
	}
	if cfg.TTL <= 0 {
		cfg.TTL = queue.DefaultTTL
	}
	return &Queue{client: cfg.Client, prefix: cfg.Prefix, max: cfg.MaxPerUser, ttl: cfg.TTL}, nil
}

// The user id sits in a hash tag so a user's keys share a cluster slot.
func (q *Queue) stream(userID string) string { return q.prefix + "queue:{" + userID + "}" }
func (q *Queue) usersKey() string            { return q.prefix + "queue:users" }
func (q *Queue) statsKey() string            { return q.prefix + "queue:stats" }

// Stream entry fields.
const (
	fieldPriority = "p"
	fieldData     = "d"
	fieldExpires  = "e"
)

// pushScript appends a message; when the stream is full it first deletes
// the oldest entry of the lowest priority present and returns its data.
var pushScript = redis.NewScript(`
local victim = false
if redis.call("XLEN", KEYS[1]) >= tonumber(ARGV[1]) then
  local entries = redis.call("XRANGE", KEYS[1], "-", "+")
  for _, want in ipairs({"low", "normal"}) do
    for _, e in ipairs(entries) do
      local f = e[2]
      for i = 1, #f, 2 do
        if f[i] == "p" and f[i+1] == want then victim = e break end
      end
      if victim then break end
    end
    if victim then break end
  end
  if not victim then victim = entries[1] end
  redis.call("XDEL", KEYS[1], victim[1])
end
redis.call("XADD", KEYS[1], "*", "p", ARGV[2], "d", ARGV[3], "e", ARGV[4], "i", ARGV[6])
redis.call("PEXPIRE", KEYS[1], ARGV[5])
if victim then return victim[2] end
return false
`)

// drainScript reads and deletes a stream in one step.
var drainScript = redis.NewScript(`
local entries = redis.call("XRANGE", KEYS[1], "-", "+")
redis.call("DEL", KEYS[1])
return entries
`)

// Push implements queue.Queue.
func (q *Queue) Push(ctx context.Context, userID string, msg *message.Message) (*message.Message, error) {
	data, err := json.Marshal(msg)
	if err != nil {
		return nil, fmt.Errorf("while encoding message %s: %w", msg.ID, err)
	}
	exp := time.Now().Add(q.ttl).UnixMilli()
	res, err := pushScript.Run(ctx, q.client, []string{q.stream(userID)},
		q.max, string(msg.Priority), data, exp, keyLifetime(q.ttl).Milliseconds(), msg.ID).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("while queueing for %s: %w", userID, err)
	}
	pipe := q.client.Pipeline()
	pipe.SAdd(ctx, q.usersKey(), userID)
	var dropped *message.Message
	if fields, ok := res.([]any); ok {
		dropped = decodeFields(fields)
		pipe.HIncrBy(ctx, q.statsKey(), "failed", 1)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return dropped, fmt.Errorf("while counting a queued message: %w", err)
	}
	return dropped, nil
}

type entry struct {
	msg     *message.Message
	expires int64
	id      string
}

func decodeFields(fields []any) *message.Message {
	return parseFields("", fields).msg
}

// parseFields reads a stream entry given as a flat field/value list, as
// Lua scripts return it.
func parseFields(id string, fields []any) entry {
	values := make(map[string]any, len(fields)/2)
	for i := 0; i+1 < len(fields); i += 2 {
		if k, ok := fields[i].(string); ok {
			values[k] = fields[i+1]
		}
	}
	return parseEntry(id, values)
}

// parseEntry reads a stream entry's fields.
func parseEntry(id string, values map[string]any) entry {
	e := entry{id: id}
	if d, ok := values[fieldData].(string); ok {
		var m message.Message
		if json.Unmarshal([]byte(d), &m) == nil {
			e.msg = &m
		}
	}
	if s, ok := values[fieldExpires].(string); ok {
		e.expires, _ = strconv.ParseInt(s, 10, 64)
	}
	return e
}

func fromXMessages(xs []redis.XMessage) []entry {
	out := make([]entry, 0, len(xs))
	for _, x := range xs {
		out = append(out, parseEntry(x.ID, x.Values))
	}
	return out
}

// splitExpired separates entries whose TTL has passed.
func splitExpired(entries []entry) (live, expired []entry) {
	now := time.Now().UnixMilli()
	for _, e := range entries {
		if e.msg == nil || e.expires <= now {
			expired = append(expired, e)
		} else {
			live = append(live, e)
		}
	}
	return live, expired
}

// Drain implements queue.Queue.
func (q *Queue) Drain(ctx context.Context, userID string) ([]*message.Message, error) {
	res, err := drainScript.Run(ctx, q.client, []string{q.stream(userID)}).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("while reading the queue of %s: %w", userID, err)
	}
	raw, _ := res.([]any)
	var entries []entry
	for _, r := range raw {
		pair, ok := r.([]any)
		if !ok || len(pair) != 2 {
			continue
		}
		id, _ := pair[0].(string)
		fields, _ := pair[1].([]any)
		entries = append(entries, parseFields(id, fields))
	}
	live, expired := splitExpired(entries)
	pipe := q.client.Pipeline()
	pipe.SRem(ctx, q.usersKey(), userID)
	pipe.HIncrBy(ctx, q.statsKey(), "completed", int64(len(live)))
	pipe.HIncrBy(ctx, q.statsKey(), "expired", int64(len(expired)))
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("while counting a drained queue: %w", err)
	}
	out := make([]*message.Message, len(live))
	for i, e := range live {
		out[i] = e.msg
	}
	return out, nil
}

// Peek implements queue.Queue. Expired entries found on the way are
// deleted and counted.
func (q *Queue) Peek(ctx context.Context, userID string, limit int) ([]*message.Message, int, error) {
	key := q.stream(userID)
	xs, err := q.client.XRange(ctx, key, "-", "+").Result()
	if err != nil {
		return nil, 0, fmt.Errorf("while reading the queue of %s: %w", userID, err)
	}
	live, expired := splitExpired(fromXMessages(xs))
	if len(expired) > 0 {
		ids := make([]string, len(expired))
		for i, e := range expired {
			ids[i] = e.id
		}
		pipe := q.client.Pipeline()
		pipe.XDel(ctx, key, ids...)
		pipe.HIncrBy(ctx, q.statsKey(), "expired", int64(len(ids)))
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, 0, fmt.Errorf("while removing expired messages: %w", err)
		}
	}
	n := min(limit, len(live))
	out := make([]*message.Message, n)
	for i := range n {
		out[i] = live[i].msg
	}
	return out, len(live), nil
}

// removeScript deletes the entries whose message id (field "i") is among
// ARGV and returns how many it deleted.
var removeScript = redis.NewScript(`
local want = {}
for i = 1, #ARGV do want[ARGV[i]] = true end
local n = 0
for _, e in ipairs(redis.call("XRANGE", KEYS[1], "-", "+")) do
  local f = e[2]
  for i = 1, #f, 2 do
    if f[i] == "i" and want[f[i+1]] then
      redis.call("XDEL", KEYS[1], e[1])
      n = n + 1
      break
    end
  end
end
return n
`)

// Remove implements queue.Queue.
func (q *Queue) Remove(ctx context.Context, userID string, ids []string) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	n, err := removeScript.Run(ctx, q.client, []string{q.stream(userID)}, args...).Int()
	if err != nil {
		return 0, fmt.Errorf("while removing acknowledged messages of %s: %w", userID, err)
	}
	if n > 0 {
		_ = q.client.HIncrBy(ctx, q.statsKey(), "completed", int64(n)).Err()
	}
	return n, nil
}

// Clear implements queue.Queue.
func (q *Queue) Clear(ctx context.Context, userID string) (int, error) {
	key := q.stream(userID)
	n, err := q.client.XLen(ctx, key).Result()
	if err != nil {
		return 0, fmt.Errorf("while clearing the queue of %s: %w", userID, err)
	}
	pipe := q.client.Pipeline()
	pipe.Del(ctx, key)
	pipe.SRem(ctx, q.usersKey(), userID)
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, fmt.Errorf("while clearing the queue of %s: %w", userID, err)
	}
	return int(n), nil
}

// Stats implements queue.Queue. Waiting and Users are measured from the
// streams themselves; the other counters are kept beside them. Expired
// counts messages found expired when a queue is read: a queue left unread
// until its key expires (twice the TTL after its last push) vanishes whole.
func (q *Queue) Stats(ctx context.Context) (queue.Stats, error) {
	h, err := q.client.HGetAll(ctx, q.statsKey()).Result()
	if err != nil {
		return queue.Stats{}, fmt.Errorf("while reading queue statistics: %w", err)
	}
	depths, err := q.depths(ctx)
	if err != nil {
		return queue.Stats{}, err
	}
	get := func(k string) int64 { v, _ := strconv.ParseInt(h[k], 10, 64); return v }
	st := queue.Stats{Users: len(depths), Completed: get("completed"), Failed: get("failed"), Expired: get("expired")}
	for _, d := range depths {
		st.Waiting += d.Depth
		if !d.Oldest.IsZero() && (st.OldestAt.IsZero() || d.Oldest.Before(st.OldestAt)) {
			st.OldestAt = d.Oldest
		}
	}
	return st, nil
}

// keyLifetime is how long a stream outlives its newest message: the
// stream must stay while any message in it can still be delivered.
func keyLifetime(ttl time.Duration) time.Duration { return 2 * ttl }

// depths measures every listed user's stream and forgets users whose
// stream is gone.
func (q *Queue) depths(ctx context.Context) ([]queue.UserDepth, error) {
	users, err := q.client.SMembers(ctx, q.usersKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("while listing queues: %w", err)
	}
	if len(users) == 0 {
		return nil, nil
	}
	pipe := q.client.Pipeline()
	lens := make([]*redis.IntCmd, len(users))
	firsts := make([]*redis.XMessageSliceCmd, len(users))
	for i, u := range users {
		lens[i] = pipe.XLen(ctx, q.stream(u))
		firsts[i] = pipe.XRangeN(ctx, q.stream(u), "-", "+", 1)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("while measuring queues: %w", err)
	}
	var out []queue.UserDepth
	var gone []any
	for i, u := range users {
		if d := int(lens[i].Val()); d > 0 {
			out = append(out, queue.UserDepth{UserID: u, Depth: d, Oldest: entryTime(firsts[i].Val())})
		} else {
			gone = append(gone, u)
		}
	}
	if len(gone) > 0 {
		_ = q.client.SRem(ctx, q.usersKey(), gone...).Err()
	}
	return out, nil
}

// entryTime is when the first of entries was added: its stream id starts
// with the milliseconds of its XADD.
func entryTime(entries []redis.XMessage) time.Time {
	if len(entries) == 0 {
		return time.Time{}
	}
	ms, _, _ := strings.Cut(entries[0].ID, "-")
	n, err := strconv.ParseInt(ms, 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.UnixMilli(n)
}

// Largest implements queue.Queue.
func (q *Queue) Largest(ctx context.Context, n int) ([]queue.UserDepth, error) {
	out, err := q.depths(ctx)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b queue.UserDepth) int {
		if a.Depth != b.Depth {
			return b.Depth - a.Depth
		}
		return strings.Compare(a.UserID, b.UserID)
	})
	return out[:min(n, len(out))], nil
}
