package e2e

import (
	"slices"
	"testing"

	"github.com/fleetwire/fleetwire/runtime/channel"
	"github.com/fleetwire/fleetwire/runtime/config"
)

// publishN publishes n messages to ch through n0 and returns their ids.
func publishN(t *testing.T, n0 *node, ch string, n int) []string {
	t.Helper()
	var ids []string
	for i := range n {
		r := call(t, "POST", n0.base+"/ws/publish", serviceToken(t), map[string]any{"channel": ch, "type": "headline", "payload": i})
		mustStatus(t, r, 200)
		ids = append(ids, r.Body["messageId"].(string))
	}
	return ids
}

// subscribeSince subscribes to ch asking for what came after last, reads
// the replayed messages, and returns their ids and the recovered flag.
func subscribeSince(t *testing.T, c *client, ch, last string, expect int) ([]string, bool) {
	t.Helper()
	c.nextID++
	id := c.nextID
	c.write(map[string]any{"event": "subscribe", "id": id, "data": map[string]any{"channels": []string{ch}, "since": map[string]string{ch: last}}})
	var got []string
	for range expect {
		m := c.expectMessage("headline")
		if m.Channel != ch {
			t.Fatalf("replayed message on %q", m.Channel)
		}
		got = append(got, m.ID)
	}
	f := c.expect("ack")
	var r struct {
		Results []struct {
			OK        bool
			Recovered *bool
		}
	}
	f.decode(t, &r)
	if len(r.Results) != 1 || !r.Results[0].OK || r.Results[0].Recovered == nil {
		t.Fatalf("subscribe reply %s", f.Data)
	}
	return got, *r.Results[0].Recovered
}

func checkRecovery(t *testing.T, pub, sub *node) {
	t.Helper()
	ids := publishN(t, pub, "news:live", 5) // history keeps the last 3
	c := dial(t, sub, userToken(t, "reader"))
	got, recovered := subscribeSince(t, c, "news:live", ids[2], 2)
	if !recovered || len(got) != 2 || got[0] != ids[3] || got[1] != ids[4] {
		t.Fatalf("since the 3rd: %v recovered=%v, want %v", got, recovered, ids[3:])
	}
	// New publications follow the recovered ones.
	next := publishN(t, pub, "news:live", 1)
	if m := c.expectMessage("headline"); m.ID != next[0] {
		t.Fatalf("live after recovery: %s", m.ID)
	}
	c2 := dial(t, sub, userToken(t, "late-reader"))
	if got, recovered := subscribeSince(t, c2, "news:live", ids[0], 0); recovered || len(got) != 0 {
		t.Fatalf("gap larger than the history: %v recovered=%v", got, recovered)
	}
	c3 := dial(t, sub, userToken(t, "other-reader"))
	if _, recovered := subscribeSince(t, c3, "plain:1", "x", 0); recovered {
		t.Fatal("a namespace without history reported recovered")
	}
	// An empty id is a client that has read nothing on the channel since
	// it first subscribed: it gets all the history holds, recovered unless
	// the history is full and may have dropped some.
	fresh := publishN(t, pub, "news:fresh", 2)
	c4 := dial(t, sub, userToken(t, "fresh-reader"))
	if got, recovered := subscribeSince(t, c4, "news:fresh", "", 2); !recovered || !slices.Equal(got, fresh) {
		t.Fatalf("since \"\" on a history of 2: %v recovered=%v, want %v", got, recovered, fresh)
	}
	c5 := dial(t, sub, userToken(t, "fresh-reader-2"))
	if got, recovered := subscribeSince(t, c5, "news:live", "", 3); recovered || len(got) != 3 {
		t.Fatalf("since \"\" on a full history: %v recovered=%v, want 3 and not recovered", got, recovered)
	}
}

func TestChannelHistoryRecovery(t *testing.T) {
	n := startNode(t, func(c *config.Config) {
		c.Channels.History = map[string]channel.HistoryRule{"news": {Size: 3, TTL: "1m"}}
	})
	checkRecovery(t, n, n)
}

func TestChannelHistoryRecoveryAcrossNodes(t *testing.T) {
	_, nodes := startFleet(t, 2, "channels:\n  history:\n    news: {size: 3, ttl: 1m}\n")
	checkRecovery(t, nodes[0], nodes[1])
}
