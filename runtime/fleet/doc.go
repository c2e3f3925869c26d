// Package fleet keeps what the console shows of the fleet with no
// Prometheus: each node's vital signs, written every few seconds into a
// registry that every node reads (in memory on one node, a Redis hash
// in a fleet), and each node's bounded ring of samples for the charts.
package fleet
