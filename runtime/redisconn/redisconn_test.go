package redisconn

import (
	"context"
	"maps"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/fleetwire/fleetwire/test/redistest"
)

func TestValidateAndClientKind(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
		kind    string
	}{
		{"standalone", Config{URL: "redis://user:pw@127.0.0.1:6379/2"}, "", "*redis.Client"},
		{"standalone without URL", Config{}, "standalone mode needs a URL", ""},
		{"sentinel", Config{Mode: Sentinel, MasterName: "m", Addrs: []string{"127.0.0.1:26379"}}, "", "*redis.Client"},
		{"sentinel without master", Config{Mode: Sentinel, Addrs: []string{"a:1"}}, "master name", ""},
		{"cluster", Config{Mode: Cluster, Addrs: []string{"127.0.0.1:7000"}}, "", "*redis.ClusterClient"},
		{"cluster without nodes", Config{Mode: Cluster}, "at least one node", ""},
		{"unknown mode", Config{Mode: "ring", URL: "redis://x:1"}, "standalone, sentinel or cluster", ""},
		{"bad URL", Config{URL: "http://x"}, "invalid URL scheme", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewClient(tt.cfg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			switch c.(type) {
			case *redis.ClusterClient:
				if tt.kind != "*redis.ClusterClient" {
					t.Fatalf("got a cluster client")
				}
			case *redis.Client:
				if tt.kind != "*redis.Client" {
					t.Fatalf("got a plain client")
				}
			}
		})
	}
	if (Config{}).Prefix() != DefaultKeyPrefix || (Config{KeyPrefix: "x:"}).Prefix() != "x:" {
		t.Fatal("prefix")
	}
}

func TestPasswordAndTLSOverrideTheURL(t *testing.T) {
	c, err := NewClient(Config{URL: "redis://user:old@redis.example:6379/1", Password: "new", TLS: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	opt := c.(*redis.Client).Options()
	if opt.Password != "new" || opt.Username != "user" || opt.DB != 1 {
		t.Fatalf("options = user %q password %q db %d, want user, new, 1", opt.Username, opt.Password, opt.DB)
	}
	if opt.TLSConfig == nil || opt.TLSConfig.ServerName != "redis.example" {
		t.Fatalf("TLS config = %+v, want one verifying redis.example", opt.TLSConfig)
	}

	// rediss:// already has a TLS config; TLS: true keeps it.
	c2, err := NewClient(Config{URL: "rediss://127.0.0.1:6380", TLS: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if sn := c2.(*redis.Client).Options().TLSConfig.ServerName; sn != "127.0.0.1" {
		t.Fatalf("ServerName = %q", sn)
	}
}

// Every node reads the same epoch while Redis keeps its data, and a new
// one once it lost it.
func TestEpochChangesWhenRedisLosesItsData(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	a := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	b := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
	first, err := Epoch(ctx, a, "fw:")
	if err != nil || len(first) != 1 || first[""] == "" {
		t.Fatalf("first epoch %q: %v", first, err)
	}
	if again, err := Epoch(ctx, b, "fw:"); err != nil || !maps.Equal(again, first) {
		t.Fatalf("another node read %q (%v), want %q", again, err, first)
	}
	if err := a.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if after, err := Epoch(ctx, b, "fw:"); err != nil || after[""] == first[""] {
		t.Fatalf("after the data was lost: %q (%v), want a new epoch", after, err)
	}
}

// On a Redis Cluster every master holds a part of the epoch, so one shard
// that loses its data alone changes its part, and only its part.
func TestEpochHasAPartOnEveryClusterMaster(t *testing.T) {
	cl := redistest.StartCluster(t)
	ctx := context.Background()
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs()})
	t.Cleanup(func() { _ = c.Close() })
	first, err := Epoch(ctx, c, "fw:")
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 3 {
		t.Fatalf("epoch %q: want a part on each of 3 masters", first)
	}
	// Each part's key is on its own master, as Redis itself hashes it.
	owners := map[string]string{} // part -> master
	for part := range first {
		key := "fw:epoch{" + part + "}"
		want, err := c.ClusterKeySlot(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		if got := KeySlot(key); int64(got) != want {
			t.Fatalf("KeySlot(%q) = %d, Redis says %d", key, got, want)
		}
		m, err := c.MasterForKey(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		owners[part] = m.Options().Addr
	}
	seen := map[string]bool{}
	for _, m := range owners {
		seen[m] = true
	}
	if len(seen) != 3 {
		t.Fatalf("parts on masters %v: want three masters", owners)
	}
	if again, err := Epoch(ctx, c, "fw:"); err != nil || !maps.Equal(again, first) {
		t.Fatalf("read again %q (%v), want %q", again, err, first)
	}

	var flushed string // one part's master loses its data
	for part := range first {
		flushed = part
		break
	}
	m, err := c.MasterForKey(ctx, "fw:epoch{"+flushed+"}")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	after, err := Epoch(ctx, c, "fw:")
	if err != nil {
		t.Fatal(err)
	}
	for part, v := range first {
		if changed := after[part] != v; changed != (part == flushed) {
			t.Errorf("part %q: %q then %q; only the flushed shard's part (%q) should change", part, v, after[part], flushed)
		}
	}

	// A prefix with a hash tag puts every key on one shard: one part.
	one, err := Epoch(ctx, c, "{fw}:")
	if err != nil || len(one) != 1 || one[""] == "" {
		t.Fatalf("epoch with a hash-tagged prefix: %q (%v), want one part", one, err)
	}
}

func TestKeySlot(t *testing.T) {
	// CRC16/XMODEM's check value is 0x31C3 (TestEpochHasAPartOnEveryClusterMaster
	// compares more keys with Redis's own CLUSTER KEYSLOT).
	if got := KeySlot("123456789"); got != 0x31C3 {
		t.Errorf("KeySlot(123456789) = %d, want %d", got, 0x31C3)
	}
	// The hash tag rules of the Redis Cluster specification.
	for key, hashed := range map[string]string{
		"{user1000}.following": "user1000", "foo{}{bar}": "foo{}{bar}",
		"foo{{bar}}zap": "{bar", "foo{bar}{zap}": "bar",
	} {
		if got, want := KeySlot(key), KeySlot(hashed); got != want {
			t.Errorf("KeySlot(%q) = %d, want that of %q, %d", key, got, hashed, want)
		}
	}
}
