// Package metrics owns the runtime's Prometheus metrics: one registry per
// node (no globals), every collector the runtime exports, bounded label
// values, and the JSON views of the registry that the replaced service
// offered (/metrics/snapshot, /metrics/counter/:name, ...).
package metrics
