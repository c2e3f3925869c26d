package channel

import (
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/runtime/auth"
)

func TestValidateName(t *testing.T) {
	for _, ok := range []string{"news", "analysis:123", "user:alice@example.com", "presence:bob", "a:b:c", "doc:a-b_c.d=e"} {
		if err := ValidateName(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	long := make([]byte, MaxNameLen+1)
	for i := range long {
		long[i] = 'a'
	}
	for _, bad := range []string{"", "a b", ":x", "x:", "héllo", "a/b", string(long)} {
		if err := ValidateName(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestNamespace(t *testing.T) {
	for in, want := range map[string]string{"a:b": "a", "a:b:c": "a", "plain": ""} {
		if got := Namespace(in); got != want {
			t.Errorf("Namespace(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAuthorizeDefaultDeny(t *testing.T) {
	p, err := NewPolicy(Config{Default: Rule{Allow: Deny}, Namespaces: map[string]Rule{"open": {Allow: AllowAuthenticated}}})
	if err != nil {
		t.Fatal(err)
	}
	c := &auth.Claims{}
	c.Subject = "alice"
	if err := p.Authorize(c, "news"); err == nil {
		t.Error("default deny allowed a plain channel")
	}
	if err := p.Authorize(c, "open:1"); err != nil {
		t.Errorf("open namespace refused: %v", err)
	}
	if err := p.Authorize(c, "user:alice"); err != nil {
		t.Errorf("own user channel refused under default deny: %v", err)
	}
}

func TestHistoryByDefault(t *testing.T) {
	off := HistoryRule{}
	p, err := NewPolicy(Config{History: map[string]HistoryRule{
		"chat":  {Size: 500, TTL: "1h"},
		"ticks": off,
	}})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		channel string
		size    int
		ttl     time.Duration
		ok      bool
	}{
		{"chat:1", 500, time.Hour, true},
		{"ticks:1", 0, 0, false},
		{"doc:1", DefaultHistorySize, 5 * time.Minute, true},
		{"presence:bob", 0, 0, false},
	}
	for _, c := range cases {
		size, ttl, ok := p.HistoryFor(c.channel)
		if size != c.size || ttl != c.ttl || ok != c.ok {
			t.Errorf("%s: %d %s %v, want %d %s %v", c.channel, size, ttl, ok, c.size, c.ttl, c.ok)
		}
	}
	none, err := NewPolicy(Config{DefaultHistory: &off})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, ok := none.HistoryFor("doc:1"); ok {
		t.Error("defaultHistory size 0 still keeps history")
	}
}

func TestAuthorizePublish(t *testing.T) {
	p, err := NewPolicy(Config{
		Default: Rule{Publish: PublishSubscribers},
		Namespaces: map[string]Rule{
			"ops":    {Publish: PublishRoles, PublishRoles: []string{"operator"}},
			"quiet":  {Publish: PublishNone},
			"vetted": {Publish: PublishSubscribers, PublishProxy: true},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	user := &auth.Claims{}
	user.Subject = "alice"
	operator := &auth.Claims{Roles: []string{"operator"}}
	operator.Subject = "carol"
	for _, tc := range []struct {
		claims     *auth.Claims
		ch         string
		subscribed bool
		ok, proxy  bool
	}{
		{user, "chat:1", true, true, false},
		{user, "chat:1", false, false, false},
		{user, "ops:1", true, false, false},
		{operator, "ops:1", false, true, false},
		{user, "quiet:1", true, false, false},
		{user, "vetted:1", true, true, true},
		{user, "user:alice", true, false, false},
		{user, "presence:alice", true, false, false},
		{user, "bad name", true, false, false},
	} {
		proxy, err := p.AuthorizePublish(tc.claims, tc.ch, tc.subscribed)
		if (err == nil) != tc.ok || proxy != tc.proxy {
			t.Errorf("%s on %s (subscribed %v): proxy %v, err %v", tc.claims.Subject, tc.ch, tc.subscribed, proxy, err)
		}
	}
	for _, bad := range []Rule{
		{Publish: "everyone"},
		{Publish: PublishRoles},
		{Publish: PublishSubscribers, PublishRoles: []string{"x"}},
		{PublishProxy: true},
	} {
		if _, err := NewPolicy(Config{Namespaces: map[string]Rule{"x": bad}}); err == nil {
			t.Errorf("rule %+v accepted", bad)
		}
	}
}
