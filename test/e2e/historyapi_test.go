package e2e

import (
	"fmt"
	"net/url"
	"slices"
	"testing"

	"github.com/fleetwire/fleetwire/runtime/channel"
	"github.com/fleetwire/fleetwire/runtime/config"
)

// historyIDs returns the ids of a history page's publications, and its
// recovered and more fields ("-" when recovered is absent).
func historyIDs(t *testing.T, body map[string]any) ([]string, string, bool) {
	t.Helper()
	pubs, ok := body["publications"].([]any)
	if !ok {
		t.Fatalf("no publications in %v", body)
	}
	var ids []string
	for _, p := range pubs {
		ids = append(ids, p.(map[string]any)["id"].(string))
	}
	recovered := "-"
	if r, ok := body["recovered"].(bool); ok {
		recovered = fmt.Sprint(r)
	}
	return ids, recovered, body["more"].(bool)
}

// checkHistoryAPI publishes through pub and reads the history through
// read, over HTTP and with the history client event.
func checkHistoryAPI(t *testing.T, pub, read *node) {
	ids := publishN(t, pub, "news:live", 5) // history keeps the last 3
	svc := serviceToken(t)
	get := func(query string) apiResult {
		t.Helper()
		return call(t, "GET", read.base+"/ws/channels/"+url.PathEscape("news:live")+"/history"+query, svc, nil)
	}
	for _, tc := range []struct {
		query     string
		want      []string
		recovered string
		more      bool
	}{
		{"", ids[2:], "-", false},
		{"?limit=2", ids[3:], "-", true},
		{"?since=" + ids[2], ids[3:], "true", false},
		{"?since=" + ids[2] + "&limit=1", ids[3:4], "true", true},
		{"?since=" + ids[4], nil, "true", false},
		{"?since=" + ids[0], nil, "false", false},
	} {
		r := get(tc.query)
		mustStatus(t, r, 200)
		got, recovered, more := historyIDs(t, r.Body)
		if !slices.Equal(got, tc.want) || recovered != tc.recovered || more != tc.more {
			t.Errorf("history%s: %v recovered=%s more=%v, want %v recovered=%s more=%v", tc.query, got, recovered, more, tc.want, tc.recovered, tc.more)
		}
	}
	if r := get("?limit=0"); r.Status != 400 || r.errorField() != "limit" {
		t.Errorf("limit=0: %d %s", r.Status, r.Raw)
	}
	if r := call(t, "GET", read.base+"/ws/channels/quiet:1/history", svc, nil); r.Status != 404 || r.errorCode() != "history_disabled" {
		t.Errorf("a namespace without history: %d %s", r.Status, r.Raw)
	}
	if r := call(t, "GET", read.base+"/ws/channels/"+url.PathEscape("bad channel")+"/history", svc, nil); r.Status != 400 || r.errorField() != "channel" {
		t.Errorf("a bad channel name: %d %s", r.Status, r.Raw)
	}
	if r := call(t, "GET", read.base+"/ws/channels/news:live/history", userToken(t, "alice"), nil); r.Status != 403 {
		t.Errorf("a user token: %d %s", r.Status, r.Raw)
	}

	c := dial(t, read, userToken(t, "reader"))
	var page map[string]any
	c.request("history", map[string]any{"channel": "news:live", "since": ids[3]}).decode(t, &page)
	if got, recovered, _ := historyIDs(t, page); !slices.Equal(got, ids[4:]) || recovered != "true" {
		t.Errorf("history event since the 4th: %v recovered=%s", got, recovered)
	}
	for _, tc := range []struct {
		data any
		code string
	}{
		{map[string]any{"channel": "user:someone-else"}, "channel_forbidden"},
		{map[string]any{"channel": "quiet:1"}, "history_disabled"},
		{map[string]any{"channel": "news:live", "limit": 5000}, "invalid_data"},
		{map[string]any{}, "invalid_data"},
	} {
		f := c.request("history", tc.data)
		var e errorData
		f.decode(t, &e)
		if f.Event != "error" || e.Code != tc.code {
			t.Errorf("history %v: %s %s, want error %s", tc.data, f.Event, f.Data, tc.code)
		}
	}
}

func TestHistoryAPI(t *testing.T) {
	n := startNode(t, func(c *config.Config) {
		c.Channels.History = map[string]channel.HistoryRule{"news": {Size: 3, TTL: "1m"}, "quiet": {Size: 0}}
	})
	checkHistoryAPI(t, n, n)
}

func TestHistoryAPIAcrossNodes(t *testing.T) {
	_, nodes := startFleet(t, 3, "channels:\n  history:\n    news: {size: 3, ttl: 1m}\n    quiet: {size: 0}\n")
	checkHistoryAPI(t, nodes[0], nodes[2])
}
