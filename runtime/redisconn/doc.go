// Package redisconn owns how the runtime reaches Redis: building a
// go-redis UniversalClient from the configured URL, and the key and channel
// names, all under one configurable prefix so several services can share a
// Redis.
package redisconn
