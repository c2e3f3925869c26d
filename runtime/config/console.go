package config

// Console is the web console at /console/ (docs/console.md).
type Console struct {
	// Enabled serves the console. Unset means on in dev mode only. Env
	// CONSOLE_ENABLED.
	Enabled *bool `json:"enabled,omitempty"`
}

// ConsoleEnabled says whether the console is served: as set, else only in
// dev mode.
func (c *Config) ConsoleEnabled() bool {
	if c.Console.Enabled != nil {
		return *c.Console.Enabled
	}
	return c.DevMode()
}

// applyConsoleEnv reads CONSOLE_ENABLED.
func applyConsoleEnv(cfg *Config, env Source, errs *[]error) {
	if v, ok := env("CONSOLE_ENABLED"); !ok || v == "" {
		return
	}
	var on bool
	envBool(env, "CONSOLE_ENABLED", &on, errs)
	cfg.Console.Enabled = &on
}
