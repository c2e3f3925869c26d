package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Config says which keys verify tokens. At least one of Secret and
// PublicKeyPEM must be set. The zero values of the other fields are the
// documented defaults.
type Config struct {
	// Secret enables HS256. It should be at least 32 bytes.
	Secret []byte
	// PublicKeyPEM enables RS256 (an RSA key) or ES256 (an EC P-256 key).
	PublicKeyPEM []byte
	// Issuer, when set, must equal the iss claim.
	Issuer string
	// Audience, when set, must be among the aud claim's values.
	Audience string
	// Leeway is the clock skew allowed on exp, nbf and iat. Default 30s;
	// a negative value means none.
	Leeway time.Duration
	// RequireExpiry refuses tokens without exp.
	RequireExpiry bool
}

// DefaultLeeway tolerates modest clock skew between token issuers and pods.
const DefaultLeeway = 30 * time.Second

// Reason classifies a verification failure for clients, logs and metrics.
type Reason string

// Failure reasons. They are stable and appear in HTTP 401 bodies.
const (
	ReasonMissing      Reason = "token_missing"
	ReasonMalformed    Reason = "token_malformed"
	ReasonBadSignature Reason = "token_signature_invalid"
	ReasonAlgorithm    Reason = "token_algorithm_not_allowed"
	ReasonExpired      Reason = "token_expired"
	ReasonNotYetValid  Reason = "token_not_yet_valid"
	ReasonClaims       Reason = "token_claims_invalid"
	ReasonRevoked      Reason = "token_revoked"
	ReasonUnavailable  Reason = "auth_unavailable"
)

// VerifyError is returned by Verify. Its message never contains the token.
type VerifyError struct {
	Reason Reason
	Detail string
}

func (e *VerifyError) Error() string { return string(e.Reason) + ": " + e.Detail }

// Verifier verifies tokens. Keys are parsed once, in NewVerifier, and the
// accepted algorithms are pinned to the configured keys, so "none" and
// algorithm confusion (an RS256 public key used as an HS256 secret) are
// refused. A Verifier is safe for concurrent use.
type Verifier struct {
	hmacKey  []byte
	rsaKey   *rsa.PublicKey
	ecKey    *ecdsa.PublicKey
	methods  []string
	parser   *jwt.Parser
	denylist Denylist
	leeway   time.Duration
}

// NewVerifier parses the configured keys and pins the algorithms. A nil
// denylist means tokens are never revoked.
func NewVerifier(cfg Config, denylist Denylist) (*Verifier, error) {
	v := &Verifier{denylist: denylist}
	if len(cfg.Secret) > 0 {
		v.hmacKey = cfg.Secret
		v.methods = append(v.methods, jwt.SigningMethodHS256.Alg())
	}
	if len(cfg.PublicKeyPEM) > 0 {
		if err := v.parsePublicKey(cfg.PublicKeyPEM); err != nil {
			return nil, err
		}
	}
	if len(v.methods) == 0 {
		return nil, errors.New("auth: no verification key: set a secret or a public key")
	}
	leeway := cfg.Leeway
	switch {
	case leeway == 0:
		leeway = DefaultLeeway
	case leeway < 0:
		leeway = 0
	}
	v.leeway = leeway
	opts := []jwt.ParserOption{jwt.WithValidMethods(v.methods), jwt.WithLeeway(leeway), jwt.WithIssuedAt()}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	if cfg.RequireExpiry {
		opts = append(opts, jwt.WithExpirationRequired())
	}
	v.parser = jwt.NewParser(opts...)
	return v, nil
}

func (v *Verifier) parsePublicKey(pemBytes []byte) error {
	if k, err := jwt.ParseRSAPublicKeyFromPEM(pemBytes); err == nil {
		v.rsaKey = k
		v.methods = append(v.methods, jwt.SigningMethodRS256.Alg())
		return nil
	}
	k, err := jwt.ParseECPublicKeyFromPEM(pemBytes)
	if err != nil {
		return errors.New("auth: public key is neither an RSA nor an EC public key in PEM form")
	}
	if k.Curve != elliptic.P256() {
		return fmt.Errorf("auth: EC public key uses curve %s; ES256 needs P-256", k.Curve.Params().Name)
	}
	v.ecKey = k
	v.methods = append(v.methods, jwt.SigningMethodES256.Alg())
	return nil
}

// Leeway returns the clock skew tolerated on time claims. A connection is
// closed once its token's exp plus this leeway has passed.
func (v *Verifier) Leeway() time.Duration { return v.leeway }

// Algorithms returns the pinned algorithms, for logs and docs.
func (v *Verifier) Algorithms() []string { return append([]string(nil), v.methods...) }

// keyFor returns the one key that matches the token's algorithm. The
// parser has already refused algorithms outside v.methods; matching on the
// concrete method type as well means a key is never used with another
// algorithm family.
func (v *Verifier) keyFor(t *jwt.Token) (any, error) {
	switch t.Method.(type) {
	case *jwt.SigningMethodHMAC:
		if v.hmacKey != nil {
			return v.hmacKey, nil
		}
	case *jwt.SigningMethodRSA:
		if v.rsaKey != nil {
			return v.rsaKey, nil
		}
	case *jwt.SigningMethodECDSA:
		if v.ecKey != nil {
			return v.ecKey, nil
		}
	}
	return nil, jwt.ErrTokenSignatureInvalid
}

// Verify checks the token's signature, algorithm, time claims, issuer,
// audience, subject and revocation, and returns its claims.
func (v *Verifier) Verify(ctx context.Context, token string) (*Claims, error) {
	if token == "" {
		return nil, &VerifyError{Reason: ReasonMissing, Detail: "no token in the Authorization header or the token query parameter"}
	}
	claims := &Claims{}
	tok, err := v.parser.ParseWithClaims(token, claims, v.keyFor)
	if err != nil {
		return nil, classify(err)
	}
	claims.Algorithm = tok.Method.Alg()
	if claims.UserID() == "" {
		return nil, &VerifyError{Reason: ReasonClaims, Detail: "token has no sub claim"}
	}
	if v.denylist != nil && claims.ID != "" {
		revoked, err := v.denylist.IsRevoked(ctx, claims.ID)
		if err != nil {
			return nil, &VerifyError{Reason: ReasonUnavailable, Detail: "the revocation list could not be read"}
		}
		if revoked {
			return nil, &VerifyError{Reason: ReasonRevoked, Detail: "token has been revoked"}
		}
	}
	return claims, nil
}

func classify(err error) *VerifyError {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return &VerifyError{Reason: ReasonMalformed, Detail: "token is not a well-formed JWT"}
	case errors.Is(err, jwt.ErrTokenSignatureInvalid) && strings.Contains(err.Error(), "signing method"):
		return &VerifyError{Reason: ReasonAlgorithm, Detail: "token algorithm is not accepted"}
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return &VerifyError{Reason: ReasonAlgorithm, Detail: "token algorithm is not accepted"}
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return &VerifyError{Reason: ReasonBadSignature, Detail: "token signature is invalid"}
	case errors.Is(err, jwt.ErrTokenExpired):
		return &VerifyError{Reason: ReasonExpired, Detail: "token has expired"}
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return &VerifyError{Reason: ReasonNotYetValid, Detail: "token is not valid yet"}
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return &VerifyError{Reason: ReasonClaims, Detail: "token issuer is not accepted"}
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return &VerifyError{Reason: ReasonClaims, Detail: "token audience is not accepted"}
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return &VerifyError{Reason: ReasonClaims, Detail: "token lacks a required claim (exp)"}
	}
	return &VerifyError{Reason: ReasonMalformed, Detail: "token could not be verified"}
}

// TokenFromRequest returns the bearer token from the Authorization header,
// or else the token query parameter (browsers cannot set headers on a
// WebSocket upgrade). Callers must never log the result or the raw query.
func TokenFromRequest(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
			return strings.TrimSpace(h[7:])
		}
		return ""
	}
	return r.URL.Query().Get("token")
}
