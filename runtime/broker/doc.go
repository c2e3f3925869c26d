// Package broker owns fan-out between runtime nodes: the Broker interface
// that the hub publishes to and subscribes through, and Memory, the
// in-process implementation used when no Redis is configured.
package broker
