package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fleetwire/fleetwire/runtime/auth"
	"github.com/fleetwire/fleetwire/runtime/config"
)

// devAdminTTL is the lifetime of the admin token printed in dev mode.
const devAdminTTL = 24 * time.Hour

// runToken prints a token signed with the configured secret: JWT_SECRET,
// auth.secretFile from --config, or the development secret.
func runToken(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fleetwire-runtime token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configFile := fs.String("config", "", "YAML config file whose auth settings to use")
	user := fs.String("user", "", "user id (the sub claim); required")
	email := fs.String("email", "", "email claim")
	roles := fs.String("roles", "", "comma-separated roles, e.g. admin,service")
	teams := fs.String("teams", "", "comma-separated teams")
	tier := fs.String("tier", "", "tier claim, e.g. premium")
	ttl := fs.Duration("ttl", time.Hour, "token lifetime")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *user == "" {
		fs.Usage()
		return errors.New("token: --user is required")
	}
	cfg := config.Default()
	if *configFile != "" {
		if err := config.LoadFile(*configFile, &cfg); err != nil {
			return err
		}
	}
	secret, err := signingSecret(&cfg)
	if err != nil {
		return err
	}
	tok, err := auth.SignHS256(secret, auth.TokenRequest{
		UserID: *user, Email: *email, Roles: splitCSV(*roles), Teams: splitCSV(*teams), Tier: *tier,
		TTL: *ttl, Issuer: envOr("JWT_ISSUER", cfg.Auth.Issuer), Audience: envOr("JWT_AUDIENCE", cfg.Auth.Audience),
	})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, tok)
	return err
}

func signingSecret(cfg *config.Config) ([]byte, error) {
	if s := os.Getenv("JWT_SECRET"); s != "" {
		return []byte(s), nil
	}
	if cfg.Auth.SecretFile != "" {
		b, err := os.ReadFile(cfg.Auth.SecretFile)
		if err != nil {
			return nil, fmt.Errorf("auth.secretFile: %w", err)
		}
		return []byte(strings.TrimSpace(string(b))), nil
	}
	if cfg.Auth.PublicKeyFile != "" || os.Getenv("JWT_PUBLIC_KEY_FILE") != "" {
		return nil, errors.New("token: the runtime verifies with a public key; sign tokens with the matching private key instead")
	}
	s, _, err := devSecret()
	return s, err
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func splitCSV(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// devSecret returns the development signing secret, kept in the user's
// cache directory so that the runtime and the token command agree across
// restarts. When the file cannot be written (a read-only filesystem), it
// falls back to a secret that lives only as long as the process.
func devSecret() ([]byte, string, error) {
	dir := os.Getenv("XDG_CACHE_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err == nil {
			dir = filepath.Join(home, ".cache")
		}
	}
	path := ""
	if dir != "" {
		path = filepath.Join(dir, "fleetwire", "dev-jwt-secret")
		if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) >= 32 {
			return []byte(strings.TrimSpace(string(b))), path, nil
		}
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, "", fmt.Errorf("while generating a dev secret: %w", err)
	}
	secret := hex.EncodeToString(raw[:])
	if path != "" {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err == nil {
			if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err == nil {
				return []byte(secret), path, nil
			}
		}
	}
	return []byte(secret), "(in memory only; tokens from the token command will not match)", nil
}
