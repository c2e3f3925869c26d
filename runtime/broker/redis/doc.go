// Package redisbroker owns fan-out between runtime nodes over Redis
// pub/sub. A node subscribes only to the topics its local connections
// need; changes are applied in batches from one goroutine, and a PING
// behind each batch confirms when they have taken effect.
package redisbroker
