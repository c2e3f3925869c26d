package redisconn

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Mode is the Redis topology.
type Mode string

// Topologies.
const (
	Standalone Mode = "standalone" // one server (with or without replicas)
	Sentinel   Mode = "sentinel"   // a master found and failed over by sentinels
	Cluster    Mode = "cluster"    // a Redis Cluster
)

// Config says how to reach Redis. Zero values mean the defaults.
type Config struct {
	// URL is redis://[user:password@]host:port[/db], or rediss:// for TLS.
	// In standalone mode it names the server. In sentinel and cluster
	// modes it is optional, and gives the credentials, database and TLS.
	URL string
	// Mode is the topology. Default standalone.
	Mode Mode
	// Addrs are the sentinels (sentinel mode) or some cluster nodes
	// (cluster mode), as host:port.
	Addrs []string
	// MasterName is the sentinel master's name (sentinel mode).
	MasterName string
	// KeyPrefix starts every key and channel name. Default "fleetwire:".
	KeyPrefix string
	// Password, when set, overrides the URL's password.
	Password string
	// TLS turns TLS on when the URL does not (redis:// or no URL).
	TLS bool
}

// DefaultKeyPrefix is used when Config.KeyPrefix is empty.
const DefaultKeyPrefix = "fleetwire:"

// Validate checks cfg for mistakes a person can fix.
func (cfg Config) Validate() error {
	switch cfg.Mode {
	case "", Standalone:
		if cfg.URL == "" {
			return errors.New("standalone mode needs a URL")
		}
	case Sentinel:
		if cfg.MasterName == "" || len(cfg.Addrs) == 0 {
			return errors.New("sentinel mode needs a master name and at least one sentinel address")
		}
	case Cluster:
		if len(cfg.Addrs) == 0 {
			return errors.New("cluster mode needs at least one node address")
		}
	default:
		return fmt.Errorf("mode must be standalone, sentinel or cluster, got %q", cfg.Mode)
	}
	if cfg.URL != "" {
		if _, err := redis.ParseURL(cfg.URL); err != nil {
			return err
		}
	}
	return nil
}

// NewClient builds a client for cfg. It does not dial; the first command
// does.
func NewClient(cfg Config) (redis.UniversalClient, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("redisconn: %w", err)
	}
	base := &redis.Options{}
	if cfg.URL != "" {
		var err error
		if base, err = redis.ParseURL(cfg.URL); err != nil {
			return nil, fmt.Errorf("redisconn: %w", err)
		}
	}
	if cfg.Password != "" {
		base.Password = cfg.Password
	}
	if cfg.TLS && base.TLSConfig == nil {
		base.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		if cfg.Mode == "" || cfg.Mode == Standalone {
			// Verify the server's name; in the other modes the nodes are
			// found at run time and each is dialled by its own address.
			base.TLSConfig.ServerName, _, _ = net.SplitHostPort(base.Addr)
		}
	}
	switch cfg.Mode {
	case Sentinel:
		return redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName: cfg.MasterName, SentinelAddrs: cfg.Addrs,
			Username: base.Username, Password: base.Password, DB: base.DB, TLSConfig: base.TLSConfig,
		}), nil
	case Cluster:
		return redis.NewClusterClient(&redis.ClusterOptions{
			Addrs: cfg.Addrs, Username: base.Username, Password: base.Password, TLSConfig: base.TLSConfig,
		}), nil
	}
	return redis.NewClient(base), nil
}

// Prefix returns cfg's key prefix, or the default.
func (cfg Config) Prefix() string {
	if cfg.KeyPrefix == "" {
		return DefaultKeyPrefix
	}
	return cfg.KeyPrefix
}

// epochKey, after the key prefix, holds the value Epoch returns.
const epochKey = "epoch"

// Epoch names the data the Redis behind client holds: a random value
// stored, without an expiry, by the first node to ask, and read by the
// others. A Redis that lost its data (restarted without persistence, or
// flushed) answers a new one, so a node that compares the values from
// before and after a break knows whether what it wrote before is gone
// (hub.Config.StoreEpoch says how they are compared).
//
// It has one part per place the data lives. On a Redis Cluster each
// shard holds its own part, under a key whose hash tag falls in its
// slots (the largest range of them; CLUSTER SHARDS, Redis 7), so a shard
// that restarts empty alone changes its part. Elsewhere, and when the prefix carries a hash tag of
// its own (every key on one shard), there is one part, named "".
func Epoch(ctx context.Context, client redis.UniversalClient, prefix string) (map[string]string, error) {
	cc, ok := client.(*redis.ClusterClient)
	if !ok || hasHashTag(prefix) {
		v, err := epochPart(ctx, client, prefix+epochKey)
		if err != nil {
			return nil, err
		}
		return map[string]string{"": v}, nil
	}
	shards, err := cc.ClusterShards(ctx).Result()
	if err != nil {
		return nil, fmt.Errorf("reading the cluster's shards: %w", err)
	}
	var largest []redis.SlotRange // each shard's largest range of slots
	for _, sh := range shards {
		var l redis.SlotRange
		found := false
		for _, r := range sh.Slots {
			if !found || r.End-r.Start > l.End-l.Start {
				l, found = r, true
			}
		}
		if found {
			largest = append(largest, l)
		}
	}
	out := make(map[string]string, len(largest))
	for _, r := range largest {
		tag := tagInSlots(int(r.Start), int(r.End))
		v, err := epochPart(ctx, client, prefix+epochKey+"{"+tag+"}")
		if err != nil {
			return nil, err
		}
		out[tag] = v
	}
	return out, nil
}

// epochPart stores a fresh random value under key unless one is there,
// and returns the value that is.
func epochPart(ctx context.Context, client redis.UniversalClient, key string) (string, error) {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	if err := client.SetNX(ctx, key, hex.EncodeToString(b[:]), 0).Err(); err != nil {
		return "", fmt.Errorf("storing the epoch: %w", err)
	}
	v, err := client.Get(ctx, key).Result()
	if err != nil {
		return "", fmt.Errorf("reading the epoch: %w", err)
	}
	return v, nil
}

// hasHashTag reports whether key has a Redis Cluster hash tag: a "{"
// followed, later, by a "}" with something between.
func hasHashTag(key string) bool {
	open := strings.IndexByte(key, '{')
	if open < 0 {
		return false
	}
	end := strings.IndexByte(key[open+1:], '}')
	return end > 0
}

// tagInSlots returns the first of "0", "1", "2", ... whose hash slot is
// in [start, end]. Any range holds one within about 16384/(end-start+1)
// tries; a cluster's 16384 slots are all reached well within 1<<20.
func tagInSlots(start, end int) string {
	for i := 0; i < 1<<20; i++ {
		tag := strconv.Itoa(i)
		if s := int(KeySlot(tag)); s >= start && s <= end {
			return tag
		}
	}
	return strconv.Itoa(start) // not reached
}

// KeySlot is the Redis Cluster hash slot of key: CRC16 (XMODEM) of its
// hash tag, or of the whole key when it has none, modulo 16384.
func KeySlot(key string) uint16 {
	if open := strings.IndexByte(key, '{'); open >= 0 {
		if end := strings.IndexByte(key[open+1:], '}'); end > 0 {
			key = key[open+1 : open+1+end]
		}
	}
	var crc uint16
	for i := 0; i < len(key); i++ {
		crc ^= uint16(key[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc % 16384
}
