// Package config owns the runtime's settings: their defaults, loading them
// from a YAML file, the environment variables of the replaced service and
// command-line flags (in that order of precedence, lowest first), and
// validating them with errors that name the offending setting.
package config
