package channel

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/fleetwire/fleetwire/runtime/auth"
	"github.com/fleetwire/fleetwire/runtime/protocol"
)

// Access is what a rule allows.
type Access string

// Rule kinds for configurable namespaces.
const (
	// AllowAuthenticated lets every authenticated user subscribe (default).
	AllowAuthenticated Access = "authenticated"
	// AllowRoles requires at least one of the rule's roles.
	AllowRoles Access = "roles"
	// Deny refuses every client subscription; the HTTP API can still publish.
	Deny Access = "deny"
)

// PublishAccess says which clients may publish into a namespace's
// channels with the publish event. The HTTP API may always publish.
type PublishAccess string

// Client publishing rules.
const (
	// PublishNone refuses every client publish (default).
	PublishNone PublishAccess = "none"
	// PublishSubscribers lets a connection publish into a channel it is
	// subscribed to.
	PublishSubscribers PublishAccess = "subscribers"
	// PublishRoles lets a connection whose token has one of PublishRoles
	// publish, subscribed or not.
	PublishRoles PublishAccess = "roles"
)

// Rule decides who may subscribe to the channels of one namespace, and
// who may publish into them from a client.
type Rule struct {
	// Allow is the rule kind: authenticated (default), roles or deny.
	Allow Access `json:"allow,omitempty"`
	// Roles lists the roles of which a subscriber needs one, for allow: roles.
	Roles []string `json:"roles,omitempty"`
	// Publish is who may publish from a client: none (default),
	// subscribers or roles.
	Publish PublishAccess `json:"publish,omitempty"`
	// PublishRoles lists the roles of which a publisher needs one, for
	// publish: roles.
	PublishRoles []string `json:"publishRoles,omitempty"`
	// PublishProxy passes each client publish to the RPC proxy first, as
	// the event "publish"; it is published only if the backend accepts
	// it.
	PublishProxy bool `json:"publishProxy,omitempty"`
	// Presence records who is on the namespace's channels, for the
	// presence and presence_stats queries.
	Presence bool `json:"presence,omitempty"`
	// JoinLeave sends join and leave events to a channel's subscribers
	// when a user's first connection subscribes and their last one
	// leaves. It needs Presence.
	JoinLeave bool `json:"joinLeave,omitempty"`
}

// Config holds the channel rules. Zero values are the defaults.
type Config struct {
	// Default applies to namespaces without their own rule.
	Default Rule `json:"default,omitempty"`
	// Namespaces maps a namespace (the part before the first ':') to its rule.
	Namespaces map[string]Rule `json:"namespaces,omitempty"`
	// History keeps recent publications of a namespace's channels, so
	// clients can recover what they missed. A namespace's size 0 keeps
	// none.
	History map[string]HistoryRule `json:"history,omitempty"`
	// DefaultHistory bounds the history of every namespace History does
	// not list. Nil means DefaultHistorySize publications for
	// DefaultHistoryTTL; size 0 keeps none.
	DefaultHistory *HistoryRule `json:"defaultHistory,omitempty"`
}

// The default history of every channel: enough for a client, or a node
// whose broker subscription dropped, to catch up after a few seconds away
// at the rates of a busy channel.
const (
	DefaultHistorySize = 100
	DefaultHistoryTTL  = "5m"
)

// HistoryRule bounds one namespace's channel history.
type HistoryRule struct {
	// Size is the most publications kept per channel (1 to 10000).
	Size int `json:"size"`
	// TTL is how long a publication is kept, as a duration ("10m").
	TTL string `json:"ttl"`
}

// validate checks a rule; the error starts with the field's name.
func (h HistoryRule) validate() error {
	if h.Size < 0 || h.Size > maxHistory {
		return fmt.Errorf("size: must be 0 (no history) to %d, got %d", maxHistory, h.Size)
	}
	if d, err := time.ParseDuration(h.TTL); h.Size > 0 && (err != nil || d <= 0) {
		return fmt.Errorf("ttl: must be a positive duration like \"10m\", got %q", h.TTL)
	}
	return nil
}

// maxHistory bounds a history's length: recovery reads it whole.
const maxHistory = 10000

// NamespacePresence is where the runtime announces users going online and
// offline (presence:<userId>). Anyone may subscribe, as to any namespace.
const NamespacePresence = "presence"

// Built-in namespaces; their rules are fixed and cannot be configured.
const (
	NamespaceUser  = "user"  // user:<id>, only that user
	NamespaceTeam  = "team"  // team:<id>, only members of that team
	NamespaceAdmin = "admin" // admin:*, only admins
)

// MaxNameLen bounds channel names.
const MaxNameLen = 200

// namePattern is the documented channel name pattern.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9_\-.@=]+(:[A-Za-z0-9_\-.@=:]+)?$`)

// ValidateName checks a channel name against the pattern.
func ValidateName(name string) error {
	if name == "" || len(name) > MaxNameLen || !namePattern.MatchString(name) {
		return protocol.Errorf(protocol.CodeInvalidChannel,
			"channel %q must be 1-%d characters of letters, digits and _-.@= with an optional namespace prefix like \"analysis:123\"",
			truncate(name, 64), MaxNameLen)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Namespace returns the part of name before the first ':', or "" if none.
func Namespace(name string) string {
	ns, _, found := strings.Cut(name, ":")
	if !found {
		return ""
	}
	return ns
}

// Validate checks a Config for mistakes a person can fix.
func (c Config) Validate() error {
	if err := c.Default.validate(); err != nil {
		return fmt.Errorf("channels.default: %w", err)
	}
	for ns, h := range c.History {
		if err := h.validate(); err != nil {
			return fmt.Errorf("channels.history.%s.%w", ns, err)
		}
	}
	if h := c.DefaultHistory; h != nil {
		if err := h.validate(); err != nil {
			return fmt.Errorf("channels.defaultHistory.%w", err)
		}
	}
	for ns, r := range c.Namespaces {
		switch ns {
		case NamespaceUser, NamespaceTeam, NamespaceAdmin:
			return fmt.Errorf("channels.namespaces.%s: the %q namespace is built in and cannot be configured", ns, ns)
		}
		if !namePattern.MatchString(ns) || strings.Contains(ns, ":") {
			return fmt.Errorf("channels.namespaces: %q is not a valid namespace name", ns)
		}
		if err := r.validate(); err != nil {
			return fmt.Errorf("channels.namespaces.%s: %w", ns, err)
		}
	}
	return nil
}

func (r Rule) validate() error {
	if r.JoinLeave && !r.Presence {
		return fmt.Errorf("joinLeave needs presence: true")
	}
	switch r.Publish {
	case "", PublishNone, PublishSubscribers:
		if len(r.PublishRoles) > 0 {
			return fmt.Errorf("publishRoles are only used with publish: roles")
		}
		if r.PublishProxy && r.publish() == PublishNone {
			return fmt.Errorf("publishProxy needs publish: subscribers or roles")
		}
	case PublishRoles:
		if len(r.PublishRoles) == 0 {
			return fmt.Errorf("publish: roles needs at least one role in publishRoles")
		}
	default:
		return fmt.Errorf("publish must be one of none, subscribers, roles; got %q", r.Publish)
	}
	switch r.Allow {
	case "", AllowAuthenticated, Deny:
		if len(r.Roles) > 0 {
			return fmt.Errorf("roles are only used with allow: roles")
		}
	case AllowRoles:
		if len(r.Roles) == 0 {
			return fmt.Errorf("allow: roles needs at least one role")
		}
	default:
		return fmt.Errorf("allow must be one of authenticated, roles, deny; got %q", r.Allow)
	}
	return nil
}

// Policy authorizes subscriptions. It is immutable and safe to share.
type Policy struct {
	cfg Config
}

// NewPolicy returns a Policy for a validated Config.
func NewPolicy(cfg Config) (*Policy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Policy{cfg: cfg}, nil
}

// HistoryFor returns the history bounds of the channel's namespace, if it
// keeps history: its own rule, else the default one. The presence
// namespace, where the runtime announces every connect and disconnect,
// keeps history only when History lists it.
func (p *Policy) HistoryFor(name string) (size int, ttl time.Duration, ok bool) {
	ns := Namespace(name)
	h, listed := p.cfg.History[ns]
	if !listed {
		if ns == NamespacePresence {
			return 0, 0, false
		}
		return p.DefaultHistoryBounds()
	}
	if h.Size == 0 {
		return 0, 0, false
	}
	ttl, _ = time.ParseDuration(h.TTL) // validated in NewPolicy
	return h.Size, ttl, true
}

// DefaultHistoryBounds returns the default history's bounds, if it keeps
// one. Broadcasts are kept by them.
func (p *Policy) DefaultHistoryBounds() (size int, ttl time.Duration, ok bool) {
	h := HistoryRule{Size: DefaultHistorySize, TTL: DefaultHistoryTTL}
	if p.cfg.DefaultHistory != nil {
		h = *p.cfg.DefaultHistory
	}
	if h.Size == 0 {
		return 0, 0, false
	}
	ttl, _ = time.ParseDuration(h.TTL) // validated in NewPolicy
	return h.Size, ttl, true
}

// Authorize returns nil when the user may subscribe to name, or a
// *protocol.Error explaining why not.
func (p *Policy) Authorize(c *auth.Claims, name string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	ns := Namespace(name)
	rest := strings.TrimPrefix(name, ns+":")
	switch ns {
	case NamespaceUser:
		if rest == c.UserID() {
			return nil
		}
		return protocol.Errorf(protocol.CodeChannelForbidden, "channel %s is open only to user %s", name, rest)
	case NamespaceTeam:
		if c.InTeam(rest) {
			return nil
		}
		return protocol.Errorf(protocol.CodeChannelForbidden, "channel %s is open only to members of team %s", name, rest)
	case NamespaceAdmin:
		if c.HasRole(auth.RoleAdmin) {
			return nil
		}
		return protocol.Errorf(protocol.CodeChannelForbidden, "channel %s needs the admin role", name)
	}
	rule := p.ruleFor(ns)
	switch rule.Allow {
	case Deny:
		return protocol.Errorf(protocol.CodeChannelForbidden, "clients may not subscribe to channel %s", name)
	case AllowRoles:
		if slices.ContainsFunc(rule.Roles, c.HasRole) {
			return nil
		}
		return protocol.Errorf(protocol.CodeChannelForbidden, "channel %s needs one of the roles %s", name, strings.Join(rule.Roles, ", "))
	}
	return nil
}

func (r Rule) publish() PublishAccess {
	if r.Publish == "" {
		return PublishNone
	}
	return r.Publish
}

// ruleFor is the rule of a configurable namespace.
func (p *Policy) ruleFor(ns string) Rule {
	if rule, ok := p.cfg.Namespaces[ns]; ok {
		return rule
	}
	return p.cfg.Default
}

// AuthorizePublish returns nil when a client connection may publish into
// name, and whether the publish goes to the RPC proxy first; subscribed
// says whether the connection is subscribed to name. The built-in
// namespaces (user, team, admin) take no client publishes.
func (p *Policy) AuthorizePublish(c *auth.Claims, name string, subscribed bool) (proxy bool, err error) {
	if err := ValidateName(name); err != nil {
		return false, err
	}
	ns := Namespace(name)
	switch ns {
	case NamespaceUser, NamespaceTeam, NamespaceAdmin, NamespacePresence:
		return false, protocol.Errorf(protocol.CodeChannelForbidden, "clients may not publish into the built-in namespace %q", ns)
	}
	rule := p.ruleFor(ns)
	switch rule.publish() {
	case PublishSubscribers:
		if !subscribed {
			return false, protocol.Errorf(protocol.CodeChannelForbidden, "subscribe to channel %s before publishing into it", name)
		}
	case PublishRoles:
		if !slices.ContainsFunc(rule.PublishRoles, c.HasRole) {
			return false, protocol.Errorf(protocol.CodeChannelForbidden, "publishing into channel %s needs one of the roles %s", name, strings.Join(rule.PublishRoles, ", "))
		}
	default:
		return false, protocol.Errorf(protocol.CodeChannelForbidden, "clients may not publish into channel %s", name)
	}
	return rule.PublishProxy, nil
}

// PresenceFor says whether the channel's namespace records presence, and
// whether it sends join and leave events. The built-in namespaces and
// presence do neither.
func (p *Policy) PresenceFor(name string) (presence, joinLeave bool) {
	switch ns := Namespace(name); ns {
	case NamespaceUser, NamespaceTeam, NamespaceAdmin, NamespacePresence:
		return false, false
	default:
		r := p.ruleFor(ns)
		return r.Presence, r.Presence && r.JoinLeave
	}
}
