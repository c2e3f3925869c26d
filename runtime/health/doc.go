// Package health owns the node's health state: liveness (the process's
// own loop still turns), readiness (not draining, broker reachable within
// a grace, not full) and the detailed report behind /health/detailed.
package health
