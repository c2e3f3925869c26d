package redisconn

import (
	"context"
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
	if err != nil || first == "" {
		t.Fatalf("first epoch %q: %v", first, err)
	}
	if again, err := Epoch(ctx, b, "fw:"); err != nil || again != first {
		t.Fatalf("another node read %q (%v), want %q", again, err, first)
	}
	if err := a.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if after, err := Epoch(ctx, b, "fw:"); err != nil || after == first {
		t.Fatalf("after the data was lost: %q (%v), want a new epoch", after, err)
	}
}
