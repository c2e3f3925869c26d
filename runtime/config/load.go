package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// Source reads environment variables; os.LookupEnv in production.
type Source func(key string) (string, bool)

// Load builds the configuration from, lowest precedence first: defaults,
// the YAML file named by --config, environment variables, then flags. It
// returns an error naming each invalid setting.
func Load(args []string, env Source, stderr io.Writer) (*Config, error) {
	cfg := Default()
	fs, flags := newFlagSet(stderr)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if flags.configFile != "" {
		if err := LoadFile(flags.configFile, &cfg); err != nil {
			return nil, err
		}
	}
	if err := applyEnv(&cfg, env); err != nil {
		return nil, err
	}
	fs.Visit(func(f *flag.Flag) { flags.apply(f.Name, &cfg) })
	if err := readSecretFile(&cfg); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// LoadFile overlays the YAML file at path onto cfg. Unknown keys are
// errors, so a typo never silently falls back to a default.
func LoadFile(path string, cfg *Config) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	return Parse(b, cfg)
}

// Parse overlays YAML bytes onto cfg.
func Parse(b []byte, cfg *Config) error {
	if err := yaml.UnmarshalStrict(b, cfg); err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	return nil
}

func readSecretFile(cfg *Config) error {
	if cfg.Auth.SecretFile == "" || cfg.Auth.Secret != "" {
		return nil
	}
	b, err := os.ReadFile(cfg.Auth.SecretFile)
	if err != nil {
		return fmt.Errorf("auth.secretFile: %w", err)
	}
	cfg.Auth.Secret = strings.TrimSpace(string(b))
	if cfg.Auth.Secret == "" {
		return fmt.Errorf("auth.secretFile: %s is empty", cfg.Auth.SecretFile)
	}
	return nil
}

// applyEnv reads the replaced service's variables, plus a few of our own.
func applyEnv(cfg *Config, env Source) error {
	var errs []error
	str := func(key string, dst *string) {
		if v, ok := env(key); ok && v != "" {
			*dst = v
		}
	}
	num := func(key string, dst *int) { envInt(env, key, dst, &errs) }
	if v, ok := env("PORT"); ok && v != "" {
		num("PORT", &cfg.Port)
	}
	if v, ok := env("NODE_ENV"); ok && v == "production" {
		cfg.Production = true
	}
	str("HOST", &cfg.Host)
	str("REBALANCE_ANNOTATIONS_FILE", &cfg.Rebalance.AnnotationsFile)
	str("REDIS_URL", &cfg.RedisURL)
	str("REDIS_KEY_PREFIX", &cfg.RedisKeyPrefix)
	str("REDIS_MODE", &cfg.RedisMode)
	str("REDIS_MASTER_NAME", &cfg.RedisMasterName)
	str("REDIS_PASSWORD", &cfg.RedisPassword)
	envBool(env, "REDIS_TLS", &cfg.RedisTLS, &errs)
	if v, ok := env("REDIS_ADDRS"); ok && v != "" {
		cfg.RedisAddrs = splitList(v)
	}
	str("JWT_SECRET", &cfg.Auth.Secret)
	str("JWT_PUBLIC_KEY_FILE", &cfg.Auth.PublicKeyFile)
	str("JWT_ISSUER", &cfg.Auth.Issuer)
	str("JWT_AUDIENCE", &cfg.Auth.Audience)
	if v, ok := env("CORS_ORIGINS"); ok && v != "" {
		cfg.CORS.Origins = splitList(v)
	}
	num("MAX_CONNECTIONS", &cfg.Limits.MaxConnections)
	if v, ok := env("RATE_LIMIT_WINDOW"); ok && v != "" {
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("RATE_LIMIT_WINDOW: must be an integer number of milliseconds, got %q", v))
		} else {
			cfg.RateLimit.Window = Duration{time.Duration(ms) * time.Millisecond}
		}
	}
	num("RATE_LIMIT_MAX", &cfg.RateLimit.Max)
	if v, ok := env("DRAIN_TIMEOUT"); ok && v != "" {
		d, err := parseSecondsOrDuration(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("DRAIN_TIMEOUT: %w", err))
		} else {
			cfg.Drain.Timeout = Duration{d}
		}
	}
	if debugNamespaces(env) {
		cfg.Log.Level = "debug" // LOG_LEVEL, below, still wins
	}
	str("LOG_LEVEL", &cfg.Log.Level)
	str("RPC_PROXY_URL", &cfg.RPCProxy.URL)
	applySocketIOEnv(cfg, env, &errs)
	applyConsoleEnv(cfg, env, &errs)
	return errors.Join(errs...)
}

// debugNamespaces reports whether DEBUG, as the replaced service read it
// (the debug package's comma- or space-separated namespaces, * a
// wildcard, a leading - excluding), turns on its websocket logs: then the
// runtime logs at debug level, as LOG_LEVEL=debug does.
func debugNamespaces(env Source) bool {
	v, ok := env("DEBUG")
	if !ok {
		return false
	}
	on := false
	for _, ns := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' }) {
		exclude := strings.HasPrefix(ns, "-")
		ns = strings.TrimPrefix(ns, "-")
		re := regexp.MustCompile("^" + strings.ReplaceAll(regexp.QuoteMeta(ns), `\*`, ".*") + "$")
		if re.MatchString("websocket") || re.MatchString("websocket:server") {
			on = !exclude
		}
	}
	return on
}

func envBool(env Source, key string, dst *bool, errs *[]error) {
	if v, ok := env(key); ok && v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			*errs = append(*errs, fmt.Errorf("%s: must be true or false, got %q", key, v))
			return
		}
		*dst = b
	}
}

func envInt(env Source, key string, dst *int, errs *[]error) {
	if v, ok := env(key); ok && v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			*errs = append(*errs, fmt.Errorf("%s: must be an integer, got %q", key, v))
			return
		}
		*dst = n
	}
}

// envDuration accepts whole milliseconds ("25000"), as Socket.IO's own
// options are given, or a Go duration ("25s").
func envDuration(env Source, key string, dst *Duration, errs *[]error) {
	v, ok := env(key)
	if !ok || v == "" {
		return
	}
	if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
		*dst = Duration{time.Duration(ms) * time.Millisecond}
		return
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		*errs = append(*errs, fmt.Errorf("%s: must be milliseconds (\"25000\") or a duration (\"25s\"), got %q", key, v))
		return
	}
	*dst = Duration{d}
}

// parseSecondsOrDuration accepts "30" (seconds) or a Go duration ("30s").
func parseSecondsOrDuration(v string) (time.Duration, error) {
	if n, err := strconv.Atoi(v); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("must be whole seconds (\"30\") or a duration (\"30s\"), got %q", v)
	}
	return d, nil
}

func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

type flagValues struct {
	configFile    string
	port          int
	production    bool
	redisURL      string
	publicKeyFile string
	issuer        string
	audience      string
	corsOrigins   string
	maxConns      int
	logLevel      string
	drainTimeout  time.Duration
	preDelay      time.Duration
}

func newFlagSet(stderr io.Writer) (*flag.FlagSet, *flagValues) {
	v := &flagValues{}
	fs := flag.NewFlagSet("fleetwire-runtime", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&v.configFile, "config", "", "YAML config file (see docs/configuration.md)")
	fs.IntVar(&v.port, "port", 0, "listen port (env PORT, default 8080)")
	fs.BoolVar(&v.production, "production", false, "production mode: refuse to start without a JWT key (env NODE_ENV=production)")
	fs.StringVar(&v.redisURL, "redis-url", "", "Redis URL; empty means the in-memory broker (env REDIS_URL)")
	fs.StringVar(&v.publicKeyFile, "jwt-public-key-file", "", "PEM public key for RS256/ES256 tokens (env JWT_PUBLIC_KEY_FILE)")
	fs.StringVar(&v.issuer, "jwt-issuer", "", "required token issuer (env JWT_ISSUER)")
	fs.StringVar(&v.audience, "jwt-audience", "", "required token audience (env JWT_AUDIENCE)")
	fs.StringVar(&v.corsOrigins, "cors-origins", "", "comma-separated allowed origins (env CORS_ORIGINS)")
	fs.IntVar(&v.maxConns, "max-connections", 0, "maximum WebSocket connections per process (env MAX_CONNECTIONS)")
	fs.StringVar(&v.logLevel, "log-level", "", "debug, info, warn or error (env LOG_LEVEL)")
	fs.DurationVar(&v.drainTimeout, "drain-timeout", 0, "window over which SIGTERM closes connections (env DRAIN_TIMEOUT, default 30s)")
	fs.DurationVar(&v.preDelay, "drain-pre-delay", 0, "time between SIGTERM and the first close, while not ready (default 5s)")
	return fs, v
}

func (v *flagValues) apply(name string, cfg *Config) {
	switch name {
	case "port":
		cfg.Port = v.port
	case "production":
		cfg.Production = v.production
	case "redis-url":
		cfg.RedisURL = v.redisURL
	case "jwt-public-key-file":
		cfg.Auth.PublicKeyFile = v.publicKeyFile
	case "jwt-issuer":
		cfg.Auth.Issuer = v.issuer
	case "jwt-audience":
		cfg.Auth.Audience = v.audience
	case "cors-origins":
		cfg.CORS.Origins = splitList(v.corsOrigins)
	case "max-connections":
		cfg.Limits.MaxConnections = v.maxConns
	case "log-level":
		cfg.Log.Level = v.logLevel
	case "drain-timeout":
		cfg.Drain.Timeout = Duration{v.drainTimeout}
	case "drain-pre-delay":
		cfg.Drain.PreDelay = Duration{v.preDelay}
	}
}
