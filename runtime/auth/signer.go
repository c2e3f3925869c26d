package auth

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TokenRequest describes a token to sign with SignHS256.
type TokenRequest struct {
	UserID   string
	Email    string
	Roles    []string
	Teams    []string
	Tier     string
	TTL      time.Duration
	Issuer   string
	Audience string
}

// SignHS256 signs a token for development and tests. Production tokens come
// from the application's own identity provider.
func SignHS256(secret []byte, req TokenRequest) (string, error) {
	if len(secret) == 0 {
		return "", errors.New("auth: no secret to sign with")
	}
	if req.UserID == "" {
		return "", errors.New("auth: a token needs a user id")
	}
	if req.TTL <= 0 {
		return "", fmt.Errorf("auth: ttl must be positive, got %s", req.TTL)
	}
	now := time.Now()
	c := Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   req.UserID,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(req.TTL)),
			ID:        NewJTI(),
			Issuer:    req.Issuer,
		},
		Email: req.Email, Roles: req.Roles, Teams: req.Teams, Tier: req.Tier,
	}
	if req.Audience != "" {
		c.Audience = jwt.ClaimStrings{req.Audience}
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(secret)
}

// NewJTI returns a random token id.
func NewJTI() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err))
	}
	return hex.EncodeToString(b[:])
}
