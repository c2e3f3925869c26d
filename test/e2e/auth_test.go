package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/fleetwire/fleetwire/runtime/auth"
	"github.com/fleetwire/fleetwire/runtime/config"
)

func signWith(t *testing.T, m jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(m, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func baseClaims(mod func(jwt.MapClaims)) jwt.MapClaims {
	now := time.Now()
	c := jwt.MapClaims{"sub": "alice", "exp": now.Add(time.Hour).Unix(), "iat": now.Unix(), "jti": auth.NewJTI()}
	if mod != nil {
		mod(c)
	}
	return c
}

// expectRefused dials and checks that the upgrade was refused with 401 and
// the JSON error code, and that no socket was made.
func expectRefused(t *testing.T, n *node, query string, header http.Header, wantStatus int, wantCode string) {
	t.Helper()
	ws, resp, err := dialRaw(t, n, query, header)
	if err == nil {
		ws.Close()
		t.Fatalf("upgrade succeeded, want %d %s", wantStatus, wantCode)
	}
	if resp == nil {
		t.Fatalf("no HTTP response: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantStatus {
		t.Fatalf("status %d, want %d; body %s", resp.StatusCode, wantStatus, body)
	}
	if !strings.Contains(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("Content-Type %q, want JSON", resp.Header.Get("Content-Type"))
	}
	if !strings.Contains(string(body), `"code":"`+wantCode+`"`) {
		t.Fatalf("body %s lacks code %s", body, wantCode)
	}
}

func TestAuthMatrix(t *testing.T) {
	n := startNode(t, func(c *config.Config) { c.Auth.Leeway = config.Duration{Duration: time.Second} })
	secret := []byte(testSecret)
	revoked := auth.NewJTI()
	if r := call(t, "POST", n.base+"/admin/tokens/revoke", token(t, auth.TokenRequest{UserID: "root", Roles: []string{"admin"}}),
		map[string]any{"jti": revoked}); r.Status != 200 {
		t.Fatalf("revoke: %d %s", r.Status, r.Raw)
	}
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	tests := []struct {
		name     string
		token    string
		wantCode string // empty means the upgrade succeeds
	}{
		{"valid HS256", signWith(t, jwt.SigningMethodHS256, secret, baseClaims(nil)), ""},
		{"expired", signWith(t, jwt.SigningMethodHS256, secret, baseClaims(func(c jwt.MapClaims) {
			c["exp"] = time.Now().Add(-time.Minute).Unix()
		})), "token_expired"},
		{"not yet valid", signWith(t, jwt.SigningMethodHS256, secret, baseClaims(func(c jwt.MapClaims) {
			c["nbf"] = time.Now().Add(time.Hour).Unix()
		})), "token_not_yet_valid"},
		{"bad signature", signWith(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-xx"), baseClaims(nil)), "token_signature_invalid"},
		{"alg none", signWith(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, baseClaims(nil)), "token_algorithm_not_allowed"},
		{"wrong algorithm HS384", signWith(t, jwt.SigningMethodHS384, secret, baseClaims(nil)), "token_algorithm_not_allowed"},
		{"wrong algorithm RS256", signWith(t, jwt.SigningMethodRS256, rsaKey, baseClaims(nil)), "token_algorithm_not_allowed"},
		{"revoked jti", signWith(t, jwt.SigningMethodHS256, secret, baseClaims(func(c jwt.MapClaims) { c["jti"] = revoked })), "token_revoked"},
		{"no subject", signWith(t, jwt.SigningMethodHS256, secret, baseClaims(func(c jwt.MapClaims) { delete(c, "sub") })), "token_claims_invalid"},
		{"garbage", "not.a.jwt", "token_malformed"},
		{"missing", "", "token_missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.token != "" {
				h.Set("Authorization", "Bearer "+tt.token)
			}
			if tt.wantCode == "" {
				ws, _, err := dialRaw(t, n, "", h)
				if err != nil {
					t.Fatalf("dial: %v", err)
				}
				ws.Close()
				return
			}
			expectRefused(t, n, "", h, http.StatusUnauthorized, tt.wantCode)
		})
	}
	t.Run("token query parameter", func(t *testing.T) {
		ws, _, err := dialRaw(t, n, "token="+userToken(t, "bob"), nil)
		if err != nil {
			t.Fatalf("dial with ?token=: %v", err)
		}
		ws.Close()
		expectRefused(t, n, "token=nope", nil, http.StatusUnauthorized, "token_malformed")
	})
	t.Run("legacy userId claim", func(t *testing.T) {
		tok := signWith(t, jwt.SigningMethodHS256, secret, baseClaims(func(c jwt.MapClaims) { delete(c, "sub"); c["userId"] = "legacy" }))
		c := dial(t, n, tok)
		if c.conn.UserID != "legacy" {
			t.Fatalf("userId = %q, want legacy", c.conn.UserID)
		}
	})
}

func writePEM(t *testing.T, dir, name string, pub any) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestPublicKeyAlgorithms(t *testing.T) {
	dir := t.TempDir()
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rsaPEM := writePEM(t, dir, "rsa.pem", &rsaKey.PublicKey)
	ecPEM := writePEM(t, dir, "ec.pem", &ecKey.PublicKey)
	pemBytes, _ := os.ReadFile(rsaPEM)

	t.Run("RS256", func(t *testing.T) {
		n := startNode(t, func(c *config.Config) { c.Auth.Secret = ""; c.Auth.PublicKeyFile = rsaPEM })
		dial(t, n, signWith(t, jwt.SigningMethodRS256, rsaKey, baseClaims(nil)))
		// Algorithm confusion: the public key used as an HMAC secret.
		confused := signWith(t, jwt.SigningMethodHS256, pemBytes, baseClaims(nil))
		expectRefused(t, n, "", http.Header{"Authorization": {"Bearer " + confused}}, 401, "token_algorithm_not_allowed")
		expectRefused(t, n, "", http.Header{"Authorization": {"Bearer " + signWith(t, jwt.SigningMethodES256, ecKey, baseClaims(nil))}}, 401, "token_algorithm_not_allowed")
	})
	t.Run("ES256", func(t *testing.T) {
		n := startNode(t, func(c *config.Config) { c.Auth.Secret = ""; c.Auth.PublicKeyFile = ecPEM })
		dial(t, n, signWith(t, jwt.SigningMethodES256, ecKey, baseClaims(nil)))
		expectRefused(t, n, "", http.Header{"Authorization": {"Bearer " + signWith(t, jwt.SigningMethodRS256, rsaKey, baseClaims(nil))}}, 401, "token_algorithm_not_allowed")
	})
	t.Run("issuer and audience", func(t *testing.T) {
		n := startNode(t, func(c *config.Config) { c.Auth.Issuer = "https://id.example.com"; c.Auth.Audience = "fleetwire" })
		good := baseClaims(func(c jwt.MapClaims) { c["iss"] = "https://id.example.com"; c["aud"] = "fleetwire" })
		dial(t, n, signWith(t, jwt.SigningMethodHS256, []byte(testSecret), good))
		badIss := baseClaims(func(c jwt.MapClaims) { c["iss"] = "https://evil.example.com"; c["aud"] = "fleetwire" })
		expectRefused(t, n, "", http.Header{"Authorization": {"Bearer " + signWith(t, jwt.SigningMethodHS256, []byte(testSecret), badIss)}}, 401, "token_claims_invalid")
		badAud := baseClaims(func(c jwt.MapClaims) { c["iss"] = "https://id.example.com"; c["aud"] = "other" })
		expectRefused(t, n, "", http.Header{"Authorization": {"Bearer " + signWith(t, jwt.SigningMethodHS256, []byte(testSecret), badAud)}}, 401, "token_claims_invalid")
	})
}

func TestTokenExpiryClosesConnection(t *testing.T) {
	n := startNode(t, func(c *config.Config) { c.Auth.Leeway = config.Duration{} })
	c := dial(t, n, token(t, auth.TokenRequest{UserID: "alice", TTL: 2 * time.Second}))
	code, reason := c.expectClose()
	if code != 4001 || reason != "token expired" {
		t.Fatalf("close %d %q, want 4001 \"token expired\"", code, reason)
	}
}

func TestRevokingATokenClosesItsConnections(t *testing.T) {
	n := startNode(t, nil)
	tok := token(t, auth.TokenRequest{UserID: "mallory"})
	c := dial(t, n, tok)
	claims := &auth.Claims{}
	if _, _, err := jwt.NewParser().ParseUnverified(tok, claims); err != nil {
		t.Fatal(err)
	}
	admin := token(t, auth.TokenRequest{UserID: "root", Roles: []string{"admin"}})
	r := call(t, "POST", n.base+"/admin/tokens/revoke", admin, map[string]any{"jti": claims.ID})
	mustStatus(t, r, 200)
	if r.Body["disconnected"].(float64) != 1 {
		t.Fatalf("disconnected = %v, want 1", r.Body["disconnected"])
	}
	if code, _ := c.expectClose(); code != 4003 {
		t.Fatalf("close code %d, want 4003", code)
	}
	expectRefused(t, n, "", http.Header{"Authorization": {"Bearer " + tok}}, 401, "token_revoked")
	// Only admins may revoke.
	mustStatus(t, call(t, "POST", n.base+"/admin/tokens/revoke", serviceToken(t), map[string]any{"jti": "x"}), 403)
}

func TestTokensNeverLogged(t *testing.T) {
	n := startNode(t, nil)
	tok := userToken(t, "alice")
	ws, _, err := dialRaw(t, n, "token="+tok, http.Header{"User-Agent": {"e2e"}})
	if err != nil {
		t.Fatal(err)
	}
	ws.Close()
	expectRefused(t, n, "token="+tok+"x", nil, 401, "token_signature_invalid")
	call(t, "GET", n.base+"/ws/status/alice?token="+tok, "", nil)
	eventually(t, "connect and disconnect logs", func() bool {
		return strings.Contains(n.logs.String(), "client disconnected")
	})
	logs := n.logs.String()
	sig := tok[strings.LastIndex(tok, ".")+1:]
	if strings.Contains(logs, sig) || strings.Contains(logs, tok[:20]) {
		t.Fatalf("a token appears in the logs:\n%s", logs)
	}
	for _, want := range []string{`"message":"client connected"`, `"userId":"alice"`, `"socketId":`, `"ip":"127.0.0.1"`, `"userAgent":"e2e"`, `"requestId":`, `"timestamp":`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s", want)
		}
	}
}
