package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/test/redistest"
)

// TestSentinelFailover runs two nodes against a master, a replica and
// three sentinels. After the master is killed, publishing and delivery
// resume on the promoted replica by themselves.
func TestSentinelFailover(t *testing.T) {
	s := redistest.StartSentinel(t)
	env := []string{"REDIS_MODE=sentinel", "REDIS_MASTER_NAME=" + s.MasterName, "REDIS_ADDRS=" + strings.Join(s.SentinelAddrs(), ",")}
	a := startProcessEnv(t, env).node
	b := startProcessEnv(t, env).node
	alice := dial(t, a, userToken(t, "alice"))
	if r := b.send(t, "alice", "notification", nil); r.Body["status"] != "delivered" {
		t.Fatalf("before failover: %s", r.Raw)
	}
	alice.expectMessage("notification")

	s.Master.Stop()
	var delivered string
	deadline := time.Now().Add(60 * time.Second)
	for delivered == "" {
		if time.Now().After(deadline) {
			t.Fatal("delivery did not resume after the failover")
		}
		r, err := tryCall(b.base+"/ws/send/alice", serviceToken(t), map[string]any{"type": "notification"})
		if err == nil && r.Status == 200 && r.Body["status"] == "delivered" {
			delivered = r.Body["messageId"].(string)
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	for {
		if m := alice.expectMessage("notification"); m.ID == delivered {
			return
		}
	}
}

// TestRedisCluster runs two nodes against a six-node Redis Cluster:
// delivery, queues and per-user limits work across the cluster's slots.
func TestRedisCluster(t *testing.T) {
	c := redistest.StartCluster(t)
	env := []string{"REDIS_MODE=cluster", "REDIS_ADDRS=" + strings.Join(c.Addrs(), ",")}
	cfg := writeConfig(t, "rateLimit:\n  connectionsPerUser: 1\n")
	a := startProcessEnv(t, env, "--config", cfg).node
	b := startProcessEnv(t, env, "--config", cfg).node

	alice := dial(t, a, userToken(t, "alice"))
	if r := b.send(t, "alice", "notification", nil); r.Body["status"] != "delivered" {
		t.Fatalf("send across nodes: %s", r.Raw)
	}
	alice.expectMessage("notification")

	for i := range 3 {
		if r := a.send(t, "bob", "notification", fmtPayload(i)); r.Body["status"] != "queued" {
			t.Fatalf("queue for bob: %s", r.Raw)
		}
	}
	bob := dial(t, b, userToken(t, "bob"))
	for range 3 {
		bob.expectMessage("notification")
	}
	// The per-user cap is read from presence in the cluster.
	expectRefused(t, a, "", map[string][]string{"Authorization": {"Bearer " + userToken(t, "bob")}}, 429, "too_many_user_connections")
	q := call(t, "GET", a.base+"/admin/queues", adminToken(t), nil)
	mustStatus(t, q, 200)
	conns := call(t, "GET", a.base+"/admin/connections", adminToken(t), nil)
	if conns.Status != 200 || conns.Body["total"].(float64) != 2 {
		t.Fatalf("connections across the cluster: %s", conns.Raw)
	}
}

// channelFeatureRules turns on everything the channel feature checks use.
const channelFeatureRules = `channels:
  namespaces:
    doc: {presence: true, joinLeave: true}
    room: {presence: true}
    chat: {publish: subscribers}
    ops: {publish: roles, publishRoles: [operator]}
    vetted: {publish: subscribers, publishProxy: true}
  history:
    news: {size: 3, ttl: 1m}
    quiet: {size: 0}
`

// checkChannelFeatures runs the channel feature checks on three nodes of
// one Redis topology, each started with env.
func checkChannelFeatures(t *testing.T, env []string) {
	be := vetter(t)
	// Compression is negotiated only with clients that offer it, and the
	// expiry warning comes a second before exp: the other checks' clients
	// neither offer it nor hold tokens that expire.
	refreshAndCompression := "transport:\n  compression: true\nauth:\n  leeway: 0s\n  expiryWarning: 1s\n"
	cfg := writeConfig(t, channelFeatureRules+refreshAndCompression+"rpcProxy:\n  url: "+be.URL+"\n")
	var n [3]*node
	for i := range n {
		n[i] = startProcessEnv(t, env, "--config", cfg).node
	}
	t.Run("history", func(t *testing.T) { checkHistoryAPI(t, n[0], n[2]) })
	t.Run("publish to many channels", func(t *testing.T) { checkPublishMany(t, n[0], n[1]) })
	t.Run("client publish", func(t *testing.T) { checkClientPublish(t, n[1], n[2]) })
	t.Run("presence", func(t *testing.T) { checkPresence(t, n[2], n[0]) })
	t.Run("server-side subscriptions", func(t *testing.T) { checkServerSubscriptions(t, n[0], n[1], n[2]) })
	t.Run("token refresh", func(t *testing.T) { checkRefresh(t, n[1], n[0]) })
	t.Run("compression", func(t *testing.T) { checkCompression(t, n[2], n[1]) })
	t.Run("Socket.IO compression", func(t *testing.T) { checkSocketIOCompression(t, n[0], n[2]) })
}

// TestChannelFeaturesOnRedisCluster: every channel feature across three
// nodes of a Redis Cluster, whose keys and sharded topics spread over its
// slots.
func TestChannelFeaturesOnRedisCluster(t *testing.T) {
	c := redistest.StartCluster(t)
	checkChannelFeatures(t, []string{"REDIS_MODE=cluster", "REDIS_ADDRS=" + strings.Join(c.Addrs(), ",")})
}

// TestChannelFeaturesOnSentinel: the same behind Redis Sentinel.
func TestChannelFeaturesOnSentinel(t *testing.T) {
	s := redistest.StartSentinel(t)
	checkChannelFeatures(t, []string{"REDIS_MODE=sentinel", "REDIS_MASTER_NAME=" + s.MasterName, "REDIS_ADDRS=" + strings.Join(s.SentinelAddrs(), ",")})
}
