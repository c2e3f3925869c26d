// Package redisrecovery owns connection state recovery records shared by a
// fleet, so a client may come back to any node: one Redis string of JSON
// per session private id, expiring with its TTL and read and deleted in
// one GETDEL so a pid recovers at most once, even when two nodes race for
// it. GETDEL needs Redis 6.2 or later.
package redisrecovery
