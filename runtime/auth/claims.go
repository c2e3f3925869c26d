package auth

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Roles with a meaning inside the runtime.
const (
	RoleAdmin   = "admin"   // admin endpoints and admin:* channels
	RoleService = "service" // the HTTP send/publish API
)

// Claims are the JWT claims the runtime reads. sub is the user id; tokens
// from the replaced service that carry "userId" instead of "sub" are
// accepted too.
type Claims struct {
	jwt.RegisteredClaims
	LegacyUserID string   `json:"userId,omitempty"`
	Email        string   `json:"email,omitempty"`
	Roles        []string `json:"roles,omitempty"`
	Teams        []string `json:"teams,omitempty"`
	Tier         string   `json:"tier,omitempty"`
	// Info is what channel presence shows about the user (any JSON), such
	// as a display name.
	Info json.RawMessage `json:"info,omitempty"`
	// Algorithm is the algorithm whose key verified the token (HS256,
	// RS256 or ES256), set by Verify. One key is configured per
	// algorithm, so it names the key.
	Algorithm string `json:"-"`
}

// UserID returns the subject, or the legacy userId claim when sub is empty.
func (c *Claims) UserID() string {
	if c.Subject != "" {
		return c.Subject
	}
	return c.LegacyUserID
}

// HasRole reports whether the token carries role r.
func (c *Claims) HasRole(r string) bool { return slices.Contains(c.Roles, r) }

// HasAnyRole reports whether the token carries at least one of roles.
func (c *Claims) HasAnyRole(roles ...string) bool {
	for _, r := range roles {
		if c.HasRole(r) {
			return true
		}
	}
	return false
}

// InTeam reports whether the token lists team t.
func (c *Claims) InTeam(t string) bool { return slices.Contains(c.Teams, t) }

// Expiry returns the exp claim, or the zero time when the token has none.
func (c *Claims) Expiry() time.Time {
	if c.ExpiresAt == nil {
		return time.Time{}
	}
	return c.ExpiresAt.Time
}
