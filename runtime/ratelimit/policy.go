package ratelimit

import "time"

// Policy is the full set of rate rules: the defaults, and per-tier
// overrides chosen by a token's tier claim. A zero Rule disables a limit.
type Policy struct {
	// Messages limits client events per user.
	Messages Rule
	// Events adds a limit per event name per user (e.g. subscribe).
	Events map[string]Rule
	// ConnectionsPerIP limits connection attempts per client IP.
	ConnectionsPerIP Rule
	// ConnectionsPerUser caps a user's open connections; 0 means no cap.
	ConnectionsPerUser int
	// HTTPPerCaller limits HTTP API calls per token subject.
	HTTPPerCaller Rule
	// AbuseBlocked closes a connection whose events were blocked this
	// many times within AbuseWindow; 0 never closes.
	AbuseBlocked int
	AbuseWindow  time.Duration
	// Tiers override the defaults for tokens with that tier claim.
	Tiers map[string]Tier
}

// Tier overrides some of a Policy's rules; nil and missing entries keep
// the default.
type Tier struct {
	Messages           *Rule
	Events             map[string]Rule
	ConnectionsPerUser *int
	HTTPPerCaller      *Rule
}

// Rule names, used in metric labels and keys.
const (
	RuleMessages           = "messages"
	RuleEvent              = "event"
	RuleConnectionsPerIP   = "connections_per_ip"
	RuleConnectionsPerUser = "connections_per_user"
	RuleHTTPPerCaller      = "http_per_caller"
)

// MessagesFor returns the per-user message rule for a tier.
func (p *Policy) MessagesFor(tier string) Rule {
	if t, ok := p.Tiers[tier]; ok && t.Messages != nil {
		return *t.Messages
	}
	return p.Messages
}

// EventFor returns the rule for one event name, if any applies.
func (p *Policy) EventFor(tier, event string) (Rule, bool) {
	if t, ok := p.Tiers[tier]; ok {
		if r, ok := t.Events[event]; ok {
			return r, true
		}
	}
	r, ok := p.Events[event]
	return r, ok
}

// ConnectionsPerUserFor returns the connection cap for a tier; 0 means none.
func (p *Policy) ConnectionsPerUserFor(tier string) int {
	if t, ok := p.Tiers[tier]; ok && t.ConnectionsPerUser != nil {
		return *t.ConnectionsPerUser
	}
	return p.ConnectionsPerUser
}

// HTTPFor returns the HTTP API rule for a tier.
func (p *Policy) HTTPFor(tier string) Rule {
	if t, ok := p.Tiers[tier]; ok && t.HTTPPerCaller != nil {
		return *t.HTTPPerCaller
	}
	return p.HTTPPerCaller
}
